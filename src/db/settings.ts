import { auditInsert } from "./audit";

export interface SettingsRow {
  settings: string;
  updated_at: number;
}

/** The application's stored settings document (rows: at most one SettingsRow). */
export function settingsQuery(db: D1Database, appId: string): D1PreparedStatement {
  return db.prepare("SELECT settings, updated_at FROM app_settings WHERE app_id = ?1").bind(appId);
}

/** The application's stored settings document, if it ever changed one. */
export async function settingsOf(db: D1Database, appId: string): Promise<SettingsRow | null> {
  return settingsQuery(db, appId).first<SettingsRow>();
}

/**
 * Merges a validated patch into the stored document (SQLite's json_patch, RFC 7396: nested members merge,
 * so two concurrent patches of different limits both land) and writes its audit row, in one transaction.
 */
export async function patchSettings(
  db: D1Database,
  appId: string,
  patch: Record<string, unknown>,
  at: number,
  ip: string | null,
): Promise<void> {
  await db.batch([
    db
      .prepare(
        `INSERT INTO app_settings (app_id, settings, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (app_id) DO UPDATE
           SET settings = json_patch(app_settings.settings, excluded.settings), updated_at = excluded.updated_at`,
      )
      .bind(appId, JSON.stringify(patch), at),
    auditInsert(db, { appId, type: "settings.updated", outcome: "updated", ip, detail: patch, at }),
  ]);
}
