import { type IRequest, Router } from "itty-router";
import type { Env } from "./env";
import { json } from "./http/body";
import { withSecurityHeaders } from "./http/headers";
import { Problem, problemResponse, toErrorResponse } from "./http/problem";
import type { Handler } from "./http/request";
import { docsRoutes } from "./openapi";
import * as audit from "./routes/audit";
import * as challenges from "./routes/challenges";
import * as deviceChallenges from "./routes/deviceChallenges";
import * as deviceChannel from "./routes/deviceChannel";
import * as deviceEnrollment from "./routes/deviceEnrollment";
import * as devices from "./routes/devices";
import * as enrollments from "./routes/enrollments";
import * as settings from "./routes/settings";
import * as webhooks from "./routes/webhooks";

export { ChallengeObject } from "./durable/challenge";
export { DeviceChannel } from "./durable/channel";
export { EnrollmentWaiter } from "./durable/enrollmentWaiter";
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
  ["POST", "/v1/challenges", challenges.create],
  ["GET", "/v1/challenges/:id", challenges.get],
  ["DELETE", "/v1/challenges/:id", challenges.cancel],
  ["GET", "/v1/audit", audit.list],
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
// GET /openapi.json and /docs describe this very table, so a route added above appears in them.
routes.push(...docsRoutes(() => routes));

const router = Router<IRequest, [Env, ExecutionContext]>({
  // Our own choke point: itty's default would copy internal error messages into the response.
  catch: (err, request) => toErrorResponse(err, request),
});
for (const [method, path, handler] of routes) {
  router[method.toLowerCase() as "get" | "post" | "patch" | "delete"](path, handler);
}
router.all("*", (request) => {
  const path = new URL(request.url).pathname;
  const allowed = router.routes
    .filter(([method, pattern]) => method !== "ALL" && pattern.test(path))
    .map(([method]) => method);
  if (allowed.length === 0) {
    throw new Problem(404, "not-found", "Not found", `There is no ${path} in this API.`);
  }
  // OPTIONS says which methods exist and nothing more: with no Access-Control-* headers in the answer a
  // browser's CORS preflight fails, which is the point (see CORS in docs/api.md).
  if (request.method === "OPTIONS") {
    return new Response(null, { status: 204, headers: { allow: [...allowed, "OPTIONS"].join(", ") } });
  }
  throw new Problem(
    405,
    "method-not-allowed",
    "Method not allowed",
    `${path} accepts ${allowed.join(", ")}.`,
    {
      headers: { allow: allowed.join(", ") },
    },
  );
});

export default {
  async fetch(request, env, ctx): Promise<Response> {
    let response: Response;
    try {
      response =
        (await router.fetch(request, env, ctx)) ??
        problemResponse(new Problem(404, "not-found", "Not found", "Not found."));
    } catch (err) {
      response = toErrorResponse(err, request);
    }
    return withSecurityHeaders(request, response);
  },
} satisfies ExportedHandler<Env>;
