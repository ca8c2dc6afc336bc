// The routes' side of rate limiting: one call to the application's RateLimiter object per request, and
// the 429 it turns into. See src/durable/rateLimiter.ts for the buckets themselves.
import { type AppCaller, authenticateApp } from "../auth/apiKey";
import { auditInsert } from "../db/audit";
import type { AdmitRequest, AdmitResult, BucketCheck } from "../durable/rateLimiter";
import type { Env } from "../env";
import { Problem } from "../http/problem";
import type { Limits, Settings } from "./settings";

export const limiterFor = (env: Env, appId: string) =>
  env.RATE_LIMITERS.get(env.RATE_LIMITERS.idFromName(`app:${appId}`));

const WHAT: Record<keyof Limits, (n: number) => string> = {
  api_key_per_minute: (n) => `This API key made more than ${n} calls in a minute`,
  user_challenges_per_minute: (n) => `More than ${n} challenges per minute were asked for this user`,
  user_pending_challenges: (n) =>
    `This user already has ${n} pending challenges; answer, cancel or let one expire (or create with supersede: true)`,
  device_wrong_answers_per_hour: (n) => `This device gave more than ${n} wrong answers in an hour`,
  enrollment_code_attempts: (n) => `This enrollment code was tried more than ${n} times in 10 minutes`,
  device_ip_per_minute: (n) => `More than ${n} device calls per minute came from this address`,
};

/** 429 problem+json naming the limit, with Retry-After in seconds (also as `retry_after`). */
export function rateLimited(r: Pick<AdmitResult, "limit" | "value" | "retryAfterSeconds">): Problem {
  const limit = r.limit ?? "api_key_per_minute";
  return new Problem(
    429,
    "rate-limited",
    "Too many requests",
    `${WHAT[limit](r.value)}. Retry after ${r.retryAfterSeconds} s.`,
    {
      headers: { "Retry-After": String(r.retryAfterSeconds) },
      extra: { limit, limit_value: r.value, retry_after: r.retryAfterSeconds },
    },
  );
}

/** Runs the checks; throws the 429 when one refuses. Returns the application's settings. */
export async function admit(env: Env, req: AdmitRequest): Promise<AdmitResult> {
  return limiterFor(env, req.appId).admit(req);
}

/** Every integrator call: the API key's budget. */
export async function admitApp(env: Env, caller: AppCaller): Promise<Settings> {
  const result = await admit(env, {
    appId: caller.appId,
    buckets: [{ limit: "api_key_per_minute", subject: caller.keyId, cost: 1 }],
  });
  if (!result.ok) throw rateLimited(result);
  return result.settings;
}

/** Device calls of a known application: the client address's budget, plus any checks of the route. */
export async function admitDevice(
  env: Env,
  appId: string,
  ip: string | null,
  extra: BucketCheck[] = [],
): Promise<void> {
  // Locally (no CF-Connecting-IP) there is no address to count against.
  const buckets: BucketCheck[] = ip ? [{ limit: "device_ip_per_minute", subject: ip, cost: 1 }] : [];
  buckets.push(...extra);
  if (buckets.length === 0) return;
  const result = await admit(env, { appId, buckets });
  if (!result.ok) throw rateLimited(result);
}

/** The calling application, once its key is known and within its budget. */
export async function authorizeApp(request: Request, env: Env): Promise<AppCaller> {
  const caller = await authenticateApp(request, env);
  await admitApp(env, caller);
  return caller;
}

/**
 * `POST /v1/challenges`: the key's budget, the user's creations per minute and (unless the new challenge
 * supersedes the older ones) pending challenges, in one call. A refusal is audited as
 * `challenge.refused` — the first REFUSAL_AUDITS_PER_MINUTE per user and minute, each row counting the
 * refusals before it that got none (`detail.unaudited_before`), so the audit shows every attempt without
 * letting an attacker flood it.
 */
export async function admitChallenge(
  env: Env,
  caller: AppCaller,
  body: { user_id: string; supersede?: boolean | undefined },
  challenge: { id: string; expiresAt: number },
  ip: string | null,
): Promise<Settings> {
  const result = await admit(env, {
    appId: caller.appId,
    buckets: [
      { limit: "api_key_per_minute", subject: caller.keyId, cost: 1 },
      { limit: "user_challenges_per_minute", subject: body.user_id, cost: 1 },
    ],
    ...(!body.supersede && {
      pending: { userId: body.user_id, challengeId: challenge.id, expiresAt: challenge.expiresAt },
    }),
    auditUser: body.user_id,
  });
  if (result.ok) return result.settings;
  if (result.audit) {
    await auditInsert(env.DB, {
      appId: caller.appId,
      type: "challenge.refused",
      outcome: "rate_limited",
      userId: body.user_id,
      ip,
      detail: {
        limit: result.limit,
        limit_value: result.value,
        retry_after: result.retryAfterSeconds,
        unaudited_before: result.unaudited,
      },
      at: Date.now(),
    }).run();
  }
  throw rateLimited(result);
}

/** The challenge is no longer pending (or was never created): free its place in the user's count. */
export async function releasePending(env: Env, appId: string, userId: string, challengeId: string) {
  try {
    await limiterFor(env, appId).release(userId, challengeId);
  } catch (err) {
    // The entry still lapses at the challenge's expiry; only the count is high until then.
    console.error("rate limiter release failed:", err instanceof Error ? err.message : err);
  }
}
