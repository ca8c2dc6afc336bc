import { z } from "zod";
import { KEY_FORMATS } from "./crypto/keys";
import { AUDIT_EVENT_TYPES, AUDIT_OUTCOMES } from "./db/auditEvents";
import { plainIssueMessage } from "./http/issues";
import { MAX_WAIT_SECONDS } from "./http/request";
import { WEBHOOK_EVENT_TYPES } from "./webhooks/types";

// One plain wording for every validation error zod raises ("must be an integer from 60 to 3600", "is
// required"); messages written below for a particular rule still take precedence.
z.config({ customError: plainIssueMessage });

/**
 * A query-string number: plain decimal digits only (Number() alone would also take "0x10", "1e1" or
 * " 5", so `?wait=0x10` would wait 16 s). Anything else stays a string, which the number schema then
 * refuses with its range ("must be an integer from 0 to 25").
 */
const queryInt = (min: number, max: number) =>
  z.preprocess(
    // An empty value (`?wait=`) stays what it always was: 0.
    (v) => (typeof v === "string" && /^[0-9]{0,10}$/.test(v) ? Number(v) : v),
    z.number().int().min(min).max(max),
  );

// Text that ends up on a phone screen and in audit exports: no control characters, no bidi controls or
// invisible characters that could make "moc.knab" read as "bank.com", and no lone surrogates (they would
// be stored as invalid UTF-8). ZWJ/ZWNJ stay allowed: scripts and emoji need them.
const UNSAFE_TEXT = /[\p{Cc}\p{Cs}\u061C\u200B\u200E\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/u;

const printable = (max: number) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    .refine((v) => !UNSAFE_TEXT.test(v), "must not contain control, bidirectional or invisible characters");

export const userId = printable(256)
  .min(1, "must not be empty")
  // "." and ".." cannot be addressed in a URL path (clients normalise them away).
  .refine((v) => v !== "." && v !== "..", 'must not be "." or ".."');

export const challengeContext = z.strictObject({
  title: printable(100).optional(),
  message: printable(500).optional(),
  ip: printable(64).optional(),
  location: printable(100).optional(),
  user_agent: printable(300).optional(),
});

export const createEnrollment = z.strictObject({
  user_id: userId,
  user_label: printable(100).optional(),
  ttl_seconds: z.number().int().min(60).max(3600).optional(),
});

export const createChallenge = z.strictObject({
  user_id: userId,
  context: challengeContext.optional(),
  ttl_seconds: z.number().int().min(10).max(600).optional(),
  wait_seconds: z.number().int().min(0).max(MAX_WAIT_SECONDS).optional(),
  /** Cancel the user's still-pending older challenges (reason `superseded`) once this one exists. */
  supersede: z.boolean().optional(),
  /** Show a 2-digit number at login that the user types on the device; default: the application's setting. */
  number_matching: z.boolean().optional(),
});

export const waitQuery = z.object({
  wait: queryInt(0, MAX_WAIT_SECONDS).optional(),
});

/** A public JWK has a dozen members at most; what they hold is checked by importDevicePublicKey. */
const MAX_JWK_MEMBERS = 20;
const publicJwk = z
  .record(z.string().max(32), z.unknown())
  .refine((jwk) => Object.keys(jwk).length <= MAX_JWK_MEMBERS, `must have at most ${MAX_JWK_MEMBERS} members`)
  .meta({ maxProperties: MAX_JWK_MEMBERS });

export const deviceEnroll = z.strictObject({
  code: z.string().min(1).max(200),
  key_format: z.enum(KEY_FORMATS),
  public_key: z.union([z.string().max(2000), publicJwk]),
  name: printable(100).optional(),
  platform: printable(50).optional(),
});

export const deviceActivate = z.strictObject({
  device_id: z.string().max(64),
  device_token: z.string().max(200),
});

export const deviceResponse = z.strictObject({
  // The 32 decrypted bytes as base64url: anything else is a broken client, refused without costing an
  // attempt (a guess has this shape too, and does cost one).
  entropy: z
    .string()
    .regex(/^[A-Za-z0-9_-]{43}$/, "must be the 32 decrypted bytes as base64url (43 characters)"),
  decision: z.enum(["approve", "deny"]),
  reason: printable(200).optional(),
  /** The 2 digits the user typed (approvals of number-matching challenges; ignored otherwise). */
  number: z
    .string()
    .regex(/^[0-9]{2}$/, 'must be the 2 digits shown on the login page, e.g. "07"')
    .optional(),
});

/** A moment: an ISO-8601 timestamp with its offset, or a date alone, which means its midnight UTC. */
const timestamp = z.union([z.iso.datetime({ offset: true }), z.iso.date()], {
  error: "must be an ISO-8601 timestamp (2026-12-04T09:30:00Z) or date (2026-12-04, midnight UTC)",
});

export const auditQuery = z.object({
  user_id: userId.optional(),
  type: z.enum(AUDIT_EVENT_TYPES).optional(),
  outcome: z.enum(AUDIT_OUTCOMES).optional(),
  since: timestamp.optional(),
  until: timestamp.optional(),
  limit: queryInt(1, 200).optional(),
  cursor: z.string().max(64).optional(),
});

export const webhookUrl = z
  .string()
  .max(2048, "must be at most 2048 characters")
  .refine((v) => URL.canParse(v), "must be an absolute URL")
  .superRefine((v, ctx) => {
    if (!URL.canParse(v)) return;
    const url = new URL(v);
    // Where it points (public, private, loopback) is judged by the route: it depends on where we run.
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      ctx.addIssue({ code: "custom", message: "must use https" });
    }
    if (url.username || url.password) {
      ctx.addIssue({ code: "custom", message: "must not carry credentials; verify the signature instead" });
    }
    if (url.hash) ctx.addIssue({ code: "custom", message: "must not have a #fragment" });
  });

