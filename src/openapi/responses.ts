// The response shapes of API v1 as zod schemas, for the OpenAPI description only (the routes build their
// answers in src/routes/views.ts; test/openapi.test.ts checks real answers against these).
import { z } from "zod";
import { settingsSchema } from "../abuse/settings";
import { challengeContext } from "../schemas";
import { WEBHOOK_EVENT_TYPES } from "../webhooks/types";

const ts = z.iso.datetime().describe("ISO-8601 UTC");
const nullableTs = ts.nullable();
const id = (prefix: string) =>
  z
    .string()
    .regex(new RegExp(`^${prefix}_[0-9a-z]{26}$`))
    .describe(`${prefix}_…`);

export const enrollment = z.object({
  id: id("enr"),
  object: z.literal("enrollment"),
  user_id: z.string(),
  user_label: z.string(),
  status: z.enum(["pending", "completed", "expired", "cancelled"]),
  device_id: id("dev").nullable(),
  created_at: ts,
  expires_at: ts,
  completed_at: nullableTs,
});

export const createdEnrollment = enrollment.extend({
  enrollment_uri: z.string().describe("what the QR code shows; holds the single-use enrollment code"),
  qr_svg_url: z.url().describe("the QR image; usable as <img src> without an API key"),
});

export const device = z.object({
  id: id("dev"),
  object: z.literal("device"),
  user_id: z.string(),
  name: z.string().nullable(),
  platform: z.string().nullable(),
  key_format: z.enum(["ecies-p256", "rsa-oaep-sha1", "rsa-oaep-sha256"]),
  status: z.enum(["active", "revoked"]),
  enrollment_id: id("enr").nullable(),
  created_at: ts,
  activated_at: nullableTs,
  revoked_at: nullableTs,
});

export const deviceList = z.object({ object: z.literal("list"), data: z.array(device) });

export const challenge = z.object({
  id: id("chl"),
  object: z.literal("challenge"),
  user_id: z.string(),
  status: z.enum(["pending", "approved", "denied", "expired", "cancelled", "failed"]),
  context: challengeContext,
  created_at: ts,
  expires_at: ts,
  resolved_at: nullableTs,
  device_id: id("dev").nullable().describe("the device that answered"),
  reason: z.string().nullable().describe("the device's reason for a deny, or too_many_wrong_answers"),
  number_matching: z.boolean().describe("whether an approval must carry the number shown at login"),
  match_number: z
    .string()
    .regex(/^[0-9]{2}$/)
    .nullable()
    .describe("with number_matching, while pending: the 2 digits to show on the login page"),
  fraud_reported: z.boolean().describe('denied with reason "not_me": the user says they did not ask for it'),
});

export const createdChallenge = challenge.extend({
  devices: z.number().int().describe("how many devices it was sent to"),
  superseded: z
    .array(id("chl"))
    .optional()
    .describe("with supersede: true, the older pending challenges this one cancelled"),
});

const hash = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
  .describe("lowercase hex SHA-256");

export const auditEvent = z.object({
  id: id("evt"),
  object: z.literal("audit_event"),
  app_id: id("app"),
  type: z.string(),
  outcome: z.string().nullable(),
  user_id: z.string().nullable(),
  enrollment_id: z.string().nullable(),
  device_id: z.string().nullable(),
  challenge_id: z.string().nullable(),
  ip: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()).nullable(),
  created_at: ts,
  prev_hash: hash
    .nullable()
    .describe("the hash of the application's previous event (64 zeros for its first); null until sealed"),
  hash: hash
    .nullable()
    .describe("SHA-256 of the canonical event, prev_hash included (docs/storage.md); null until sealed"),
});

export const auditPage = z.object({
  object: z.literal("list"),
  data: z.array(auditEvent),
  has_more: z.boolean(),
  next_cursor: z.string().nullable().describe("pass as cursor for the next page"),
});

export const deviceEnrolled = z.object({
  device_id: id("dev"),
  key_format: z.string(),
  encrypted_device_token: z.string().describe("base64url; decrypts to {v:1, did, t}"),
  activate_by: ts,
  app_name: z.string(),
  user_label: z.string(),
});

export const deviceActivated = z.object({
  device_id: id("dev"),
  status: z.literal("active"),
  user_id: z.string(),
  activated_at: ts,
});

export const deviceChallengeList = z.object({
  object: z.literal("list"),
  data: z.array(
    z.object({
      id: id("chl"),
      object: z.literal("device_challenge"),
      key_format: z.string(),
      ciphertext: z.string().describe("base64url"),
      context: challengeContext,
      number_matching: z
        .boolean()
        .describe("ask the user for the number shown at login and send it with an approval"),
      created_at: ts,
      expires_at: ts,
    }),
  ),
});

