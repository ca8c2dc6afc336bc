// The wire shapes of the Encrypxon API v1 (docs/api.md), as the integrator sees them.
import type { ChainEvent } from "./auditChain.js";

export type EnrollmentStatus = "pending" | "completed" | "expired" | "cancelled";
export type ChallengeStatus = "pending" | "approved" | "denied" | "expired" | "cancelled" | "failed";
export type DeviceStatus = "active" | "revoked" | "pending";
export type KeyFormat = "ecies-p256" | "rsa-oaep-sha1" | "rsa-oaep-sha256";

export interface Enrollment {
  id: string;
  object: "enrollment";
  user_id: string;
  user_label: string;
  status: EnrollmentStatus;
  device_id: string | null;
  created_at: string;
  expires_at: string;
  completed_at: string | null;
}

/** The answer to `POST /v1/enrollments`: the only time the enrollment code is visible. */
export interface CreatedEnrollment extends Enrollment {
  enrollment_uri: string;
  qr_svg_url: string;
}

export interface CreateEnrollmentRequest {
  /** Your identifier for the user (1–256 characters). */
  user_id: string;
  /** Shown on the phone (≤ 100 characters); defaults to `user_id`. */
  user_label?: string;
  /** 60–3600, default 600. */
  ttl_seconds?: number;
}

export interface Device {
  id: string;
  object: "device";
  user_id: string;
  name: string | null;
  platform: string | null;
  key_format: KeyFormat;
  status: DeviceStatus;
  enrollment_id: string | null;
  created_at: string;
  activated_at: string | null;
  revoked_at: string | null;
}

/** What the phone shows the user. */
export interface ChallengeContext {
  title?: string;
  message?: string;
  ip?: string;
  location?: string;
  user_agent?: string;
}

export interface Challenge {
  id: string;
  object: "challenge";
  user_id: string;
  status: ChallengeStatus;
  context: ChallengeContext;
  created_at: string;
  expires_at: string;
  resolved_at: string | null;
  /** The device that answered. */
  device_id: string | null;
  /** The device's reason for a deny, or `too_many_wrong_answers` for `failed`. */
  reason: string | null;
  /** Whether an approval must carry the number shown at login. */
  number_matching: boolean;
  /** With number matching, while pending: the 2 digits ("07") to show on the login page; else null. */
  match_number: string | null;
  /** Denied with reason `not_me`: the user says they did not ask for it (their password is likely known). */
  fraud_reported: boolean;
}

/** `GET/DELETE /v1/users/{user_id}/pause`: new challenges refused (423) after a fraud report. */
export interface UserPause {
  object: "user_pause";
  user_id: string;
  paused: boolean;
  paused_at: string | null;
  /** The challenge reported as fraud, and the device that reported it. */
  challenge_id: string | null;
  device_id: string | null;
}

/** The answer to `POST /v1/challenges`: also says to how many devices it was sent. */
export interface CreatedChallenge extends Challenge {
  devices: number;
  /** With `supersede: true`: the older pending challenges this one cancelled. */
  superseded?: string[];
}

export interface CreateChallengeRequest {
  user_id: string;
  context?: ChallengeContext;
  /** 10–600, default 120. */
  ttl_seconds?: number;
  /** 0–25: wait for the answer before returning. */
  wait_seconds?: number;
  /** Cancel the user's still-pending older challenges (reason `superseded`) once this one exists. */
  supersede?: boolean;
  /** Ask the user to type `match_number` on the phone; default: the application's setting. */
  number_matching?: boolean;
}

/** Rate limits of one application (GET/PATCH /v1/settings). */
export interface Limits {
  api_key_per_minute: number;
  user_challenges_per_minute: number;
  user_pending_challenges: number;
  device_wrong_answers_per_hour: number;
  enrollment_code_attempts: number;
  device_ip_per_minute: number;
}

