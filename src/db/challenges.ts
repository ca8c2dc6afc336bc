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
  number_matching: number;
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
  number_matching: number;
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
      `SELECT c.id, c.context, c.created_at, c.expires_at, d.ciphertext, c.number_matching
       FROM challenge_deliveries d JOIN challenges c ON c.id = d.challenge_id
       WHERE d.device_id = ?1 AND c.app_id = ?2 AND c.status = 'pending' AND c.expires_at > ?3
       ORDER BY c.created_at`,
    )
    .bind(deviceId, appId, now)
    .all<PendingDelivery>();
  return results;
}

/**
 * The user's pending challenges created before this one (ties broken by id, so two challenges created
 * in the same millisecond never supersede each other both ways).
 */
export async function olderPendingOfUser(
  db: D1Database,
  appId: string,
  userId: string,
  self: { id: string; createdAt: number },
): Promise<string[]> {
  const { results } = await db
    .prepare(
      `SELECT id FROM challenges
       WHERE app_id = ?1 AND user_id = ?2 AND status = 'pending'
         AND (created_at < ?3 OR (created_at = ?3 AND id < ?4))
       ORDER BY created_at`,
    )
    .bind(appId, userId, self.createdAt, self.id)
    .all<{ id: string }>();
  return results.map((r) => r.id);
}
