export interface KeyOwner {
  app_id: string;
  key_id: string;
  /** Set once the key was rotated: it works until then (unix ms). */
  expires_at?: number | null;
}

/** The source of truth for API keys: D1. Only unrevoked keys inside any rotation grace period match. */
export async function findActiveKey(db: D1Database, keyHash: string, now: number): Promise<KeyOwner | null> {
  return db
    .prepare(
      `SELECT app_id, id AS key_id, expires_at FROM api_keys
       WHERE key_hash = ?1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)`,
    )
    .bind(keyHash, now)
    .first<KeyOwner>();
}

export async function appName(db: D1Database, appId: string): Promise<string | null> {
  const row = await db
    .prepare("SELECT name FROM applications WHERE id = ?1")
    .bind(appId)
    .first<{ name: string }>();
  return row?.name ?? null;
}
