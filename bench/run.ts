// npm run bench [-- --quick] [-- --only endpoints,profile,docost,roundtrip,crypto,load,faults,scale]
//                [-- --baseline <git ref>]  (endpoints, profile and round trip also measure that ref's src/)
//
// Everything runs on 127.0.0.1 against Workers this script starts itself (own ports, own temporary
// state), every loop is bounded in count and time, and the report goes to bench/out/report-<mode>.md
// (bench/RESULTS.md quotes a full run). Quick mode only checks that every section still works: its
// figures mean nothing. No figure is asserted; only correctness checks (lost rows, 5xx, states) fail.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { DeviceStore, watch } from "../packages/device/src/index";
import { createApp } from "../scripts/lib/apps.mjs";
import { makeTarget } from "../scripts/lib/wrangler.mjs";
import { Api, enrollOne, enrollUsers, TERMINAL, type User } from "./lib/api";
import { ChainSeeder, type SeedEvent } from "./lib/chain";
import { openD1 } from "./lib/db";
import { fmt, type LoadResult, load, summary } from "./lib/load";
import { type Dev, REPO_ROOT, startDev, startDirect } from "./lib/server";
import { countSyscalls, cpuMs, straceAvailable, workerdPids } from "./lib/syscalls";

const args = process.argv.slice(2);
const QUICK = args.includes("--quick");
const onlyArg = args[args.indexOf("--only") + 1];
const ONLY = args.includes("--only") && onlyArg ? new Set(onlyArg.split(",")) : null;
const want = (section: string) => !ONLY || ONLY.has(section);
const baselineArg = args[args.indexOf("--baseline") + 1];
/** `--baseline <git ref>`: endpoints, profile and round trip also run that ref's src/, in the same run. */
const BASELINE = args.includes("--baseline") && baselineArg ? { ref: baselineArg } : null;

/** What the socket errors of a load were, if any: " (ECONNRESET ×2)". */
function errorsSeen(r: LoadResult): string {
  const kinds = Object.entries(r.errorKinds).map(([k, n]) => `${k} ×${n}`);
  return kinds.length ? ` (${kinds.join(", ")})` : "";
}

/** A build of the service: this tree, or the baseline ref's src/ checked out under bench/out/. */
interface Variant {
  tag: string;
  /** The directory holding its src/ (and bench/profile/). */
  root: string;
  /** Its wrangler.toml, relative to REPO_ROOT. */
  config: string;
}
const CURRENT: Variant = { tag: BASELINE ? "after" : "", root: REPO_ROOT, config: "wrangler.toml" };
let variants: Variant[] = [CURRENT];

/** The baseline's src/ and wrangler.toml from git, with this tree's bench/profile wrapper. */
function prepareBaseline(ref: string): Variant {
  const root = path.join(REPO_ROOT, "bench", "out", "baseline");
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const tar = execFileSync("git", ["-C", REPO_ROOT, "archive", ref, "src", "packages"]);
  execFileSync("tar", ["-x", "-C", root], { input: tar });
  // The same instrumentation for both builds: this tree's profile wrapper, around the baseline's src/.
  mkdirSync(path.join(root, "bench", "profile"), { recursive: true });
  copyFileSync(
    path.join(REPO_ROOT, "bench", "profile", "index.ts"),
    path.join(root, "bench", "profile", "index.ts"),
  );
  const rev = execFileSync("git", ["-C", REPO_ROOT, "rev-parse", "--short", ref], {
    encoding: "utf8",
  }).trim();
  // Its own wrangler.toml (its bindings and object classes), with the migrations of this tree.
  const config = execFileSync("git", ["-C", REPO_ROOT, "show", `${ref}:wrangler.toml`], {
    encoding: "utf8",
  }).replace(/^migrations_dir = .*$/m, `migrations_dir = "${path.join(REPO_ROOT, "migrations")}"`);
  writeFileSync(path.join(root, "wrangler.toml"), config);
  return { tag: `before: ${rev}`, root, config: path.relative(REPO_ROOT, path.join(root, "wrangler.toml")) };
}

/** The variant under `wrangler dev` on the service's port and state (the service's own dev is stopped). */
async function serviceDev(ctx: Ctx, v: Variant): Promise<Dev> {
  if (v === CURRENT) return ctx.dev;
  await ctx.dev.stop();
  return startDev({
    config: v.config,
    stateDir: ctx.stateDir,
    logFile: path.join(ctx.tmp, "baseline.log"),
    port: ctx.dev.port,
  });
}

async function closeServiceDev(ctx: Ctx, dev: Dev): Promise<void> {
  if (dev === ctx.dev) return;
  await dev.stop();
  await ctx.dev.restart();
}

const P = QUICK
  ? {
      settleMs: 0,
      faultTtl: 15,
      profileFlows: 3,
      seconds: 1,
      connections: 50,
      users: 9,
      rsaUsers: 2,
      rtFlows: 10,
      rtLevels: [1, 5],
      rtSeconds: 20,
      cryptoN: 10,
      loadSeconds: 3,
      loadWorkers: 6,
      scaleLevels: [2_000],
      scaleDevices: 500,
      scaleSeconds: 1,
      creationSettleMs: 0,
      newObjectsPerLine: 200,
      capacityMax: 300,
    }
  : {
      settleMs: 12_000,
      faultTtl: 25,
      profileFlows: 40,
      seconds: 10,
      connections: 50,
      users: 110,
      rsaUsers: 20,
      rtFlows: 1_000,
      rtLevels: [1, 10, 100],
      rtSeconds: 120,
      cryptoN: 400,
      loadSeconds: 180,
      loadWorkers: 20,
      scaleLevels: [10_000, 100_000, 1_000_000],
      scaleDevices: 100_000,
      scaleSeconds: 5,
      // Locally one workerd process holds a few thousand live SQLite-backed objects at once (the
      // capacity line of section 1b measures it); an idle one leaves memory about 10 s after its last
      // event. A creation line's objects (ttl 10 s: their expiry alarms wake them once more) must be
      // gone before the next line starts, or that line measures the previous one's leftovers.
      creationSettleMs: 25_000,
      // The probe's new-object lines stop here, below that capacity (they create far faster than
      // the service does).
      newObjectsPerLine: 2_000,
      capacityMax: 10_000,
    };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const report: string[] = [];
const out = (line = "") => {
  report.push(line);
  console.log(line);
};
const failures: string[] = [];
const check = (ok: boolean, what: string) => {
  out(`- ${ok ? "ok" : "**FAILED**"}: ${what}`);
  if (!ok) failures.push(what);
};

interface Ctx {
  tmp: string;
  stateDir: string;
  dev: Dev;
  floor: Dev;
  api: Api;
  appId: string;
  apiKey: string;
  users: User[];
  /** Users whose one device holds an RSA key, half rsa-oaep-sha1, half rsa-oaep-sha256. */
  rsaUsers: User[];
  store: DeviceStore;
}

function machine(): void {
  const cpu = os.cpus()[0]?.model ?? "?";
  const wrangler = execFileSync(path.join(REPO_ROOT, "node_modules/.bin/wrangler"), ["--version"], {
    encoding: "utf8",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  }).trim();
  out(`# Encrypxon bench (${QUICK ? "quick: checks the scripts work, figures mean nothing" : "full"})`);
  out();
  out(`- when: ${new Date().toISOString()}`);
  out(
    `- machine: ${os.cpus().length} × ${cpu}, ${fmt(os.totalmem() / 2 ** 30, 1)} GiB RAM, load ${os
      .loadavg()
      .map((l) => fmt(l, 2))
      .join(" ")}`,
  );
  out(`- node ${process.version}, wrangler ${wrangler.split("\n").pop()}, ${os.type()} ${os.release()}`);
  out(`- command: \`npm run bench${args.length ? ` -- ${args.join(" ")}` : ""}\``);
}

const LOAD_HEADER =
  "| request | req/s | p50 | p99 | throughput ÷ floor | p50 ÷ floor | p99 ÷ floor | requests | non-2xx | errors | workerd CPU ms/req |\n" +
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

/** A load line; the CPU column only where the bench started workerd itself (straight, not wrangler dev). */
const row = (r: Measured, floor: { rps: number; p50: number; p99: number }) =>
  `| ${r.label} | ${fmt(r.rps, 0)} | ${fmt(r.p50, 0)} | ${fmt(r.p99, 0)} | ${fmt(r.rps / floor.rps, 2)} | ${fmt(r.p50 / Math.max(floor.p50, 1), 1)} | ${fmt(r.p99 / Math.max(floor.p99, 1), 1)} | ${r.requests} | ${r.non2xx} | ${r.errors} | ${r.cpuPerRequest === undefined ? "–" : fmt(r.cpuPerRequest, 2)} |`;

type Measured = LoadResult & { cpuPerRequest?: number };

/**
 * A load, with the CPU time the workerd processes this bench started (Miniflare's) spent on it, per
 * completed request: what bounds throughput when everything shares one runtime process.
 */
async function measured(direct: boolean, spec: Parameters<typeof load>[0]): Promise<Measured> {
  const pids = direct ? workerdPids() : [];
  const before = pids.length ? cpuMs(pids) : null;
  const r = await load(spec);
  const after = pids.length ? cpuMs(pids) : null;
  if (before === null || after === null || r.requests === 0) return r;
  return { ...r, cpuPerRequest: (after - before) / r.requests };
}

// ───────────────────────────── 1. floor vs endpoints ─────────────────────────────

