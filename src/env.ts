import type { AuditSealer } from "./durable/auditSealer";
import type { ChallengeObject } from "./durable/challenge";
import type { DeviceChannel } from "./durable/channel";
import type { EnrollmentWaiter } from "./durable/enrollmentWaiter";
import type { RateLimiter } from "./durable/rateLimiter";
import type { WebhookDispatcher } from "./durable/webhookDispatcher";

/** Bindings declared in wrangler.toml. */
export interface Env {
  DB: D1Database;
  API_KEYS: KVNamespace;
  CHALLENGES: DurableObjectNamespace<ChallengeObject>;
  DEVICE_CHANNELS: DurableObjectNamespace<DeviceChannel>;
  ENROLLMENT_WAITERS: DurableObjectNamespace<EnrollmentWaiter>;
  WEBHOOKS: DurableObjectNamespace<WebhookDispatcher>;
  AUDIT_SEALERS: DurableObjectNamespace<AuditSealer>;
  /**
   * Worker secret (`wrangler secret put WEBHOOK_KEY`, any long random string) under which webhook signing
   * secrets are stored encrypted. Without it webhooks cannot be registered.
   */
  WEBHOOK_KEY?: string;
  /** First retry delay of a failed webhook delivery in ms (doubling after each failure); default 30 s. */
  WEBHOOK_RETRY_BASE_MS?: string;
  /** Operator secret for the admin API (`wrangler secret put ADMIN_TOKEN`); unset: no admin API. */
  ADMIN_TOKEN?: string;
  RATE_LIMITERS: DurableObjectNamespace<RateLimiter>;
  /** Public origin for QR codes; empty means the origin of the incoming request. */
  PUBLIC_URL?: string;
}

declare global {
  namespace Cloudflare {
    // The test pool's `env` is these bindings plus the migrations the setup file applies.
    interface Env extends AppEnv {
      TEST_MIGRATIONS: import("@cloudflare/vitest-pool-workers").D1Migration[];
      FUZZ_RUNS: string;
      FUZZ_SEED: string;
    }
  }
}

type AppEnv = Env;
