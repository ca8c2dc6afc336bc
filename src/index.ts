import { type IRequest, Router } from "itty-router";
import { adminEnabled } from "./auth/adminToken";
import { sealMarked } from "./durable/auditSealer";
import type { Env } from "./env";
import { json } from "./http/body";
import { withSecurityHeaders } from "./http/headers";
import { Problem, problemResponse, toErrorResponse } from "./http/problem";
import type { Handler } from "./http/request";
import { docsRoutes } from "./openapi";
import * as admin from "./routes/admin";
import * as audit from "./routes/audit";
import * as challenges from "./routes/challenges";
import * as deviceChallenges from "./routes/deviceChallenges";
import * as deviceChannel from "./routes/deviceChannel";
import * as deviceEnrollment from "./routes/deviceEnrollment";
import * as devices from "./routes/devices";
import * as enrollments from "./routes/enrollments";
import * as pauses from "./routes/pauses";
import * as settings from "./routes/settings";
import * as webhooks from "./routes/webhooks";

export { AuditSealer } from "./durable/auditSealer";
export { ChallengeObject } from "./durable/challenge";
export { DeviceChannel } from "./durable/channel";
export { EnrollmentWaiter } from "./durable/enrollmentWaiter";
export { RateLimiter } from "./durable/rateLimiter";
export { WebhookDispatcher } from "./durable/webhookDispatcher";

/** The API: every route, in one table that the router, the OpenAPI description and the tests read. */
export const routes: [method: string, path: string, handler: Handler][] = [
  ["GET", "/", async () => json({ service: "encrypxon", api: "v1", status: "ok" })],
  ["POST", "/v1/enrollments", enrollments.create],
  ["GET", "/v1/enrollments/:id", enrollments.get],
  ["DELETE", "/v1/enrollments/:id", enrollments.cancel],
  ["GET", "/v1/enrollments/:id/qr.svg", enrollments.qrSvg],
  ["GET", "/v1/enrollments/:id/qr.png", enrollments.qrPng],
  ["GET", "/v1/users/:user_id/devices", devices.listForUser],
  ["DELETE", "/v1/devices/:id", devices.revoke],
  ["GET", "/v1/users/:user_id/pause", pauses.get],
  ["DELETE", "/v1/users/:user_id/pause", pauses.clear],
  ["POST", "/v1/challenges", challenges.create],
  ["GET", "/v1/challenges/:id", challenges.get],
  ["DELETE", "/v1/challenges/:id", challenges.cancel],
  ["GET", "/v1/audit", audit.list],
  ["GET", "/v1/audit/verify", audit.verify],
  ["GET", "/v1/settings", settings.get],
  ["PATCH", "/v1/settings", settings.update],
  // The delivery log first: "deliveries" would otherwise be taken for an endpoint id.
  ["GET", "/v1/webhooks/deliveries", webhooks.deliveries],
  ["POST", "/v1/webhooks/deliveries/:id/resend", webhooks.resend],
  ["POST", "/v1/webhooks", webhooks.create],
  ["GET", "/v1/webhooks", webhooks.list],
  ["GET", "/v1/webhooks/:id", webhooks.get],
  ["DELETE", "/v1/webhooks/:id", webhooks.remove],
  ["POST", "/v1/webhooks/:id/rotate-secret", webhooks.rotateSecret],
  ["POST", "/v1/device/enroll", deviceEnrollment.enroll],
  ["POST", "/v1/device/activate", deviceEnrollment.activate],
  ["GET", "/v1/device/challenges", deviceChallenges.list],
  ["POST", "/v1/device/challenges/:id/response", deviceChallenges.respond],
  ["DELETE", "/v1/device", deviceChallenges.removeSelf],
  ["GET", "/v1/device/connect", deviceChannel.connect],
];
// The operator's calls (ADMIN_TOKEN). A router of their own, consulted only when that secret is set:
// otherwise they do not exist at all, not even as a 405 that would give their paths away.
export const adminRoutes: [method: string, path: string, handler: Handler][] = [
  ["POST", "/v1/admin/apps", admin.createApp],
  ["GET", "/v1/admin/apps", admin.listApps],
  ["GET", "/v1/admin/apps/:id", admin.getApp],
  ["POST", "/v1/admin/apps/:id/keys", admin.createKey],
  ["GET", "/v1/admin/apps/:id/keys", admin.listKeys],
  ["GET", "/v1/admin/apps/:id/keys/:key_id", admin.getKey],
  ["DELETE", "/v1/admin/apps/:id/keys/:key_id", admin.revokeKey],
  ["POST", "/v1/admin/apps/:id/keys/:key_id/rotate", admin.rotateKey],
];
const ADMIN_PREFIX = /^\/v1\/admin(\/|$)/;