/** One service under test in a section: the current tree, or the `--baseline` ref's src/ beside it. */
interface Opened {
  base: string;
  close(): Promise<void>;
}

async function endpointLoads(ctx: Ctx, base: string, suffix: string, direct: boolean): Promise<Measured[]> {
  const c = P.connections;
  const s = P.seconds;
  const key = { "x-api-key": ctx.apiKey };
  // Users 0..49 get the creation load; 50.. get one pending challenge each for the GETs. Creation runs
  // last, so the expiry alarms of its challenges do not land in another endpoint's measurement.
  const createUsers = ctx.users.slice(0, Math.min(50, ctx.users.length - 2));
  const readUsers = ctx.users.slice(createUsers.length);
  const ids: string[] = [];
  const api = new Api(base, ctx.apiKey);
  for (const u of readUsers) {
    const b = await api.must("POST", "/v1/challenges", { user_id: u.userId, ttl_seconds: 600 });
    ids.push(String(b.id));
  }
  let i = 0;
  const results: Measured[] = [];
  results.push(
    await measured(direct, { label: `GET /${suffix}`, url: `${base}/`, connections: c, seconds: s }),
  );
  results.push(
    await measured(direct, {
      label: `GET /v1/challenges/{id}${suffix}`,
      url: `${base}/v1/challenges/${ids[0]}`,
      headers: key,
      next: () => ({ path: `/v1/challenges/${ids[i++ % ids.length]}` }),
      connections: c,
      seconds: s,
    }),
  );
  results.push(
    await measured(direct, {
      label: `GET /v1/audit${suffix}`,
      url: `${base}/v1/audit`,
      headers: key,
      connections: c,
      seconds: s,
    }),
  );
  results.push(
    await measured(direct, {
      label: `GET /v1/device/challenges${suffix}`,
      url: `${base}/v1/device/challenges`,
      next: () => ({ headers: { authorization: `Bearer ${readUsers[i++ % readUsers.length]?.token}` } }),
      connections: c,
      seconds: s,
    }),
  );
  // Idle objects from the read lines (the 60 pending challenges' long-polls) are gone before creating.
  await sleep(P.creationSettleMs);
  results.push(
    await measured(direct, {
      label: `POST /v1/challenges${suffix}`,
      url: `${base}/v1/challenges`,
      method: "POST",
      headers: { ...key, "content-type": "application/json" },
      next: () => ({
        body: JSON.stringify({ user_id: createUsers[i++ % createUsers.length]?.userId, ttl_seconds: 10 }),
      }),
      connections: c,
      seconds: s,
    }),
  );
  const rsaUsers = ctx.rsaUsers;
  // The first creation line's objects (and their expiry alarms) are out of the way of the second.
  if (rsaUsers.length) await sleep(P.creationSettleMs);
  if (rsaUsers.length)
    results.push(
      await measured(direct, {
        label: `POST /v1/challenges, RSA-OAEP devices${suffix}`,
        url: `${base}/v1/challenges`,
        method: "POST",
        headers: { ...key, "content-type": "application/json" },
        next: () => ({
          body: JSON.stringify({ user_id: rsaUsers[i++ % rsaUsers.length]?.userId, ttl_seconds: 10 }),
        }),
        connections: c,
        seconds: s,
      }),
    );
  // The next variant's device lists should see the same one pending challenge per user, not two.
  for (const id of ids) await api.call("DELETE", `/v1/challenges/${id}`);
  // Its challenges (ttl 10 s) expire now: let their alarms run before anything else is measured.
  await sleep(P.settleMs);
  return results;
}

async function endpointSet(
  ctx: Ctx,
  floorUrl: string,
  tag: string,
  open: (v: Variant) => Promise<Opened>,
): Promise<void> {
  const c = P.connections;
  const s = P.seconds;
  const direct = !tag.startsWith("wrangler dev");
  const floorBefore = await measured(direct, {
    label: `floor GET / (${tag})`,
    url: `${floorUrl}/`,
    connections: c,
    seconds: s,
  });
  const results: Measured[] = [];
  const posts: [Variant, Measured][] = [];
  for (const v of variants) {
    const service = await open(v);
    try {
      const rs = await endpointLoads(ctx, service.base, variants.length > 1 ? ` [${v.tag}]` : "", direct);
      results.push(...rs);
      // The target is stated for the common case, ECIES-P256 (every iPhone, recent Android).
      const post = rs.find((r) => r.label.startsWith("POST /v1/challenges") && !r.label.includes("RSA"));
      if (post) posts.push([v, post]);
    } finally {
      await service.close();
    }
  }
  const floorAfter = await measured(direct, {
    label: `floor GET / (${tag}, after)`,
    url: `${floorUrl}/`,
    connections: c,
    seconds: s,
  });
  const floor = {
    rps: (floorBefore.rps + floorAfter.rps) / 2,
    p50: (floorBefore.p50 + floorAfter.p50) / 2,
    p99: (floorBefore.p99 + floorAfter.p99) / 2,
  };
  out();
  out(
    `### ${tag}: ${c} connections, ${s} s each (latency in ms; ratios against the mean of the two floor runs)`,
  );
  out();
  out(LOAD_HEADER);
  out(row(floorBefore, floor));
  for (const r of results) out(row(r, floor));
  out(row(floorAfter, floor));
  for (const [v, post] of posts) {
    out();
    if (post.requests === 0) {
      out(
        `Target (DESIGN §7)${variants.length > 1 ? ` [${v.tag}]` : ""}: no POST /v1/challenges completed in the run.`,
      );
      continue;
    }
    out(
      `Target (DESIGN §7)${variants.length > 1 ? ` [${v.tag}]` : ""}: POST /v1/challenges ≥ 0.50 × floor throughput → ${fmt(post.rps / floor.rps, 2)} ` +
        `(${post.rps / floor.rps >= 0.5 ? "met" : "missed"}); p99 ≤ 3 × floor p99 → ${fmt(post.p99 / Math.max(floor.p99, 1), 1)} × ` +
        `(${post.p99 <= 3 * Math.max(floor.p99, 1) ? "met" : "missed"}).`,
    );
  }
  for (const r of results)
    check(r.status5xx === 0 && r.errors === 0, `${tag} ${r.label}: no 5xx, no socket errors${errorsSeen(r)}`);
}

async function endpoints(ctx: Ctx): Promise<void> {
  out();
  out("## 1. Floor vs endpoints");
  out();
  out(
    "Same load tool (autocannon, in this process), same concurrency and duration for every line. " +
      "`wrangler dev` = the real `wrangler dev` (its proxy Worker in front of the user Worker); " +
      "`workerd direct` = the same code in Miniflare with no proxy (the service bundled by esbuild, same persisted state)." +
      (BASELINE
        ? ` Each endpoint runs first on \`${BASELINE.ref}\` ([before]), then on this tree ([after]).`
        : ""),
  );
  await endpointSet(ctx, ctx.floor.baseUrl, "wrangler dev", async (v) => {
    const dev = await serviceDev(ctx, v);
    return { base: dev.baseUrl, close: async () => await closeServiceDev(ctx, dev) };
  });
  // Direct: the service's wrangler dev must be down (one workerd per state directory).
  await ctx.dev.stop();
  const floorDirect = await startDirect("floor");
  try {
    await endpointSet(ctx, floorDirect.baseUrl, "workerd direct (Miniflare)", async (v) => {
      const d = await startDirect("service", ctx.stateDir, v.root, v.tag);
      return { base: d.baseUrl, close: () => d.stop() };
    });
  } finally {
    await floorDirect.stop();
    await ctx.dev.restart();
  }
}

// ───────────────────────────── where the time goes ─────────────────────────────

interface ProfTrace {
  route: string;
  ms: number;
  steps: { what: string; ms: number }[];
}

/** Per route: requests, median in-Worker ms, and each call's count per request and median ms. */
interface RouteProfile {
  requests: number;
  ms: number;
  calls: Map<string, { perRequest: number; ms: number }>;
}

/** How many calls of a kind one request of a route makes, the answer-blocking ones only. */
function countOf(r: RouteProfile, kind: (what: string) => boolean): number {
  let n = 0;
  for (const [what, c] of r.calls) if (kind(what) && !what.startsWith("after the answer")) n += c.perRequest;
  return n;
}
const isD1 = (w: string) => /\bD1 (batch|all|first|run|raw)\b/.test(w);
const isDoHop = (w: string) => /\bDO rpc\b/.test(w);
const isKv = (w: string) => /\bKV\./.test(w);
const isAfter = (w: string) => w.startsWith("after the answer") && (isD1(w) || isDoHop(w));

