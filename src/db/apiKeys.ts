export interface KeyOwner {
  app_id: string;
  key_id: string;
}

/** The source of truth for API keys: D1. Only unrevoked keys match. */
export async function findActiveKey(db: D1Database, keyHash: string): Promise<KeyOwner | null> {
  return db
    .prepare("SELECT app_id, id AS key_id FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL")
    .bind(keyHash)
    .first<KeyOwner>();
}

export async function appName(db: D1Database, appId: string): Promise<string | null> {
  const row = await db
    .prepare("SELECT name FROM applications WHERE id = ?1")
    .bind(appId)
    .first<{ name: string }>();
  return row?.name ?? null;
}
