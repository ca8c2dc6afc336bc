import type { KeyFormat } from "../crypto/keys";

export interface DeviceRow {
  id: string;
  app_id: string;
  user_id: string;
  enrollment_id: string;
  name: string | null;
  platform: string | null;
  key_format: KeyFormat;
  public_key: string;
  token_hash: string;
  status: "pending" | "active" | "revoked";
  created_at: number;
  activate_by: number;
  activated_at: number | null;
  revoked_at: number | null;
}

const PUBLIC_COLUMNS =
  "id, app_id, user_id, enrollment_id, name, platform, key_format, status, created_at, activated_at, revoked_at";

export type DeviceSummary = Omit<DeviceRow, "public_key" | "token_hash" | "activate_by">;

/** The device a bearer token belongs to, if it is active. Looked up by hash: the token is never stored. */
export async function deviceByTokenHash(db: D1Database, tokenHash: string): Promise<DeviceRow | null> {
  return db
    .prepare("SELECT * FROM devices WHERE token_hash = ?1 AND status = 'active'")
    .bind(tokenHash)
    .first<DeviceRow>();
}

export async function deviceById(db: D1Database, id: string): Promise<DeviceRow | null> {
  return db.prepare("SELECT * FROM devices WHERE id = ?1").bind(id).first<DeviceRow>();
}

export async function deviceForApp(db: D1Database, appId: string, id: string): Promise<DeviceSummary | null> {
  return db
    .prepare(`SELECT ${PUBLIC_COLUMNS} FROM devices WHERE id = ?1 AND app_id = ?2`)
    .bind(id, appId)
    .first<DeviceSummary>();
}

/** A user's devices that have proved possession of their key and not been revoked (rows: DeviceRow). */
export function activeDevicesOfUserQuery(db: D1Database, appId: string, userId: string): D1PreparedStatement {
  return db
    .prepare(
      "SELECT * FROM devices WHERE app_id = ?1 AND user_id = ?2 AND status = 'active' ORDER BY created_at",
    )
    .bind(appId, userId);
}

export async function devicesOfUser(db: D1Database, appId: string, userId: string): Promise<DeviceSummary[]> {
  const { results } = await db
    .prepare(
      `SELECT ${PUBLIC_COLUMNS} FROM devices WHERE app_id = ?1 AND user_id = ?2 AND status != 'pending'
       ORDER BY created_at`,
    )
    .bind(appId, userId)
    .all<DeviceSummary>();
  return results;
}
