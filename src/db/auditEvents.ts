// Every audit event type and outcome the service writes (AuditInput in src/db/audit.ts accepts nothing
// else, so a new one is added here first), and what GET /v1/audit checks its `type` and `outcome` filters
// against: a misspelt filter is a 400 naming these values, not an empty page that looks like "no events".

export const AUDIT_EVENT_TYPES = [
  "application.created",
  "api_key.created",
  "api_key.rotated",
  "api_key.revoked",
  "settings.updated",
  "enrollment.created",
  "enrollment.cancelled",
  "enrollment.completed",
  "device.enrolled",
  "device.activated",
  "device.revoked",
  "device.notify_failed",
  "device.push_failed",
  "challenge.created",
  "challenge.resolved",
  "challenge.refused",
  "user.paused",
  "user.unpaused",
  "webhook.created",
  "webhook.deleted",
  "webhook.secret_rotated",
  "webhook.resent",
  "webhook.delivery_failed",
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** Outcomes: the state the event left its subject in, or why it was refused. Some events have none. */
export const AUDIT_OUTCOMES = [
  "pending",
  "active",
  "completed",
  "approved",
  "denied",
  "expired",
  "cancelled",
  "failed",
  "revoked",
  "disabled",
  "updated",
  "paused",
  "cleared",
  "rate_limited",
  "user_paused",
] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];
