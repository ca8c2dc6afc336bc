// npx vitest run --config bench/audit/vitest.config.ts — the audit chain's costs inside workerd with
// the real D1, as ratios to the plain D1 work they add to (see bench/audit/chain.bench.ts).
import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

const root = path.join(import.meta.dirname, "..", "..");
const migrations = await readD1Migrations(path.join(root, "migrations"));

export default defineConfig({
  root,
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: { bindings: { TEST_MIGRATIONS: migrations } },
    }),
  ],
  test: {
    include: ["bench/audit/*.bench.ts"],
    setupFiles: ["./test/setup.ts"],
    testTimeout: 600_000,
  },
});
