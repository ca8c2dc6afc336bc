// The audit hash chain: its canonical form, its hash, and an offline verifier for exported pages. The
// service seals events with these very functions, so the two cannot drift apart; test/node checks them
// against Python's json and hashlib. Web-platform APIs only (crypto.subtle, TextEncoder).

/** The `prev_hash` of an application's first event. */
export const AUDIT_GENESIS_HASH = "0".repeat(64);

/** What an event carries for the chain: the exported audit event's fields (docs/storage.md). */
export interface ChainEvent {
  id: string;
  app_id: string;
  type: string;
  outcome: string | null;
  user_id: string | null;
  enrollment_id: string | null;
  device_id: string | null;
  challenge_id: string | null;
  ip: string | null;
  detail: Record<string, unknown> | null;
  created_at: string;
  /** The hash of the application's previous event (64 zeros for its first); null until sealed. */
  prev_hash: string | null;
  /** SHA-256 of the canonical event (see `auditEventHash`); null until sealed. */
  hash: string | null;
}

/**
 * JSON with object members sorted by name (UTF-16 code units) and no whitespace: RFC 8785 (JCS) for
 * the values audit events hold (strings, integers, booleans, null, arrays, objects).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError("canonical JSON has no NaN or Infinity");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  throw new TypeError(`canonical JSON has no ${typeof value}`);
}

/** The bytes an event's hash covers: its fields and the previous event's hash, canonical JSON. */
export function canonicalAuditEvent(e: ChainEvent, prevHash: string): string {
  return canonicalJson({
    app_id: e.app_id,
    challenge_id: e.challenge_id,
    created_at: e.created_at,
    detail: e.detail,
    device_id: e.device_id,
    enrollment_id: e.enrollment_id,
    id: e.id,
    ip: e.ip,
    outcome: e.outcome,
    prev_hash: prevHash,
    type: e.type,
    user_id: e.user_id,
  });
}

/** Lowercase hex SHA-256 of the canonical event. */
export async function auditEventHash(e: ChainEvent, prevHash: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(canonicalAuditEvent(e, prevHash)),
  );
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export type ChainBreak =
  /** The event's content does not match its hash: it was edited. */
  | "hash_mismatch"
  /** Its prev_hash is not the hash of the event before it: an event between them was deleted, inserted or moved. */
  | "prev_hash_mismatch"
  /** An event older than a sealed one has no hash: its seal was removed. */
  | "unsealed_in_chain"
  /** The oldest event of a complete export does not start the chain. */
  | "not_genesis"
  /** A hash kept from an earlier verification is no longer in the chain: history before it was rewritten. */
  | "known_hash_missing";

export type AuditChainResult =
  | { ok: true; checked: number; unsealed: number; oldest_prev_hash: string | null }
  | { ok: false; event_id: string; reason: ChainBreak; checked: number };

/**
 * Checks exported audit events offline, fed newest first as `GET /v1/audit` pages them (call `add` with
 * each page in turn). The newest events may still be unsealed (`prev_hash`/`hash` null: written in the
 * last moments); any other event must match its hash, and, for an unfiltered export, link to the one
 * before it. With `complete`, the oldest event must be the application's first.
 */
export class AuditChainVerifier {
  readonly #contiguous: boolean;
  #checked = 0;
  #unsealed = 0;
  #sealedSeen = false;
  /** The prev_hash the next (older) event's hash must equal. */
  #expected: string | null = null;
  #broken: { event_id: string; reason: ChainBreak } | null = null;

  /** `contiguous: false` for a filtered export (by user, type…): only each event's own hash is checked. */
  constructor(options: { contiguous?: boolean } = {}) {
    this.#contiguous = options.contiguous ?? true;
  }

  async add(events: readonly ChainEvent[]): Promise<void> {
    for (const e of events) {
      if (this.#broken) return;
      if (e.hash === null || e.prev_hash === null) {
        if (this.#sealedSeen) this.#broken = { event_id: e.id, reason: "unsealed_in_chain" };
        else this.#unsealed++;
        continue;
      }
      if (this.#contiguous && this.#expected !== null && e.hash !== this.#expected) {
        // The newer event's link does not reach this one: name the newer side, as the service does.
        this.#broken = { event_id: this.#newerId ?? e.id, reason: "prev_hash_mismatch" };
        return;
      }
      if ((await auditEventHash(e, e.prev_hash)) !== e.hash) {
        this.#broken = { event_id: e.id, reason: "hash_mismatch" };
        return;
      }
      this.#sealedSeen = true;
      this.#expected = e.prev_hash;
      this.#newerId = e.id;
      this.#checked++;
    }
  }

  #newerId: string | null = null;

  result(options: { complete?: boolean } = {}): AuditChainResult {
    if (this.#broken) return { ok: false, ...this.#broken, checked: this.#checked };
    if (options.complete && this.#expected !== null && this.#expected !== AUDIT_GENESIS_HASH) {
      return { ok: false, event_id: this.#newerId ?? "", reason: "not_genesis", checked: this.#checked };
    }
    return { ok: true, checked: this.#checked, unsealed: this.#unsealed, oldest_prev_hash: this.#expected };
  }
}

/** One call for events already in hand (newest first); see AuditChainVerifier. */
export async function verifyAuditEvents(
  events: readonly ChainEvent[],
  options: { contiguous?: boolean; complete?: boolean } = {},
): Promise<AuditChainResult> {
  const v = new AuditChainVerifier(options);
  await v.add(events);
  return v.result(options);
}
