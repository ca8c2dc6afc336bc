import { DurableObject } from "cloudflare:workers";
import { effectiveSettings, type Limits, type Settings } from "../abuse/settings";
import { settingsOf } from "../db/settings";
import type { Env } from "../env";

/** The limits that are token buckets, and the window each one's number is per. */
export const BUCKET_WINDOWS_MS = {
  api_key_per_minute: 60_000,
  user_challenges_per_minute: 60_000,
  device_wrong_answers_per_hour: 3_600_000,
  enrollment_code_attempts: 600_000,
  device_ip_per_minute: 60_000,
} as const satisfies Partial<Record<keyof Limits, number>>;

export type BucketLimit = keyof typeof BUCKET_WINDOWS_MS;

/**
 * One bucket to check. `cost` tokens are needed and taken; cost 0 only looks (at least one token must be
 * left), which is how a device with too many wrong answers is stopped before it answers again.
 */
export interface BucketCheck {
  limit: BucketLimit;
  subject: string;
  cost: number;
}

/** A pending challenge to count against its user (`user_pending_challenges`). */
export interface PendingCheck {
  userId: string;
  challengeId: string;
  expiresAt: number;
}

export interface AdmitRequest {
  appId: string;
  buckets: BucketCheck[];
  pending?: PendingCheck;
  /**
   * On refusal, whether to spend from this user's refusal-audit budget: refused challenge creations are
   * audited, but at most REFUSAL_AUDITS_PER_MINUTE per user (and per application), so a flood of refused
   * calls cannot flood the audit trail; the rows that are written count the ones that were not.
   */
  auditUser?: string;
}

// Flat, not a union: RPC's type mapping collapses discriminated unions.
export interface AdmitResult {
  ok: boolean;
  /** The limit that refused, and its configured value. */
  limit: keyof Limits | null;
  value: number;
  retryAfterSeconds: number;
  /** Whether this refusal gets an audit row, and how many refusals for the same user had none since. */
  audit: boolean;
  unaudited: number;
  settings: Settings;
}

export const REFUSAL_AUDITS_PER_MINUTE = { user: 20, app: 200 };
const SETTINGS_TTL_MS = 30_000;
const SWEEP_EVERY_MS = 10 * 60_000;

export interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Tokens in a bucket at `now`: it refills continuously at `capacity` per `windowMs`, never above
 * `capacity`; a subject never seen (no bucket) starts full. So a limit of N per minute allows a burst of
 * N, then one more every 60/N seconds.
 */
export function bucketLevel(bucket: Bucket | undefined, capacity: number, windowMs: number, now: number) {
  if (!bucket) return capacity;
  return Math.min(capacity, bucket.tokens + (Math.max(0, now - bucket.at) * capacity) / windowMs);
}

/** Whole seconds until a bucket holding `tokens` has `needed` again (at least 1: Retry-After). */
export function secondsUntil(tokens: number, needed: number, capacity: number, windowMs: number) {
  return Math.max(1, Math.ceil(((needed - tokens) * windowMs) / capacity / 1000));
}

/**
 * The rate limits of one application (`idFromName("app:" + app_id)`): token buckets per API key, user,
 * device, enrollment code and client IP, and the set of each user's pending challenges. Every check a
 * request needs is one call (`admit`), all-or-nothing: a refused request takes no tokens. State is kept
 * in memory and written behind to storage without holding the answer (`allowUnconfirmed`): a crash can
 * lose the last few milliseconds of counts, never correctness elsewhere. The application's settings
 * are cached here for SETTINGS_TTL_MS and dropped at once by `settingsChanged()`.
 */
