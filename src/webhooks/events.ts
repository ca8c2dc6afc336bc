// Webhook events are written in the same D1 transaction as the state change they report, so an event
// exists exactly when its change does; the dispatcher object then delivers them (dispatcher.ts).
import { newId } from "../crypto/random";
import type { Env } from "../env";
import { iso } from "../http/body";
import type { WebhookEventType } from "./types";

// Endpoints subscribed to ?3: every type when `events` is NULL, else the ones listed in its JSON array.
const SUBSCRIBED = `w.app_id = ?2 AND w.status = 'active'
  AND (w.events IS NULL OR EXISTS (SELECT 1 FROM json_each(w.events) WHERE json_each.value = ?3))`;

export interface QueuedEvent {
  id: string;
  /** Two statements to append to the batch right after the audit insert of the change they report. */
  statements: D1PreparedStatement[];
}

/**
 * An event and its deliveries, for the `db.batch()` that makes the change. The event lands only if the
 * statement before it changed one row (the guarded audit insert of the change: a lost race tells no
 * one) and some active endpoint wants this type; each such endpoint gets a pending delivery.
 */
export function queueWebhookEvent(
  db: D1Database,
  appId: string,
  type: WebhookEventType,
  data: Record<string, unknown>,
  at: number,
): QueuedEvent {
  const id = newId("wev");
  const payload = JSON.stringify({ id, object: "event", type, created_at: iso(at), data });
  return {
    id,
    statements: [
      db
        .prepare(
          `INSERT INTO webhook_events (id, app_id, type, payload, created_at)
           SELECT ?1, ?2, ?3, ?4, ?5
           WHERE changes() = 1 AND EXISTS (SELECT 1 FROM webhook_endpoints w WHERE ${SUBSCRIBED})`,
        )
        .bind(id, appId, type, payload, at),
      db
        .prepare(
          `INSERT INTO webhook_deliveries (id, app_id, event_id, endpoint_id, status, next_attempt_at, created_at)
           SELECT 'whd_' || lower(hex(randomblob(16))), ?2, ?1, w.id, 'pending', ?4, ?4
           FROM webhook_endpoints w
           WHERE ${SUBSCRIBED} AND EXISTS (SELECT 1 FROM webhook_events WHERE id = ?1)`,
        )
        .bind(id, appId, type, at),
    ],
  };
}

/** Wakes the application's dispatcher; only worth calling when the batch stored an event. */
export async function kickWebhooks(env: Env, appId: string): Promise<void> {
  try {
    await env.WEBHOOKS.get(env.WEBHOOKS.idFromName(appId)).kick(appId);
  } catch (err) {
    // The deliveries are stored; the next kick for this application, or a resend, picks them up.
    console.error("webhook dispatcher kick failed:", err instanceof Error ? err.message : err);
  }
}
