import { authorizeApp } from "../abuse/limits";
import { hex } from "../crypto/encoding";
import { newId, randomBytes } from "../crypto/random";
import { auditIfChanged } from "../db/audit";
import {
  deliveryForApp,
  endpointForApp,
  endpointsOfApp,
  listDeliveries,
  MAX_ACTIVE_ENDPOINTS,
} from "../db/webhooks";
import type { Env } from "../env";
import { json, listPage, readJson, readQuery } from "../http/body";
import { badRequest, conflict, notFound, Problem } from "../http/problem";
import { clientIp, type Handler, pathId, publicOrigin } from "../http/request";
import { createWebhook, rotateWebhookSecret, webhookDeliveriesQuery } from "../schemas";
import { isLoopbackHost, webhookTarget } from "../webhooks/address";
import { kickWebhooks } from "../webhooks/events";
import { newWebhookSecret, sealSecret } from "../webhooks/secret";
import { webhookDeliveryJson, webhookEndpointJson } from "./views";

const DEFAULT_LIMIT = 50;
/** Default overlap of old and new secret after a rotation. */
const DEFAULT_PREVIOUS_SECRET_SECONDS = 24 * 3600;
const DELIVERY_ID = /^whd_[0-9a-f]{32}$/;

function sealingKeyOf(env: Env): string {
  if (!env.WEBHOOK_KEY) {
    throw new Problem(
      503,
      "webhooks-not-configured",
      "Webhooks are not configured",
      "This deployment has no WEBHOOK_KEY secret, so it cannot keep signing secrets. Its operator sets one with `wrangler secret put WEBHOOK_KEY`.",
    );
  }
  return env.WEBHOOK_KEY;
}

const deliveryId = (raw: string | undefined): string => {
  if (!raw || !DELIVERY_ID.test(raw)) throw notFound("webhook delivery");
  return raw;
};

export const create: Handler = async (request, env) => {
  const caller = await authorizeApp(request, env);
  const body = await readJson(request, createWebhook);
  const target = webhookTarget(
    new URL(body.url),
    isLoopbackHost(new URL(publicOrigin(request, env)).hostname),
  );
  if (!target.ok) throw badRequest(`url: ${target.message}`, [{ field: "url", message: target.message }]);
  const master = sealingKeyOf(env);
  const id = newId("whk");
  const secret = newWebhookSecret();
  const now = Date.now();
  const db = env.DB;
  const [insert] = await db.batch([
    // The count and the insert are one statement, so racing creates cannot exceed the limit.
    db
      .prepare(
        `INSERT INTO webhook_endpoints (id, app_id, url, description, events, secret_ciphertext, status, created_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, 'active', ?7
         WHERE (SELECT COUNT(*) FROM webhook_endpoints WHERE app_id = ?2 AND status = 'active') < ?8`,
      )
      .bind(
        id,
        caller.appId,
        body.url,
        body.description ?? null,
        body.events ? JSON.stringify(body.events) : null,
        await sealSecret(master, caller.appId, id, secret),
        now,
        MAX_ACTIVE_ENDPOINTS,
      ),
    auditIfChanged(db, {
      appId: caller.appId,
      type: "webhook.created",
      outcome: "active",
      ip: clientIp(request),
      detail: { endpoint_id: id, url: body.url, events: body.events ?? null },
      at: now,
    }),
  ]);
  if (insert?.meta.changes !== 1) {
    throw conflict(
      "webhook-limit",
      "Too many webhook endpoints",
      `An application may have ${MAX_ACTIVE_ENDPOINTS} active webhook endpoints; delete one first.`,
    );
  }
  const row = await endpointForApp(db, caller.appId, id);
  if (!row) throw new Error("webhook endpoint vanished after insert");
  return json({ ...webhookEndpointJson(row), secret }, 201);
};

export const list: Handler = async (request, env) => {
  const caller = await authorizeApp(request, env);
  const rows = await endpointsOfApp(env.DB, caller.appId);
  return json({ object: "list", data: rows.map(webhookEndpointJson) });
};

export const get: Handler = async (request, env) => {
  const caller = await authorizeApp(request, env);
  const row = await endpointForApp(env.DB, caller.appId, pathId(request, "id", "whk", "webhook endpoint"));
  if (!row) throw notFound("webhook endpoint");
  return json(webhookEndpointJson(row));
};

/** Disables the endpoint for good; its pending deliveries are cancelled, the log stays. */
export const remove: Handler = async (request, env) => {
  const caller = await authorizeApp(request, env);
  const id = pathId(request, "id", "whk", "webhook endpoint");
  const row = await endpointForApp(env.DB, caller.appId, id);
  if (!row) throw notFound("webhook endpoint");
  if (row.status !== "active") {
    throw conflict(
      "webhook-disabled",
      "Webhook endpoint already deleted",
      "This endpoint was already deleted.",
    );
  }
  const now = Date.now();
  const db = env.DB;
  const [update] = await db.batch([
    db
      .prepare(
        `UPDATE webhook_endpoints SET status = 'disabled', disabled_at = ?3
         WHERE id = ?1 AND app_id = ?2 AND status = 'active'`,
      )
      .bind(id, caller.appId, now),
    auditIfChanged(db, {
      appId: caller.appId,
      type: "webhook.deleted",
      outcome: "disabled",
      ip: clientIp(request),
      detail: { endpoint_id: id, url: row.url },
      at: now,
    }),
    db
      .prepare(
        `UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at = NULL
         WHERE endpoint_id = ?1 AND app_id = ?2 AND status = 'pending'`,
      )
      .bind(id, caller.appId),
  ]);
  if (update?.meta.changes !== 1) {
    throw conflict(
      "webhook-disabled",
      "Webhook endpoint already deleted",
      "This endpoint was deleted meanwhile.",
    );
  }
  const after = await endpointForApp(db, caller.appId, id);
  return json(webhookEndpointJson(after ?? row));
};