export class RateLimiter extends DurableObject<Env> {
  #buckets = new Map<string, Bucket>();
  #pending = new Map<string, Map<string, number>>();
  #unaudited = new Map<string, number>();
  #settings: { value: Settings; until: number } | null = null;
  #sweepArmed = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      for (const [key, value] of await ctx.storage.list()) {
        if (key.startsWith("b:")) this.#buckets.set(key.slice(2), value as Bucket);
        else if (key.startsWith("p:")) {
          this.#pending.set(key.slice(2), new Map(Object.entries(value as Record<string, number>)));
        } else if (key.startsWith("u:")) this.#unaudited.set(key.slice(2), value as number);
      }
    });
  }

  async admit(req: AdmitRequest): Promise<AdmitResult> {
    const settings = await this.#settingsOf(req.appId);
    const now = Date.now();
    const writes: Record<string, unknown> = {};
    let refused: { limit: keyof Limits; value: number; retryAfterSeconds: number } | null = null;

    const levels = req.buckets.map((check) => {
      const capacity = settings.limits[check.limit];
      const key = `${check.limit}:${check.subject}`;
      const tokens = this.#level(key, capacity, BUCKET_WINDOWS_MS[check.limit], now);
      const needed = Math.max(check.cost, 1);
      if (tokens < needed && !refused) {
        const window = BUCKET_WINDOWS_MS[check.limit];
        refused = {
          limit: check.limit,
          value: capacity,
          retryAfterSeconds: secondsUntil(tokens, needed, capacity, window),
        };
      }
      return { key, tokens, cost: check.cost };
    });

    let pendingSet: Map<string, number> | null = null;
    if (req.pending && !refused) {
      pendingSet = this.#livePending(req.pending.userId, now);
      const max = settings.limits.user_pending_challenges;
      if (pendingSet.size >= max) {
        const soonest = Math.min(...pendingSet.values());
        refused = {
          limit: "user_pending_challenges",
          value: max,
          retryAfterSeconds: Math.max(1, Math.ceil((soonest - now) / 1000)),
        };
      }
    }

    if (refused) {
      const { limit, value, retryAfterSeconds } = refused;
      const { audit, unaudited } = req.auditUser
        ? this.#refusalAudit(req.auditUser, now, writes)
        : { audit: false, unaudited: 0 };
      this.#persist(writes);
      return { ok: false, limit, value, retryAfterSeconds, audit, unaudited, settings };
    }

    for (const { key, tokens, cost } of levels) {
      if (cost === 0) continue;
      const bucket = { tokens: tokens - cost, at: now };
      this.#buckets.set(key, bucket);
      writes[`b:${key}`] = bucket;
    }
    if (req.pending && pendingSet) {
      pendingSet.set(req.pending.challengeId, req.pending.expiresAt);
      this.#pending.set(req.pending.userId, pendingSet);
      writes[`p:${req.pending.userId}`] = Object.fromEntries(pendingSet);
    }
    this.#persist(writes);
    return { ok: true, limit: null, value: 0, retryAfterSeconds: 0, audit: false, unaudited: 0, settings };
  }

  /** Takes `cost` tokens whatever is left (down to zero): for events counted after the fact. */
  async spend(appId: string, check: BucketCheck): Promise<void> {
    const settings = await this.#settingsOf(appId);
    const now = Date.now();
    const key = `${check.limit}:${check.subject}`;
    const tokens = this.#level(key, settings.limits[check.limit], BUCKET_WINDOWS_MS[check.limit], now);
    const bucket = { tokens: Math.max(0, tokens - check.cost), at: now };
    this.#buckets.set(key, bucket);
    this.#persist({ [`b:${key}`]: bucket });
  }

  /** A challenge stopped being pending (answered, cancelled, expired, or never created). */
  async release(userId: string, challengeId: string): Promise<void> {
    const set = this.#pending.get(userId);
    if (!set?.delete(challengeId)) return;
    if (set.size === 0) {
      this.#pending.delete(userId);
      void this.ctx.storage.delete(`p:${userId}`);
    } else {
      this.#persist({ [`p:${userId}`]: Object.fromEntries(set) });
    }
  }

  /** PATCH /v1/settings landed: read them again on the next check. */
  async settingsChanged(): Promise<void> {
    this.#settings = null;
  }

  override async alarm(): Promise<void> {
    // Forget what no longer limits anyone: full buckets, expired pending entries, spent audit counters.
    const now = Date.now();
    const settings = this.#settings?.value.limits;
    const gone: string[] = [];
    for (const [key, bucket] of this.#buckets) {
      const limit = key.slice(0, key.indexOf(":")) as BucketLimit;
      // Audit budgets (not settings) refill within a minute; a bucket idle for its window is full.
      const window = BUCKET_WINDOWS_MS[limit] ?? 60_000;
      if (now - bucket.at >= window || (settings && bucket.tokens >= (settings[limit] ?? Infinity))) {
        this.#buckets.delete(key);
        gone.push(`b:${key}`);
      }
    }
    for (const [userId] of this.#pending) {
      if (this.#livePending(userId, now).size === 0) {
        this.#pending.delete(userId);
        gone.push(`p:${userId}`);
      }
    }
    if (gone.length) await this.ctx.storage.delete(gone);
    this.#sweepArmed = false;
    if (this.#buckets.size + this.#pending.size > 0) {
      this.#sweepArmed = true;
      await this.ctx.storage.setAlarm(now + SWEEP_EVERY_MS);
    }
  }

  #level(key: string, capacity: number, windowMs: number, now: number): number {
    return bucketLevel(this.#buckets.get(key), capacity, windowMs, now);
  }

  /** The user's pending challenges, the expired ones dropped in place (no copy on the hot path). */
  #livePending(userId: string, now: number): Map<string, number> {
    const set = this.#pending.get(userId) ?? new Map<string, number>();
    for (const [id, expiresAt] of set) if (expiresAt <= now) set.delete(id);
    return set;
  }

  #refusalAudit(userId: string, now: number, writes: Record<string, unknown>) {
    const userKey = `audit_user:${userId}`;
    const appKey = "audit_app:";
    const user = this.#level(userKey, REFUSAL_AUDITS_PER_MINUTE.user, 60_000, now);
    const app = this.#level(appKey, REFUSAL_AUDITS_PER_MINUTE.app, 60_000, now);
    const skipped = this.#unaudited.get(userId) ?? 0;
    if (user < 1 || app < 1) {
      this.#unaudited.set(userId, skipped + 1);
      writes[`u:${userId}`] = skipped + 1;
      return { audit: false, unaudited: skipped + 1 };
    }
    for (const [key, level] of [
      [userKey, user],
      [appKey, app],
    ] as const) {
      const bucket = { tokens: level - 1, at: now };
      this.#buckets.set(key, bucket);
      writes[`b:${key}`] = bucket;
    }
    if (skipped > 0) {
      this.#unaudited.delete(userId);
      void this.ctx.storage.delete(`u:${userId}`);
    }
    return { audit: true, unaudited: skipped };
  }

  #persist(writes: Record<string, unknown>): void {
    if (Object.keys(writes).length === 0) return;
    // Not awaited and not holding the answer: a rate limit may lose a few milliseconds of counts in a
    // crash, and in exchange costs no storage round trip on the hot path.
    void this.ctx.storage.put(writes, { allowUnconfirmed: true });
    if (!this.#sweepArmed) {
      this.#sweepArmed = true;
      void this.ctx.storage.setAlarm(Date.now() + SWEEP_EVERY_MS);
    }
  }

  async #settingsOf(appId: string): Promise<Settings> {
    const now = Date.now();
    if (this.#settings && this.#settings.until > now) return this.#settings.value;
    const row = await settingsOf(this.env.DB, appId);
    const value = effectiveSettings(row?.settings ?? null);
    this.#settings = { value, until: now + SETTINGS_TTL_MS };
    return value;
  }
}
