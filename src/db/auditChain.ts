// Each application's audit events as a hash chain in seq order (canonical form and hash:
// packages/client/src/auditChain.ts). Rows are inserted unsealed; the application's AuditSealer object
// seals them (src/durable/auditSealer.ts); verifyChain walks them and names the first broken link.
import { AUDIT_GENESIS_HASH, auditEventHash, type ChainEvent } from "../../packages/client/src/auditChain";

export interface ChainRow {
  seq: number;
  id: string;
  app_id: string;
  type: string;
  outcome: string | null;
  user_id: string | null;
  enrollment_id: string | null;
  device_id: string | null;
  challenge_id: string | null;
  ip: string | null;
  detail: string | null;
  created_at: number;
  prev_hash: string | null;
  hash: string | null;
}

/** The last sealed event, as the sealer records it (outside D1, so an edit of D1 alone can't move it). */
export interface ChainHead {
  seq: number;
  event_id: string;
  hash: string;
  /** Events sealed so far. */
  count: number;
}

export const CHAIN_COLUMNS =
  "seq, id, app_id, type, outcome, user_id, enrollment_id, device_id, challenge_id, ip, detail, created_at, prev_hash, hash";

/** The row as the API exports it: what the hash covers. A detail that is not JSON hashes as its text. */
export function chainEvent(row: ChainRow): ChainEvent {
  let detail: Record<string, unknown> | null = null;
  if (row.detail !== null) {
    try {
      detail = JSON.parse(row.detail) as Record<string, unknown>;
    } catch {
      detail = { unparsable: row.detail };
    }
  }
  return {
    id: row.id,
    app_id: row.app_id,
    type: row.type,
    outcome: row.outcome,
    user_id: row.user_id,
    enrollment_id: row.enrollment_id,
    device_id: row.device_id,
    challenge_id: row.challenge_id,
    ip: row.ip,
    detail,
    created_at: new Date(row.created_at).toISOString(),
    prev_hash: row.prev_hash,
    hash: row.hash,
  };
}

export const rowHash = (row: ChainRow, prevHash: string) => auditEventHash(chainEvent(row), prevHash);

/** The application's events after `afterSeq`, oldest first. */
export async function chainRows(
  db: D1Database,
  appId: string,
  afterSeq: number,
  limit: number,
): Promise<ChainRow[]> {
  const { results } = await db
    .prepare(`SELECT ${CHAIN_COLUMNS} FROM audit_events WHERE app_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3`)
    .bind(appId, afterSeq, limit)
    .all<ChainRow>();
  return results;
}

export type BreakReason =
  | "hash_mismatch"
  | "prev_hash_mismatch"
  | "unsealed_in_chain"
  /** The last sealed event's hash is not the one the sealer recorded: the chain was recomputed. */
  | "head_mismatch"
  /** The last sealed event is gone: events at the end of the chain were deleted. */
  | "head_missing";

export interface Verification {
  ok: boolean;
  checked: number;
  unsealed: number;
  first_event_id: string | null;
  last_event_id: string | null;
  broken: { event_id: string; reason: BreakReason; after_event_id: string | null } | null;
  next_cursor: string | null;
}

/**
 * Walks at most `limit` events after the cursor event (or from the start) and checks each link:
 * sealed, its prev_hash the previous event's hash, its hash its content's; at the sealer's head, the
 * recorded hash. Past the head (the sealer ran just before this call) a few events may already be
 * sealed by a later run, and they must chain on; the rest are unsealed (written after the seal), and no
 * sealed event may follow them. So a seal forged past the head, which makes the sealer stop there, is
 * named here rather than counted as unsealed for ever.
 */
export async function verifyChain(
  db: D1Database,
  appId: string,
  head: ChainHead | null,
  from: { seq: number; hash: string; event_id: string } | null,
  limit: number,
): Promise<Verification> {
  const rows = await chainRows(db, appId, from?.seq ?? 0, limit + 1);
  const out: Verification = {
    ok: true,
    checked: 0,
    unsealed: 0,
    first_event_id: null,
    last_event_id: null,
    broken: null,
    next_cursor: null,
  };
  let prev = from?.hash ?? AUDIT_GENESIS_HASH;
  let prevId = from?.event_id ?? null;
  let lastSeq = from?.seq ?? 0;
  const fail = (event_id: string, reason: BreakReason) => {
    out.ok = false;
    out.broken = { event_id, reason, after_event_id: prevId };
    return out;
  };
  for (const [i, row] of rows.entries()) {
    const pastHead = head === null || row.seq > head.seq;
    if (pastHead && head !== null && lastSeq < head.seq) return fail(head.event_id, "head_missing");
    if (pastHead && row.hash === null) return unsealedTail(db, appId, row, out, fail);
    if (i === limit) {
      out.next_cursor = out.last_event_id;
      return out;
    }
    if (row.hash === null || row.prev_hash === null) return fail(row.id, "unsealed_in_chain");
    if (row.prev_hash !== prev) return fail(row.id, "prev_hash_mismatch");
    if ((await rowHash(row, prev)) !== row.hash) return fail(row.id, "hash_mismatch");
    if (head !== null && row.seq === head.seq && row.hash !== head.hash) return fail(row.id, "head_mismatch");
    out.first_event_id ??= row.id;
    out.last_event_id = row.id;
    out.checked++;
    prev = row.hash;
    prevId = row.id;
    lastSeq = row.seq;
  }
  if (head !== null && lastSeq < head.seq) return fail(head.event_id, "head_missing");
  return out;
}

/** From the first unsealed event on: how many there are, and that none after it carries a seal. */
async function unsealedTail(
  db: D1Database,
  appId: string,
  first: ChainRow,
  out: Verification,
  fail: (eventId: string, reason: BreakReason) => Verification,
): Promise<Verification> {
  const [count, sealedAfter] = await db.batch([
    db
      .prepare("SELECT COUNT(*) AS n FROM audit_events WHERE app_id = ?1 AND seq >= ?2")
      .bind(appId, first.seq),
    db
      .prepare(
        "SELECT id FROM audit_events WHERE app_id = ?1 AND seq > ?2 AND hash IS NOT NULL ORDER BY seq LIMIT 1",
      )
      .bind(appId, first.seq),
  ]);
  // The sealer seals in order: a sealed event after an unsealed one means this one's seal was removed.
  if (sealedAfter?.results.length) return fail(first.id, "unsealed_in_chain");
  out.unsealed = Number((count?.results[0] as { n?: number } | undefined)?.n ?? 0);
  return out;
}
