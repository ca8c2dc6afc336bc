import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        // WEBHOOK_KEY is a Worker secret in production; tests get a fixed one.
        bindings: {
          TEST_MIGRATIONS: migrations,
          WEBHOOK_KEY: "test-webhook-key-0123456789abcdef0123456789abcdef",
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
