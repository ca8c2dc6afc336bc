#!/usr/bin/env node
// Writes docs/openapi.json: starts the Worker in-process with wrangler's unstable_startWorker (local
// state in a temporary directory, nothing persisted), asks it for GET /openapi.json and saves the answer.
// `--check` instead exits 1 when the committed file differs. Run: npm run openapi [-- --check]
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { REPO_ROOT } from "./lib/wrangler.mjs";

process.env.WRANGLER_SEND_METRICS = "false";
process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
const { unstable_startWorker } = await import("wrangler");

const OUT = path.join(REPO_ROOT, "docs", "openapi.json");
const check = process.argv.includes("--check");

const tmp = await mkdtemp(path.join(os.tmpdir(), "encrypxon-openapi-"));
const worker = await unstable_startWorker({
  config: path.join(REPO_ROOT, "wrangler.toml"),
  dev: {
    server: { hostname: "127.0.0.1", port: 0 },
    inspector: false,
    persist: tmp,
    logLevel: "error",
    // One build, no watcher: a file saved meanwhile must not trigger a rebuild into a disposed directory.
    watch: false,
  },
});
let text;
try {
  const res = await worker.fetch("http://127.0.0.1/openapi.json");
  if (res.status !== 200) throw new Error(`GET /openapi.json answered ${res.status}`);
  text = `${JSON.stringify(await res.json(), null, 2)}\n`;
} finally {
  await worker.dispose();
  await rm(tmp, { recursive: true, force: true });
}

if (check) {
  const committed = await readFile(OUT, "utf8").catch(() => "");
  if (committed !== text) {
    console.error("docs/openapi.json is out of date: run npm run openapi and commit the result.");
    process.exit(1);
  }
  console.log("docs/openapi.json is up to date.");
} else {
  await writeFile(OUT, text);
  console.log(`wrote ${path.relative(process.cwd(), OUT)}`);
}
