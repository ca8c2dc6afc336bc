import { authorizeApp } from "../abuse/limits";
import { listAudit } from "../db/audit";
import { type ChainHead, verifyChain } from "../db/auditChain";
import { sealNow } from "../durable/auditSealer";
import { json, listPage, readQuery } from "../http/body";
import { badRequest, unavailable } from "../http/problem";
import type { Handler } from "../http/request";
import { auditQuery, auditVerifyQuery } from "../schemas";
import { auditJson } from "./views";

const DEFAULT_LIMIT = 50;

// The cursor is the public id of the last event of a page: opaque to callers, and unlike the internal
// sequence number it says nothing about how many events other applications have.
function checkCursor(cursor: string): string {
  if (!/^evt_[0-9a-z]{26}$/.test(cursor))
    throw badRequest("cursor: not a cursor this API returned", [
      { field: "cursor", message: "not a cursor this API returned" },
    ]);
  return cursor;
}

export const list: Handler = async (request, env) => {
  const caller = await authorizeApp(request, env);
  const q = readQuery(request, auditQuery);
  const limit = q.limit ?? DEFAULT_LIMIT;
  // Events recorded up to now are sealed before they are read, so pages carry their hashes (only an
  // event committed while this runs can be exported unsealed). A sealer that can't be reached costs the
  // hashes, not the page.
  await sealNow(env, caller.appId);
  // One row more than asked tells whether another page exists without a COUNT.
  const rows = await listAudit(env.DB, caller.appId, {
    userId: q.user_id,
    type: q.type,
    outcome: q.outcome,
    since: q.since ? Date.parse(q.since) : undefined,
    until: q.until ? Date.parse(q.until) : undefined,
    afterEventId: q.cursor ? checkCursor(q.cursor) : undefined,
    limit: limit + 1,
  });
  return json(listPage(rows, limit, auditJson));
};

/** Events one verification call walks by default; `limit` goes up to 10 000. */
const DEFAULT_VERIFY_LIMIT = 2_000;

export const verify: Handler = async (request, env) => {
  const caller = await authorizeApp(request, env);
  const q = readQuery(request, auditVerifyQuery);
  let from: { seq: number; hash: string; event_id: string } | null = null;
  if (q.cursor) {
    const row = await env.DB.prepare(
      "SELECT seq, hash FROM audit_events WHERE app_id = ?1 AND id = ?2 AND hash IS NOT NULL",
    )
      .bind(caller.appId, checkCursor(q.cursor))
      .first<{ seq: number; hash: string }>();
    if (!row)
      throw badRequest("cursor: not a cursor this API returned", [
        { field: "cursor", message: "not a cursor this API returned" },
      ]);
    from = { seq: row.seq, hash: row.hash, event_id: q.cursor };
  }
  // Seal what is committed now, and take the head the sealer recorded: the anchor D1 can't move.
  let head: ChainHead | null;
  try {
    head = await env.AUDIT_SEALERS.get(env.AUDIT_SEALERS.idFromName(caller.appId)).seal(caller.appId);
  } catch (err) {
    console.error("audit verify: the sealer failed:", err instanceof Error ? err.message : err);
    throw unavailable();
  }
  const v = await verifyChain(env.DB, caller.appId, head, from, q.limit ?? DEFAULT_VERIFY_LIMIT);
  return json({
    object: "audit_verification",
    ok: v.ok,
    checked: v.checked,
    unsealed: v.unsealed,
    first_event_id: v.first_event_id,
    last_event_id: v.last_event_id,
    head: head ? { event_id: head.event_id, hash: head.hash, sealed_events: head.count } : null,
    broken: v.broken,
    has_more: v.next_cursor !== null,
    next_cursor: v.next_cursor,
  });
};
