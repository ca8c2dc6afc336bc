// Starts the real Worker under `wrangler dev` for end-to-end tests: fresh local state in a temporary
// directory (migrations applied, one application created with scripts/admin.mjs), a free port, its own
// process group (so one signal stops wrangler, its node child, esbuild and workerd), and a log file that
// the suite checks at the end for errors and leaked secrets.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { freePort } from "../../scripts/lib/net.mjs";
import {
  ensureMigrations,
  makeTarget,
  REPO_ROOT,
  WRANGLER_BIN,
  wranglerEnv,
} from "../../scripts/lib/wrangler.mjs";

export { REPO_ROOT };

/** How long `wrangler dev` may take to answer GET / (it usually takes 1–3 s). */
const READY_TIMEOUT_MS = 60_000;
/** How long wrangler and workerd get to exit after SIGTERM before SIGKILL. */
const STOP_TIMEOUT_MS = 5_000;
const API_KEY = /^ek_(live|test)_[A-Za-z0-9_-]{43}([0-9A-Za-z]{6})?$/;

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command to completion with stdin closed, capturing its output. */
export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Run> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: REPO_ROOT,
      env: opts.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
      timeout: opts.timeoutMs ?? 30_000,
      killSignal: "SIGKILL",
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => {
      stdout += s;
    });
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      stderr += s;
    });
    child.on("error", reject);
    child.on("close", (code, signal) =>
      resolve({ code, signal, stdout, stderr, ms: Math.round(performance.now() - started) }),
    );
  });
}

