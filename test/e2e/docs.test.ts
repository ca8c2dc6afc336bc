// Every `curl` example in the docs, run as written (bash, the real curl) against the real Worker under
// `wrangler dev`. Only $API, $KEY and the elided ids (`enr_…`, `chl_…`, `dev_…`, `enc_…`) are filled in,
// with ids made for each example's needs; the reference device library plays the phone. Each example
// must answer 2xx with what the docs say it returns.
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Encrypxon2FaClient } from "../../packages/client/src/index";
import { DeviceClient, DeviceStore } from "../../packages/device/src/index";
import { type E2eServer, REPO_ROOT, startServer } from "./harness";

type Json = Record<string, unknown>;

interface Example {
  file: string;
  line: number;
  command: string;
  /** An example that shows an error says so in the comment below it: `# {…"status":400…}`. */
  status?: number;
}

/** The curl commands of every ```sh block, with `\` continuations joined and trailing comments kept. */
function curlExamples(file: string, markdown: string): Example[] {
  const out: Example[] = [];
  const lines = markdown.split("\n");
  let inSh = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (/^```(sh|shell|bash)\s*$/.test(line)) {
      inSh = true;
      continue;
    }
    if (line.startsWith("```")) {
      inSh = false;
      continue;
    }
    if (!inSh || !/^curl\s/.test(line)) continue;
    let command = line;
    const start = i;
    while (command.endsWith("\\") && i + 1 < lines.length) {
      command = `${command.slice(0, -1)} ${(lines[++i] ?? "").trim()}`;
    }
    let shown = "";
    for (let j = i + 1; j < lines.length && /^#/.test(lines[j] ?? ""); j++) shown += lines[j];
    const status = /"status":(\d{3})/.exec(shown)?.[1];
    out.push({ file, line: start + 1, command, ...(status && { status: Number(status) }) });
  }
  return out;
}

const MARK = "__HTTP_STATUS__";

function bash(
  command: string,
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", command], {
      cwd,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 60_000,
    });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => {
      out += s;
    });
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      err += s;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out, err }));
  });
}

let server: E2eServer;
let client: Encrypxon2FaClient;
let tmp: string;
let phones: DeviceClient[] = [];
const USER = "alice";

beforeAll(async () => {
  server = await startServer({ appName: "Docs Shop" });
  client = new Encrypxon2FaClient({ apiKey: server.apiKey, baseUrl: server.baseUrl });
  tmp = await mkdtemp(path.join(os.tmpdir(), "encrypxon-docs-"));
}, 120_000);