export const webhookEventTypes = z
  .array(z.enum(WEBHOOK_EVENT_TYPES))
  .min(1, "must list at least one event type (omit it for all)")
  .max(WEBHOOK_EVENT_TYPES.length)
  .refine((v) => new Set(v).size === v.length, "must not repeat an event type");

export const createWebhook = z.strictObject({
  url: webhookUrl,
  description: printable(200).optional(),
  /** Omitted: every event type, including ones added later. */
  events: webhookEventTypes.optional(),
});

export const rotateWebhookSecret = z.strictObject({
  /** How long the previous secret keeps signing alongside the new one (0 = stop at once). */
  previous_secret_expires_in_seconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 3600)
    .optional(),
});

export const webhookDeliveriesQuery = z.object({
  endpoint_id: z.string().max(64).optional(),
  event_id: z.string().max(64).optional(),
  status: z.enum(["pending", "succeeded", "failed", "cancelled"]).optional(),
  limit: queryInt(1, 200).optional(),
  cursor: z.string().max(64).optional(),
});
// Admin API (operator secret): applications and their API keys.

const displayName = printable(100).refine((v) => v.trim() !== "", "must not be empty or only spaces");

export const adminCreateApp = z.strictObject({ name: displayName });

export const adminCreateKey = z.strictObject({
  name: displayName.optional(),
  /** `ek_live_…` (default) or `ek_test_…`. */
  mode: z.enum(["live", "test"]).optional(),
});

/** A rotated key keeps working this long by default: a day to deploy the new one everywhere. */
export const DEFAULT_ROTATION_GRACE_SECONDS = 86_400;

export const adminRotateKey = z.strictObject({
  name: displayName.optional(),
  /** 0 stops the old key at once; at most 30 days. */
  grace_seconds: z
    .number()
    .int()
    .min(0)
    .max(30 * 86_400)
    .optional(),
});

export const auditVerifyQuery = z.object({
  /** The `next_cursor` of the previous call: verification goes on after that event. */
  cursor: z.string().max(64).optional(),
  limit: queryInt(1, 10_000).optional(),
});