/** One variant's profile: the real Worker with its bindings timed, on the service's port and state. */
async function profileOne(ctx: Ctx, v: Variant): Promise<Map<string, RouteProfile>> {
  const config = path.join(
    REPO_ROOT,
    "bench",
    "out",
    `profile-${v === CURRENT ? "current" : "baseline"}.wrangler.toml`,
  );
  mkdirSync(path.dirname(config), { recursive: true });
  const main = readFileSync(path.join(v.root, "wrangler.toml"), "utf8")
    .replace(/^name = .*$/m, 'name = "encrypxon-profile"')
    .replace(/^main = .*$/m, `main = "${path.join(v.root, "bench", "profile", "index.ts")}"`)
    .replace(/^migrations_dir = .*$/m, `migrations_dir = "${path.join(REPO_ROOT, "migrations")}"`);
  writeFileSync(config, main);
  await ctx.dev.stop();
  const dev = await startDev({
    config: path.relative(REPO_ROOT, config),
    stateDir: ctx.stateDir,
    logFile: path.join(ctx.tmp, "profile.log"),
    port: ctx.dev.port,
  });
  const n = P.profileFlows;
  try {
    const user = ctx.users[ctx.users.length - 1];
    if (!user) throw new Error("no users");
    await fetch(`${dev.baseUrl}/__profile`).then((r) => r.arrayBuffer());
    for (let i = 0; i < n; i++) {
      const c = await ctx.api.must("POST", "/v1/challenges", { user_id: user.userId, ttl_seconds: 30 });
      const id = String(c.id);
      await user.device.respond(id, "approve");
      // Resolved by now, so the long-poll answers at once: the calls it makes, without its wait.
      await ctx.api.must("GET", `/v1/challenges/${id}?wait=5`);
      await ctx.api.must("GET", "/v1/audit");
      // Calls the Worker left running after its answer (notify) land in their request's trace.
      await sleep(20);
    }
    const traces = (await (await fetch(`${dev.baseUrl}/__profile`)).json()) as ProfTrace[];
    const byRoute = new Map<string, ProfTrace[]>();
    for (const t of traces) byRoute.set(t.route, [...(byRoute.get(t.route) ?? []), t]);
    const profiles = new Map<string, RouteProfile>();
    for (const [route, ts] of byRoute) {
      const steps = new Map<string, number[]>();
      for (const t of ts) for (const s of t.steps) steps.set(s.what, [...(steps.get(s.what) ?? []), s.ms]);
      profiles.set(route, {
        requests: ts.length,
        ms: summary(ts.map((t) => t.ms)).p50,
        calls: new Map(
          [...steps].map(([what, ms]) => [what, { perRequest: ms.length / ts.length, ms: summary(ms).p50 }]),
        ),
      });
    }
    return profiles;
  } finally {
    await dev.stop();
    await ctx.dev.restart();
  }
}

/**
 * The real Worker with its bindings timed (bench/profile), on the same port and state, one request at
 * a time: how many D1 round trips, KV calls, DO hops and DO storage calls each route makes, and their time.
 */
async function profile(ctx: Ctx): Promise<void> {
  const results: [Variant, Map<string, RouteProfile>][] = [];
  for (const v of variants) results.push([v, await profileOne(ctx, v)]);
  const n = P.profileFlows;
  out();
  out("## Where the time goes (one request at a time, bindings timed inside workerd)");
  out();
  out(
    `bench/profile wraps src/index.ts's bindings (D1, KV, DO stubs, DO storage) with timers; ${n} sequential flows ` +
      "(create, device list + answer, the app's long-poll read once resolved, audit page) under `wrangler dev`. " +
      "Per route: median in-Worker time, then each call it makes: calls per request × median ms. Calls made inside " +
      "a Durable Object are marked ›; calls still running after the answer went out (the notify hand-off, in " +
      "waitUntil) are marked as such and not counted as round trips of the request." +
      (BASELINE ? ` Each table is one build: \`${BASELINE.ref}\` ([before]) and this tree ([after]).` : ""),
  );
  if (results.length > 1) {
    out();
    out("Round trips each request waits for (before → after):");
    out();
    out("| route | D1 round trips | KV calls | DO hops | after the answer (D1 + DO) | median ms in Worker |");
    out("|---|---:|---:|---:|---:|---:|");
    const [before, after] = [results[0]?.[1], results[1]?.[1]];
    for (const [route, a] of after ?? []) {
      const b = before?.get(route);
      const pair = (f: (r: RouteProfile) => number) => `${b ? fmt(f(b), 1) : "–"} → ${fmt(f(a), 1)}`;
      out(
        `| ${route} | ${pair((r) => countOf(r, isD1))} | ${pair((r) => countOf(r, isKv))} | ` +
          `${pair((r) => countOf(r, isDoHop))} | ${pair((r) => [...r.calls].reduce((t, [w, c]) => t + (isAfter(w) ? c.perRequest : 0), 0))} | ` +
          `${pair((r) => r.ms)} |`,
      );
    }
  }
  for (const [v, profiles] of results) {
    out();
    if (results.length > 1) out(`### [${v.tag}]`);
    out();
    out("| route | requests | median ms in Worker | calls per request (× median ms) |");
    out("|---|---:|---:|---|");
    for (const [route, r] of profiles) {
      const parts = [...r.calls].map(
        ([what, c]) =>
          `${what.includes("DO storage") ? "› " : ""}${fmt(c.perRequest, 1)}× ${what} (${fmt(c.ms, 1)})`,
      );
      out(`| ${route} | ${r.requests} | ${fmt(r.ms, 1)} | ${parts.join("<br>")} |`);
    }
  }
}

// ───────────────────────────── the cost of an object per challenge ─────────────────────────────

const PROBES = [
  ["no object (floor)", "/none"],
  ["one D1 batch (3 inserts), no object", "/d1"],
  ["put + setAlarm on a NEW object per request", "/new"],
  ["… and then the object's D1 batch (create's minimum)", "/new-d1"],
  ["put + setAlarm on one of 50 existing objects", "/reuse"],
  ["… and then the object's D1 batch", "/reuse-d1"],
] as const;

async function probeRows(base: string, direct: boolean): Promise<Measured[]> {
  const rows: Measured[] = [];
  for (const [label, p] of PROBES) {
    const creates = p.startsWith("/new");
    rows.push(
      await measured(direct, {
        label,
        url: `${base}${p}`,
        connections: P.connections,
        seconds: P.seconds,
        ...(creates && { maxRequests: P.newObjectsPerLine }),
      }),
    );
    // Requests still queued when the load stopped would land in the next line: wait them out.
    await fetch(`${base}${p}`, { signal: AbortSignal.timeout(60_000) }).then((r) => r.arrayBuffer());
    // …and the objects a line created leave memory before the next line.
    if (creates) await sleep(P.creationSettleMs);
  }
  return rows;
}

/**
 * How many new objects one workerd process holds before creating another fails, and how long after
 * that the capacity comes back on its own: 20 at a time until the first 5xx (or capacityMax), then one
 * new object a second until it succeeds again.
 */
async function probeCapacity(
  base: string,
): Promise<{ created: number; failed: string | null; backAfterS: number | null }> {
  let created = 0;
  let failed: string | null = null;
  const started = Date.now();
  while (failed === null && created < P.capacityMax && Date.now() - started < 120_000) {
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(`${base}/new`).then(async (r) => ({ status: r.status, body: await r.text() })),
      ),
    );
    created += answers.filter((a) => a.status === 200).length;
    const bad = answers.find((a) => a.status !== 200);
    if (bad) failed = `${bad.status} ${bad.body.replace(/\s+/g, " ").slice(0, 120)}`;
  }
  if (failed === null) return { created, failed, backAfterS: null };
  const t0 = Date.now();
  while (Date.now() - t0 < 90_000) {
    await sleep(1_000);
    if ((await fetch(`${base}/new`)).status === 200)
      return { created, failed, backAfterS: (Date.now() - t0) / 1000 };
  }
  return { created, failed, backAfterS: null };
}

