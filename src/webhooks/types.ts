/** What a webhook can report: every final state of a challenge, and a completed enrollment. */
export const WEBHOOK_EVENT_TYPES = [
  "challenge.approved",
  "challenge.denied",
  "challenge.expired",
  "challenge.cancelled",
  "challenge.failed",
  "enrollment.completed",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
