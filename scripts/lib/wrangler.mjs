// Runs the project's pinned wrangler as a child process and speaks to local or remote D1 and KV
// through it. Output is captured, never inherited, so wrangler's banner and logs can't reach our stdout.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (this file lives in scripts/lib/). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The pinned wrangler from this repository's node_modules, whatever the current directory is. */
export const WRANGLER_BIN = path.join(REPO_ROOT, "node_modules", ".bin", "wrangler");

/** The D1 and KV bindings in wrangler.toml that hold applications and the API key cache. */
export const D1_BINDING = "DB";
export const KV_BINDING = "API_KEYS";

/**
 * Where commands act.
 * @typedef {object} Target
 * @property {boolean} remote     true: the deployed databases (needs `wrangler login` and real ids).
 * @property {string} config      Absolute path of the wrangler configuration file.
 * @property {string} [persistTo] Absolute local state directory (wrangler's --persist-to); local only.
 */

/** A wrangler call that failed; `message` is the most useful line wrangler printed. */
export class WranglerError extends Error {
  /**
   * @param {string} message
   * @param {{ args: string[], code: number | null, stdout: string, stderr: string }} details
   */
  constructor(message, details) {
    super(message);
    this.name = "WranglerError";
    this.details = details;
  }
}

/**
 * The environment for every wrangler child: no telemetry, and no fetch of the `Request.cf` object from
 * the internet (miniflare would log an ENOTFOUND error on machines without internet access).
 * @param {Record<string, string>} [extra]
 * @returns {NodeJS.ProcessEnv}
 */
export function wranglerEnv(extra = {}) {
  return {
    ...process.env,
    WRANGLER_SEND_METRICS: "false",
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    ...extra,
  };
}

/**
 * Resolves a path the user typed. Under `npm run`, the process runs in the package root, and npm
 * keeps the directory the user was in as INIT_CWD.
 * @param {string} p
 */
export function resolveUserPath(p) {
  const base = process.env.npm_lifecycle_event && process.env.INIT_CWD ? process.env.INIT_CWD : process.cwd();
  return path.resolve(base, p);
}

/**
 * Builds a Target from parsed CLI options.
 * @param {{ remote?: boolean, config?: string, persistTo?: string }} opts
 * @returns {Target}
 */
export function makeTarget({ remote = false, config, persistTo }) {
  if (remote && persistTo) {
    throw new Error("--persist-to is for local state; it can't be combined with --remote");
  }
  /** @type {Target} */
  const target = {
    remote,
    config: config ? resolveUserPath(config) : path.join(REPO_ROOT, "wrangler.toml"),
  };
  if (persistTo) target.persistTo = resolveUserPath(persistTo);
  if (remote) checkRemoteIds(target.config);
  return target;
}

// wrangler.toml ships with all-zero ids so local development needs no account.
const PLACEHOLDER_IDS = /"0{8}-0{4}-0{4}-0{4}-0{12}"|"0{32}"/;

/**
 * Refuses --remote while the configuration still has the placeholder D1/KV ids: wrangler would fail
 * later with a less helpful message.
 * @param {string} config
 */
function checkRemoteIds(config) {
  let text;
  try {
    text = readFileSync(config, "utf8");
  } catch {
    throw new Error(`can't read the wrangler configuration ${config}`);
  }
  if (PLACEHOLDER_IDS.test(text)) {
    throw new Error(
      `${path.basename(config)} still has placeholder ids: create the database and namespace ` +
        "(`npx wrangler d1 create encrypxon`, `npx wrangler kv namespace create API_KEYS`), put their ids " +
        "in it, and run `npx wrangler d1 migrations apply DB --remote` before using --remote",
    );
  }
}

/**
 * The flags that select local or remote state and the configuration file.
 * @param {Target} target
 * @returns {string[]}
 */
export function targetArgs(target) {
  const where = target.remote ? ["--remote"] : ["--local"];
  if (!target.remote && target.persistTo) where.push("--persist-to", target.persistTo);
  return [...where, "--config", target.config];
}

/**
 * Runs wrangler with the given arguments, capturing its output. Never throws for a non-zero exit.
 * @param {string[]} args
 * @param {{ env?: Record<string, string>, cwd?: string }} [options]
 * @returns {Promise<{ code: number | null, stdout: string, stderr: string, ms: number }>}
 */