/** Disk system calls per request of each probe, sequentially, straight against workerd (if strace can). */
async function probeSyscalls(ctx: Ctx, base: string): Promise<void> {
  const pids = workerdPids();
  if (!straceAvailable() || pids.length === 0) {
    out();
    out("(System-call counts skipped: strace is not available here.)");
    return;
  }
  const n = QUICK ? 10 : 100;
  const lines: string[] = [];
  for (const [label, p] of PROBES) {
    if (p.endsWith("-d1") && p !== "/new-d1") continue;
    const counts = await countSyscalls(
      pids,
      path.join(ctx.tmp, `strace${p.replace("/", "-")}.txt`),
      n,
      async () => {
        for (let i = 0; i < n; i++) await fetch(`${base}${p}`).then((r) => r.arrayBuffer());
      },
    );
    if (!counts) {
      out();
      out("(System-call counts skipped: strace could not attach to workerd.)");
      return;
    }
    const c = (k: string) => fmt(counts.perRequest[k] ?? 0, 1);
    lines.push(
      `| ${label} | ${c("openat")} | ${c("fsync")} | ${c("fdatasync")} | ${c("pwrite64")} | ${c("fcntl")} | ${c("unlink")} | ${fmt(counts.msPerRequest, 2)} |`,
    );
  }
  out();
  out(
    `Disk system calls workerd makes per request (\`strace -f -c\` on its processes, ${n} sequential requests each, straight against workerd; ` +
      "the last column is the time inside them as strace measures it, which it inflates):",
  );
  out();
  out("| request | openat | fsync | fdatasync | pwrite64 | fcntl | unlink | ms in these calls |");
  out("|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const l of lines) out(l);
}

async function doCost(ctx: Ctx): Promise<void> {
  out();
  out("## Why POST /v1/challenges is slow locally: a new Durable Object per challenge");
  out();
  out(
    `bench/do, ${P.connections} connections, ${P.seconds} s each, ratios against its own \`/none\`: the two storage calls ` +
      "ChallengeObject.create makes (put + setAlarm) on a brand-new SQLite-backed object per request (as one object per challenge does) " +
      "or on one of 50 objects that already exist, each with and without a 3-insert D1 batch like the one a challenge writes. " +
      "`/new-d1` is the floor of this design: no routing, auth, reads or crypto.",
  );
  const modes: [string, () => Promise<{ base: string; close(): Promise<void> }>][] = [
    [
      "wrangler dev",
      async () => {
        const stateDir = path.join(ctx.tmp, "do-state");
        mkdirSync(stateDir, { recursive: true });
        const dev = await startDev({
          config: "bench/do/wrangler.toml",
          stateDir,
          logFile: path.join(ctx.tmp, "do.log"),
        });
        return { base: dev.baseUrl, close: () => dev.stop() };
      },
    ],
    [
      "workerd direct (Miniflare)",
      async () => {
        const stateDir = path.join(ctx.tmp, "do-direct", "state");
        mkdirSync(stateDir, { recursive: true });
        const d = await startDirect("probe", stateDir);
        return { base: d.baseUrl, close: () => d.stop() };
      },
    ],
  ];
  for (const [tag, open] of modes) {
    const probe = await open();
    try {
      const rows = await probeRows(probe.base, tag.startsWith("workerd direct"));
      const floor = rows[0] ?? { rps: 1, p50: 1, p99: 1 };
      out();
      out(`### ${tag}`);
      out();
      out(LOAD_HEADER);
      for (const r of rows) out(row(r, floor));
      for (const r of rows)
        check(
          r.status5xx === 0 && r.errors === 0,
          `bench/do ${tag} ${r.label}: no 5xx, no socket errors${errorsSeen(r)}`,
        );
      // After the load, so the 50 long-lived objects exist.
      if (tag.startsWith("workerd direct")) {
        await probeSyscalls(ctx, probe.base);
        await sleep(P.creationSettleMs);
        const cap = await probeCapacity(probe.base);
        out();
        out(
          cap.failed === null
            ? `Capacity: ${cap.created.toLocaleString("en")} new objects created 20 at a time without a failure (the line stops there).`
            : `Capacity: one workerd process held ${cap.created.toLocaleString("en")} new objects (created 20 at a time) before the next creation failed ` +
                `(\`${cap.failed}\`); ` +
                (cap.backAfterS === null
                  ? "creating worked again only after more than 90 s."
                  : `creating worked again ${fmt(cap.backAfterS, 0)} s later, once idle objects had left memory.`),
        );
      }
    } finally {
      await probe.close();
    }
  }
}

// ───────────────────────────── 2. round trip ─────────────────────────────

interface Flow {
  total: number;
  create: number;
  /** Poll: the device's list + answer calls. Socket: POST returned → the device showed it. */
  device: number;
}

/**
 * How the device learns of a challenge: it lists right after the POST returns (a poll that always hits),
 * or a watcher on its live channel (`watch` from packages/device) takes it from the event.
 */
type RtMode = "poll" | "socket";

/** One user's watcher: when its device showed and answered each challenge (by id). */
interface Watcher {
  slot(id: string): WatchSlot;
  drop(id: string): void;
  stop(): Promise<void>;
}
interface WatchSlot {
  shown: Promise<number>;
  answered: Promise<number>;
  settle(kind: "shown" | "answered", at: number | Error): void;
}

function newSlot(): WatchSlot {
  const make = () => {
    let settle!: (v: number | Error) => void;
    const p = new Promise<number>((resolve, reject) => {
      settle = (v) => (v instanceof Error ? reject(v) : resolve(v));
    });
    p.catch(() => undefined);
    return { p, settle };
  };
  const shown = make();
  const answered = make();
  return {
    shown: shown.p,
    answered: answered.p,
    settle: (kind, at) => (kind === "shown" ? shown.settle(at) : answered.settle(at)),
  };
}

/** A watcher per user that approves whatever it is shown; resolves once every socket said hello. */
async function startWatchers(users: User[]): Promise<Map<string, Watcher>> {
  const watchers = new Map<string, Watcher>();
  await Promise.all(
    users.map(async (u) => {
      const slots = new Map<string, WatchSlot>();
      const slot = (id: string) => {
        let s = slots.get(id);
        if (!s) {
          s = newSlot();
          slots.set(id, s);
        }
        return s;
      };
      const ac = new AbortController();
      let connected!: () => void;
      const hello = new Promise<void>((r) => {
        connected = r;
      });
      const done = watch(u.device, {
        signal: ac.signal,
        decide: () => "approve",
        initialBackoffMs: 100,
        onEvent: (e) => {
          const at = performance.now();
          if (e.event === "connected") connected();
          else if (e.event === "challenge") slot(e.challenge.id).settle("shown", at);
          else if (e.event === "answered") slot(e.id).settle("answered", at);
          else if (e.event === "answer_failed" || e.event === "refused") {
            const why = new Error(`${e.id}: ${e.event === "refused" ? e.reason : e.error}`);
            slot(e.id).settle("shown", why);
            slot(e.id).settle("answered", why);
          }
        },
      });
      await Promise.race([
        hello,
        sleep(15_000).then(() => Promise.reject(new Error(`${u.userId}: no hello`))),
      ]);
      watchers.set(u.userId, {
        slot,
        drop: (id) => slots.delete(id),
        stop: async () => {
          ac.abort();
          await done;
        },
      });
    }),
  );
  return watchers;
}

/** create → device fetches, decrypts, answers → the app's long-poll returns `approved`. */
async function oneFlow(api: Api, user: User, watcher: Watcher | undefined): Promise<Flow> {
  const t0 = performance.now();
  const created = await api.must("POST", "/v1/challenges", { user_id: user.userId, ttl_seconds: 60 });
  const id = String(created.id);
  const t1 = performance.now();
  const poll = api.call("GET", `/v1/challenges/${id}?wait=25`);
  // Handled at once so a failed answer cannot become an unhandled rejection while we wait on the poll.
  let deviceError: unknown = null;
  const slot = watcher?.slot(id);
  const answered = (
    slot
      ? slot.shown.then((shown) => slot.answered.then(() => shown))
      : user.device.respond(id, "approve").then(() => performance.now())
  ).then(
    (t) => t,
    (e: unknown) => {
      deviceError = e;
      return Number.NaN;
    },
  );
  let result = await poll;
  // The long-poll can land before the answer only if it timed out; then ask again (counted in the time).
  while (deviceError === null && result.status === 200 && result.body.status === "pending") {
    result = await api.call("GET", `/v1/challenges/${id}?wait=25`);
  }
  const t2 = performance.now();
  const t3 = await answered;
  watcher?.drop(id);
  if (deviceError !== null) throw deviceError;
  if (result.body.status !== "approved")
    throw new Error(`flow ${id}: ${result.status} ${JSON.stringify(result.body)}`);
  return { total: t2 - t0, create: t1 - t0, device: t3 - t1 };
}

async function roundTrip(ctx: Ctx): Promise<void> {
  out();
  out("## 2. Round trip");
  out();
  out(
    "Per flow: `POST /v1/challenges` → the device (packages/device: GET /v1/device/challenges, ECIES-P256 decrypt, " +
      "POST …/response) while the app waits on `GET /v1/challenges/{id}?wait=25` → that long-poll returns `approved`. " +
      "**poll**: the device lists the moment the POST returns (a poll that always finds it: the best case of polling). " +
      "**socket**: the device runs `watch` on its live channel (`GET /v1/device/connect`), as a phone with the app open does: " +
      "the `challenge.created` event carries the device's entry, which it decrypts, checks and answers without listing " +
      "(a server whose event carries no entry, such as a `--baseline` build from before that, is listed instead). " +
      `Each concurrent user has its own device and runs flows back to back; a level stops at ${P.rtFlows} flows or ${P.rtSeconds} s, whichever comes first. ` +
      "`wrangler dev` lines go through its proxy; `workerd direct` lines run the same bundle in Miniflare on the same state, " +
      "with their own users enrolled through it (a device talks to the origin it enrolled with).",
  );
  const tagged = variants.length > 1;
  if (tagged) {
    out();
    out(
      `Each line runs first on \`${BASELINE?.ref}\` ([before]) then on this tree ([after]), on the same port and state.`,
    );
  }
  out();
  out(
    `| runtime | device | concurrent users |${tagged ? " build |" : ""} flows | wall s | flows/s | p50 ms | p90 ms | p99 ms | max ms | create p50 | device p50 | errors |`,
  );
  out(`|---|---|---:|${tagged ? "---|" : ""}---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`);
  const modes: RtMode[] = ["poll", "socket"];
  for (const mode of modes) {
    for (const level of P.rtLevels) {
      for (const v of variants) {
        const dev = await serviceDev(ctx, v);
        try {
          await roundTripLevel(ctx.api, ctx.users, "wrangler dev", mode, level, tagged ? ` ${v.tag} |` : "");
        } finally {
          await closeServiceDev(ctx, dev);
        }
      }
    }
  }
  // Straight against workerd: the service's wrangler dev must be down (one runtime per state directory).
  await ctx.dev.stop();
  try {
    let users: User[] | null = null;
    // Every build on the first one's port: the devices enrolled through it keep that origin.
    let port: number | undefined;
    for (const v of variants) {
      const d = await startDirect("service", ctx.stateDir, v.root, v.tag, port);
      port ??= d.port;
      try {
        const api = new Api(d.baseUrl, ctx.apiKey);
        users ??= await enrollUsers(
          api,
          path.join(ctx.tmp, "devices-direct"),
          "bench-direct",
          Math.max(...P.rtLevels),
        );
        for (const mode of modes)
          for (const level of P.rtLevels)
            await roundTripLevel(api, users, "workerd direct", mode, level, tagged ? ` ${v.tag} |` : "");
      } finally {
        await d.stop();
      }
    }
  } finally {
    await ctx.dev.restart();
  }
  out();
  out(
    "device p50: poll, the device's two calls (list + answer) as it sees them; socket, from the POST's return to the device " +
      "showing the challenge (event, decrypt, and the listing where the event carried no entry; negative when the event came before the POST's answer).",
  );
}

async function roundTripLevel(
  api: Api,
  all: User[],
  runtime: string,
  mode: RtMode,
  level: number,
  buildCell: string,
): Promise<void> {
  const users = all.slice(0, Math.min(level, all.length));
  const watchers = mode === "socket" ? await startWatchers(users) : null;
  const flows: Flow[] = [];
  let errors = 0;
  let started = 0;
  const t0 = performance.now();
  const deadline = Date.now() + P.rtSeconds * 1000;
  try {
    await Promise.all(
      users.map(async (u) => {
        while (started < P.rtFlows && Date.now() < deadline) {
          started++;
          try {
            flows.push(await oneFlow(api, u, watchers?.get(u.userId)));
          } catch (err) {
            errors++;
            if (errors <= 3) console.error(err);
          }
        }
      }),
    );
  } finally {
    if (watchers) await Promise.all([...watchers.values()].map((w) => w.stop()));
  }
  const wall = (performance.now() - t0) / 1000;
  const t = summary(flows.map((f) => f.total));
  out(
    `| ${runtime} | ${mode} | ${users.length} |${buildCell} ${t.n} | ${fmt(wall)} | ${fmt(t.n / wall)} | ${fmt(t.p50)} | ${fmt(t.p90)} | ${fmt(t.p99)} | ${fmt(t.max)} | ` +
      `${fmt(summary(flows.map((f) => f.create)).p50)} | ${fmt(summary(flows.map((f) => f.device)).p50)} | ${errors} |`,
  );
  const where = `${runtime}, ${mode}, ${users.length} users${buildCell ? ` [${buildCell.replace(" |", "").trim()}]` : ""}`;
  check(errors === 0 && t.n > 0, `round trip (${where}): every flow approved`);
}

// ───────────────────────────── 3. crypto ─────────────────────────────

async function cryptoCost(ctx: Ctx): Promise<void> {
  const dev = await startDev({
    config: "bench/crypto/wrangler.toml",
    logFile: path.join(ctx.tmp, "crypto.log"),
  });
  try {
    out();
    out("## 3. Crypto cost inside workerd");
    out();
    out(
      `One request runs n = ${P.cryptoN} iterations back to back in the bench Worker bench/crypto (under \`wrangler dev\`); ` +
        "µs/op = (best of 3 wall times at n − best of 3 at n = 0) ÷ n, measured from outside; the last column is the same work timed inside with performance.now() (coarse in workerd, a cross-check). " +
        "`service` = what POST /v1/challenges does per device (the key from the per-isolate cache + encryptForDevice); `import` = importStoredKey alone, what a cache miss adds; " +
        "`raw` = the bare WebCrypto calls of the encryption with the key already imported.",
    );
    out();
    out(
      "| key format | service µs/op | import µs/op | raw µs/op | service ÷ raw | inside-clock ms (service) |",
    );
    out("|---|---:|---:|---:|---:|---:|");
    const timeIt = async (format: string, op: string, n: number) => {
      let best = Number.POSITIVE_INFINITY;
      let inside = 0;
      for (let k = 0; k < 3; k++) {
        const t0 = performance.now();
        const res = await fetch(`${dev.baseUrl}/?format=${format}&op=${op}&n=${n}`);
        const body = (await res.json()) as { inside_ms: number };
        const ms = performance.now() - t0;
        if (!res.ok) throw new Error(`crypto bench ${format}/${op}: HTTP ${res.status}`);
        if (ms < best) {
          best = ms;
          inside = body.inside_ms;
        }
      }
      return { best, inside };
    };
    for (const format of ["ecies-p256", "rsa-oaep-sha1", "rsa-oaep-sha256"]) {
      const per: Record<string, number> = {};
      let insideService = 0;
      for (const op of ["service", "import", "raw"]) {
        await timeIt(format, op, 1); // warm: key generation, JIT
        const zero = await timeIt(format, op, 0);
        const many = await timeIt(format, op, P.cryptoN);
        per[op] = ((many.best - zero.best) * 1000) / P.cryptoN;
        if (op === "service") insideService = many.inside;
      }
      out(
        `| ${format} | ${fmt(per.service ?? 0, 0)} | ${fmt(per.import ?? 0, 0)} | ${fmt(per.raw ?? 0, 0)} | ` +
          `${fmt((per.service ?? 0) / Math.max(per.raw ?? 1, 1), 2)} | ${fmt(insideService, 1)} |`,
      );
    }
  } finally {
    await dev.stop();
  }
}

// ───────────────────────────── 5. load with nothing lost ─────────────────────────────

interface Tracked {
  id: string;
  expect: "approved" | "denied" | "cancelled" | "expired";
  expiresAt: number;
}

async function sustained(ctx: Ctx): Promise<void> {
  out();
  out("## 5. Sustained mixed load, nothing lost");
  out();
  const workers = ctx.users.slice(0, Math.min(P.loadWorkers, ctx.users.length));
  out(
    `${workers.length} virtual users for ${P.loadSeconds} s, each in a loop: create a challenge (ttl 10 s), then by turn ` +
      "the device approves (55 %), denies (15 %), the app cancels (15 %) or nobody answers (15 %, left to expire); every 5th turn also lists the audit log.",
  );
  const tracked: Tracked[] = [];
  const statuses = new Map<number, number>();
  let netErrors = 0;
  const count = (s: number) => statuses.set(s, (statuses.get(s) ?? 0) + 1);
  const deadline = Date.now() + P.loadSeconds * 1000;
  const maxTurns = P.loadSeconds * 200; // a count bound on top of the time bound
  let turns = 0;
  await Promise.all(
    workers.map(async (u) => {
      while (Date.now() < deadline && turns < maxTurns) {
        const turn = turns++;
        try {
          const c = await ctx.api.call("POST", "/v1/challenges", { user_id: u.userId, ttl_seconds: 10 });
          count(c.status);
          if (c.status !== 201) continue;
          const id = String(c.body.id);
          const expiresAt = Date.parse(String(c.body.expires_at));
          const k = turn % 20;
          if (k < 11) {
            await u.device.respond(id, "approve");
            tracked.push({ id, expect: "approved", expiresAt });
          } else if (k < 14) {
            await u.device.respond(id, "deny");
            tracked.push({ id, expect: "denied", expiresAt });
          } else if (k < 17) {
            const d = await ctx.api.call("DELETE", `/v1/challenges/${id}`);
            count(d.status);
            tracked.push({ id, expect: "cancelled", expiresAt });
          } else {
            tracked.push({ id, expect: "expired", expiresAt });
          }
          if (turn % 5 === 0) count((await ctx.api.call("GET", "/v1/audit?limit=20")).status);
        } catch (err) {
          netErrors++;
          if (netErrors <= 3) console.error(err);
        }
      }
    }),
  );
  const lastExpiry = Math.max(0, ...tracked.map((t) => t.expiresAt));
  // Expiry is the objects' alarms' job: wait it out, then read D1 before any API read could expire lazily.
  await sleep(Math.max(0, lastExpiry - Date.now()) + 3_000);
  const alarmDeadline = Date.now() + 60_000;
  const db = openD1(ctx.stateDir, true);
  const statusOf = db.prepare("SELECT status FROM challenges WHERE id = ?");
  const auditCount = db.prepare(
    "SELECT type, count(*) AS n FROM audit_events WHERE challenge_id = ? GROUP BY type",
  );
  let pendingInD1 = tracked.length;
  while (Date.now() < alarmDeadline) {
    pendingInD1 = tracked.filter(
      (t) => (statusOf.get(t.id) as { status: string } | undefined)?.status === "pending",
    ).length;
    if (pendingInD1 === 0) break;
    await sleep(1_000);
  }
  let wrongD1 = 0;
  let auditBad = 0;
  for (const t of tracked) {
    const s = (statusOf.get(t.id) as { status: string } | undefined)?.status;
    if (s !== t.expect) wrongD1++;
    const counts = new Map((auditCount.all(t.id) as { type: string; n: number }[]).map((r) => [r.type, r.n]));
    if (counts.get("challenge.created") !== 1 || counts.get("challenge.resolved") !== 1 || counts.size !== 2)
      auditBad++;
  }
  db.close();
  let apiNotTerminal = 0;
  for (const t of tracked) {
    const a = await ctx.api.call("GET", `/v1/challenges/${t.id}`);
    if (a.status !== 200 || !TERMINAL.has(String(a.body.status)) || a.body.status !== t.expect)
      apiNotTerminal++;
  }
  const fivexx = [...statuses].filter(([s]) => s >= 500).reduce((n, [, v]) => n + v, 0);
  out();
  out(
    `${tracked.length} challenges in ${turns} turns; HTTP statuses seen: ${[...statuses].map(([s, n]) => `${s}×${n}`).join(", ")}; ` +
      `client-side errors: ${netErrors}.`,
  );
  out();
  check(fivexx === 0, `zero 5xx (${fivexx})`);
  check(netErrors === 0, `no failed request on the client side (${netErrors})`);
  check(
    pendingInD1 === 0,
    `every challenge terminal in D1 after its expiry, by the alarms alone (still pending: ${pendingInD1})`,
  );
  check(wrongD1 === 0, `every challenge's D1 status is the outcome its driver caused (${wrongD1} differ)`);
  check(
    auditBad === 0,
    `every challenge has exactly one challenge.created and one challenge.resolved audit row (${auditBad} do not)`,
  );
  check(
    apiNotTerminal === 0,
    `GET /v1/challenges/{id} answers the same terminal state for every one (${apiNotTerminal} do not)`,
  );
}

// ───────────────────────────── 6. faults ─────────────────────────────

async function faults(ctx: Ctx): Promise<void> {
  out();
  out("## 6. Faults: wrangler dev killed and restarted mid-run");
  out();
  const n = Math.min(30, ctx.users.length);
  const users = ctx.users.slice(0, n);
  const ttl = P.faultTtl;
  const challenges: { user: User; id: string }[] = [];
  for (const u of users) {
    const b = await ctx.api.must("POST", "/v1/challenges", { user_id: u.userId, ttl_seconds: ttl });
    challenges.push({ user: u, id: String(b.id) });
  }
  // Thirds: answered before the crash, answered around/while it is down (retried after), never answered.
  const third = Math.floor(n / 3);
  const before = challenges.slice(0, third);
  const during = challenges.slice(third, 2 * third);
  const never = challenges.slice(2 * third);
  for (const c of before) await c.user.device.respond(c.id, "approve");
  // Enrollments in flight when the process dies.
  const enrollStore = new DeviceStore(path.join(ctx.tmp, "devices-fault"));
  const enrolling = Array.from({ length: 6 }, (_, i) =>
    enrollOne(ctx.api, enrollStore, `fault-enroll-${i}`, "ecies-p256").then(
      () => "enrolled",
      (e: unknown) => `failed: ${(e as Error).message.slice(0, 80)}`,
    ),
  );
  const answering = during.map((c) =>
    c.user.device.respond(c.id, "approve").then(
      () => "answered",
      (e: unknown) => `failed: ${describeError(e)}`,
    ),
  );
  await sleep(40);
  const killedAt = Date.now();
  await ctx.dev.stop("SIGKILL");
  const downAnswers = await Promise.all(
    never.slice(0, 3).map((c) =>
      c.user.device.respond(c.id, "approve").then(
        () => "answered (unexpected: the server is down)",
        (e: unknown) => `failed: ${describeError(e)}`,
      ),
    ),
  );
  const inFlight = await Promise.all(answering);
  const enrollOutcomes = await Promise.all(enrolling);
  await ctx.dev.restart();
  const downMs = Date.now() - killedAt;
  // Retry what did not land; a clean error before means the retry decides.
  let retried = 0;
  for (const [i, c] of during.entries()) {
    if (inFlight[i] === "answered") continue;
    retried++;
    try {
      await c.user.device.respond(c.id, "approve");
    } catch (e) {
      inFlight[i] = `retry failed: ${describeError(e)}`;
    }
  }
  const tally = (xs: string[]) => {
    const m = new Map<string, number>();
    for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
    return [...m].map(([k, v]) => `${v}× ${k}`).join("; ");
  };
  out(
    `- SIGKILL to the whole wrangler dev process group, restarted on the same port and state after ${fmt(downMs / 1000)} s.`,
  );
  out(`- answers in flight at the kill: ${tally(inFlight)} (${retried} retried after the restart)`);
  out(`- answers sent while it was down: ${tally(downAnswers)}`);
  out(`- enrollments in flight at the kill: ${tally(enrollOutcomes)}`);
  // Wait out every expiry, then look at D1 before the API (whose reads would expire lazily).
  await sleep(ttl * 1000 + 4_000 - (Date.now() - killedAt));
  const db = openD1(ctx.stateDir, true);
  const statusOf = db.prepare("SELECT status FROM challenges WHERE id = ?");
  let pending = never.length;
  const deadline = Date.now() + 45_000;
  while (Date.now() < deadline) {
    pending = never.filter((c) => (statusOf.get(c.id) as { status: string }).status === "pending").length;
    if (pending === 0) break;
    await sleep(1_000);
  }
  const st = (ids: { id: string }[]) => ids.map((c) => (statusOf.get(c.id) as { status: string }).status);
  const answeredOk = [...before, ...during].every(
    (c) => (statusOf.get(c.id) as { status: string }).status === "approved",
  );
  const dupAudit = db
    .prepare(
      `SELECT count(*) AS n FROM (SELECT challenge_id, type FROM audit_events WHERE challenge_id IS NOT NULL
       GROUP BY challenge_id, type HAVING count(*) > 1)`,
    )
    .get() as { n: number };
  const dupDeviceAudit = db
    .prepare(
      `SELECT count(*) AS n FROM (SELECT device_id, type FROM audit_events WHERE device_id IS NOT NULL
       AND type IN ('device.enrolled','device.activated') GROUP BY device_id, type HAVING count(*) > 1)`,
    )
    .get() as { n: number };
  // Enrollment ⇔ device consistency: claimed ⇔ a pending device; completed ⇔ an active device.
  const halfWritten = db
    .prepare(
      `SELECT
         (SELECT count(*) FROM enrollments e WHERE e.status IN ('claimed','completed')
            AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = e.device_id AND d.enrollment_id = e.id)) AS claimed_without_device,
         (SELECT count(*) FROM devices d WHERE NOT EXISTS
            (SELECT 1 FROM enrollments e WHERE e.id = d.enrollment_id AND e.device_id = d.id)) AS device_without_claim,
         (SELECT count(*) FROM devices d JOIN enrollments e ON e.id = d.enrollment_id
            WHERE (d.status = 'active') <> (e.status = 'completed')) AS status_mismatch,
         (SELECT count(*) FROM devices d WHERE NOT EXISTS (SELECT 1 FROM audit_events a
            WHERE a.device_id = d.id AND a.type = 'device.enrolled')) AS device_without_audit`,
    )
    .get() as Record<string, number>;
  const neverStates = st(never);
  db.close();
  out(
    `- never-answered challenges after their expiry, in D1: ${tally(neverStates)} (expired by the objects' alarms after the restart, no read needed)`,
  );
  check(
    answeredOk,
    "every challenge answered before, during (after retry) or around the crash is approved in D1",
  );
  check(pending === 0, "pending challenges survived the restart and expired on time by their alarms");
  check(dupAudit.n === 0, `no duplicated challenge audit rows (${dupAudit.n} challenge/type pairs twice)`);
  check(dupDeviceAudit.n === 0, `no duplicated device audit rows (${dupDeviceAudit.n})`);
  check(
    Object.values(halfWritten).every((v) => v === 0),
    `no half-written enrollment or device (${Object.entries(halfWritten)
      .map(([k, v]) => `${k}=${v}`)
      .join(", ")})`,
  );
  check(
    downAnswers.every((a) => a.startsWith("failed: ") && /ECONNREFUSED|fetch failed|network/i.test(a)),
    "an answer sent while down fails cleanly on the client (connection refused), nothing is corrupted",
  );
  let apiBad = 0;
  for (const c of challenges) {
    const a = await ctx.api.call("GET", `/v1/challenges/${c.id}`);
    if (!TERMINAL.has(String(a.body.status))) apiBad++;
  }
  check(apiBad === 0, `the API agrees: every challenge terminal (${apiBad} are not)`);
}

function describeError(e: unknown): string {
  const err = e as { message?: string; cause?: { code?: string; message?: string }; status?: number };
  return [err.cause?.code, err.status ? `HTTP ${err.status}` : undefined, err.message?.slice(0, 140)]
    .filter(Boolean)
    .join(" ");
}

// ───────────────────────────── 4. scale ─────────────────────────────

const PLAN_QUERIES: [string, string][] = [
  ["first page", "SELECT seq FROM audit_events WHERE app_id = ?1 ORDER BY seq DESC LIMIT 51"],
  ["user_id", "SELECT seq FROM audit_events WHERE app_id = ?1 AND user_id = ?2 ORDER BY seq DESC LIMIT 51"],
  [
    "type + outcome",
    "SELECT seq FROM audit_events WHERE app_id = ?1 AND type = ?2 AND outcome = ?3 ORDER BY seq DESC LIMIT 51",
  ],
  // The same shapes src/db/audit.ts listAudit builds for time filters (seq bounded through the time index).
  [
    "since",
    "SELECT seq FROM audit_events WHERE app_id = ?1 AND +created_at >= ?2 AND seq >= coalesce((SELECT seq FROM audit_events WHERE app_id = ?1 AND created_at >= ?2 - 60000 ORDER BY created_at LIMIT 1), 9e18) ORDER BY seq DESC LIMIT 51",
  ],
  [
    "until",
    "SELECT seq FROM audit_events WHERE app_id = ?1 AND +created_at < ?2 AND seq < coalesce((SELECT seq FROM audit_events WHERE app_id = ?1 AND created_at >= ?2 + 60000 ORDER BY created_at LIMIT 1), 9e18) ORDER BY seq DESC LIMIT 51",
  ],
  [
    "cursor",
    "SELECT seq FROM audit_events WHERE app_id = ?1 AND seq < (SELECT seq FROM audit_events WHERE app_id = ?1 AND id = ?2) ORDER BY seq DESC LIMIT 51",
  ],
  [
    "active devices of a user",
    "SELECT * FROM devices WHERE app_id = ?1 AND user_id = ?2 AND status = 'active' ORDER BY created_at",
  ],
  ["device by token", "SELECT * FROM devices WHERE token_hash = ?1 AND status = 'active'"],
  [
    "device's pending challenges",
    "SELECT c.id FROM challenge_deliveries d JOIN challenges c ON c.id = d.challenge_id WHERE d.device_id = ?1 AND c.app_id = ?2 AND c.status = 'pending' AND c.expires_at > ?3 ORDER BY c.created_at",
  ],
  [
    "device's pending challenges by token (GET /v1/device/challenges)",
    "SELECT c.id FROM devices dv JOIN challenges c ON c.app_id = dv.app_id AND c.status = 'pending' AND c.expires_at > ?2 JOIN challenge_deliveries d ON d.challenge_id = c.id AND d.device_id = dv.id WHERE dv.token_hash = ?1 AND dv.status = 'active' ORDER BY c.created_at",
  ],
];

const ID_CHARS = "0123456789abcdefghjkmnpqrstvwxyz";
function fakeId(prefix: string, n: number): string {
  let s = "";
  let v = n;
  for (let i = 0; i < 26; i++) {
    s = ID_CHARS[v % 32] + s;
    v = Math.floor(v / 32);
  }
  return `${prefix}_${s}`;
}

/**
 * Waits until the application's sealer has sealed (or checked and adopted) up to the newest audit
 * event, as `GET /v1/audit/verify` reports its head (each call also runs the sealer once); how long
 * that took. Throws after `timeoutMs`.
 */
async function untilSealed(
  ctx: Ctx,
  timeoutMs: number,
): Promise<{ ms: number; calls: number; newest: string | null }> {
  const t0 = performance.now();
  const page = await ctx.api.must("GET", "/v1/audit?limit=1");
  const newest = (page.data as { id: string }[] | undefined)?.[0]?.id ?? null;
  if (newest === null) return { ms: 0, calls: 0, newest };
  for (let calls = 1; ; calls++) {
    const v = await ctx.api.must("GET", "/v1/audit/verify?limit=1");
    if ((v.head as { event_id?: string } | null)?.event_id === newest) {
      return { ms: performance.now() - t0, calls, newest };
    }
    if (performance.now() - t0 > timeoutMs)
      throw new Error(`audit trail still unsealed after ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** Adds audit rows (and their challenges) up to `total`, plus `devices` enrolled devices, straight into SQLite. */
function seed(ctx: Ctx, total: number, devices: number): { auditRows: number } {
  const db = openD1(ctx.stateDir, false);
  const have = (db.prepare("SELECT count(*) AS n FROM audit_events").get() as { n: number }).n;
  const haveDevices = (
    db.prepare("SELECT count(*) AS n FROM devices WHERE name = 'seeded'").get() as { n: number }
  ).n;
  const now = Date.now();
  const insertEnr = db.prepare(
    "INSERT INTO enrollments (id, app_id, user_id, code_hash, status, device_id, created_at, expires_at, completed_at) VALUES (?, ?, ?, ?, 'completed', ?, ?, ?, ?)",
  );
  const insertDev = db.prepare(
    "INSERT INTO devices (id, app_id, user_id, enrollment_id, name, platform, key_format, public_key, token_hash, status, created_at, activate_by, activated_at) VALUES (?, ?, ?, ?, 'seeded', 'bench', 'ecies-p256', ?, ?, 'active', ?, ?, ?)",
  );
  const jwk = JSON.stringify({ kty: "EC", crv: "P-256", x: "seeded", y: "seeded" });
  db.transaction(() => {
    for (let i = haveDevices; i < devices; i++) {
      const t = now - 90 * 86_400_000 + i;
      const enr = fakeId("enr", 1e9 + i);
      const dev = fakeId("dev", 1e9 + i);
      insertEnr.run(
        enr,
        ctx.appId,
        `seeded-${i}`,
        `e${String(i).padStart(63, "0")}`,
        dev,
        t,
        t + 600_000,
        t + 1000,
      );
      insertDev.run(
        dev,
        ctx.appId,
        `seeded-${i}`,
        enr,
        jwk,
        `d${String(i).padStart(63, "0")}`,
        t,
        t + 600_000,
        t + 1000,
      );
    }
  })();
  const insertChl = db.prepare(
    "INSERT INTO challenges (id, app_id, user_id, status, context, created_at, expires_at, resolved_at, device_id) VALUES (?, ?, ?, ?, '{}', ?, ?, ?, ?)",
  );
  const insertAudit = db.prepare(
    "INSERT INTO audit_events (id, app_id, type, outcome, user_id, device_id, challenge_id, ip, detail, created_at, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  // Each row sealed as the service would seal it, continuing the application's chain (bench/lib/chain.ts).
  const chain = new ChainSeeder(db, ctx.appId);
  const audit = (e: SeedEvent) => {
    const { prev, hash } = chain.next(e);
    const detail = e.detail === null ? null : JSON.stringify(e.detail);
    insertAudit.run(
      e.id,
      e.app_id,
      e.type,
      e.outcome,
      e.user_id,
      e.device_id,
      e.challenge_id,
      e.ip,
      detail,
      e.created_at,
      prev,
      hash,
    );
  };
  const outcomes = [
    "approved",
    "approved",
    "approved",
    "approved",
    "approved",
    "approved",
    "approved",
    "approved",
    "denied",
    "expired",
  ];
  const span = 60 * 86_400_000;
  const toAdd = Math.max(0, total - have);
  // Older than anything the service wrote, spread over 60 days; pairs of created + resolved.
  const BATCH = 50_000;
  for (let start = 0; start < toAdd; start += BATCH) {
    db.transaction(() => {
      for (let j = start; j < Math.min(toAdd, start + BATCH); j += 2) {
        const k = have + j;
        const t = now - span - 3_600_000 + Math.floor((k / 2e6) * span);
        const u = (k / 2) % Math.max(1, devices);
        const user = `seeded-${u}`;
        const dev = fakeId("dev", 1e9 + u);
        const chl = fakeId("chl", 1e9 + k);
        const outcome = outcomes[(k / 2) % outcomes.length] ?? "approved";
        insertChl.run(
          chl,
          ctx.appId,
          user,
          outcome,
          t,
          t + 120_000,
          t + 5_000,
          outcome === "expired" ? null : dev,
        );
        const base = {
          app_id: ctx.appId,
          user_id: user,
          enrollment_id: null,
          challenge_id: chl,
          ip: "127.0.0.1",
        };
        audit({
          ...base,
          id: fakeId("evt", 2e9 + k),
          type: "challenge.created",
          outcome: "pending",
          device_id: null,
          detail: { devices: 1 },
          created_at: t,
        });
        if (j + 1 < toAdd) {
          audit({
            ...base,
            id: fakeId("evt", 2e9 + k + 1),
            type: "challenge.resolved",
            outcome,
            device_id: outcome === "expired" ? null : dev,
            detail: { wrong_answers: 0 },
            created_at: t + 5_000,
          });
        }
      }
    })();
  }
  const auditRows = (db.prepare("SELECT count(*) AS n FROM audit_events").get() as { n: number }).n;
  db.close();
  return { auditRows };
}

/**
 * The scale levels count audit rows from 10 k up, so they get a service and state of their own: in a
 * full run the other sections alone write more rows than the first level.
 */
async function scaleOnOwnState(main: Ctx): Promise<void> {
  const own = await openService(main.tmp, "scale-state", 11, 0);
  try {
    await scale({ ...main, ...own });
  } finally {
    await own.dev.stop();
  }
  const fivexx = own.dev
    .log()
    .split("\n")
    .filter((l) => /\b5\d\d\b/.test(l) && /\[wrangler:\w+\]/.test(l));
  check(fivexx.length === 0, `the scale section's wrangler dev logged no 5xx answer (${fivexx.length})`);
}

async function scale(ctx: Ctx): Promise<void> {
  out();
  out("## 4. Scale");
  out();
  out(
    `Audit rows (with their challenge rows) and ${P.scaleDevices.toLocaleString("en")} active devices written straight into the local D1 SQLite file ` +
      "(better-sqlite3, wrangler dev stopped meanwhile; the audit rows sealed into the application's hash chain, which the sealer checks and adopts before the measurements), then each query through the real API: autocannon, 10 connections, " +
      `${P.scaleSeconds} s each. Cost should stay flat as the table grows.`,
  );
  const key = { "x-api-key": ctx.apiKey };
  const user = ctx.users[ctx.users.length - 1];
  if (!user) throw new Error("no users");
  const lines: string[] = [];
  let plans = "";
  for (const level of P.scaleLevels) {
    // The seeder continues the chain from the newest event, so everything the service wrote must be
    // sealed first (GET /v1/audit seals before it reads).
    const seam = (await untilSealed(ctx, 60_000)).newest;
    await ctx.dev.stop();
    const t0 = performance.now();
    const { auditRows } = seed(ctx, level, P.scaleDevices);
    const seedS = (performance.now() - t0) / 1000;
    const db = openD1(ctx.stateDir, true);
    const mid = db
      .prepare("SELECT id, created_at FROM audit_events WHERE app_id = ? ORDER BY seq LIMIT 1 OFFSET ?")
      .get(ctx.appId, Math.floor(auditRows / 2)) as { id: string; created_at: number };
    if (level === P.scaleLevels[P.scaleLevels.length - 1]) {
      const bind: Record<string, unknown[]> = {
        "first page": [ctx.appId],
        user_id: [ctx.appId, user.userId],
        "type + outcome": [ctx.appId, "challenge.resolved", "denied"],
        since: [ctx.appId, mid.created_at],
        until: [ctx.appId, mid.created_at],
        cursor: [ctx.appId, mid.id],
        "active devices of a user": [ctx.appId, user.userId],
        "device by token": ["x"],
        "device's pending challenges": [fakeId("dev", 1e9), ctx.appId, Date.now()],
        "device's pending challenges by token (GET /v1/device/challenges)": ["x", Date.now()],
      };
      for (const [name, sql] of PLAN_QUERIES) {
        // better-sqlite3 binds plain `?` in order: expand D1's numbered ?N into that.
        const values = bind[name] ?? [];
        const order: unknown[] = [];
        const plain = sql.replace(/\?(\d+)/g, (_, d: string) => {
          order.push(values[Number(d) - 1]);
          return "?";
        });
        const plan = db.prepare(`EXPLAIN QUERY PLAN ${plain}`).all(...order) as {
          detail: string;
        }[];
        plans += `- ${name}: \`${plan.map((p) => p.detail).join(" → ")}\`\n`;
      }
    }
    db.close();
    await ctx.dev.restart();
    // The sealer trusts no seal it has not checked: it re-hashes the seeded rows (bounded runs, its
    // alarm in between) before the queries are measured, so they meet no backlog.
    const adopt = await untilSealed(ctx, 900_000);
    out(
      `- the audit sealer checked and adopted the seeded chain in ${fmt(adopt.ms / 1000)} s (${adopt.calls} verification calls while it did)`,
    );
    // …and the chain verifies across the seam between the service's rows and the seeded ones.
    const v = await ctx.api.must("GET", `/v1/audit/verify?limit=1000${seam ? `&cursor=${seam}` : ""}`);
    check(
      v.ok === true && Number(v.checked) > 0,
      `the seeded chain verifies across the seam (${String(v.checked)} events checked)`,
    );
    const base = ctx.dev.baseUrl;
    const since = encodeURIComponent(new Date(mid.created_at).toISOString());
    const specs: [string, string][] = [
      ["GET /v1/audit (first page)", "/v1/audit"],
      ["GET /v1/audit?user_id=…", `/v1/audit?user_id=${encodeURIComponent(user.userId)}`],
      [
        "GET /v1/audit?type=challenge.resolved&outcome=denied",
        "/v1/audit?type=challenge.resolved&outcome=denied",
      ],
      ["GET /v1/audit?since=<middle>", `/v1/audit?since=${since}`],
      ["GET /v1/audit?cursor=<middle>", `/v1/audit?cursor=${mid.id}`],
      ["GET /v1/audit?until=<middle>", `/v1/audit?until=${since}`],
    ];
    for (const [label, p] of specs) {
      const r = await load({
        label,
        url: `${base}${p}`,
        headers: key,
        connections: 10,
        seconds: P.scaleSeconds,
      });
      lines.push(
        `| ${auditRows.toLocaleString("en")} | ${label} | ${fmt(r.rps, 0)} | ${fmt(r.p50, 0)} | ${fmt(r.p99, 0)} | ${r.non2xx} |`,
      );
    }
    const deviceList = await load({
      label: "GET /v1/device/challenges",
      url: `${base}/v1/device/challenges`,
      headers: { authorization: `Bearer ${user.token}` },
      connections: 10,
      seconds: P.scaleSeconds,
    });
    lines.push(
      `| ${auditRows.toLocaleString("en")} | GET /v1/device/challenges | ${fmt(deviceList.rps, 0)} | ${fmt(deviceList.p50, 0)} | ${fmt(deviceList.p99, 0)} | ${deviceList.non2xx} |`,
    );
    let i = 0;
    const createUsers = ctx.users.slice(0, 10);
    const r = await load({
      label: "POST /v1/challenges",
      url: `${base}/v1/challenges`,
      method: "POST",
      headers: { ...key, "content-type": "application/json" },
      next: () => ({
        body: JSON.stringify({ user_id: createUsers[i++ % createUsers.length]?.userId, ttl_seconds: 10 }),
      }),
      connections: 10,
      seconds: P.scaleSeconds,
    });
    lines.push(
      `| ${auditRows.toLocaleString("en")} | POST /v1/challenges | ${fmt(r.rps, 0)} | ${fmt(r.p50, 0)} | ${fmt(r.p99, 0)} | ${r.non2xx} |`,
    );
    const seededDevice = await ctx.api.call("GET", `/v1/users/seeded-1/devices`);
    check(
      seededDevice.status === 200,
      `seeded state readable through the API at ${auditRows.toLocaleString("en")} rows`,
    );
    out(`- seeded to ${auditRows.toLocaleString("en")} audit rows in ${fmt(seedS)} s`);
    await sleep(P.settleMs); // let the creation load's challenges expire before the next level
  }
  out();
  out("| audit rows | request | req/s | p50 ms | p99 ms | non-2xx |");
  out("|---:|---|---:|---:|---:|---:|");
  for (const l of lines) out(l);
  out();
  out(
    `Query plans at ${P.scaleLevels[P.scaleLevels.length - 1]?.toLocaleString("en")} rows (SQLite ${"EXPLAIN QUERY PLAN"}):`,
  );
  out();
  out(plans.trimEnd());
}

// ───────────────────────────── main ─────────────────────────────

/**
 * The service under `wrangler dev` on a state of its own (`<tmp>/<name>`): one application whose rate
 * limits are raised out of the way, and users enrolled through the API with the reference device.
 */
async function openService(
  tmp: string,
  name: string,
  nUsers: number,
  nRsa: number,
): Promise<Omit<Ctx, "tmp" | "floor"> & { enrollSeconds: number }> {
  const stateDir = path.join(tmp, name);
  mkdirSync(stateDir);
  const app = await createApp(makeTarget({ persistTo: stateDir }), { name: "Bench Shop" });
  const dev = await startDev({ config: "wrangler.toml", stateDir, logFile: path.join(tmp, `${name}.log`) });
  const api = new Api(dev.baseUrl, app.api_key);
  // The bench measures the service's ceiling, not the rate limits in front of it (the limiter call
  // itself stays in every request's path and is measured with it).
  await api.must("PATCH", "/v1/settings", {
    limits: {
      api_key_per_minute: 100_000,
      user_challenges_per_minute: 100_000,
      user_pending_challenges: 10_000,
      device_wrong_answers_per_hour: 100_000,
      device_ip_per_minute: 100_000,
    },
  });
  const devices = path.join(tmp, `devices-${name}`);
  const t0 = performance.now();
  const users = await enrollUsers(api, devices, "bench-user", nUsers);
  const half = Math.ceil(nRsa / 2);
  const rsaUsers = [
    ...(await enrollUsers(api, devices, "bench-rsa1", half, "rsa-oaep-sha1")),
    ...(await enrollUsers(api, devices, "bench-rsa256", nRsa - half, "rsa-oaep-sha256")),
  ];
  return {
    stateDir,
    dev,
    api,
    appId: app.app_id,
    apiKey: app.api_key,
    users,
    rsaUsers,
    store: new DeviceStore(devices),
    enrollSeconds: (performance.now() - t0) / 1000,
  };
}

async function main(): Promise<void> {
  machine();
  const tmp = await mkdtemp(path.join(os.tmpdir(), "encrypxon-bench-"));
  let dev: Dev | undefined;
  let floor: Dev | undefined;
  try {
    const own = await openService(tmp, "state", P.users, P.rsaUsers);
    dev = own.dev;
    floor = await startDev({ config: "bench/floor/wrangler.toml", logFile: path.join(tmp, "floor.log") });
    out(
      `- seeded: 1 application, ${own.users.length} users each with an active ECIES-P256 device and ${own.rsaUsers.length} with an RSA-OAEP one ` +
        `(SHA-1 and SHA-256, 2048 bits), enrolled through the API in ${fmt(own.enrollSeconds)} s`,
    );
    // Direct mode serves on another origin: the devices follow the base URL they enrolled with, so keep it.
    const ctx: Ctx = { ...own, tmp, floor };
    if (BASELINE) {
      const before = prepareBaseline(BASELINE.ref);
      variants = [before, CURRENT];
      out(`- baseline: \`${BASELINE.ref}\` (${before.tag}) against this tree, in the same run`);
    }
    const sections: [string, (c: Ctx) => Promise<void>][] = [
      ["endpoints", endpoints],
      ["profile", profile],
      ["docost", doCost],
      ["roundtrip", roundTrip],
      ["crypto", cryptoCost],
      ["load", sustained],
      ["faults", faults],
      ["scale", scaleOnOwnState],
    ];
    for (const [name, fn] of sections) {
      if (!want(name)) continue;
      const s0 = performance.now();
      try {
        await fn(ctx);
      } catch (err) {
        failures.push(`${name}: ${(err as Error).stack ?? String(err)}`);
        out(`\n**${name} failed**: ${(err as Error).message}`);
      }
      console.error(`[bench] ${name} took ${fmt((performance.now() - s0) / 1000)} s`);
    }
    const fivexx = dev
      .log()
      .split("\n")
      .filter((l) => /\b5\d\d\b/.test(l) && /\[wrangler:\w+\]/.test(l));
    out();
    check(fivexx.length === 0, `wrangler dev logged no 5xx answer over the whole run (${fivexx.length})`);
  } finally {
    await dev?.stop();
    await floor?.stop();
    const file = path.join(
      REPO_ROOT,
      "bench",
      "out",
      `report-${QUICK ? "quick" : "full"}${ONLY ? `-${[...ONLY].join("-")}` : ""}.md`,
    );
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, `${report.join("\n")}\n`);
    console.error(`[bench] report: ${path.relative(REPO_ROOT, file)}`);
    if (process.env.ENCRYPXON_BENCH_KEEP === "1") console.error(`[bench] state kept in ${tmp}`);
    else await rm(tmp, { recursive: true, force: true });
  }
  if (failures.length) {
    console.error(`[bench] ${failures.length} check(s) failed:\n${failures.join("\n")}`);
    process.exit(1);
  }
}

await main();
