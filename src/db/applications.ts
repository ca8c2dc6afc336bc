// Applications and their API keys, for the admin API. Every key query is scoped by app_id.
import { type AuditInput, auditIfChanged, auditInsert } from "./audit";

export interface AppRow {
  id: string;
  name: string;
  created_at: number;
  key_count: number;
  active_keys: number;
}

export interface KeyRow {
  id: string;
  app_id: string;
  name: string | null;
  prefix: string;
  last_chars: string | null;
  key_hash: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  replaced_by: string | null;
}

const APP_SELECT = `SELECT a.id, a.name, a.created_at, COUNT(k.id) AS key_count,
    COUNT(CASE WHEN k.id IS NOT NULL AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ?1) THEN 1 END) AS active_keys
  FROM applications a LEFT JOIN api_keys k ON k.app_id = a.id`;

const KEY_COLUMNS =
  "id, app_id, name, prefix, last_chars, key_hash, created_at, expires_at, revoked_at, replaced_by";

export async function listApps(db: D1Database, now: number): Promise<AppRow[]> {
  const { results } = await db
    .prepare(`${APP_SELECT} GROUP BY a.id ORDER BY a.created_at, a.id`)
    .bind(now)
    .all<AppRow>();
  return results;
}

export async function getApp(db: D1Database, appId: string, now: number): Promise<AppRow | null> {
  return db.prepare(`${APP_SELECT} WHERE a.id = ?2 GROUP BY a.id`).bind(now, appId).first<AppRow>();
}

export async function createApp(
  db: D1Database,
  app: { id: string; name: string },
  audit: Omit<AuditInput, "appId" | "type">,
): Promise<void> {
  await db.batch([
    db
      .prepare("INSERT INTO applications (id, name, created_at) VALUES (?1, ?2, ?3)")
      .bind(app.id, app.name, audit.at),
    auditInsert(db, { ...audit, appId: app.id, type: "application.created", detail: { name: app.name } }),
  ]);
}

export async function listKeys(db: D1Database, appId: string): Promise<KeyRow[]> {
  const { results } = await db
    .prepare(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE app_id = ?1 ORDER BY created_at, id`)
    .bind(appId)
    .all<KeyRow>();
  return results;
}

export async function getKey(db: D1Database, appId: string, keyId: string): Promise<KeyRow | null> {
  return db
    .prepare(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE id = ?1 AND app_id = ?2`)
    .bind(keyId, appId)
    .first<KeyRow>();
}

export interface NewKey {
  id: string;
  appId: string;
  name: string | null;
  hash: string;
  prefix: string;
  lastChars: string;
  at: number;
}

/** Inserts the key only if the application exists (`condition` "app") or if the statement before it
 * changed one row ("changes"), so a key is never issued for a rotation that did not happen. */
function insertKey(db: D1Database, k: NewKey, condition: "app" | "changes"): D1PreparedStatement {
  const where = condition === "app" ? "EXISTS (SELECT 1 FROM applications WHERE id = ?2)" : "changes() = 1";
  return db
    .prepare(
      `INSERT INTO api_keys (id, app_id, name, key_hash, prefix, last_chars, created_at)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE ${where}`,
    )
    .bind(k.id, k.appId, k.name, k.hash, k.prefix, k.lastChars, k.at);
}

/** Issues a key (and its audit row); false when the application does not exist. */
export async function issueKey(db: D1Database, k: NewKey, ip: string | null): Promise<boolean> {
  const [insert] = await db.batch([
    insertKey(db, k, "app"),
    auditIfChanged(db, {
      appId: k.appId,
      type: "api_key.created",
      ip,
      detail: { key_id: k.id, name: k.name, prefix: k.prefix },
      at: k.at,
    }),
  ]);
  return insert?.meta.changes === 1;
}

/**
 * Rotation: the old key gets an end of grace and its successor, the new key is inserted, and the audit
 * row lands — all three or none. Only an active key (not revoked, not already rotated) rotates.
 */
export async function rotateKey(
  db: D1Database,
  oldKey: KeyRow,
  k: NewKey,
  graceEndsAt: number,
  ip: string | null,
): Promise<boolean> {
  const [update] = await db.batch([
    db
      .prepare(
        `UPDATE api_keys SET expires_at = ?3, replaced_by = ?4
         WHERE id = ?1 AND app_id = ?2 AND revoked_at IS NULL AND expires_at IS NULL`,
      )
      .bind(oldKey.id, k.appId, graceEndsAt, k.id),
    insertKey(db, k, "changes"),
    auditIfChanged(db, {
      appId: k.appId,
      type: "api_key.rotated",
      ip,
      detail: {
        key_id: oldKey.id,
        new_key_id: k.id,
        name: k.name,
        prefix: k.prefix,
        old_key_expires_at: new Date(graceEndsAt).toISOString(),
      },
      at: k.at,
    }),
  ]);
  return update?.meta.changes === 1;
}

/** Marks a key revoked (and audits it); false when it already was. */
export async function revokeKey(
  db: D1Database,
  key: KeyRow,
  at: number,
  ip: string | null,
): Promise<boolean> {
  const [update] = await db.batch([
    db
      .prepare("UPDATE api_keys SET revoked_at = ?3 WHERE id = ?1 AND app_id = ?2 AND revoked_at IS NULL")
      .bind(key.id, key.app_id, at),
    auditIfChanged(db, {
      appId: key.app_id,
      type: "api_key.revoked",
      outcome: "revoked",
      ip,
      detail: { key_id: key.id, name: key.name, prefix: key.prefix },
      at,
    }),
  ]);
  return update?.meta.changes === 1;
}
