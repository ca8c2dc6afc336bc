import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

/** The operator secret the workerd tests run with; test/admin.test.ts reads it from env. */
const TEST_ADMIN_TOKEN = "test-operator-secret-0123456789abcdefghijklmnop";

const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        // Worker secrets in production; tests get fixed ones. ADMIN_TOKEN turns the admin API on
        // (test/admin.test.ts also runs without it).
        bindings: {
          TEST_MIGRATIONS: migrations,
          WEBHOOK_KEY: "test-webhook-key-0123456789abcdef0123456789abcdef",
          ADMIN_TOKEN: TEST_ADMIN_TOKEN,
          // test/fuzz.test.ts: runs per route and the seed (a number, or "random").
          FUZZ_RUNS: process.env.FUZZ_RUNS ?? "",
          FUZZ_SEED: process.env.FUZZ_SEED ?? "",
        },
      },
    }),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/e2e/**", "test/node/**"],
    setupFiles: ["./test/setup.ts"],
    // Some suites make hundreds of real calls; on a loaded 2-core machine the 5 s default is too tight.
    testTimeout: 60_000,
  },
});