export interface E2eServer {
  /** e.g. http://127.0.0.1:40123 */
  baseUrl: string;
  appId: string;
  apiKey: string;
  /**
   * Temporary root: state/ (wrangler's --persist-to), wrangler.log (its output), wrangler-debug.log,
   * and whatever tests put there.
   */
  tmp: string;
  stateDir: string;
  logFile: string;
  /** The process group of wrangler dev and everything it started. */
  pgid: number;
  /** Registers a value that must never appear in wrangler's output (API key, device tokens, …). */
  secret(value: string): void;
  /** Wrangler's output so far. */
  log(): string;
  /**
   * Lines of wrangler's output that show an error or hold a registered secret (secrets masked), and
   * lines of its debug log that hold a secret.
   */
  logProblems(): string[];
  /** Live (non-zombie) processes of the group. */
  processes(): number[];
  /** Stops wrangler dev and everything it started; SIGKILL if SIGTERM is not enough. Idempotent. */
  stop(): Promise<void>;
  /** Stops, then removes the temporary directory (kept when ENCRYPXON_E2E_KEEP=1). */
  cleanup(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Live members of a process group. On Linux /proc is read so that zombies (exited, not yet reaped by an
 * init that may not reap) do not count; elsewhere a signal-0 probe of the group.
 */
export function groupMembers(pgid: number): number[] {
  if (process.platform === "linux") {
    const pids: number[] = [];
    for (const name of readdirSync("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, "utf8");
        // pid (comm) state ppid pgrp …; comm may contain spaces and parentheses.
        const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        if (Number(pgrp) === pgid && state !== "Z") pids.push(Number(name));
      } catch {
        // exited while we looked
      }
    }
    return pids;
  }
  try {
    process.kill(-pgid, 0);
    return [pgid];
  } catch {
    return [];
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

/** Where `wrangler dev` writes its debug log (every level, not only what it prints). */
const debugLogFile = (tmp: string) => path.join(tmp, "wrangler-debug.log");

function tail(text: string, lines = 40): string {
  return text.split("\n").slice(-lines).join("\n");
}

function readLog(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

// Wrangler decorates its output with ANSI colours even in a file when FORCE_COLOR is set.
// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping ANSI escape sequences
const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;

/** What must never show up in wrangler's output. */
const BAD_LINE: [RegExp, string][] = [
  [/ENOTFOUND/, "ENOTFOUND (something tried to reach the internet)"],
  [/uncaught/i, "uncaught exception"],
  [/unhandled (error|rejection|exception)/i, "unhandled error"],
  [/\[ERROR\]/, "wrangler error"],
  [/\[wrangler:\w+\] [A-Z]+ \S+ 5\d\d\b/, "5xx answer"],
  [/^\s+at .+:\d+:\d+\)?$/, "stack trace"],
];

/** Creates the application with scripts/admin.mjs and returns its one JSON line. */
async function createApp(stateDir: string, name: string): Promise<{ app_id: string; api_key: string }> {
  const r = await run(process.execPath, [
    path.join(REPO_ROOT, "scripts", "admin.mjs"),
    "app",
    "create",
    "--name",
    name,
    "--json",
    "--persist-to",
    stateDir,
  ]);
  const lines = r.stdout.split("\n").filter((l) => l.trim() !== "");
  if (r.code !== 0 || lines.length !== 1) {
    throw new Error(`admin app create failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  }
  const created = JSON.parse(lines[0] ?? "") as { app_id?: unknown; api_key?: unknown };
  if (
    typeof created.app_id !== "string" ||
    typeof created.api_key !== "string" ||
    !API_KEY.test(created.api_key)
  ) {
    throw new Error("admin app create printed an unexpected JSON line");
  }
  return { app_id: created.app_id, api_key: created.api_key };
}

// A watchdog for the wrangler process group, in its own group so a terminal's Ctrl-C does not reach it.
// It waits for EOF on stdin, a pipe from this process: that comes however this process ends (test
// failure, Ctrl-C of vitest, SIGKILL of the worker), and then it stops the group and removes the
// temporary directory, if given one.
const REAPER = `
const pgid = Number(process.argv[1]);
const dir = process.argv[2];
const kill = (s) => { try { process.kill(-pgid, s); } catch {} };
process.stdin.on("data", () => {});
process.stdin.on("end", () => {
  kill("SIGTERM");
  setTimeout(() => {
    kill("SIGKILL");
    if (dir) setTimeout(() => require("node:fs").rmSync(dir, { recursive: true, force: true }), 500);
  }, 3000);
});
`;

/**
 * Makes sure the group dies with this process: an exit hook for orderly exits, and the REAPER for
 * signals that skip exit hooks. Returns the function that disarms both once the group has stopped.
 */
function guardGroup(pgid: number, tmp: string): () => void {
  const onExit = () => signalGroup(pgid, "SIGKILL");
  process.once("exit", onExit);
  const keep = process.env.ENCRYPXON_E2E_KEEP === "1";
  const reaper = spawn(process.execPath, ["-e", REAPER, String(pgid), ...(keep ? [] : [tmp])], {
    stdio: ["pipe", "ignore", "ignore"],
    detached: true,
  });
  reaper.on("error", () => {}); // then only the exit hook protects us
  reaper.unref();
  (reaper.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return () => {
    process.removeListener("exit", onExit);
    reaper.kill("SIGKILL");
  };
}

/** Starts `wrangler dev` on a free port; resolves once GET / answers 200. */
async function launch(
  tmp: string,
  stateDir: string,
  logFile: string,
  extraArgs: string[],
): Promise<{ baseUrl: string; pgid: number; release: () => void }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const fd = openSync(logFile, "a");
    let exitInfo: string | null = null;
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(
        WRANGLER_BIN,
        ["dev", "--port", String(port), "--ip", "127.0.0.1", "--persist-to", stateDir, ...extraArgs],
        {
          cwd: REPO_ROOT,
          // WRANGLER_SEND_METRICS=false, CLOUDFLARE_CF_FETCH_ENABLED=false (no ENOTFOUND offline).
          // WRANGLER_LOG_PATH: its debug log stays with the run instead of piling up in ~/.config.
          env: wranglerEnv({ WRANGLER_LOG_PATH: debugLogFile(tmp) }),
          // The log goes straight to a file: nothing is lost if this process dies, and no pipe can fill up.
          stdio: ["ignore", fd, fd],
          detached: true,
        },
      );
    } finally {
      closeSync(fd);
    }
    const pgid = child.pid;
    if (pgid === undefined) throw new Error(`could not start ${WRANGLER_BIN}`);
    child.on("error", (e) => {
      exitInfo = `could not run wrangler: ${e.message}`;
    });
    child.on("exit", (code, signal) => {
      exitInfo = `wrangler dev exited (${signal ?? `status ${code}`})`;
    });
    const release = guardGroup(pgid, tmp);

    const deadline = Date.now() + READY_TIMEOUT_MS;
    let lastStatus = "no answer";
    while (exitInfo === null && Date.now() < deadline) {
      try {
        const res = await fetch(`${baseUrl}/`, { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        if (res.status === 200) return { baseUrl, pgid, release };
        lastStatus = `HTTP ${res.status}`;
      } catch {
        // not listening yet
      }
      await sleep(200);
    }
    signalGroup(pgid, "SIGKILL");
    release();
    const log = readLog(logFile).replace(ANSI, "");
    if (exitInfo !== null && /EADDRINUSE|address already in use/i.test(log) && attempt < 3) continue;
    throw new Error(
      `${exitInfo ?? `${baseUrl}/ did not answer 200 within ${READY_TIMEOUT_MS / 1000} s (last: ${lastStatus})`}` +
        `; wrangler's output ends with:\n${tail(log)}`,
    );
  }
}

/**
 * Fresh state → migrations → application "E2E Shop" → wrangler dev. On failure everything started is
 * stopped and the temporary directory removed; the error carries wrangler's output tail.
 */
export async function startServer(
  opts: { appName?: string; wranglerArgs?: string[] } = {},
): Promise<E2eServer> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), "encrypxon-e2e-"));
  const stateDir = path.join(tmp, "state");
  const logFile = path.join(tmp, "wrangler.log");
  await mkdir(stateDir);
  const secrets = new Set<string>();
  try {
    // The same non-interactive migration step admin.mjs and dev.mjs use (stdin closed, CI=true).
    await ensureMigrations(makeTarget({ persistTo: stateDir }));
    const app = await createApp(stateDir, opts.appName ?? "E2E Shop");
    secrets.add(app.api_key);
    // The Worker secret `npm run dev` keeps in .dev.vars; here a fresh one per server, in an owner-only
    // file rather than on the command line (where every user of the machine could read it in `ps`).
    const webhookKey = randomBytes(32).toString("base64url");
    secrets.add(webhookKey);
    const envFile = path.join(tmp, "worker.env");
    await writeFile(envFile, `WEBHOOK_KEY=${webhookKey}\n`, { mode: 0o600 });
    const { baseUrl, pgid, release } = await launch(tmp, stateDir, logFile, [
      "--env-file",
      envFile,
      ...(opts.wranglerArgs ?? []),
    ]);

    let stopped: Promise<void> | undefined;
    const stop = () => {
      stopped ??= (async () => {
        signalGroup(pgid, "SIGTERM");
        const deadline = Date.now() + STOP_TIMEOUT_MS;
        while (groupMembers(pgid).length > 0 && Date.now() < deadline) await sleep(100);
        if (groupMembers(pgid).length > 0) {
          signalGroup(pgid, "SIGKILL");
          const hard = Date.now() + 2_000;
          while (groupMembers(pgid).length > 0 && Date.now() < hard) await sleep(50);
        }
        // Once the group is gone its id may be reused: no more signals to it.
        if (groupMembers(pgid).length === 0) release();
      })();
      return stopped;
    };

    return {
      baseUrl,
      appId: app.app_id,
      apiKey: app.api_key,
      tmp,
      stateDir,
      logFile,
      pgid,
      secret: (value) => {
        if (value) secrets.add(value);
      },
      log: () => readLog(logFile),
      logProblems: () => {
        const problems: string[] = [];
        const scan = (file: string, errors: boolean) => {
          for (const raw of readLog(file).split("\n")) {
            const line = raw.replace(ANSI, "");
            for (const [re, what] of errors ? BAD_LINE : []) {
              if (re.test(line)) problems.push(`${what}: ${line.trim()}`);
            }
            for (const s of secrets) {
              if (line.includes(s)) {
                problems.push(
                  `a secret is in ${path.basename(file)}: ${line.split(s).join("<SECRET>").trim()}`,
                );
              }
            }
          }
        };
        scan(logFile, true);
        // The debug log has every level (inspector traffic, D1 queries): checked for secrets only.
        scan(debugLogFile(tmp), false);
        return problems;
      },
      processes: () => groupMembers(pgid),
      stop,
      cleanup: async () => {
        await stop();
        if (process.env.ENCRYPXON_E2E_KEEP !== "1") await rm(tmp, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
