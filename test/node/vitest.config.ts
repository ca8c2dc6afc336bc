// Node-side test project (plain Node, not workerd): cross-checks src/crypto and the device package
// against Python's `cryptography` and node:crypto. Run: npx vitest run --config test/node/vitest.config.ts
import path from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: path.resolve(import.meta.dirname, "../.."),
  test: {
    environment: "node",
    include: ["test/node/**/*.test.ts"],
    testTimeout: 30_000,
  },
});
