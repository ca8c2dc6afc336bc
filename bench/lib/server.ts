// Starts Workers for the bench: under `wrangler dev` (the same way developers run it, in its own process
// group, on a free 127.0.0.1 port, with state under a temporary --persist-to) or directly in workerd
// through Miniflare (no wrangler dev proxy in front). Every process started here is stopped by pgid.
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import path from "node:path";
import { freePort } from "../../scripts/lib/net.mjs";
import { REPO_ROOT, WRANGLER_BIN, wranglerEnv } from "../../scripts/lib/wrangler.mjs";

export { freePort, REPO_ROOT };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    // gone
  }
}

/** Every group still running when this process exits is killed. */
const running = new Set<number>();
process.once("exit", () => {
  for (const pgid of running) signal(pgid, "SIGKILL");
});
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    for (const pgid of running) signal(pgid, "SIGKILL");
    process.exit(130);
  });
}

export interface Dev {
  baseUrl: string;
  port: number;
  /** `stop("SIGKILL")` simulates a crash; the default is an orderly SIGTERM. */
  stop(sig?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port with the same state. */
  restart(): Promise<void>;
  log(): string;
  /** The process group of wrangler dev and everything it started (0 while stopped). */
  pgid(): number;
}

export interface DevOptions {
  /** wrangler.toml to run, relative to the repository root. */
  config: string;
  /** --persist-to; omit for the bench Workers that keep no state. */
  stateDir?: string;
  logFile: string;
  port?: number;
}

/** `wrangler dev` for one config, ready once GET / answers (any status). */
export async function startDev(opts: DevOptions): Promise<Dev> {
  const port = opts.port ?? (await freePort());
  const baseUrl = `http://127.0.0.1:${port}`;
  let pgid = 0;
  const launch = async () => {
    const fd = openSync(opts.logFile, "a");
    const args = ["dev", "--config", path.join(REPO_ROOT, opts.config), "--port", String(port)];
    args.push(
      "--ip",
      "127.0.0.1",
      "--inspector-port",
      String(await freePort()),
      "--show-interactive-dev-session=false",
    );
    if (opts.stateDir) args.push("--persist-to", opts.stateDir);
    const child = spawn(WRANGLER_BIN, args, {
      cwd: REPO_ROOT,
      env: wranglerEnv({ WRANGLER_LOG_PATH: `${opts.logFile}.debug` }),
      stdio: ["ignore", fd, fd],
      detached: true,
    });
    closeSync(fd);
    if (child.pid === undefined) throw new Error("could not start wrangler");
    pgid = child.pid;
    running.add(pgid);
    let exited = false;
    child.on("exit", () => {
      exited = true;
    });
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !exited) {
      try {
        const res = await fetch(`${baseUrl}/`, { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        return;
      } catch {
        await sleep(150);
      }
    }
    throw new Error(`wrangler dev (${opts.config}) did not come up on ${baseUrl}; see ${opts.logFile}`);
  };
  const stop = async (sig: NodeJS.Signals = "SIGTERM") => {
    if (!pgid) return;
    signal(pgid, sig);
    const deadline = Date.now() + 8_000;
    while (alive(pgid) && Date.now() < deadline) await sleep(50);
    if (alive(pgid)) signal(pgid, "SIGKILL");
    while (alive(pgid)) await sleep(50);
    running.delete(pgid);
    pgid = 0;
  };
  await launch();
  return {
    baseUrl,
    port,
    stop,
    restart: launch,
    pgid: () => pgid,
    log: () => {
      try {
        return readFileSync(opts.logFile, "utf8");
      } catch {
        return "";
      }
    },
  };
}

export interface Direct {
  baseUrl: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * The same Worker run by Miniflare (workerd) with no wrangler dev proxy in front: the floor from a
 * one-line script, the service from an esbuild bundle of <root>/src/index.ts on the same persisted state,
 * the object-cost probe from bench/do.
 */
export async function startDirect(
  kind: "floor" | "service" | "probe",
  stateDir?: string,
  root = REPO_ROOT,
  tag = "",
  /** A fixed port: devices enrolled through one build must reach the next on the same origin. */
  fixedPort?: number,
): Promise<Direct> {
  const { Miniflare } = await import("miniflare");
  const port = fixedPort ?? (await freePort());
  const common = {
    host: "127.0.0.1",
    port,
    compatibilityDate: "2026-04-20",
    compatibilityFlags: ["nodejs_compat"],
    modules: true,
  };
  let mf: InstanceType<typeof Miniflare>;
  if (kind === "floor") {
    mf = new Miniflare({
      ...common,
      script: 'export default { async fetch() { return new Response("ok"); } };',
    });
  } else {
    if (!stateDir) throw new Error(`startDirect(${kind}) needs the state directory`);
    const [entry, config, name] =
      kind === "service"
        ? [path.join(root, "src", "index.ts"), path.join(REPO_ROOT, "wrangler.toml"), "encrypxon"]
        : [
            path.join(REPO_ROOT, "bench", "do", "index.ts"),
            path.join(REPO_ROOT, "bench", "do", "wrangler.toml"),
            "encrypxon-bench-do",
          ];
    const esbuild = await import("esbuild");
    const out = path.join(stateDir, "..", `bundle-${kind}${tag.replace(/[^a-z0-9]+/gi, "-")}`, "index.js");
    await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      outfile: out,
      external: ["cloudflare:*", "node:*"],
      conditions: ["workerd", "worker", "browser"],
      logLevel: "error",
    });
    // Bindings from wrangler.toml as wrangler itself maps them, and the layout `wrangler dev
    // --persist-to <stateDir>` uses, so both see the same D1, KV and objects.
    const { unstable_getMiniflareWorkerOptions } = await import("wrangler");
    const w = unstable_getMiniflareWorkerOptions(config).workerOptions;
    mf = new Miniflare({
      ...common,
      name,
      scriptPath: out,
      modulesRoot: path.dirname(out),
      compatibilityDate: w.compatibilityDate ?? common.compatibilityDate,
      compatibilityFlags: w.compatibilityFlags ?? common.compatibilityFlags,
      ...(w.bindings && { bindings: w.bindings }),
      ...(w.kvNamespaces && { kvNamespaces: w.kvNamespaces }),
      ...(w.d1Databases && { d1Databases: w.d1Databases }),
      ...(w.durableObjects && { durableObjects: w.durableObjects }),
      d1Persist: path.join(stateDir, "v3", "d1"),
      kvPersist: path.join(stateDir, "v3", "kv"),
      durableObjectsPersist: path.join(stateDir, "v3", "do"),
      cachePersist: path.join(stateDir, "v3", "cache"),
    });
  }
  const url = await mf.ready;
  return {
    baseUrl: url.origin.replace("localhost", "127.0.0.1"),
    port: Number(url.port),
    stop: () => mf.dispose(),
  };
}
