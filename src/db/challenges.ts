export type ChallengeStatus = "pending" | "approved" | "denied" | "expired" | "cancelled" | "failed";

export interface ChallengeRow {
  id: string;
  app_id: string;
  user_id: string;
  status: ChallengeStatus;
  context: string;
  created_at: number;
  expires_at: number;
  resolved_at: number | null;
  device_id: string | null;
  reason: string | null;
}

export async function challengeForApp(
  db: D1Database,
  appId: string,
  id: string,
): Promise<ChallengeRow | null> {
  return db
    .prepare("SELECT * FROM challenges WHERE id = ?1 AND app_id = ?2")
    .bind(id, appId)
    .first<ChallengeRow>();
}

export interface PendingDelivery {
  id: string;
  context: string;
  created_at: number;
  expires_at: number;
  ciphertext: string;
}

/** What a device may still answer: pending, unexpired, and encrypted to this very device. */
export async function pendingForDevice(
  db: D1Database,
  appId: string,
  deviceId: string,
  now: number,
): Promise<PendingDelivery[]> {
  const { results } = await db
    .prepare(
      `SELECT c.id, c.context, c.created_at, c.expires_at, d.ciphertext
       FROM challenge_deliveries d JOIN challenges c ON c.id = d.challenge_id
       WHERE d.device_id = ?1 AND c.app_id = ?2 AND c.status = 'pending' AND c.expires_at > ?3
       ORDER BY c.created_at`,
    )
    .bind(deviceId, appId, now)
    .all<PendingDelivery>();
  return results;
}
