import type { DeviceRow } from "./devices";

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

/** The columns of a PendingDelivery, for every query that lists them. */
const PENDING_COLUMNS = "c.id, c.context, c.created_at, c.expires_at, d.ciphertext, c.number_matching";

/** What a device may still answer: pending, unexpired, and encrypted to this very device. */
export async function pendingForDevice(
  db: D1Database,
  appId: string,
  deviceId: string,
  now: number,
): Promise<PendingDelivery[]> {
  const { results } = await db
    .prepare(
      `SELECT ${PENDING_COLUMNS}
       FROM challenge_deliveries d JOIN challenges c ON c.id = d.challenge_id
       WHERE d.device_id = ?1 AND c.app_id = ?2 AND c.status = 'pending' AND c.expires_at > ?3
       ORDER BY c.created_at`,
    )
    .bind(deviceId, appId, now)
    .all<PendingDelivery>();
  return results;
}

/**
 * The active device a token hash names and what it may still answer, in one D1 round trip: a read-only
 * batch (one transaction, so both statements see the same state). The pending list is scoped by that
 * device's own id and application, through the same index walk as pendingForDevice.
 */
export async function deviceAndPendingByTokenHash(
  db: D1Database,
  tokenHash: string,
  now: number,
): Promise<{ device: DeviceRow; pending: PendingDelivery[] } | null> {
  const [devices, pending] = await db.batch([
    db.prepare("SELECT * FROM devices WHERE token_hash = ?1 AND status = 'active'").bind(tokenHash),
    db
      .prepare(
        `SELECT ${PENDING_COLUMNS}
         FROM devices dv
         JOIN challenges c ON c.app_id = dv.app_id AND c.status = 'pending' AND c.expires_at > ?2
         JOIN challenge_deliveries d ON d.challenge_id = c.id AND d.device_id = dv.id
         WHERE dv.token_hash = ?1 AND dv.status = 'active'
         ORDER BY c.created_at`,
      )
      .bind(tokenHash, now),
  ]);
  const device = (devices?.results[0] as DeviceRow | undefined) ?? null;
  if (!device) return null;
  return { device, pending: (pending?.results ?? []) as PendingDelivery[] };
}

/**
 * The user's pending challenges created before this one (ties broken by id, so two challenges created
 * in the same millisecond never supersede each other both ways).
 */
/**
 * Pending challenges sent to this device and to no device that is still active: nobody can answer
 * them once it is revoked.
 */
export async function pendingOnlyFor(db: D1Database, appId: string, deviceId: string): Promise<string[]> {
  const { results } = await db
    .prepare(
      `SELECT c.id FROM challenge_deliveries d JOIN challenges c ON c.id = d.challenge_id
       WHERE d.device_id = ?2 AND c.app_id = ?1 AND c.status = 'pending'
         AND NOT EXISTS (
           SELECT 1 FROM challenge_deliveries o JOIN devices v ON v.id = o.device_id
           WHERE o.challenge_id = c.id AND v.app_id = ?1 AND v.status = 'active')
       ORDER BY c.created_at`,
    )
    .bind(appId, deviceId)
    .all<{ id: string }>();
  return results.map((r) => r.id);
}

/** The user's pending challenges other than `exceptId`, oldest first. */
export async function pendingOfUser(
  db: D1Database,
  appId: string,
  userId: string,
  exceptId: string,
): Promise<string[]> {
  const { results } = await db
    .prepare(
      "SELECT id FROM challenges WHERE app_id = ?1 AND user_id = ?2 AND status = 'pending' AND id <> ?3 ORDER BY created_at",
    )
    .bind(appId, userId, exceptId)
    .all<{ id: string }>();
  return results.map((r) => r.id);
}

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