export const webhookEndpoint = z.object({
  id: id("whk"),
  object: z.literal("webhook_endpoint"),
  url: z.string(),
  description: z.string().nullable(),
  events: z.array(z.enum(WEBHOOK_EVENT_TYPES)).nullable().describe("null: every event type"),
  status: z.enum(["active", "disabled"]),
  previous_secret_expires_at: nullableTs.describe("after a rotation: until when the old secret signs too"),
  created_at: ts,
  disabled_at: nullableTs,
});

export const webhookEndpointWithSecret = webhookEndpoint.extend({
  secret: z.string().describe("whsec_…: the signing secret, shown in this response only"),
});

export const webhookEndpointList = z.object({ object: z.literal("list"), data: z.array(webhookEndpoint) });

export const webhookDelivery = z.object({
  id: z
    .string()
    .regex(/^whd_[0-9a-f]{32}$/)
    .describe("whd_…"),
  object: z.literal("webhook_delivery"),
  endpoint_id: id("whk"),
  event_id: id("wev"),
  event_type: z.enum(WEBHOOK_EVENT_TYPES),
  status: z.enum(["pending", "succeeded", "failed", "cancelled"]),
  attempts: z.number().int(),
  next_attempt_at: nullableTs.describe("while pending: when the next attempt is due"),
  last_attempt_at: nullableTs,
  last_status_code: z.number().int().nullable().describe("the receiver's HTTP status"),
  last_error: z.string().nullable().describe("why there was no HTTP answer (timeout, could not connect)"),
  delivered_at: nullableTs,
  resent_from: z.string().nullable().describe("the delivery this one re-sends"),
  created_at: ts,
});

export const webhookDeliveryPage = z.object({
  object: z.literal("list"),
  data: z.array(webhookDelivery),
  has_more: z.boolean(),
  next_cursor: z.string().nullable().describe("pass as cursor for the next page"),
});

export const problem = z
  .looseObject({
    type: z.string().describe("https://encrypxon.dev/problems/<slug>"),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .describe("RFC 9457 problem details; extension members such as challenge_status or attempts_left");

export const userPause = z.object({
  object: z.literal("user_pause"),
  user_id: z.string(),
  paused: z.boolean(),
  paused_at: nullableTs,
  challenge_id: id("chl").nullable().describe("the challenge reported as fraud"),
  device_id: id("dev").nullable().describe("the device that reported it"),
});

export const settings = settingsSchema.extend({
  object: z.literal("settings"),
  updated_at: nullableTs.describe("null while every setting is the default"),
});

export const service = z.object({ service: z.string(), api: z.string(), status: z.string() });

export const application = z.object({
  id: id("app"),
  object: z.literal("application"),
  name: z.string(),
  created_at: ts,
  key_count: z.number().int().describe("every key ever issued, revoked ones included"),
  active_keys: z.number().int().describe("keys that authenticate now (grace periods included)"),
});

export const applicationList = z.object({ object: z.literal("list"), data: z.array(application) });

export const apiKey = z.object({
  id: id("key"),
  object: z.literal("api_key"),
  app_id: id("app"),
  name: z.string().nullable(),
  mode: z.enum(["live", "test"]),
  prefix: z.string().describe("the key's first 12 characters"),
  last_chars: z
    .string()
    .nullable()
    .describe("its last 4 characters (null for keys made before they were kept)"),
  status: z
    .enum(["active", "expiring", "expired", "revoked"])
    .describe("expiring: rotated, working until expires_at"),
  created_at: ts,
  expires_at: nullableTs.describe("set by rotation: the end of the old key's grace period"),
  revoked_at: nullableTs,
  replaced_by: id("key").nullable().describe("the key that rotation issued in its place"),
});

export const apiKeyList = z.object({ object: z.literal("list"), data: z.array(apiKey) });

export const issuedApiKey = apiKey.extend({
  api_key: z.string().describe("the key itself: shown in this answer only, stored as its SHA-256"),
});

export const rotatedApiKey = issuedApiKey.extend({
  replaces: apiKey.describe("the old key, now expiring"),
});

export const auditVerification = z.object({
  object: z.literal("audit_verification"),
  ok: z.boolean().describe("false when a link is broken; `broken` says where"),
  checked: z.number().int().describe("events whose seal was checked by this call"),
  unsealed: z.number().int().describe("events newer than the head, written while this call ran"),
  first_event_id: id("evt").nullable(),
  last_event_id: id("evt").nullable(),
  head: z
    .object({ event_id: id("evt"), hash, sealed_events: z.number().int() })
    .nullable()
    .describe(
      "the last sealed event as the sealer recorded it; keep its hash to check later exports against",
    ),
  broken: z
    .object({
      event_id: id("evt").describe(
        "the first event that does not verify (for head_missing: the missing one)",
      ),
      reason: z.enum([
        "hash_mismatch",
        "prev_hash_mismatch",
        "unsealed_in_chain",
        "head_mismatch",
        "head_missing",
      ]),
      after_event_id: id("evt").nullable().describe("the last event that verified before it"),
    })
    .nullable(),
  has_more: z.boolean(),
  next_cursor: id("evt").nullable().describe("pass as cursor to verify the next stretch"),
});