/** A new signing secret; the previous one keeps signing alongside it for a while (default 24 h). */
export const rotateSecret: Handler = async (request, env) => {
  const caller = await authorizeApp(request, env);
  const id = pathId(request, "id", "whk", "webhook endpoint");
  const body = await readJson(request, rotateWebhookSecret);
  const master = sealingKeyOf(env);
  const row = await endpointForApp(env.DB, caller.appId, id);
  if (!row) throw notFound("webhook endpoint");
  if (row.status !== "active") {
    throw conflict(
      "webhook-disabled",
      "Webhook endpoint deleted",
      "A deleted endpoint has no secret to rotate.",
    );
  }
  const now = Date.now();
  const overlap = body.previous_secret_expires_in_seconds ?? DEFAULT_PREVIOUS_SECRET_SECONDS;
  const secret = newWebhookSecret();
  const db = env.DB;
  const [update] = await db.batch([
    // Guarded on the secret read above: of two racing rotations one wins, the other is told so.
    db
      .prepare(
        `UPDATE webhook_endpoints
         SET previous_secret_ciphertext = CASE WHEN ?5 > 0 THEN secret_ciphertext END,
             previous_secret_expires_at = CASE WHEN ?5 > 0 THEN ?6 + ?5 * 1000 END,
             secret_ciphertext = ?3
         WHERE id = ?1 AND app_id = ?2 AND status = 'active' AND secret_ciphertext = ?4`,
      )
      .bind(
        id,
        caller.appId,
        await sealSecret(master, caller.appId, id, secret),
        row.secret_ciphertext,
        overlap,
        now,
      ),
    auditIfChanged(db, {
      appId: caller.appId,
      type: "webhook.secret_rotated",
      outcome: "active",
      ip: clientIp(request),
      detail: { endpoint_id: id, previous_secret_expires_in_seconds: overlap },
      at: now,
    }),
  ]);
  if (update?.meta.changes !== 1) {
    throw conflict("webhook-changed", "Webhook endpoint changed", "The endpoint changed meanwhile; retry.");
  }
  const after = await endpointForApp(db, caller.appId, id);
  return json({ ...webhookEndpointJson(after ?? row), secret });
};

export const deliveries: Handler = async (request, env) => {
  const caller = await authorizeApp(request, env);
  const q = readQuery(request, webhookDeliveriesQuery);
  if (q.cursor !== undefined && !DELIVERY_ID.test(q.cursor)) {
    throw badRequest("cursor: not a cursor this API returned", [
      { field: "cursor", message: "not a cursor this API returned" },
    ]);
  }
  const limit = q.limit ?? DEFAULT_LIMIT;
  const rows = await listDeliveries(env.DB, caller.appId, {
    endpointId: q.endpoint_id,
    eventId: q.event_id,
    status: q.status,
    afterId: q.cursor,
    limit: limit + 1,
  });
  return json(listPage(rows, limit, webhookDeliveryJson));
};

/** Sends an event again, as a new delivery of its own (the log keeps both), to the same endpoint. */
export const resend: Handler = async (request, env, ctx) => {
  const caller = await authorizeApp(request, env);
  const original = await deliveryForApp(env.DB, caller.appId, deliveryId(request.params.id));
  if (!original) throw notFound("webhook delivery");
  const id = `whd_${hex(randomBytes(16))}`;
  const now = Date.now();
  const db = env.DB;
  const [insert] = await db.batch([
    db
      .prepare(
        `INSERT INTO webhook_deliveries (id, app_id, event_id, endpoint_id, status, next_attempt_at, resent_from, created_at)
         SELECT ?1, ?2, ?3, ?4, 'pending', ?6, ?5, ?6
         WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = ?4 AND app_id = ?2 AND status = 'active')`,
      )
      .bind(id, caller.appId, original.event_id, original.endpoint_id, original.id, now),
    auditIfChanged(db, {
      appId: caller.appId,
      type: "webhook.resent",
      outcome: "pending",
      ip: clientIp(request),
      detail: { delivery_id: id, resent_from: original.id, event_id: original.event_id },
      at: now,
    }),
  ]);
  if (insert?.meta.changes !== 1) {
    throw conflict(
      "webhook-disabled",
      "Webhook endpoint deleted",
      "The endpoint of this delivery was deleted; nothing can be sent to it.",
    );
  }
  ctx.waitUntil(kickWebhooks(env, caller.appId));
  const row = await deliveryForApp(db, caller.appId, id);
  if (!row) throw new Error("webhook delivery vanished after insert");
  return json(webhookDeliveryJson(row), 202);
};
