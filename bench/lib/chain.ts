// The scale section's seeded audit rows carry a valid seal, continuing the application's chain, so the
// sealer only adopts them (re-hashing each, as it must before trusting a seal) instead of writing a
// backlog of a million rows while the queries are measured. Same canonical form as the service
// (packages/client/src/auditChain.ts), hashed with node:crypto: one more independent check of it.
import { createHash } from "node:crypto";
import type Database from "better-sqlite3";
import {
  AUDIT_GENESIS_HASH,
  type ChainEvent,
  canonicalAuditEvent,
} from "../../packages/client/src/auditChain";

/** A seeded event: what the INSERT writes, before its seal. */
export type SeedEvent = Omit<ChainEvent, "prev_hash" | "hash" | "created_at"> & { created_at: number };

export class ChainSeeder {
  #prev: string;

  /** Continues after the newest event of `appId`; throws if that event is not sealed yet. */
  constructor(db: Database.Database, appId: string) {
    const last = db
      .prepare("SELECT id, hash FROM audit_events WHERE app_id = ? ORDER BY seq DESC LIMIT 1")
      .get(appId) as { id: string; hash: string | null } | undefined;
    if (last && last.hash === null) {
      throw new Error(`the newest audit event (${last.id}) is not sealed yet: seal before seeding`);
    }
    this.#prev = last?.hash ?? AUDIT_GENESIS_HASH;
  }

  /** The (prev_hash, hash) pair of the next event in seq order. */
  next(e: SeedEvent): { prev: string; hash: string } {
    const prev = this.#prev;
    const event: ChainEvent = {
      ...e,
      created_at: new Date(e.created_at).toISOString(),
      prev_hash: null,
      hash: null,
    };
    const hash = createHash("sha256").update(canonicalAuditEvent(event, prev)).digest("hex");
    this.#prev = hash;
    return { prev, hash };
  }
}