// GET /openapi.json and /docs describe these very tables, so a route added above appears in them.
routes.push(...docsRoutes(() => [...routes, ...adminRoutes]));

function makeRouter(table: typeof routes) {
  const router = Router<IRequest, [Env, ExecutionContext]>({
    // Our own choke point: itty's default would copy internal error messages into the response.
    catch: (err, request) => toErrorResponse(err, request),
  });
  for (const [method, path, handler] of table) {
    router[method.toLowerCase() as "get" | "post" | "patch" | "delete"](path, handler);
  }
  router.all("*", (request) => {
    const path = new URL(request.url).pathname;
    const allowed = [
      ...new Set(
        router.routes
          .filter(([method, pattern]) => method !== "ALL" && pattern.test(path))
          // HEAD goes wherever GET does (see headAsGet).
          .flatMap(([method]) => (method === "GET" ? ["GET", "HEAD"] : [method])),
      ),
    ];
    if (allowed.length === 0) {
      throw new Problem(404, "not-found", "Not found", `There is no ${path.slice(0, 200)} in this API.`);
    }
    // OPTIONS included: it is not a method of this API, so a browser's CORS preflight gets this 405 with
    // no Access-Control-* headers and fails, which is the point (see CORS in docs/api.md).
    throw new Problem(
      405,
      "method-not-allowed",
      "Method not allowed",
      `${path.slice(0, 200)} accepts ${allowed.join(", ")}.`,
      {
        headers: { allow: allowed.join(", ") },
      },
    );
  });
  return router;
}

const router = makeRouter(routes);
const adminRouter = makeRouter(adminRoutes);

/**
 * HEAD is GET without the body (RFC 9110 §9.3.2): the GET handler runs and its status and headers are
 * the answer, on every path that has a GET. Never an upgrade: a HEAD carrying `Upgrade: websocket` is
 * answered as a plain GET would be (426), not with a socket.
 */
function headAsGet(request: Request): Request {
  const headers = new Headers(request.headers);
  headers.delete("upgrade");
  return new Request(request, { method: "GET", headers });
}

async function withoutBody(response: Response): Promise<Response> {
  await response.body?.cancel();
  return new Response(null, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

export default {
  async fetch(request, env, ctx): Promise<Response> {
    const head = request.method === "HEAD";
    const routed = head ? headAsGet(request) : request;
    let response: Response;
    try {
      const path = new URL(routed.url).pathname;
      const chosen = ADMIN_PREFIX.test(path) && adminEnabled(env) ? adminRouter : router;
      response =
        (await chosen.fetch(routed, env, ctx)) ??
        problemResponse(new Problem(404, "not-found", "Not found", "Not found."));
    } catch (err) {
      response = toErrorResponse(err, routed);
    }
    // Audit rows written by this request get sealed into their application's chain after the answer.
    sealMarked(env, ctx);
    const secured = withSecurityHeaders(request, response);
    return head ? withoutBody(secured) : secured;
  },
} satisfies ExportedHandler<Env>;