export function runWrangler(args, options = {}) {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    // stdin is closed, so wrangler knows it is not interactive and never waits at a prompt.
    const child = spawn(WRANGLER_BIN, args, {
      cwd: options.cwd ?? REPO_ROOT,
      env: wranglerEnv(options.env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    /** @type {Buffer[]} */
    const out = [];
    /** @type {Buffer[]} */
    const err = [];
    child.stdout.on("data", (b) => out.push(b));
    child.stderr.on("data", (b) => err.push(b));
    child.on("error", (e) =>
      reject(
        /** @type {NodeJS.ErrnoException} */ (e).code === "ENOENT"
          ? new Error(`wrangler not found at ${WRANGLER_BIN}: run \`npm ci\` first`)
          : e,
      ),
    );
    child.on("close", (code) =>
      resolve({
        code,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        ms: Math.round(performance.now() - started),
      }),
    );
  });
}

// Wrangler's log lines are decorated (box drawing, emoji, ANSI colours); strip that for our messages.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escape sequences is the point
const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;

/**
 * The most telling line of a failed wrangler run: an error JSON's text, or wrangler's "✘ [ERROR]" line.
 * @param {string} stdout
 * @param {string} stderr
 */
function failureMessage(stdout, stderr) {
  const parsed = parseJsonOutput(stdout);
  if (parsed && typeof parsed === "object" && "error" in parsed) {
    const e = /** @type {{ error: { text?: string } | string }} */ (parsed).error;
    if (typeof e === "string") return e;
    if (e && typeof e.text === "string") return e.text;
  }
  const lines = `${stderr}\n${stdout}`
    .replace(ANSI, "")
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const errorLine = lines.find((l) => l.includes("[ERROR]"));
  if (errorLine) return errorLine.replace(/^.*\[ERROR\]\s*/, "");
  return lines.at(-1) ?? "wrangler failed with no output";
}

/**
 * Parses JSON that wrangler printed, tolerating log lines before it (remote runs can print some).
 * @param {string} text
 * @returns {unknown} undefined when there is no JSON in it
 */
function parseJsonOutput(text) {
  const trimmed = text.trim();
  if (!trimmed) return undefined;
  try {
    return JSON.parse(trimmed);
  } catch {
    const start = trimmed.search(/^[[{]/m);
    if (start > 0) {
      try {
        return JSON.parse(trimmed.slice(start));
      } catch {
        return undefined;
      }
    }
    return undefined;
  }
}

/**
 * Runs wrangler and throws a WranglerError when it exits non-zero.
 * @param {string[]} args
 * @param {string} what  What was being done, for the error message.
 * @param {{ env?: Record<string, string> }} [options]
 */
export async function runWranglerOrThrow(args, what, options = {}) {
  const r = await runWrangler(args, options);
  if (r.code !== 0) {
    throw new WranglerError(`${what} failed: ${failureMessage(r.stdout, r.stderr)}`, { args, ...r });
  }
  return r;
}

/** @type {Map<string, Promise<void>>} */
const migrated = new Map();

/**
 * Applies D1 migrations that are not yet applied. Local state only (the remote database is migrated as
 * a deliberate deploy step), and once per process and state directory. Non-interactive: stdin is closed
 * and CI=true, so wrangler takes its "yes" fallback instead of asking for confirmation.
 * @param {Target} target
 */
export function ensureMigrations(target) {
  if (target.remote) return Promise.resolve();
  const key = `${target.config}\0${target.persistTo ?? ""}`;
  let done = migrated.get(key);
  if (!done) {
    done = runWranglerOrThrow(
      ["d1", "migrations", "apply", D1_BINDING, ...targetArgs(target)],
      "applying D1 migrations",
      { env: { CI: "true" } },
    ).then(() => undefined);
    done.catch(() => migrated.delete(key));
    migrated.set(key, done);
  }
  return done;
}

/**
 * Runs SQL (one or more statements separated by `;`) with `wrangler d1 execute --json`. Locally the
 * statements run as one batch, so they all apply or none do.
 * @param {Target} target
 * @param {string} sql
 * @returns {Promise<Record<string, unknown>[][]>} the result rows of each statement, in order
 */
export async function d1Execute(target, sql) {
  const args = ["d1", "execute", D1_BINDING, ...targetArgs(target), "--json", "--yes", "--command", sql];
  const r = await runWranglerOrThrow(args, "D1 query");
  const parsed = parseJsonOutput(r.stdout);
  if (!Array.isArray(parsed)) {
    throw new WranglerError("D1 query failed: wrangler printed no JSON result", { args, ...r });
  }
  return parsed.map((statement) => {
    if (!statement || statement.success === false || !Array.isArray(statement.results)) {
      throw new WranglerError("D1 query failed: a statement did not succeed", { args, ...r });
    }
    return statement.results;
  });
}

/**
 * Deletes one key from the API key cache namespace (a missing key is not an error).
 * @param {Target} target
 * @param {string} key
 */
export async function kvDelete(target, key) {
  await runWranglerOrThrow(
    ["kv", "key", "delete", "--binding", KV_BINDING, ...targetArgs(target), key],
    `deleting KV entry ${key}`,
  );
}
