import type { ChallengeObject } from "./durable/challenge";
import type { DeviceChannel } from "./durable/channel";
import type { EnrollmentWaiter } from "./durable/enrollmentWaiter";

/** Bindings declared in wrangler.toml. */
export interface Env {
  DB: D1Database;
  API_KEYS: KVNamespace;
  CHALLENGES: DurableObjectNamespace<ChallengeObject>;
  DEVICE_CHANNELS: DurableObjectNamespace<DeviceChannel>;
  ENROLLMENT_WAITERS: DurableObjectNamespace<EnrollmentWaiter>;
  /** Public origin for QR codes; empty means the origin of the incoming request. */
  PUBLIC_URL?: string;
}

declare global {
  namespace Cloudflare {
    interface Env {
      DB: D1Database;
      API_KEYS: KVNamespace;
      CHALLENGES: DurableObjectNamespace<ChallengeObject>;
      DEVICE_CHANNELS: DurableObjectNamespace<DeviceChannel>;
      ENROLLMENT_WAITERS: DurableObjectNamespace<EnrollmentWaiter>;
      PUBLIC_URL?: string;
      TEST_MIGRATIONS: import("@cloudflare/vitest-pool-workers").D1Migration[];
    }
  }
}
