import type { AuditRow } from "../db/audit";
import { chainEvent } from "../db/auditChain";
import type { ChallengeRow, PendingDelivery } from "../db/challenges";
import type { DeviceSummary } from "../db/devices";
import { type EnrollmentRow, enrollmentStatus } from "../db/enrollments";
import { FRAUD_REASON } from "../db/pauses";
import type { WebhookDeliveryRow, WebhookEndpointRow } from "../db/webhooks";
import type { ChallengeView } from "../durable/challenge";
import { iso } from "../http/body";

// The wire shapes of the API, in one place: snake_case, ISO-8601 UTC, no secrets or key material.

export function enrollmentJson(row: EnrollmentRow, now: number) {
  return {
    id: row.id,
    object: "enrollment",
    user_id: row.user_id,
    user_label: row.user_label ?? row.user_id,
    status: enrollmentStatus(row, now),
    device_id: row.status === "completed" ? row.device_id : null,
    created_at: iso(row.created_at),
    expires_at: iso(row.expires_at),
    completed_at: row.status === "completed" ? iso(row.completed_at) : null,
  };
}

export function deviceJson(d: DeviceSummary) {
  return {
    id: d.id,
    object: "device",
    user_id: d.user_id,
    name: d.name,
    platform: d.platform,
    key_format: d.key_format,
    status: d.status,
    enrollment_id: d.enrollment_id,
    created_at: iso(d.created_at),
    activated_at: iso(d.activated_at),
    revoked_at: iso(d.revoked_at),
  };
}

export function challengeJson(v: ChallengeView) {
  return {
    id: v.id,
    object: "challenge",
    user_id: v.userId,
    status: v.status,
    context: v.context,
    created_at: iso(v.createdAt),
    expires_at: iso(v.expiresAt),
    resolved_at: iso(v.resolvedAt),
    device_id: v.deviceId,
    reason: v.reason,
    number_matching: v.numberMatching,
    match_number: v.matchNumber,
    // A deny with reason "not_me": the user says someone else asked (their password is likely known).
    fraud_reported: v.status === "denied" && v.reason === FRAUD_REASON,
  };
}

/** A pending challenge as its device receives it: listed, or pushed on its live channel. */
export interface DeviceChallenge {
  id: string;
  keyFormat: string;
  /** base64url, made for this device's key. */
  ciphertext: string;
  context: Record<string, unknown>;
  numberMatching: boolean;
  createdAt: number;
  expiresAt: number;
}

export function deviceChallengeJson(c: DeviceChallenge) {
  return {
    id: c.id,
    object: "device_challenge",
    key_format: c.keyFormat,
    ciphertext: c.ciphertext,
    context: c.context,
    // The device shows an input for the number; the number itself is only on the login page.
    number_matching: c.numberMatching,
    created_at: iso(c.createdAt),
    expires_at: iso(c.expiresAt),
  };
}

/** A pending delivery as read from D1 (the listing, the channel's hello), in its wire shape. */
export function pendingDeliveryJson(row: PendingDelivery, keyFormat: string) {
  return deviceChallengeJson({
    id: row.id,
    keyFormat,
    ciphertext: row.ciphertext,
    context: JSON.parse(row.context) as Record<string, unknown>,
    numberMatching: row.number_matching === 1,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  });
}

export function challengeRowView(row: ChallengeRow): ChallengeView {
  return {
    id: row.id,
    userId: row.user_id,
    status: row.status,
    context: JSON.parse(row.context) as Record<string, string>,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    resolvedAt: row.resolved_at,
    deviceId: row.device_id,
    reason: row.reason,
    numberMatching: row.number_matching === 1,
    matchNumber: null,
  };
}

/** An audit event with what verifying it offline needs: its app_id and its links in the chain. */
export function auditJson(row: AuditRow) {
  const e = chainEvent(row);
  return {
    id: e.id,
    object: "audit_event",
    app_id: e.app_id,
    type: e.type,
    outcome: e.outcome,
    user_id: e.user_id,
    enrollment_id: e.enrollment_id,
    device_id: e.device_id,
    challenge_id: e.challenge_id,
    ip: e.ip,
    detail: e.detail,
    created_at: e.created_at,
    prev_hash: e.prev_hash,
    hash: e.hash,
  };
}

export function webhookEndpointJson(row: WebhookEndpointRow) {
  const previousValid =
    row.previous_secret_expires_at !== null && row.previous_secret_expires_at > Date.now();
  return {
    id: row.id,
    object: "webhook_endpoint",
    url: row.url,
    description: row.description,
    events: row.events ? (JSON.parse(row.events) as string[]) : null,
    status: row.status,
    previous_secret_expires_at: previousValid ? iso(row.previous_secret_expires_at) : null,
    created_at: iso(row.created_at),
    disabled_at: iso(row.disabled_at),
  };
}

export function webhookDeliveryJson(row: WebhookDeliveryRow) {
  return {
    id: row.id,
    object: "webhook_delivery",
    endpoint_id: row.endpoint_id,
    event_id: row.event_id,
    event_type: row.event_type,
    status: row.status,
    attempts: row.attempts,
    next_attempt_at: iso(row.next_attempt_at),
    last_attempt_at: iso(row.last_attempt_at),
    last_status_code: row.last_status_code,
    last_error: row.last_error,
    delivered_at: iso(row.delivered_at),
    resent_from: row.resent_from,
    created_at: iso(row.created_at),
  };
}
