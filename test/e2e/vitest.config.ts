// End-to-end tests in plain Node: they run the repository's scripts and wrangler as child processes
// against temporary local state. Run: npm run test:e2e
import path from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: path.resolve(import.meta.dirname, "../.."),
  test: {
    environment: "node",
    include: ["test/e2e/**/*.test.ts"],
    // Every wrangler call starts a workerd: 1–2 s each.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