export interface Settings {
  object: "settings";
  /** Default for new challenges. */
  number_matching: boolean;
  /** A deny with reason `not_me` pauses new challenges for that user until cleared. */
  fraud_auto_pause: boolean;
  limits: Limits;
  /** Null while every setting is the default. */
  updated_at: string | null;
}

/** Only the members named change; limits one by one. */
export interface SettingsUpdate {
  number_matching?: boolean;
  fraud_auto_pause?: boolean;
  limits?: Partial<Limits>;
}

/** An exported audit event: its fields, and its links in the application's hash chain (`ChainEvent`). */
export interface AuditEvent extends ChainEvent {
  object: "audit_event";
}

/** `GET /v1/audit/verify`: one stretch of the application's hash chain, checked by the service. */
export interface AuditVerification {
  object: "audit_verification";
  ok: boolean;
  checked: number;
  unsealed: number;
  first_event_id: string | null;
  last_event_id: string | null;
  /** The last sealed event as the service recorded it: keep its hash to check later exports against. */
  head: { event_id: string; hash: string; sealed_events: number } | null;
  broken: {
    event_id: string;
    reason: "hash_mismatch" | "prev_hash_mismatch" | "unsealed_in_chain" | "head_mismatch" | "head_missing";
    after_event_id: string | null;
  } | null;
  has_more: boolean;
  next_cursor: string | null;
}

export interface AuditQuery {
  user_id?: string;
  type?: string;
  outcome?: string;
  /** ISO-8601, or a Date. */
  since?: string | Date;
  until?: string | Date;
  /** 1–200, default 50. */
  limit?: number;
  /** The `next_cursor` of the previous page. */
  cursor?: string;
}

export interface List<T> {
  object: "list";
  data: T[];
}

export interface AuditPage extends List<AuditEvent> {
  has_more: boolean;
  next_cursor: string | null;
}

/** RFC 9457 problem details as the API sends them, extension members included. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: { field: string; message: string }[];
  [extension: string]: unknown;
}

export type WebhookEventType =
  | "challenge.approved"
  | "challenge.denied"
  | "challenge.expired"
  | "challenge.cancelled"
  | "challenge.failed"
  | "enrollment.completed";

export interface CreateWebhookRequest {
  /** https, or http to localhost. */
  url: string;
  description?: string;
  /** Omit for every type (including ones added later). */
  events?: WebhookEventType[];
}

export interface WebhookEndpoint {
  id: string;
  object: "webhook_endpoint";
  url: string;
  description: string | null;
  events: WebhookEventType[] | null;
  status: "active" | "disabled";
  previous_secret_expires_at: string | null;
  created_at: string;
  disabled_at: string | null;
}

/** As returned by create and rotate: the only time the signing secret is shown. */
export interface WebhookEndpointWithSecret extends WebhookEndpoint {
  secret: string;
}

export interface WebhookDelivery {
  id: string;
  object: "webhook_delivery";
  endpoint_id: string;
  event_id: string;
  event_type: WebhookEventType;
  status: "pending" | "succeeded" | "failed" | "cancelled";
  attempts: number;
  next_attempt_at: string | null;
  last_attempt_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: string | null;
  resent_from: string | null;
  created_at: string;
}

export interface WebhookDeliveryQuery {
  endpoint_id?: string;
  event_id?: string;
  status?: WebhookDelivery["status"];
  /** 1–200, default 50. */
  limit?: number;
  cursor?: string;
}

export interface WebhookDeliveryPage extends List<WebhookDelivery> {
  has_more: boolean;
  next_cursor: string | null;
}

/** The JSON body of a webhook request. `data.challenge` is what `GET /v1/challenges/{id}` returns. */
export interface WebhookEvent {
  id: string;
  object: "event";
  type: WebhookEventType;
  created_at: string;
  data: {
    challenge?: Challenge;
    enrollment?: {
      id: string;
      object: "enrollment";
      user_id: string;
      status: "completed";
      device_id: string;
      completed_at: string;
    };
    device?: Device;
  };
}
