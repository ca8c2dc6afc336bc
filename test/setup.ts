import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

// The real migrations, so tests and production share one schema.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