afterAll(async () => {
  await server?.cleanup();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const codeOf = (uri: string) =>
  new URL(uri.replace("encrypxon://", "https://x/")).searchParams.get("code") ?? "";

async function enrollPhone(uri: string): Promise<DeviceClient> {
  const p = await DeviceClient.enroll(uri, {
    store: new DeviceStore(path.join(tmp, "phones")),
    name: "Docs phone",
  });
  phones.push(p);
  return p;
}

async function ensurePhone(): Promise<DeviceClient> {
  const active = phones[0];
  if (active) return active;
  const e = await client.createEnrollment({ user_id: USER });
  return enrollPhone(e.enrollment_uri);
}

/** While `during` runs, the phone approves whatever reaches it. */
async function approving<T>(during: Promise<T>): Promise<T> {
  let done = false;
  const phone = await ensurePhone();
  const loop = (async () => {
    while (!done) {
      for (const c of (await phone.listChallenges()).challenges) {
        await phone.respond(c.id, "approve").catch(() => undefined);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    return await during;
  } finally {
    done = true;
    await loop;
  }
}

/** What an example needs before it runs: its placeholders and the checks of its answer. */
interface Prepared {
  ids: Record<string, string>;
  approve?: boolean;
  expect?: (body: Json, raw: string) => void | Promise<void>;
}

let lastChallenge = "";
let completedEnrollment = "";

async function prepare(method: string, urlPath: string): Promise<Prepared> {
  if (method === "POST" && urlPath === "/v1/enrollments") {
    return {
      ids: {},
      expect: async (b) => {
        expect(b).toMatchObject({ object: "enrollment", status: "pending" });
        // The phone scans it, so the examples that follow find the enrollment completed.
        await enrollPhone(String(b.enrollment_uri));
        completedEnrollment = String(b.id);
      },
    };
  }
  if (method === "GET" && /^\/v1\/enrollments\/enr_[^/]*$/.test(urlPath)) {
    if (!completedEnrollment) {
      const e = await client.createEnrollment({ user_id: USER });
      await enrollPhone(e.enrollment_uri);
      completedEnrollment = e.id;
    }
    return {
      ids: { enr: completedEnrollment },
      expect: (b) =>
        expect(b).toMatchObject({ status: "completed", device_id: expect.stringMatching(/^dev_/) }),
    };
  }
  if (/\/qr\.(svg|png)$/.test(urlPath)) {
    const e = await client.createEnrollment({ user_id: "qr-user" });
    return { ids: { enr: e.id, enc: codeOf(e.enrollment_uri) } };
  }
  if (method === "DELETE" && urlPath.startsWith("/v1/enrollments/")) {
    const e = await client.createEnrollment({ user_id: "bob" });
    return { ids: { enr: e.id }, expect: (b) => expect(b).toMatchObject({ status: "cancelled" }) };
  }
  if (method === "GET" && /^\/v1\/users\/[^/]+\/devices$/.test(urlPath)) {
    await ensurePhone();
    return {
      ids: {},
      expect: (b) => expect((b.data as Json[]).some((d) => d.status === "active")).toBe(true),
    };
  }
  if (method === "DELETE" && urlPath.startsWith("/v1/devices/")) {
    // A second phone of the user, so the examples after this one still have an active device.
    await ensurePhone();
    const e = await client.createEnrollment({ user_id: USER });
    const spare = await enrollPhone(e.enrollment_uri);
    phones = phones.filter((p) => p !== spare);
    return { ids: { dev: spare.deviceId }, expect: (b) => expect(b).toMatchObject({ status: "revoked" }) };
  }
  if (method === "POST" && urlPath === "/v1/challenges") {
    await ensurePhone();
    return {
      ids: {},
      approve: true,
      expect: async (b) => {
        expect(b).toMatchObject({ object: "challenge", user_id: USER });
        lastChallenge = String(b.id);
        // Without wait_seconds the POST returns at once: the user approves on the phone afterwards.
        if (b.status === "pending")
          await approving(client.waitForResult(lastChallenge, { timeoutMs: 10_000 }));
      },
    };
  }
  if (method === "GET" && urlPath.startsWith("/v1/challenges/")) {
    if (!lastChallenge) {
      await ensurePhone();
      const c = await approving(client.createChallenge({ user_id: USER, wait_seconds: 10 }));
      lastChallenge = c.id;
    }
    return { ids: { chl: lastChallenge }, expect: (b) => expect(b).toMatchObject({ status: "approved" }) };
  }
  if (method === "DELETE" && urlPath.startsWith("/v1/challenges/")) {
    await ensurePhone();
    const c = await client.createChallenge({ user_id: USER });
    return { ids: { chl: c.id }, expect: (b) => expect(b).toMatchObject({ status: "cancelled" }) };
  }
  if (method === "GET" && urlPath === "/v1/audit") {
    return { ids: {}, expect: (b) => expect(b).toMatchObject({ object: "list" }) };
  }
  return { ids: {} };
}

function requestOf(command: string): { method: string; urlPath: string } {
  const method = /-X\s+([A-Z]+)/.exec(command)?.[1] ?? (/\s(-d|--data)\s/.test(command) ? "POST" : "GET");
  const url = /\$API(\/[^\s"'?]*)/.exec(command)?.[1] ?? "";
  return { method, urlPath: url };
}

const sources = ["docs/api.md", "README.md", "docs/reference.md"];

describe("the docs' curl examples work as written", async () => {
  const examples: Example[] = [];
  for (const file of sources) {
    const text = await readFile(path.join(REPO_ROOT, file), "utf8").catch(() => null);
    if (text !== null) examples.push(...curlExamples(file, text));
  }

  test("there is an example for every application call", () => {
    const calls = new Set(
      examples.map((e) => {
        const { method, urlPath } = requestOf(e.command);
        return `${method} ${urlPath.replace(/(enr|chl|dev)_[^/]*/g, "{id}").replace(/\/users\/[^/]+/, "/users/{user_id}")}`;
      }),
    );
    for (const call of [
      "POST /v1/enrollments",
      "GET /v1/enrollments/{id}",
      "GET /v1/enrollments/{id}/qr.svg",
      "DELETE /v1/enrollments/{id}",
      "GET /v1/users/{user_id}/devices",
      "DELETE /v1/devices/{id}",
      "POST /v1/challenges",
      "GET /v1/challenges/{id}",
      "DELETE /v1/challenges/{id}",
      "GET /v1/audit",
      "GET /v1/settings",
      "PATCH /v1/settings",
      "GET /v1/users/{user_id}/pause",
      "DELETE /v1/users/{user_id}/pause",
    ]) {
      expect([...calls], call).toContain(call);
    }
  });

  for (const ex of examples) {
    const device = /Authorization: Bearer/i.test(ex.command);
    test.skipIf(device)(`${ex.file}:${ex.line} ${ex.command.slice(0, 90)}`, async () => {
      const { method, urlPath } = requestOf(ex.command);
      expect(urlPath, "the example uses $API").not.toBe("");
      const prep = await prepare(method, urlPath);
      let command = ex.command.replace(/(enr|chl|dev|enc)_[A-Za-z0-9]*…/g, (whole, kind: string) => {
        const value = prep.ids[kind];
        if (!value) throw new Error(`${ex.file}:${ex.line}: no value for ${whole}`);
        return value;
      });
      command = command.replace(/^curl /, `curl -w '\\n${MARK}%{http_code}' `);
      const cwd = await mkdtemp(path.join(tmp, "run-"));
      const env = { ...process.env, API: server.baseUrl, KEY: server.apiKey };
      const run = bash(command, env, cwd);
      const r = prep.approve ? await approving(run) : await run;
      expect(r.code, r.err).toBe(0);
      const at = r.out.lastIndexOf(MARK);
      const status = Number(r.out.slice(at + MARK.length));
      const raw = r.out.slice(0, at).trim();
      if (ex.status !== undefined) {
        expect(status, raw).toBe(ex.status);
        expect(JSON.parse(raw)).toMatchObject({ status: ex.status, type: expect.stringMatching(/^https:/) });
        return;
      }
      expect(status, raw).toBeGreaterThanOrEqual(200);
      expect(status, raw).toBeLessThan(300);
      if (/\s-o\s+(\S+)/.test(command)) {
        const file = /\s-o\s+(\S+)/.exec(command)?.[1] ?? "";
        const saved = await readFile(path.join(cwd, file), "utf8");
        expect(saved).toContain(file.endsWith(".svg") ? "<svg" : "");
        return;
      }
      const body = JSON.parse(raw) as Json;
      await prep.expect?.(body, raw);
    });
  }
});
