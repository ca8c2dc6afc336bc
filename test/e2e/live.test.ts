// Live delivery over real WebSockets under `wrangler dev`: two devices of one user watch with the
// reference CLI (`encrypxon-device watch --json`), one answers, the other is told. Then a few hundred
// rounds measure how fast events travel; the numbers are printed, never asserted (noisy machines).
import { type ChildProcess, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { WebSocket } from "undici";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  decryptForDevice,
  fromBase64Url,
  type KeyFormat,
  parseChallengePlaintext,
} from "../../packages/device/src/crypto";
import { type E2eServer, REPO_ROOT, run, startServer } from "./harness";

type Json = Record<string, unknown>;

const DEVICE_BIN = path.join(REPO_ROOT, "packages", "device", "bin", "encrypxon-device.mjs");

let server: E2eServer;
const watchers: ChildProcess[] = [];

beforeAll(async () => {
  server = await startServer({ appName: "E2E Live" });
}, 120_000);

afterAll(async () => {
  for (const w of watchers) if (w.exitCode === null) w.kill("SIGKILL");
  if (server) {
    const problems = server.logProblems();
    await server.cleanup();
    expect(problems).toEqual([]);
  }
});

async function http(method: string, urlPath: string, body?: unknown, token?: string): Promise<Json> {
  const headers: Record<string, string> = token
    ? { authorization: `Bearer ${token}` }
    : { "x-api-key": server.apiKey };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(new URL(urlPath, server.baseUrl), {
    method,
    headers,
    ...(body !== undefined && { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  });
  const json = (await res.json()) as Json;
  return { ...json, _status: res.status };
}

interface Enrolled {
  store: string;
  deviceId: string;
  token: string;
  format: KeyFormat;
  privateJwk: JsonWebKey;
}

/** Enrolls a device with the CLI into its own store, and reads back what a phone would keep. */
async function enroll(userId: string, name: string): Promise<Enrolled> {
  const enr = await http("POST", "/v1/enrollments", { user_id: userId });
  expect(enr._status).toBe(201);
  const store = path.join(server.tmp, `store-${name}`);
  const r = await run(process.execPath, [
    DEVICE_BIN,
    "enroll",
    String(enr.enrollment_uri),
    "--name",
    name,
    "--store",
    store,
    "--json",
  ]);
  expect(r.code, r.stderr).toBe(0);
  const deviceId = String((JSON.parse(r.stdout) as Json).device_id);
  const stored = JSON.parse(await readFile(path.join(store, `${deviceId}.json`), "utf8")) as {
    device_token: string;
    key_format: KeyFormat;
    private_jwk: JsonWebKey;
  };
  server.secret(stored.device_token);
  return {
    store,
    deviceId,
    token: stored.device_token,
    format: stored.key_format,
    privateJwk: stored.private_jwk,
  };
}

/** `encrypxon-device watch --json` as a child process; its JSON lines, and a wait for one of them. */
function watchCli(device: Enrolled, ...extra: string[]) {
  const child = spawn(process.execPath, [DEVICE_BIN, "watch", "--store", device.store, "--json", ...extra], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  watchers.push(child);
  const events: Json[] = [];
  let stderr = "";
  let buffer = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    buffer += chunk;
    let nl = buffer.indexOf("\n");
    while (nl >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (line) events.push(JSON.parse(line) as Json);
      nl = buffer.indexOf("\n");
    }
  });
  child.stderr?.setEncoding("utf8").on("data", (s: string) => {
    stderr += s;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    events,
    stderr: () => stderr,
    exited,
    async waitFor(where: (e: Json) => boolean, ms = 20_000): Promise<Json> {
      const deadline = Date.now() + ms;
      for (;;) {
        const found = events.find(where);
        if (found) return found;
        if (child.exitCode !== null || Date.now() > deadline) {
          throw new Error(`no such event; got ${JSON.stringify(events)}; stderr: ${stderr}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop: () => child.kill("SIGTERM"),
  };
}

describe("two devices watching one user", () => {
  test("one answers, the other is told; the app's long-poll returns the answer", async () => {
    const phone = await enroll("alice", "phone");
    const tablet = await enroll("alice", "tablet");
    const waiting = watchCli(phone);
    const approving = watchCli(tablet, "--approve-all");
    await waiting.waitFor((e) => e.event === "connected");
    await approving.waitFor((e) => e.event === "connected");

    const created = await http("POST", "/v1/challenges", {
      user_id: "alice",
      context: { title: "Sign in to E2E" },
    });
    expect(created._status).toBe(201);
    const id = String(created.id);
    const poll = http("GET", `/v1/challenges/${id}?wait=25`);

    // Both see the verified challenge with its context; the tablet approves it.
    for (const w of [waiting, approving]) {
      const seen = await w.waitFor((e) => e.event === "challenge");
      expect(seen.challenge).toMatchObject({ id, context: { title: "Sign in to E2E" } });
    }
    expect(await approving.waitFor((e) => e.event === "answered")).toMatchObject({
      id,
      decision: "approve",
      status: "approved",
    });
    expect(await waiting.waitFor((e) => e.event === "closed")).toEqual({
      event: "closed",
      id,
      status: "approved",
      answered_by: "another_device",
    });
    expect(await approving.waitFor((e) => e.event === "closed")).toMatchObject({
      id,
      answered_by: "this_device",
    });
    expect(await poll).toMatchObject({ id, status: "approved", device_id: tablet.deviceId });

    // A challenge created while the phone's watcher is down is caught up when it comes back.
    waiting.stop();
    expect(await waiting.exited).toBe(0);
    expect(waiting.events.at(-1)).toEqual({ event: "stopped" });
    approving.stop();
    expect(await approving.exited).toBe(0);
    const missed = await http("POST", "/v1/challenges", { user_id: "alice" });
    const back = watchCli(phone, "--deny-all");
    expect(await back.waitFor((e) => e.event === "connected")).toMatchObject({ pending: 1 });
    expect(await back.waitFor((e) => e.event === "answered")).toMatchObject({
      id: missed.id,
      decision: "deny",
      status: "denied",
    });

    // Revoking the device ends its watch with an error: the server closed the channel for good.
    const revoked = await http("DELETE", `/v1/devices/${phone.deviceId}`);
    expect(revoked.status).toBe("revoked");
    await back.waitFor((e) => e.event === "revoked");
    expect(await back.exited).toBe(1);
    expect(back.events.at(-1)).toMatchObject({ error: { message: expect.stringMatching(/revoked/) } });
    expect(back.stderr()).toMatch(/revoked/);
    expect(waiting.stderr() + approving.stderr()).toBe("");
  }, 90_000);

  test("a request without Upgrade gets 426 problem+json", async () => {
    const res = await fetch(new URL("/v1/device/connect", server.baseUrl));
    expect(res.status).toBe(426);
    expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    await res.arrayBuffer();
  });
});

/** Percentile of a sorted sample (nearest rank). */
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
const summary = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${pct(s, 50).toFixed(1)} ms, p99 ${pct(s, 99).toFixed(1)} ms, n=${s.length}`;
};

describe("latency (printed, not asserted)", () => {
  test("create → device event, and answer → long-poll return, over 200 rounds", async () => {
    // 200 challenges for one user in seconds: far above the default per-user rate limit.
    await http("PATCH", "/v1/settings", {
      limits: { user_challenges_per_minute: 1000, device_ip_per_minute: 100_000 },
    });
    const device = await enroll("bob", "bench-phone");
    const url = new URL("/v1/device/connect", server.baseUrl);
    url.protocol = "ws:";
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${device.token}` } });
    const arrivals = new Map<string, number>();
    let helloSeen = false;
    ws.addEventListener("message", (e) => {
      const msg = JSON.parse(String(e.data)) as Json;
      if (msg.type === "hello") helloSeen = true;
      if (msg.type === "challenge.created") arrivals.set(String(msg.id), performance.now());
    });
    const until = async (cond: () => boolean, ms = 10_000) => {
      const deadline = Date.now() + ms;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error("timed out");
        await new Promise((r) => setTimeout(r, 1));
      }
    };
    await until(() => helloSeen);

    const fromReturn: number[] = [];
    const fromStart: number[] = [];
    const answerToPoll: number[] = [];
    const ROUNDS = 200;
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = performance.now();
      const created = await http("POST", "/v1/challenges", { user_id: "bob" });
      const t1 = performance.now();
      const id = String(created.id);
      await until(() => arrivals.has(id));
      const at = arrivals.get(id) ?? NaN;
      fromStart.push(at - t0);
      fromReturn.push(at - t1);

      // The device's part, done here so that only the answer call itself is timed.
      const list = await http("GET", "/v1/device/challenges", undefined, device.token);
      const item = (list.data as Json[]).find((c) => c.id === id);
      if (!item) throw new Error(`${id} not listed`);
      const plain = await decryptForDevice(
        device.format,
        device.privateJwk,
        fromBase64Url(String(item.ciphertext)),
      );
      const { entropy } = parseChallengePlaintext(plain, id, Math.floor(Date.now() / 1000));
      let pollDone = 0;
      const poll = http("GET", `/v1/challenges/${id}?wait=25`).then((r) => {
        pollDone = performance.now();
        return r;
      });
      // Give the long-poll time to reach its Durable Object before answering.
      await new Promise((r) => setTimeout(r, 5));
      const tAnswer = performance.now();
      const answered = await http(
        "POST",
        `/v1/device/challenges/${id}/response`,
        { entropy, decision: "approve" },
        device.token,
      );
      expect(answered.status).toBe("approved");
      expect((await poll).status).toBe("approved");
      answerToPoll.push(pollDone - tAnswer);
    }
    ws.close();
    expect(fromStart).toHaveLength(ROUNDS);
    console.log(
      [
        `live channel latency over ${ROUNDS} rounds (wrangler dev, loopback; noisy shared machine):`,
        `  POST /v1/challenges sent → device event:      ${summary(fromStart)}`,
        `  POST /v1/challenges returned → device event:  ${summary(fromReturn)} (negative: the event came first)`,
        `  device answer sent → app long-poll returned:  ${summary(answerToPoll)}`,
      ].join("\n"),
    );
  }, 180_000);
});
