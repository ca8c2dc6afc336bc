// Per-application abuse settings: what an application may tune, the defaults, and how a stored partial
// document becomes the effective settings. The zod schemas here validate PATCH /v1/settings and describe
// it in the OpenAPI document.
import { z } from "zod";

const limit = (max: number, what: string) =>
  z
    .number()
    .int("must be a whole number")
    .min(1, "must be at least 1")
    .max(max, `must be at most ${max}`)
    .describe(what);

export const limitsSchema = z.strictObject({
  api_key_per_minute: limit(100_000, "calls per minute per API key, on every integrator route"),
  user_challenges_per_minute: limit(100_000, "challenge creations per minute per user"),
  user_pending_challenges: limit(10_000, "pending challenges a user may have at once"),
  device_wrong_answers_per_hour: limit(100_000, "wrong answers per hour per device before it is refused"),
  enrollment_code_attempts: limit(1_000, "claim attempts per enrollment code per 10 minutes"),
  device_ip_per_minute: limit(100_000, "device calls per minute per client IP address"),
});

export const settingsSchema = z.strictObject({
  number_matching: z
    .boolean()
    .describe("default for new challenges: the device must send the 2-digit number shown at login"),
  fraud_auto_pause: z
    .boolean()
    .describe('a deny with reason "not_me" pauses new challenges for that user until cleared'),
  limits: limitsSchema,
});

export type Limits = z.output<typeof limitsSchema>;
export type Settings = z.output<typeof settingsSchema>;

export const DEFAULT_SETTINGS: Settings = {
  number_matching: false,
  fraud_auto_pause: true,
  limits: {
    api_key_per_minute: 6000,
    user_challenges_per_minute: 10,
    user_pending_challenges: 5,
    device_wrong_answers_per_hour: 10,
    enrollment_code_attempts: 10,
    device_ip_per_minute: 600,
  },
};

/** The PATCH body: any subset, limits included member by member. */
export const settingsPatch = settingsSchema
  .extend({
    limits: limitsSchema
      .partial()
      .refine((l) => Object.keys(l).length > 0, "name at least one limit to change (or leave limits out)"),
  })
  .partial()
  .refine((p) => Object.keys(p).length > 0, "name at least one setting to change");

export type SettingsPatch = z.output<typeof settingsPatch>;

// Stored documents were validated when written; parsing again keeps a hand-edited or older row from
// reaching the hot path in a shape it does not expect (a bad member falls back to its default).
const storedSchema = z.object({
  number_matching: z.boolean().optional().catch(undefined),
  fraud_auto_pause: z.boolean().optional().catch(undefined),
  limits: z.record(z.string(), z.unknown()).optional().catch(undefined),
});

/** The stored JSON (or null) as effective settings: every member present, defaults where unset. */
export function effectiveSettings(stored: string | null): Settings {
  let raw: unknown = {};
  try {
    raw = stored ? JSON.parse(stored) : {};
  } catch {
    raw = {};
  }
  const parsed = storedSchema.safeParse(raw);
  const doc = parsed.success ? parsed.data : {};
  const limits = { ...DEFAULT_SETTINGS.limits };
  for (const name of Object.keys(limits) as (keyof Limits)[]) {
    const value = limitsSchema.shape[name].safeParse(doc.limits?.[name]);
    if (value.success) limits[name] = value.data;
  }
  return {
    number_matching: doc.number_matching ?? DEFAULT_SETTINGS.number_matching,
    fraud_auto_pause: doc.fraud_auto_pause ?? DEFAULT_SETTINGS.fraud_auto_pause,
    limits,
  };
}
