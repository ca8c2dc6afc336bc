import { newId } from "../crypto/random";
import { markForSealing } from "../durable/auditSealer";
import { CHAIN_COLUMNS, type ChainRow } from "./auditChain";
import type { AuditEventType, AuditOutcome } from "./auditEvents";

/** What happened, for the append-only audit trail. `type` is dotted: `challenge.created`, `device.revoked`… */
export interface AuditInput {
  appId: string;
  /** One of AUDIT_EVENT_TYPES (src/db/auditEvents.ts), which GET /v1/audit's filter accepts. */
  type: AuditEventType;
  outcome?: AuditOutcome | null;
  userId?: string | null;
  enrollmentId?: string | null;
  deviceId?: string | null;
  challengeId?: string | null;
  ip?: string | null;
  detail?: Record<string, unknown> | null;
  at: number;
}

/** An audit row with its place in the application's hash chain (src/db/auditChain.ts). */
export type AuditRow = ChainRow;

const INSERT_COLUMNS =
  "id, app_id, type, outcome, user_id, enrollment_id, device_id, challenge_id, ip, detail, created_at";

function values(e: AuditInput): unknown[] {
  markForSealing(e.appId);
  return [
    newId("evt"),
    e.appId,
    e.type,
    e.outcome ?? null,
    e.userId ?? null,
    e.enrollmentId ?? null,
    e.deviceId ?? null,
    e.challengeId ?? null,
    e.ip ?? null,
    e.detail ? JSON.stringify(e.detail) : null,
    e.at,
  ];
}

/** An audit insert to put in the same `db.batch()` as the change it records, so both land or neither. */
export function auditInsert(db: D1Database, e: AuditInput): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO audit_events (${INSERT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)`,
    )
    .bind(...values(e));
}

/**
 * An audit insert that lands only if the statement just before it in the same `db.batch()` changed
 * exactly one row. A batch is one transaction on one connection, so `changes()` is that statement's
 * count: a request that lost a race records nothing, however close in time the winner was.
 */
export function auditIfChanged(db: D1Database, e: AuditInput): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO audit_events (${INSERT_COLUMNS})
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 WHERE changes() = 1`,
    )
    .bind(...values(e));
}

export interface AuditFilter {
  userId?: string | undefined;
  type?: string | undefined;
  outcome?: string | undefined;
  since?: number | undefined;
  until?: number | undefined;
  /** The cursor: only events older than this one (of the same application). */
  afterEventId?: string | undefined;
  limit: number;
}

/** Newest first, keyset-paginated on seq (no OFFSET), always scoped to one application. */
export async function listAudit(db: D1Database, appId: string, f: AuditFilter): Promise<AuditRow[]> {
  const where = ["app_id = ?1"];
  const params: unknown[] = [appId];
  // `$` in a condition becomes the numbered parameter of its value.
  const add = (sql: string, value: unknown) => {
    params.push(value);
    where.push(sql.replaceAll("$", `?${params.length}`));
  };
  if (f.userId !== undefined) add("user_id = $", f.userId);
  if (f.type !== undefined) add("type = $", f.type);
  if (f.outcome !== undefined) add("outcome = $", f.outcome);
  // Time bounds become seq bounds found through the time index, so a page is still a walk down the seq
  // index rather than a sort of every row in the range (3.7 s per page at 1 M rows otherwise). The unary
  // `+` keeps the exact comparison off the index; the 60 s slack covers rows whose created_at and seq
  // orders disagree (concurrent writers, by milliseconds).
  if (f.since !== undefined) {
    add(
      `+created_at >= $ AND seq >= coalesce((SELECT seq FROM audit_events WHERE app_id = ?1
        AND created_at >= $ - 60000 ORDER BY created_at LIMIT 1), 9e18)`,
      f.since,
    );
  }
  if (f.until !== undefined) {
    add(
      `+created_at < $ AND seq < coalesce((SELECT seq FROM audit_events WHERE app_id = ?1
        AND created_at >= $ + 60000 ORDER BY created_at LIMIT 1), 9e18)`,
      f.until,
    );
  }
  if (f.afterEventId !== undefined) {
    add("seq < (SELECT seq FROM audit_events WHERE app_id = ?1 AND id = $)", f.afterEventId);
  }
  params.push(f.limit);
  const sql = `SELECT ${CHAIN_COLUMNS}
    FROM audit_events WHERE ${where.join(" AND ")} ORDER BY seq DESC LIMIT ?${params.length}`;
  const { results } = await db
    .prepare(sql)
    .bind(...params)
    .all<AuditRow>();
  return results;
}
