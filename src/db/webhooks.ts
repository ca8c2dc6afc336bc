// Webhook endpoints and their delivery log; every query is scoped to the calling application.

export interface WebhookEndpointRow {
  id: string;
  app_id: string;
  url: string;
  description: string | null;
  events: string | null;
  secret_ciphertext: string;
  previous_secret_ciphertext: string | null;
  previous_secret_expires_at: number | null;
  status: "active" | "disabled";
  created_at: number;
  disabled_at: number | null;
}

export interface WebhookDeliveryRow {
  seq: number;
  id: string;
  event_id: string;
  endpoint_id: string;
  event_type: string;
  status: "pending" | "succeeded" | "failed" | "cancelled";
  attempts: number;
  next_attempt_at: number | null;
  last_attempt_at: number | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: number | null;
  resent_from: string | null;
  created_at: number;
}

/** Endpoints an application may have active at once. */
export const MAX_ACTIVE_ENDPOINTS = 5;

export async function endpointForApp(
  db: D1Database,
  appId: string,
  id: string,
): Promise<WebhookEndpointRow | null> {
  return db
    .prepare("SELECT * FROM webhook_endpoints WHERE id = ?1 AND app_id = ?2")
    .bind(id, appId)
    .first<WebhookEndpointRow>();
}

export async function endpointsOfApp(db: D1Database, appId: string): Promise<WebhookEndpointRow[]> {
  const { results } = await db
    .prepare("SELECT * FROM webhook_endpoints WHERE app_id = ?1 ORDER BY created_at, id")
    .bind(appId)
    .all<WebhookEndpointRow>();
  return results;
}

const DELIVERY_COLUMNS = `d.seq, d.id, d.event_id, d.endpoint_id, e.type AS event_type, d.status, d.attempts,
  d.next_attempt_at, d.last_attempt_at, d.last_status_code, d.last_error, d.delivered_at, d.resent_from,
  d.created_at`;

export async function deliveryForApp(
  db: D1Database,
  appId: string,
  id: string,
): Promise<WebhookDeliveryRow | null> {
  return db
    .prepare(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
       WHERE d.id = ?1 AND d.app_id = ?2`,
    )
    .bind(id, appId)
    .first<WebhookDeliveryRow>();
}

export interface DeliveryFilter {
  endpointId?: string | undefined;
  eventId?: string | undefined;
  status?: string | undefined;
  /** Page after this delivery (newest first); unknown ids give an empty page. */
  afterId?: string | undefined;
  limit: number;
}

/** The delivery log, newest first, by keyset on seq (no OFFSET: cost does not grow with depth). */
export async function listDeliveries(
  db: D1Database,
  appId: string,
  f: DeliveryFilter,
): Promise<WebhookDeliveryRow[]> {
  const { results } = await db
    .prepare(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
       WHERE d.app_id = ?1
         AND (?2 IS NULL OR d.endpoint_id = ?2)
         AND (?3 IS NULL OR d.event_id = ?3)
         AND (?4 IS NULL OR d.status = ?4)
         AND (?5 IS NULL OR d.seq < (SELECT seq FROM webhook_deliveries WHERE id = ?5 AND app_id = ?1))
       ORDER BY d.seq DESC LIMIT ?6`,
    )
    .bind(appId, f.endpointId ?? null, f.eventId ?? null, f.status ?? null, f.afterId ?? null, f.limit)
    .all<WebhookDeliveryRow>();
  return results;
}
