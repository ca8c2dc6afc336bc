import { authenticateApp } from "../auth/apiKey";
import { listAudit } from "../db/audit";
import { json, readQuery } from "../http/body";
import { badRequest } from "../http/problem";
import type { Handler } from "../http/request";
import { auditQuery } from "../schemas";
import { auditJson } from "./views";

const DEFAULT_LIMIT = 50;

// Cursors are opaque to callers: the last seq of a page, base-36 with a version prefix.
const encodeCursor = (seq: number) => `c1_${seq.toString(36)}`;
function decodeCursor(cursor: string): number {
  const m = /^c1_([0-9a-z]{1,12})$/.exec(cursor);
  const seq = m?.[1] ? Number.parseInt(m[1], 36) : Number.NaN;
  if (!Number.isSafeInteger(seq) || seq < 1) throw badRequest("cursor: not a cursor this API returned");
  return seq;
}

export const list: Handler = async (request, env) => {
  const caller = await authenticateApp(request, env);
  const q = readQuery(request, auditQuery);
  const limit = q.limit ?? DEFAULT_LIMIT;
  // One row more than asked tells whether another page exists without a COUNT.
  const rows = await listAudit(env.DB, caller.appId, {
    userId: q.user_id,
    type: q.type,
    outcome: q.outcome,
    since: q.since ? Date.parse(q.since) : undefined,
    until: q.until ? Date.parse(q.until) : undefined,
    beforeSeq: q.cursor ? decodeCursor(q.cursor) : undefined,
    limit: limit + 1,
  });
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return json({
    object: "list",
    data: page.map(auditJson),
    has_more: rows.length > limit,
    next_cursor: rows.length > limit && last ? encodeCursor(last.seq) : null,
  });
};
