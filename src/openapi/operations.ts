// What the OpenAPI description says about each route of the table in src/index.ts, keyed by
// "METHOD /path". Request schemas are the very ones the routes validate with (src/schemas.ts). A route
// missing here still appears in the description (with a placeholder summary), and a test names it.
import type { z } from "zod";
import { settingsPatch } from "../abuse/settings";
import * as req from "../schemas";
import * as res from "./responses";

export type Auth = "app" | "device" | "admin" | "none";

export interface Operation {
  summary: string;
  description?: string;
  tag: string;
  auth: Auth;
  body?: z.ZodType;
  query?: z.ZodObject;
  /** status → [description, JSON body schema | media type of a non-JSON body]. */
  responses: Record<number, [string, z.ZodType | string | null]>;
}

const adminNote =
  "Admin calls carry `Authorization: Bearer <ADMIN_TOKEN>`; without that secret configured they answer 404.";

const wait = "With `wait` (0–25 s) the call returns as soon as the status changes.";

export const OPERATIONS: Record<string, Operation> = {
  "GET /": {
    summary: "Service status",
    tag: "Meta",
    auth: "none",
    responses: { 200: ["Up", res.service] },
  },
  "POST /v1/enrollments": {
    summary: "Create an enrollment",
    description:
      "Returns the enrollment with its `enrollment_uri` (show it as a QR code) and `qr_svg_url`. The enrollment code appears in this response only.",
    tag: "Enrollments",
    auth: "app",
    body: req.createEnrollment,
    responses: { 201: ["Created", res.createdEnrollment] },
  },
  "GET /v1/enrollments/:id": {
    summary: "Get an enrollment",
    description: `\`device_id\` is set once \`completed\`. ${wait}`,
    tag: "Enrollments",
    auth: "app",
    query: req.waitQuery,
    responses: { 200: ["The enrollment", res.enrollment] },
  },
  "DELETE /v1/enrollments/:id": {
    summary: "Cancel an enrollment",
    tag: "Enrollments",
    auth: "app",
    responses: { 200: ["Cancelled", res.enrollment], 409: ["enrollment-closed", res.problem] },
  },
  "GET /v1/enrollments/:id/qr.svg": {
    summary: "The enrollment QR code as SVG",
    description: "The `code` query parameter (from `enrollment_uri`) is the credential; no API key.",
    tag: "Enrollments",
    auth: "none",
    responses: { 200: ["The QR code", "image/svg+xml"] },
  },
  "GET /v1/enrollments/:id/qr.png": {
    summary: "The enrollment QR code as PNG",
    description: "The `code` query parameter (from `enrollment_uri`) is the credential; no API key.",
    tag: "Enrollments",
    auth: "none",
    responses: { 200: ["The QR code", "image/png"] },
  },
  "GET /v1/users/:user_id/devices": {
    summary: "List a user's devices",
    description: "Active and revoked devices, without key material. Percent-encode the user id.",
    tag: "Devices",
    auth: "app",
    responses: { 200: ["The devices", res.deviceList] },
  },
  "DELETE /v1/devices/:id": {
    summary: "Revoke a device",
    tag: "Devices",
    auth: "app",
    responses: { 200: ["Revoked", res.device], 409: ["device-revoked", res.problem] },
  },
  "GET /v1/users/:user_id/pause": {
    summary: "Whether new challenges for a user are paused",
    description:
      "A deny with reason `not_me` (\"this wasn't me\") pauses the user when the application's `fraud_auto_pause` is on.",
    tag: "Devices",
    auth: "app",
    responses: { 200: ["The pause (paused: false when there is none)", res.userPause] },
  },
  "DELETE /v1/users/:user_id/pause": {
    summary: "Clear a user's pause",
    description:
      "Challenges for the user work again; audited as `user.unpaused`. Clearing no pause is not an error.",
    tag: "Devices",
    auth: "app",
    responses: { 200: ["Not paused", res.userPause] },
  },
  "POST /v1/challenges": {
    summary: "Create a challenge (ask for a second factor)",
    description:
      "With `wait_seconds` (0–25) the call waits for the answer before returning. With number matching (`number_matching`, default: the application's setting) show `match_number` on the login page; the user types it on the device.",
    tag: "Challenges",
    auth: "app",
    body: req.createChallenge,
    responses: {
      201: ["Created", res.createdChallenge],
      422: ["no-active-device", res.problem],
      423: ["user-paused: a device reported a challenge of this user as fraud", res.problem],
      429: ["rate-limited (Retry-After): the key's, the user's per-minute or pending limit", res.problem],
    },
  },
  "GET /v1/challenges/:id": {
    summary: "Get a challenge",
    description: wait,
    tag: "Challenges",
    auth: "app",
    query: req.waitQuery,
    responses: { 200: ["The challenge", res.challenge] },
  },
  "DELETE /v1/challenges/:id": {
    summary: "Cancel a pending challenge",
    tag: "Challenges",
    auth: "app",
    responses: { 200: ["Cancelled", res.challenge], 409: ["challenge-closed", res.problem] },
  },
  "GET /v1/audit": {
    summary: "List audit events",
    description: "Newest first; pass `next_cursor` as `cursor` for the next page.",
    tag: "Audit",
    auth: "app",
    query: req.auditQuery,
    responses: { 200: ["A page of events", res.auditPage] },
  },
  "GET /v1/settings": {
    summary: "Get the application's abuse settings",
    description: "Number-matching default, fraud auto-pause and rate limits; defaults where never set.",
    tag: "Settings",
    auth: "app",
    responses: { 200: ["The effective settings", res.settings] },
  },
  "PATCH /v1/settings": {
    summary: "Change some abuse settings",
    description: "Only the members sent change (limits one by one); answers with the effective settings.",
    tag: "Settings",
    auth: "app",
    body: settingsPatch,
    responses: { 200: ["The effective settings", res.settings] },
  },
  "GET /v1/webhooks/deliveries": {
    summary: "List webhook deliveries",
    description:
      "The delivery log, newest first: one entry per event and endpoint (and per re-send), with its attempts and last outcome. Pass `next_cursor` as `cursor` for the next page.",
    tag: "Webhooks",
    auth: "app",
    query: req.webhookDeliveriesQuery,
    responses: { 200: ["A page of deliveries", res.webhookDeliveryPage] },
  },
  "POST /v1/webhooks/deliveries/:id/resend": {
    summary: "Re-send a webhook event",
    description: "Sends the delivery's event again to the same endpoint, as a new delivery (`resent_from`).",
    tag: "Webhooks",
    auth: "app",
    responses: {
      202: ["Queued", res.webhookDelivery],
      404: ["not-found", res.problem],
      409: ["webhook-disabled: the endpoint was deleted", res.problem],
    },
  },
  "POST /v1/webhooks": {
    summary: "Register a webhook endpoint",
    description:
      "Events (`challenge.approved|denied|expired|cancelled|failed`, `enrollment.completed`) are POSTed to `url`, signed in `Encrypxon-Signature`; retried with exponential backoff for about 8.5 hours. The signing `secret` appears in this response only. At most 5 active endpoints per application.",
    tag: "Webhooks",
    auth: "app",
    body: req.createWebhook,
    responses: {
      201: ["Created", res.webhookEndpointWithSecret],
      409: ["webhook-limit", res.problem],
      503: ["webhooks-not-configured: the deployment has no WEBHOOK_KEY", res.problem],
    },
  },
  "GET /v1/webhooks": {
    summary: "List webhook endpoints",
    tag: "Webhooks",
    auth: "app",
    responses: { 200: ["The endpoints", res.webhookEndpointList] },
  },
  "GET /v1/webhooks/:id": {
    summary: "Get a webhook endpoint",
    tag: "Webhooks",
    auth: "app",
    responses: { 200: ["The endpoint", res.webhookEndpoint] },
  },
  "DELETE /v1/webhooks/:id": {
    summary: "Delete a webhook endpoint",
    description: "It stops receiving events at once; its pending deliveries are cancelled; its log stays.",
    tag: "Webhooks",
    auth: "app",
    responses: { 200: ["Disabled", res.webhookEndpoint], 409: ["webhook-disabled", res.problem] },
  },
  "POST /v1/webhooks/:id/rotate-secret": {
    summary: "Rotate a webhook endpoint's signing secret",
    description:
      "Returns the new `secret`. The previous one keeps signing alongside it (a second `v1=` entry) for `previous_secret_expires_in_seconds` (default 86400, 0 = stop at once).",
    tag: "Webhooks",
    auth: "app",
    body: req.rotateWebhookSecret,
    responses: { 200: ["Rotated", res.webhookEndpointWithSecret], 409: ["webhook-disabled", res.problem] },
  },
  "GET /v1/audit/verify": {
    summary: "Verify the audit hash chain",
    description:
      "Seals what is recorded, then recomputes the application's chain from its first event (or after `cursor`) for at most `limit` events (default 2000) and reports the first broken link. Follow `next_cursor` while `has_more`.",
    tag: "Audit",
    auth: "app",
    query: req.auditVerifyQuery,
    responses: { 200: ["The verification", res.auditVerification] },
  },
  "POST /v1/device/enroll": {
    summary: "Device: register a public key with an enrollment code",
    tag: "Device",
    auth: "none",
    body: req.deviceEnroll,
    responses: {
      201: ["Enrolled", res.deviceEnrolled],
      410: ["enrollment-code-invalid", res.problem],
      429: ["rate-limited (Retry-After): the code's attempts or the address's limit", res.problem],
    },
  },
  "POST /v1/device/activate": {
    summary: "Device: prove possession of the key",
    tag: "Device",
    auth: "none",
    body: req.deviceActivate,
    responses: { 200: ["Active", res.deviceActivated], 401: ["activation-refused", res.problem] },
  },
  "GET /v1/device/challenges": {
    summary: "Device: pending challenges",
    tag: "Device",
    auth: "device",
    responses: { 200: ["Pending challenges", res.deviceChallengeList] },
  },
  "POST /v1/device/challenges/:id/response": {
    summary: "Device: answer a challenge",
    tag: "Device",
    auth: "device",
    body: req.deviceResponse,
    responses: {
      200: ["The challenge", res.challenge],
      409: ["challenge-closed", res.problem],
      422: ["wrong-entropy, wrong-number", res.problem],
      423: [
        "user-paused: an approval while the user is paused after a fraud report (it did not count)",
        res.problem,
      ],
      429: ["rate-limited (Retry-After): the device's wrong answers or the address's limit", res.problem],
    },
  },
  "DELETE /v1/device": {
    summary: "Device: remove itself",
    tag: "Device",
    auth: "device",
    responses: { 204: ["Removed", null] },
  },
  "GET /v1/device/connect": {
    summary: "Device: WebSocket for live challenge events",
    description:
      "Send `Upgrade: websocket` and the device token (Authorization header, or the subprotocols `encrypxon.v1, encrypxon.bearer.<token>`). Server messages: `hello` (pending ids), `challenge.created`, `challenge.closed`; see docs/api.md.",
    tag: "Device",
    auth: "device",
    responses: { 101: ["Switching protocols", null], 426: ["upgrade-required", res.problem] },
  },
  "POST /v1/admin/apps": {
    summary: "Admin: create an application",
    description: adminNote,
    tag: "Admin",
    auth: "admin",
    body: req.adminCreateApp,
    responses: { 201: ["Created", res.application] },
  },
  "GET /v1/admin/apps": {
    summary: "Admin: list applications",
    tag: "Admin",
    auth: "admin",
    responses: { 200: ["The applications", res.applicationList] },
  },
  "GET /v1/admin/apps/:id": {
    summary: "Admin: get an application",
    tag: "Admin",
    auth: "admin",
    responses: { 200: ["The application", res.application] },
  },
  "POST /v1/admin/apps/:id/keys": {
    summary: "Admin: issue an API key",
    description: "The answer's `api_key` is the only time the key is shown.",
    tag: "Admin",
    auth: "admin",
    body: req.adminCreateKey,
    responses: { 201: ["Issued", res.issuedApiKey] },
  },
  "GET /v1/admin/apps/:id/keys": {
    summary: "Admin: list an application's API keys",
    description: "First and last characters only; never a key or its hash.",
    tag: "Admin",
    auth: "admin",
    responses: { 200: ["The keys", res.apiKeyList] },
  },
  "GET /v1/admin/apps/:id/keys/:key_id": {
    summary: "Admin: get an API key",
    tag: "Admin",
    auth: "admin",
    responses: { 200: ["The key", res.apiKey] },
  },
  "DELETE /v1/admin/apps/:id/keys/:key_id": {
    summary: "Admin: revoke an API key",
    description:
      "Takes effect at once where it is called; other Cloudflare locations may accept a cached key for up to 300 s plus KV propagation (about 60 s).",
    tag: "Admin",
    auth: "admin",
    responses: { 200: ["Revoked", res.apiKey], 409: ["api-key-revoked", res.problem] },
  },
  "POST /v1/admin/apps/:id/keys/:key_id/rotate": {
    summary: "Admin: rotate an API key",
    description:
      "Issues a new key; the old one keeps working for `grace_seconds` (default 86400, 0 = stop now) or until revoked.",
    tag: "Admin",
    auth: "admin",
    body: req.adminRotateKey,
    responses: { 201: ["The new key", res.rotatedApiKey], 409: ["api-key-not-active", res.problem] },
  },
  "GET /openapi.json": {
    summary: "This API description (OpenAPI 3.1)",
    tag: "Meta",
    auth: "none",
    responses: { 200: ["The description", "application/json"] },
  },
  "GET /docs": {
    summary: "A page that renders this API description",
    tag: "Meta",
    auth: "none",
    responses: { 200: ["HTML", "text/html"] },
  },
};

/** Named schemas: they become components/schemas and are referenced wherever they occur. */
export const COMPONENTS: Record<string, z.ZodType> = {
  ChallengeContext: req.challengeContext,
  CreateEnrollmentRequest: req.createEnrollment,
  CreateChallengeRequest: req.createChallenge,
  DeviceEnrollRequest: req.deviceEnroll,
  DeviceActivateRequest: req.deviceActivate,
  DeviceResponseRequest: req.deviceResponse,
  SettingsPatchRequest: settingsPatch,
  Settings: res.settings,
  UserPause: res.userPause,
  Enrollment: res.enrollment,
  CreatedEnrollment: res.createdEnrollment,
  Device: res.device,
  DeviceList: res.deviceList,
  Challenge: res.challenge,
  CreatedChallenge: res.createdChallenge,
  AuditEvent: res.auditEvent,
  AuditPage: res.auditPage,
  AuditVerification: res.auditVerification,
  DeviceEnrolled: res.deviceEnrolled,
  DeviceActivated: res.deviceActivated,
  DeviceChallengeList: res.deviceChallengeList,
  Application: res.application,
  ApiKey: res.apiKey,
  IssuedApiKey: res.issuedApiKey,
  Problem: res.problem,
  ServiceStatus: res.service,
};
