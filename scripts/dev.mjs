#!/usr/bin/env node
// `npm run dev [-- <wrangler dev options>]`: applies local D1 migrations, makes sure the demo application
// has a usable API key, starts `wrangler dev`, waits until the Worker answers, then prints the base URL,
// the demo key and a first request to try. Ctrl-C (or SIGTERM) stops wrangler and everything it started.
import { spawn } from "node:child_process";
import path from "node:path";
import { ensureDemoKey } from "./lib/demo.mjs";
import { ensureDevSecrets, readDevVar } from "./lib/devvars.mjs";
import {
  ensureMigrations,
  makeTarget,
  REPO_ROOT,
  resolveUserPath,
  WRANGLER_BIN,
  wranglerEnv,
} from "./lib/wrangler.mjs";

const USAGE = `Usage: npm run dev [-- <wrangler dev options>]

Starts the Worker locally (wrangler dev, http://127.0.0.1:8787 by default) with a ready-to-use demo
API key. Every option is passed on to wrangler dev, for example:
  npm run dev -- --port 9000
  npm run dev -- --persist-to /tmp/encrypxon-state
See \`npx wrangler dev --help\` for the rest.
`;

const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 10_000;

/**
 * Finds `--name value` / `--name=value` (or a short alias) in wrangler's arguments.
 * @param {string[]} args
 * @param {string[]} names  e.g. ["--port"]
 * @returns {{ value: string, index: number, inline: boolean } | null}
 */
function findOption(args, names) {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? "";
    for (const n of names) {
      if (a === n && i + 1 < args.length) return { value: args[i + 1] ?? "", index: i, inline: false };
      if (a.startsWith(`${n}=`)) return { value: a.slice(n.length + 1), index: i, inline: true };
    }
  }
  return null;
}

/**
 * Rewrites a path option to an absolute path (wrangler runs in the repository root; the user may not).
 * @param {string[]} args
 * @param {string[]} names
 * @returns {string | undefined} the absolute path, if the option was given
 */
function absolutizeOption(args, names) {
  const found = findOption(args, names);
  if (!found) return undefined;
  const abs = resolveUserPath(found.value);
  if (found.inline) args[found.index] = `${args[found.index]?.split("=")[0]}=${abs}`;
  else args[found.index + 1] = abs;
  return abs;
}

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * GET url; resolves with the status, or null when nothing answers.
 * @param {string} url
 */
async function probe(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return null;
  }
}

/**
 * Whether any process of the group is still alive.
 * @param {number} pgid
 */
function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

