import { authenticateApp } from "../auth/apiKey";
import { listAudit } from "../db/audit";
import { json, listPage, readQuery } from "../http/body";
import { badRequest } from "../http/problem";
import type { Handler } from "../http/request";
import { auditQuery } from "../schemas";
import { auditJson } from "./views";

const DEFAULT_LIMIT = 50;

// The cursor is the public id of the last event of a page: opaque to callers, and unlike the internal
// sequence number it says nothing about how many events other applications have.
function checkCursor(cursor: string): string {
  if (!/^evt_[0-9a-z]{26}$/.test(cursor)) throw badRequest("cursor: not a cursor this API returned");
  return cursor;
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
    afterEventId: q.cursor ? checkCursor(q.cursor) : undefined,
    limit: limit + 1,
  });
  return json(listPage(rows, limit, auditJson));
};
