import { auditIfChanged } from "./audit";

export interface PauseRow {
  user_id: string;
  challenge_id: string;
  device_id: string | null;
  paused_at: number;
}

/** The deny reason with which a device says "this wasn't me". */
export const FRAUD_REASON = "not_me";
/** The reason recorded on the other pending challenges of a user a fraud report paused. */
export const USER_PAUSED_REASON = "user_paused";

export function pauseQuery(db: D1Database, appId: string, userId: string): D1PreparedStatement {
  return db
    .prepare(
      "SELECT user_id, challenge_id, device_id, paused_at FROM user_pauses WHERE app_id = ?1 AND user_id = ?2",
    )
    .bind(appId, userId);
}

export async function pauseOf(db: D1Database, appId: string, userId: string): Promise<PauseRow | null> {
  return pauseQuery(db, appId, userId).first<PauseRow>();
}

/**
 * The statements that pause a user after a fraud report, for the batch that resolves the challenge
 * (anywhere after its UPDATE): the pause is inserted only if that very UPDATE landed — the challenge now
 * holds this denial with this resolution time, so a lost race or an outcome adopted from an earlier
 * attempt pauses nothing twice — and `user.paused` only if the user was not paused already.
 */
export function pauseStatements(
  db: D1Database,
  p: {
    appId: string;
    userId: string;
    challengeId: string;
    deviceId: string | null;
    ip: string | null;
    at: number;
  },
): D1PreparedStatement[] {
  return [
    db
      .prepare(
        `INSERT INTO user_pauses (app_id, user_id, challenge_id, device_id, paused_at)
         SELECT ?1, ?2, ?3, ?4, ?5
         WHERE EXISTS (SELECT 1 FROM challenges WHERE id = ?3 AND app_id = ?1 AND status = 'denied'
                         AND reason = ?6 AND resolved_at = ?5 AND device_id = ?4)
         ON CONFLICT (app_id, user_id) DO NOTHING`,
      )
      .bind(p.appId, p.userId, p.challengeId, p.deviceId, p.at, FRAUD_REASON),
    auditIfChanged(db, {
      appId: p.appId,
      type: "user.paused",
      outcome: "paused",
      userId: p.userId,
      challengeId: p.challengeId,
      deviceId: p.deviceId,
      ip: p.ip,
      detail: { reason: FRAUD_REASON },
      at: p.at,
    }),
  ];
}

/** Clears a pause and writes `user.unpaused`, in one transaction; false when the user was not paused. */
export async function clearPause(
  db: D1Database,
  appId: string,
  pause: PauseRow,
  ip: string | null,
  at: number,
): Promise<boolean> {
  const [deleted] = await db.batch([
    db
      .prepare("DELETE FROM user_pauses WHERE app_id = ?1 AND user_id = ?2 AND challenge_id = ?3")
      .bind(appId, pause.user_id, pause.challenge_id),
    auditIfChanged(db, {
      appId,
      type: "user.unpaused",
      outcome: "cleared",
      userId: pause.user_id,
      challengeId: pause.challenge_id,
      ip,
      detail: { paused_at: new Date(pause.paused_at).toISOString() },
      at,
    }),
  ]);
  return deleted?.meta.changes === 1;
}