async function main() {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args.includes("--remote") || args.some((a) => a.startsWith("--remote="))) {
    process.stderr.write("dev: --remote is not supported here; run `npx wrangler dev --remote` directly.\n");
    return 1;
  }

  // The same state and configuration wrangler dev will use.
  const config = absolutizeOption(args, ["--config", "-c"]);
  const persistTo = absolutizeOption(args, ["--persist-to"]);
  const target = makeTarget({ config, persistTo });
  const port = Number(findOption(args, ["--port"])?.value ?? 8787);
  const ip = findOption(args, ["--ip"])?.value ?? "127.0.0.1";
  if (!findOption(args, ["--port"])) args.push("--port", String(port));
  if (!findOption(args, ["--ip"])) args.push("--ip", ip);
  const host =
    ip === "0.0.0.0" || ip === "*" ? "127.0.0.1" : ip === "::" ? "[::1]" : ip.includes(":") ? `[${ip}]` : ip;
  const baseUrl = `http://${host}:${port}`;

  if ((await probe(`${baseUrl}/`)) !== null) {
    process.stderr.write(
      `dev: something already answers on ${baseUrl} (another \`npm run dev\`?). Stop it or pass --port N.\n`,
    );
    return 1;
  }

  process.stdout.write("Applying local D1 migrations and preparing the demo API key…\n");
  await ensureMigrations(target);
  const demo = await ensureDemoKey(target);
  // Worker secrets wrangler dev reads from .dev.vars (in production: `wrangler secret put`).
  const devVars = await ensureDevSecrets(target.config, ["WEBHOOK_KEY", "ADMIN_TOKEN"]);
  const adminToken = await readDevVar(devVars, "ADMIN_TOKEN");

  // Its own process group, so one signal reaches wrangler, its inner node process and workerd, and no
  // terminal Ctrl-C reaches them twice. stdin stays with us: wrangler runs without its hotkeys.
  const child = spawn(WRANGLER_BIN, ["dev", ...args], {
    cwd: REPO_ROOT,
    env: wranglerEnv(),
    stdio: ["ignore", "inherit", "inherit"],
    detached: true,
  });
  const pgid = /** @type {number} */ (child.pid);
  let stopping = false;
  /** @type {number | null} */
  let exitCode = null;
  const exited = new Promise((resolve) =>
    child.on("exit", (code, signal) => {
      exitCode = code ?? (signal ? 1 : 0);
      resolve(undefined);
    }),
  );

  /** @param {NodeJS.Signals} signal */
  const stop = async (signal) => {
    if (stopping) return;
    stopping = true;
    try {
      process.kill(-pgid, signal);
    } catch {
      // already gone
    }
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    while (groupAlive(pgid) && Date.now() < deadline) await sleep(100);
    if (groupAlive(pgid)) {
      process.stderr.write("dev: wrangler did not stop in time; killing it.\n");
      try {
        process.kill(-pgid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  };
  for (const signal of /** @type {NodeJS.Signals[]} */ (["SIGINT", "SIGTERM", "SIGHUP"])) {
    process.on(signal, () => {
      stop(signal).then(() => process.exit(0));
    });
  }
  // `kill <npm pid>`: npm passes SIGTERM to its `sh -c`, which dies without passing it on, leaving us
  // orphaned. Treat the loss of our parent as SIGTERM so wrangler doesn't keep the port.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop("SIGTERM").then(() => process.exit(0));
  }, 500).unref();

  // Wait for the Worker to answer GET /, or for wrangler to give up.
  const started = Date.now();
  /** @type {number | null} */
  let status = null;
  while (status === null && exitCode === null && !stopping) {
    if (Date.now() - started > READY_TIMEOUT_MS) {
      process.stderr.write(
        `dev: ${baseUrl}/ did not answer within ${READY_TIMEOUT_MS / 1000} s; stopping.\n`,
      );
      await stop("SIGTERM");
      return 1;
    }
    await Promise.race([sleep(250), exited]);
    if (exitCode === null) status = await probe(`${baseUrl}/`);
  }
  if (exitCode !== null && !stopping) {
    process.stderr.write(`dev: wrangler dev exited with status ${exitCode} before the Worker answered.\n`);
    return exitCode || 1;
  }
  if (stopping) return 0;

  const relFile = path.relative(REPO_ROOT, demo.file);
  const adminTarget = persistTo ? ` --persist-to ${persistTo}` : "";
  const rule = "─".repeat(78);
  const curl =
    `curl -s -X POST ${baseUrl}/v1/enrollments -H "X-API-Key: ${demo.api_key}" ` +
    `-H 'content-type: application/json' -d '{"user_id":"alice"}'`;
  const lines = ["", rule, `  Encrypxon is running at ${baseUrl}`];
  if (status !== 200) lines.push(`  (GET / answered ${status}: the Worker may be broken right now)`);
  lines.push(
    "",
    `  Demo app:     Demo App (${demo.app_id})`,
    `  Demo API key: ${demo.api_key}`,
    `                ${demo.reused ? "reused from" : "new, saved in"} ${relFile.startsWith("..") ? demo.file : relFile}`,
    "",
    "  Try it (create an enrollment for user alice):",
    `  ${curl}`,
    "",
    `  Admin token:  ${adminToken}`,
    `                the admin API's operator secret, kept in ${path.relative(REPO_ROOT, devVars)}`,
    `  curl -s ${baseUrl}/v1/admin/apps -H "Authorization: Bearer ${adminToken}"`,
    "",
    `  More keys: npm run admin -- key create --app ${demo.app_id}${adminTarget}`,
    "  Press Ctrl-C to stop.",
    rule,
    "",
  );
  process.stdout.write(lines.join("\n"));

  await exited;
  if (stopping) return 0;
  // wrangler stopped by itself: make sure nothing it started is left behind.
  await stop("SIGTERM");
  return exitCode ?? 0;
}

try {
  const code = await main();
  if (code !== 0) process.exit(code);
} catch (e) {
  process.stderr.write(`dev: ${/** @type {Error} */ (e).message}\n`);
  process.exit(1);
}
