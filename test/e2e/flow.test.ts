// The whole product over real HTTP: the Worker under `wrangler dev` (test/e2e/harness.ts), the reference
// device CLI as a user runs it, and Python's `cryptography` as an independent decryptor of the real
// server's ciphertexts. One server for the file; each key format gets its own user and device.
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { FORMATS, type Format, runPython } from "../node/refs";
import { type E2eServer, REPO_ROOT, type Run, run, startServer } from "./harness";

type Json = Record<string, unknown>;

const DEVICE_BIN = path.join(REPO_ROOT, "packages", "device", "bin", "encrypxon-device.mjs");
const PROBLEM_BASE = "https://encrypxon.dev/problems/";
const ENTROPY = /^[A-Za-z0-9_-]{43}$/;
const id = (prefix: string) => new RegExp(`^${prefix}_[0-9a-hjkmnp-tv-z]{26}$`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: E2eServer;

beforeAll(async () => {
  server = await startServer({ appName: "E2E Shop" });
}, 120_000);

afterAll(async () => {
  await server?.cleanup();
});

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  body: Json;
}

/** One call as curl would make it. `key: null` sends no API key; `token` sends a device bearer token. */
async function http(
  method: string,
  urlPath: string,
  opts: { body?: unknown; raw?: string; key?: string | null; token?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  const key = opts.key === undefined ? server.apiKey : opts.key;
  if (key !== null && opts.token === undefined) headers["x-api-key"] = key;
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  const payload = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  if (payload !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(new URL(urlPath, server.baseUrl), {
    method,
    headers,
    ...(payload !== undefined && { body: payload }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let body: Json = {};
  try {
    body = JSON.parse(text) as Json;
  } catch {}
  return { status: res.status, headers: res.headers, text, body };
}

/** The device CLI exactly as a user types it, with a key store of its own. */
function device(store: string, ...args: string[]): Promise<Run> {
  return run(process.execPath, [DEVICE_BIN, ...args, "--store", store, "--json"]);
}

function cliJson(r: Run): Json {
  expect(r.code, `exit ${r.code}; stderr: ${r.stderr}`).toBe(0);
  expect(r.stderr).toBe("");
  return JSON.parse(r.stdout) as Json;
}

/** Starts the application's long-poll and tracks whether it has returned yet. */
function longPoll(challengeId: string, wait: number) {
  let settled = false;
  const reply = http("GET", `/v1/challenges/${challengeId}?wait=${wait}`);
  const mark = () => {
    settled = true;
  };
  // Observed here so that a poll abandoned by a failing test is not an unhandled rejection.
  reply.then(mark, mark);
  return { reply, settled: () => settled };
}

async function createChallenge(userId: string, extra: Json = {}): Promise<Reply> {
  const c = await http("POST", "/v1/challenges", { body: { user_id: userId, ...extra } });
  expect(c.status, c.text).toBe(201);
  expect(c.body).toMatchObject({ object: "challenge", user_id: userId, status: "pending", devices: 1 });
  expect(c.body.id).toMatch(id("chl"));
  return c;
}

/** Decrypts a challenge's ciphertext with Python's `cryptography` (no code shared with src/ or the CLI). */
function pythonDecrypt(format: Format, privateJwk: JsonWebKey, ciphertext: string): string {
  const [result] = runPython([{ op: "decrypt", format, private_jwk: privateJwk, ciphertext }]);
  if (!result?.ok || result.plaintext_hex === undefined) {
    throw new Error(`python could not decrypt: ${result && !result.ok ? result.error : "no result"}`);
  }
  return Buffer.from(result.plaintext_hex, "hex").toString("utf8");
}

type Outcome = "approved" | "denied" | "expired";

interface Phone {
  userId: string;
  store: string;
  deviceId: string;
  token: string;
  privateJwk: JsonWebKey;
  /** Every challenge made for this user and how it ended. */
  outcomes: Map<string, Outcome>;
}

const phones = new Map<Format, Phone>();
function phone(format: Format): Phone {
  const p = phones.get(format);
  if (!p) throw new Error(`no enrolled ${format} device (its enrollment test failed)`);
  return p;
}

/** Created right after the first enrollment, checked at the end, so its 10 s pass while other tests run. */
let expiring: { format: Format; id: string; expiresAt: number; entropy: string } | undefined;

describe.each(FORMATS)("%s", (format) => {
  const userId = `alice+${format}@example.com`;

  test("enrollment: QR code, the CLI enrolls, the application's long-poll sees it completed", async () => {
    const enr = await http("POST", "/v1/enrollments", {
      body: { user_id: userId, user_label: `Alice (${format})` },
    });
    expect(enr.status, enr.text).toBe(201);
    expect(enr.body).toMatchObject({
      object: "enrollment",
      user_id: userId,
      status: "pending",
      device_id: null,
    });
    const enrollmentId = String(enr.body.id);
    expect(enrollmentId).toMatch(id("enr"));
    const uri = String(enr.body.enrollment_uri);
    const params = new URL(uri).searchParams;
    expect(uri.startsWith("encrypxon://enroll?")).toBe(true);
    expect(params.get("v")).toBe("1");
    expect(params.get("url")).toBe(server.baseUrl);
    expect(params.get("app")).toBe("E2E Shop");
    expect(params.get("user")).toBe(`Alice (${format})`);
    const code = params.get("code") ?? "";
    expect(code).toMatch(/^enc_[A-Za-z0-9_-]{43}$/);
    server.secret(code);

    const qrUrl = String(enr.body.qr_svg_url);
    expect(qrUrl.startsWith(`${server.baseUrl}/v1/enrollments/${enrollmentId}/qr.svg?`)).toBe(true);
    const qr = await fetch(qrUrl);
    expect(qr.status).toBe(200);
    expect(qr.headers.get("content-type")).toMatch(/^image\/svg\+xml/);
    expect(await qr.text()).toMatch(/<svg[\s>]/);

    const store = path.join(server.tmp, `device-${format}`);
    const enrolled = cliJson(
      await device(store, "enroll", uri, "--format", format, "--name", `e2e ${format}`),
    );
    expect(enrolled).toMatchObject({
      key_format: format,
      base_url: server.baseUrl,
      app_name: "E2E Shop",
      user_label: `Alice (${format})`,
    });
    const deviceId = String(enrolled.device_id);
    expect(deviceId).toMatch(id("dev"));
    const storeFile = path.join(store, `${deviceId}.json`);
    expect(enrolled.store_file).toBe(storeFile);
    expect((await stat(storeFile)).mode & 0o777).toBe(0o600);
    expect((await stat(store)).mode & 0o777).toBe(0o700);

    const stored = JSON.parse(await readFile(storeFile, "utf8")) as {
      device_token: string;
      private_jwk: JsonWebKey;
    };
    expect(stored.device_token).toMatch(/^edt_/);
    server.secret(stored.device_token);
    server.secret(stored.private_jwk.d ?? "");
    // The CLI prints neither secret.
    expect(JSON.stringify(enrolled)).not.toContain(stored.device_token);
    expect(JSON.stringify(enrolled)).not.toContain(stored.private_jwk.d);

    const done = await http("GET", `/v1/enrollments/${enrollmentId}?wait=5`);
    expect(done.status, done.text).toBe(200);
    expect(done.body).toMatchObject({ id: enrollmentId, status: "completed", device_id: deviceId });

    // The code is single-use: its QR code is gone.
    expect((await fetch(qrUrl)).status).toBe(404);

    const devices = await http("GET", `/v1/users/${encodeURIComponent(userId)}/devices`);
    expect(devices.status).toBe(200);
    expect(devices.body.data).toEqual([
      expect.objectContaining({
        id: deviceId,
        user_id: userId,
        key_format: format,
        status: "active",
        name: `e2e ${format}`,
        enrollment_id: enrollmentId,
      }),
    ]);
    expect(devices.text).not.toMatch(/public_key|private|token/);

    phones.set(format, {
      userId,
      store,
      deviceId,
      token: stored.device_token,
      privateJwk: stored.private_jwk,
      outcomes: new Map(),
    });
  });

  if (format === FORMATS[0]) {
    test("a challenge with ttl_seconds 10 is left unanswered (checked at the end)", async () => {
      const p = phone(format);
      const c = await createChallenge(p.userId, { ttl_seconds: 10, context: { title: "Will expire" } });
      const challengeId = String(c.body.id);
      const expiresAt = Date.parse(String(c.body.expires_at));
      expect(expiresAt - Date.parse(String(c.body.created_at))).toBe(10_000);
      // Keep its entropy (decrypted independently) to try a correct answer after expiry.
      const listing = await http("GET", "/v1/device/challenges", { token: p.token });
      const item = (listing.body.data as Json[]).find((d) => d.id === challengeId);
      const plain = JSON.parse(pythonDecrypt(format, p.privateJwk, String(item?.ciphertext))) as {
        e: string;
      };
      server.secret(plain.e);
      expiring = { format, id: challengeId, expiresAt, entropy: plain.e };
      p.outcomes.set(challengeId, "expired");
    });
  }

  test("approve: the CLI lists the context and approves; the long-poll wakes with approved", async () => {
    const p = phone(format);
    const context = {
      title: "Sign in to E2E Shop",
      message: `Login with a ${format} device`,
      ip: "203.0.113.7",
      location: "Zürich, CH",
      user_agent: "Firefox on Linux",
    };
    const c = await createChallenge(p.userId, { context });
    const challengeId = String(c.body.id);
    expect(c.body.context).toEqual(context);
    const poll = longPoll(challengeId, 20);

    const listed = cliJson(await device(p.store, "list"));
    expect(listed.device_id).toBe(p.deviceId);
    expect(listed.refused).toEqual([]);
    const shown = (listed.challenges as Json[]).find((x) => x.id === challengeId);
    expect(shown?.context).toEqual(context);
    // The server's exact expiry, which lies within the second the ciphertext's verified exp names.
    expect(shown?.expires_at).toBe(c.body.expires_at);
    expect(poll.settled()).toBe(false);

    const answered = cliJson(await device(p.store, "approve", challengeId));
    expect(answered).toMatchObject({ id: challengeId, status: "approved", device_id: p.deviceId });

    const result = await poll.reply;
    expect(result.status, result.text).toBe(200);
    expect(result.body).toMatchObject({
      id: challengeId,
      status: "approved",
      device_id: p.deviceId,
      reason: null,
      context,
    });
    expect(Date.parse(String(result.body.resolved_at))).toBeGreaterThan(0);
    p.outcomes.set(challengeId, "approved");
  });

  test("deny: the reason reaches the application", async () => {
    const p = phone(format);
    const c = await createChallenge(p.userId, { context: { title: "Sign in from a new browser" } });
    const challengeId = String(c.body.id);
    const poll = longPoll(challengeId, 20);

    const listed = cliJson(await device(p.store, "list"));
    const shown = (listed.challenges as Json[]).find((x) => x.id === challengeId);
    expect(shown?.context).toEqual({ title: "Sign in from a new browser" });
    expect(poll.settled()).toBe(false);

    const answered = cliJson(await device(p.store, "deny", challengeId, "--reason", "not me"));
    expect(answered).toMatchObject({ id: challengeId, status: "denied", reason: "not me" });

    const result = await poll.reply;
    expect(result.status, result.text).toBe(200);
    expect(result.body).toMatchObject({
      id: challengeId,
      status: "denied",
      device_id: p.deviceId,
      reason: "not me",
    });
    p.outcomes.set(challengeId, "denied");
  });

  test("Python `cryptography` decrypts the real server's ciphertext; its entropy approves over plain fetch", async () => {
    const p = phone(format);
    const c = await createChallenge(p.userId, { context: { title: "Independent check" } });
    const challengeId = String(c.body.id);

    const listing = await http("GET", "/v1/device/challenges", { token: p.token });
    expect(listing.status, listing.text).toBe(200);
    const item = (listing.body.data as Json[]).find((d) => d.id === challengeId);
    expect(item).toMatchObject({
      object: "device_challenge",
      key_format: format,
      context: { title: "Independent check" },
    });
    const ciphertext = String(item?.ciphertext);
    expect(ciphertext).toMatch(/^[A-Za-z0-9_-]+$/);

    const plaintext = pythonDecrypt(format, p.privateJwk, ciphertext);
    expect(plaintext).toMatch(/^\{"v":1,"cid":"chl_[0-9a-z]{26}","e":"[A-Za-z0-9_-]{43}","exp":\d+\}$/);
    const plain = JSON.parse(plaintext) as { v: number; cid: string; e: string; exp: number };
    expect(plain.cid).toBe(challengeId);
    expect(plain.e).toMatch(ENTROPY);
    expect(plain.exp).toBe(Math.floor(Date.parse(String(c.body.expires_at)) / 1000));
    server.secret(plain.e);
    // Layout: ECIES is E (65) ‖ AES-GCM ciphertext ‖ tag (16); RSA-2048 OAEP is 256 bytes.
    const ctLength = Buffer.from(ciphertext, "base64url").length;
    expect(ctLength).toBe(format === "ecies-p256" ? 65 + Buffer.byteLength(plaintext) + 16 : 256);

    const respond = (entropy: string) =>
      http("POST", `/v1/device/challenges/${challengeId}/response`, {
        token: p.token,
        body: { entropy, decision: "approve" },
      });
    const wrongEntropy = (plain.e[0] === "A" ? "B" : "A") + plain.e.slice(1);
    const wrong = await respond(wrongEntropy);
    expect(wrong.status, wrong.text).toBe(422);
    expect(wrong.body).toMatchObject({ type: `${PROBLEM_BASE}wrong-entropy`, attempts_left: 2 });

    const ok = await respond(plain.e);
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body).toMatchObject({ id: challengeId, status: "approved", device_id: p.deviceId });

    const again = await respond(plain.e);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({
      type: `${PROBLEM_BASE}challenge-closed`,
      challenge_status: "approved",
    });

    const seen = await http("GET", `/v1/challenges/${challengeId}`);
    expect(seen.body).toMatchObject({ status: "approved", device_id: p.deviceId });
    p.outcomes.set(challengeId, "approved");
  });
});

describe("expiry", () => {
  test("the unanswered challenge expires by its own alarm; the device can no longer answer it", async () => {
    if (!expiring) throw new Error("the expiring challenge was not created");
    const { format, id: challengeId, expiresAt, entropy } = expiring;
    const p = phone(format);
    const left = expiresAt + 1_000 - Date.now();
    if (left > 0) await sleep(left);

    // Nothing has read the challenge since it was made: an `expired` audit row can only come from the
    // Durable Object's alarm (the audit listing reads D1, not the object).
    let expiredRow: Json | undefined;
    for (let i = 0; i < 25 && !expiredRow; i++) {
      const audit = await http(
        "GET",
        `/v1/audit?user_id=${encodeURIComponent(p.userId)}&type=challenge.resolved&outcome=expired`,
      );
      expiredRow = (audit.body.data as Json[]).find((r) => r.challenge_id === challengeId);
      if (!expiredRow) await sleep(200);
    }
    expect(expiredRow, "no expired audit row within 5 s of expires_at + 1 s").toBeDefined();

    const seen = await http("GET", `/v1/challenges/${challengeId}`);
    expect(seen.status).toBe(200);
    expect(seen.body).toMatchObject({ id: challengeId, status: "expired", device_id: null, reason: null });

    const listing = await http("GET", "/v1/device/challenges", { token: p.token });
    expect((listing.body.data as Json[]).map((d) => d.id)).not.toContain(challengeId);

    const cli = await device(p.store, "approve", challengeId);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(
      new RegExp(
        `^encrypxon-device: ${challengeId} is not pending for this device \\([^)]*expired[^)]*\\)\\n$`,
      ),
    );
    expect((JSON.parse(cli.stdout) as { error: { message: string } }).error.message).toMatch(/not pending/);

    // Even the right entropy is refused after expiry.
    const late = await http("POST", `/v1/device/challenges/${challengeId}/response`, {
      token: p.token,
      body: { entropy, decision: "approve" },
    });
    expect(late.status, late.text).toBe(409);
    expect(late.body).toMatchObject({ type: `${PROBLEM_BASE}challenge-closed`, challenge_status: "expired" });
  });
});

describe("audit", () => {
  test.each(FORMATS)(
    "%s: created/resolved rows for every challenge; limit=2 paging walks them all once",
    async (format) => {
      const p = phone(format);
      const base = `/v1/audit?user_id=${encodeURIComponent(p.userId)}`;
      const all = await http("GET", `${base}&limit=200`);
      expect(all.status, all.text).toBe(200);
      expect(all.body).toMatchObject({ object: "list", has_more: false, next_cursor: null });
      const rows = all.body.data as Json[];
      for (const r of rows) expect(r.user_id).toBe(p.userId);

      // Newest first.
      const times = rows.map((r) => Date.parse(String(r.created_at)));
      expect(times).toEqual([...times].sort((a, b) => b - a));

      const types = new Set(rows.map((r) => r.type));
      for (const t of ["enrollment.created", "device.enrolled", "device.activated", "enrollment.completed"]) {
        expect(types).toContain(t);
      }

      const created = rows.filter((r) => r.type === "challenge.created");
      expect(created.map((r) => r.challenge_id).sort()).toEqual([...p.outcomes.keys()].sort());
      for (const r of created) expect(r).toMatchObject({ outcome: "pending", detail: { devices: 1 } });

      const resolved = rows.filter((r) => r.type === "challenge.resolved");
      expect(new Map(resolved.map((r) => [r.challenge_id, r.outcome]))).toEqual(p.outcomes);
      expect(resolved).toHaveLength(p.outcomes.size);
      for (const r of resolved) {
        expect(r.device_id).toBe(r.outcome === "expired" ? null : p.deviceId);
        if (r.outcome === "denied") expect(r.detail).toMatchObject({ reason: "not me" });
      }
      const outcomes = new Set(resolved.map((r) => r.outcome));
      expect(outcomes).toEqual(
        new Set(format === expiring?.format ? ["approved", "denied", "expired"] : ["approved", "denied"]),
      );

      // Paging with limit=2 and next_cursor: the same rows, in the same order, none twice.
      const paged: string[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 100; page++) {
        const r: Reply = await http(
          "GET",
          `${base}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
        );
        expect(r.status, r.text).toBe(200);
        const data = r.body.data as Json[];
        expect(data.length).toBeLessThanOrEqual(2);
        paged.push(...data.map((d) => String(d.id)));
        cursor = r.body.next_cursor as string | null;
        expect(r.body.has_more).toBe(cursor !== null);
        if (cursor === null) break;
        expect(data).toHaveLength(2);
      }
      expect(cursor).toBeNull();
      expect(new Set(paged).size).toBe(paged.length);
      expect(paged).toEqual(rows.map((r) => r.id));
    },
  );
});

describe("bad input over real HTTP", () => {
  const cases: [string, number, string, () => Promise<Reply>][] = [
    [
      "malformed JSON body",
      400,
      "invalid-request",
      () => http("POST", "/v1/challenges", { raw: '{"user_id": "alice", "context": {' }),
    ],
    ["unknown route", 404, "not-found", () => http("GET", "/v1/nothing-here")],
    [
      "wrong method",
      405,
      "method-not-allowed",
      () => http("PUT", "/v1/challenges", { body: { user_id: "alice" } }),
    ],
    ["missing API key", 401, "unauthorized", () => http("GET", "/v1/audit", { key: null })],
    [
      "bad device token",
      401,
      "unauthorized",
      () => http("GET", "/v1/device/challenges", { token: "edt_not-a-token" }),
    ],
  ];

  test.each(cases)("%s → %i %s, problem+json", async (_name, status, slug, call) => {
    const r = await call();
    expect(r.status, r.text).toBe(status);
    expect(r.headers.get("content-type")).toMatch(/^application\/problem\+json\b/);
    expect(r.body).toMatchObject({ type: PROBLEM_BASE + slug, status });
    expect(typeof r.body.title).toBe("string");
    expect(typeof r.body.detail).toBe("string");
    for (const k of Object.keys(r.body)) expect(["type", "title", "status", "detail", "errors"]).toContain(k);
    // Nothing internal on the wire.
    expect(r.text).not.toMatch(
      /stack|\bat \S+:\d+|\.ts\b|node_modules|SyntaxError|TypeError|JSON\.parse|Unexpected token|zod|itty|workerd/i,
    );
    if (status === 405) expect(r.headers.get("allow")).toBe("POST");
    if (status === 401) expect(r.headers.get("www-authenticate")).toBeTruthy();
  });
});

describe("wrangler dev", () => {
  test("its log has no ENOTFOUND, uncaught exception or secret; stopping ends its whole process group", async () => {
    const log = server.log();
    // The log is the real one: it saw this suite's traffic.
    expect(log).toMatch(/Ready on http:\/\/127\.0\.0\.1:\d+/);
    expect(log).toMatch(/POST \/v1\/challenges 201/);
    expect(log).toMatch(/POST \/v1\/device\/challenges\/chl_\w+\/response 200/);
    await server.stop();
    expect(server.processes()).toEqual([]);
    expect(server.logProblems()).toEqual([]);
  });
});
