// scripts/admin.mjs end to end: real wrangler, real local D1 and KV, in a temporary --persist-to dir.
// Checks what the Worker relies on (hash in D1, KV cache purged on revoke) with wrangler directly,
// not through the script under test.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type E2eServer, startServer } from "./harness";

const ROOT = path.resolve(import.meta.dirname, "../..");
const WRANGLER = path.join(ROOT, "node_modules", ".bin", "wrangler");
const ID = (prefix: string) => new RegExp(`^${prefix}_[0-7][0-9a-hjkmnp-tv-z]{25}$`);
const API_KEY = /^ek_live_[A-Za-z0-9_-]{43}[0-9A-Za-z]{6}$/;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", ...env },
      stdio: ["ignore", "pipe", "pipe"],
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
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

let state: string;
const admin = (...args: string[]) =>
  run(process.execPath, ["scripts/admin.mjs", ...args, "--persist-to", state]);
const wrangler = (...args: string[]) => run(WRANGLER, [...args, "--local", "--persist-to", state]);

async function sql(query: string): Promise<Record<string, unknown>[]> {
  const r = await wrangler("d1", "execute", "DB", "--json", "--command", query);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return JSON.parse(r.stdout)[0].results;
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** The single JSON line a --json command prints. */
function jsonLine(r: Run): Record<string, unknown> {
  expect(r.code, r.stderr).toBe(0);
  const lines = r.stdout.split("\n");
  expect(lines).toHaveLength(2); // one line and its newline
  expect(lines[1]).toBe("");
  return JSON.parse(lines[0] ?? "");
}

beforeAll(async () => {
  state = await mkdtemp(path.join(tmpdir(), "encrypxon-admin-"));
});

afterAll(async () => {
  await rm(state, { recursive: true, force: true });
});

describe("admin: bad input", () => {
  // These fail before any wrangler call, so they are fast.
  test.each([
    [["app", "create"], /--name NAME is required/],
    [["app", "create", "--name", "x".repeat(101)], /too long/],
    [["app", "create", "--name", "a\u0007b"], /control characters/],
    [["key", "list", "--app", "app_not-an-id"], /--app must be an id/],
    [["key", "revoke", "--key", "key_0000000000000000000000000I"], /--key must be an id/],
    [["key", "revoke", "--key", "app_00000000000000000000000000"], /--key must be an id/],
    [["app", "frobnicate"], /unknown command/],
    [[], /no command/],
    [["app", "list", "--bogus"], /Unknown option '--bogus'/],
  ])("%j exits 1 with a message", async (args, message) => {
    const r = await admin(...args);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(message);
  });

  test("--help prints usage", async () => {
    const r = await admin("--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: npm run admin -- <command>/);
    expect(r.stdout).toMatch(/key revoke --key KEY_ID/);
  });
});

describe("admin: applications and keys", () => {
  const name = "O'Brien & Co; BEGIN TRANSACTION; -- 🚀";
  let appId: string;
  let firstKey: string;
  let firstKeyId: string;
  let secondKey: string;
  let secondKeyId: string;

  test("app create --json prints one JSON line; D1 holds the key's SHA-256, not the key", async () => {
    const created = jsonLine(await admin("app", "create", "--name", name, "--json"));
    expect(Object.keys(created).sort()).toEqual(["api_key", "app_id", "key_id"]);
    appId = String(created.app_id);
    firstKey = String(created.api_key);
    firstKeyId = String(created.key_id);
    expect(appId).toMatch(ID("app"));
    expect(firstKeyId).toMatch(ID("key"));
    expect(firstKey).toMatch(API_KEY);

    const rows = await sql(
      `SELECT k.id, k.app_id, k.key_hash, k.prefix, k.revoked_at, a.name FROM api_keys k ` +
        `JOIN applications a ON a.id = k.app_id WHERE k.app_id = '${appId}'`,
    );
    expect(rows).toEqual([
      {
        id: firstKeyId,
        app_id: appId,
        key_hash: sha256(firstKey),
        prefix: firstKey.slice(0, 12),
        revoked_at: null,
        name, // quotes, ';', "BEGIN TRANSACTION;" and '--' arrive unchanged
      },
    ]);
    expect(JSON.stringify(rows)).not.toContain(firstKey);
  });

  test("key create adds a second key; key list shows both, without hashes", async () => {
    const created = jsonLine(await admin("key", "create", "--app", appId, "--json"));
    secondKey = String(created.api_key);
    secondKeyId = String(created.key_id);
    expect(created.app_id).toBe(appId);
    expect(secondKey).toMatch(API_KEY);
    expect(secondKeyId).not.toBe(firstKeyId);

    const listed = jsonLine(await admin("key", "list", "--app", appId, "--json"));
    expect(listed.app_id).toBe(appId);
    expect(listed.name).toBe(name);
    const keys = listed.keys as Record<string, unknown>[];
    expect(keys.map((k) => k.key_id).sort()).toEqual([firstKeyId, secondKeyId].sort());
    for (const k of keys) {
      expect(Object.keys(k).sort()).toEqual([
        "app_id",
        "created_at",
        "expires_at",
        "key_id",
        "last_chars",
        "name",
        "prefix",
        "revoked_at",
      ]);
      expect(k.expires_at).toBeNull();
      expect(k.revoked_at).toBeNull();
      expect(Number.isNaN(Date.parse(String(k.created_at)))).toBe(false);
    }
    const text = JSON.stringify(listed);
    for (const secret of [firstKey, secondKey]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(sha256(secret));
    }
  });

  test("key revoke sets revoked_at and deletes the KV cache entry; a second revoke fails", async () => {
    // What the Worker caches after a key has been used once (src/auth/apiKey.ts).
    const cacheKey = `apikey:${sha256(firstKey)}`;
    const put = await wrangler(
      "kv",
      "key",
      "put",
      "--binding",
      "API_KEYS",
      cacheKey,
      JSON.stringify({ app_id: appId, key_id: firstKeyId }),
    );
    expect(put.code, put.stderr).toBe(0);

    const revoked = jsonLine(await admin("key", "revoke", "--key", firstKeyId, "--json"));
    expect(revoked).toMatchObject({ key_id: firstKeyId, app_id: appId });
    expect(Number.isNaN(Date.parse(String(revoked.revoked_at)))).toBe(false);

    const rows = await sql(
      `SELECT id, revoked_at FROM api_keys WHERE app_id = '${appId}' ORDER BY created_at`,
    );
    expect(rows.find((r) => r.id === firstKeyId)?.revoked_at).toEqual(expect.any(Number));
    expect(rows.find((r) => r.id === secondKeyId)?.revoked_at).toBeNull();

    const get = await wrangler("kv", "key", "get", "--binding", "API_KEYS", cacheKey);
    expect(get.stdout + get.stderr).toMatch(/Value not found/);

    const again = await admin("key", "revoke", "--key", firstKeyId);
    expect(again.code).toBe(1);
    expect(again.stdout).toBe("");
    expect(again.stderr).toMatch(/already revoked/);
  }, 240_000); // several wrangler runs, each slow on a loaded machine

  test("key rotate issues a named key; the old one gets an end of grace; every change is audited", async () => {
    const rotated = jsonLine(
      await admin("key", "rotate", "--key", secondKeyId, "--grace", "600", "--name", "v2", "--json"),
    );
    expect(rotated).toMatchObject({ app_id: appId, replaces: secondKeyId });
    expect(String(rotated.api_key)).toMatch(API_KEY);
    const ends = Date.parse(String(rotated.old_key_expires_at));
    expect(ends).toBeGreaterThan(Date.now() + 500_000);
    const rows = await sql(
      `SELECT id, name, last_chars, expires_at, replaced_by FROM api_keys WHERE app_id = '${appId}' ORDER BY created_at`,
    );
    expect(rows.find((r) => r.id === secondKeyId)).toMatchObject({
      expires_at: ends,
      replaced_by: rotated.key_id,
    });
    expect(rows.find((r) => r.id === rotated.key_id)).toMatchObject({
      name: "v2",
      last_chars: String(rotated.api_key).slice(-4),
    });
    const again = await admin("key", "rotate", "--key", secondKeyId);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already rotated/);
    const audit = await sql(`SELECT type FROM audit_events WHERE app_id = '${appId}' ORDER BY seq`);
    expect(audit.map((r) => r.type)).toEqual([
      "application.created",
      "api_key.created",
      "api_key.created",
      "api_key.revoked",
      "api_key.rotated",
    ]);
  }, 240_000); // several wrangler runs, each slow on a loaded machine

  test("unknown ids of the right shape exit 1", async () => {
    const missingApp = await admin("key", "create", "--app", "app_00000000000000000000000000", "--json");
    expect(missingApp.code).toBe(1);
    expect(missingApp.stdout).toBe("");
    expect(missingApp.stderr).toMatch(/no application with id app_0{26}/);
  });
});

describe("admin --url: the same commands through a running Worker's admin API", () => {
  const token = `eka_${"e2e".repeat(12)}`;
  let server: E2eServer;
  let envFile: string;
  const viaHttp = (...args: string[]) =>
    run(process.execPath, ["scripts/admin.mjs", "--url", server.baseUrl, ...args], {
      ENCRYPXON_ADMIN_TOKEN: token,
    });
  const get = (key: string) =>
    fetch(`${server.baseUrl}/v1/audit?limit=1`, { headers: { "x-api-key": key } }).then((r) => r.status);

  beforeAll(async () => {
    envFile = path.join(await mkdtemp(path.join(tmpdir(), "encrypxon-admin-env-")), "secrets.env");
    await writeFile(envFile, `ADMIN_TOKEN=${token}\n`, { mode: 0o600 });
    server = await startServer({ wranglerArgs: ["--env-file", envFile] });
    server.secret(token);
  }, 120_000);

  afterAll(async () => {
    await server?.cleanup();
    await rm(path.dirname(envFile), { recursive: true, force: true });
  });

  test("app create, key create, rotate, revoke: keys work and stop at once", async () => {
    const created = jsonLine(
      await viaHttp("app", "create", "--name", "Over HTTP", "--key-name", "first", "--json"),
    );
    const appId = String(created.app_id);
    expect(String(created.api_key)).toMatch(API_KEY);
    server.secret(String(created.api_key));
    expect(await get(String(created.api_key))).toBe(200);

    const rotated = jsonLine(
      await viaHttp(
        "key",
        "rotate",
        "--app",
        appId,
        "--key",
        String(created.key_id),
        "--grace",
        "0",
        "--json",
      ),
    );
    server.secret(String(rotated.api_key));
    expect(await get(String(rotated.api_key))).toBe(200);
    expect(await get(String(created.api_key))).toBe(401);

    const listed = jsonLine(await viaHttp("key", "list", "--app", appId, "--json"));
    expect((listed.keys as { name: string }[]).map((k) => k.name)).toEqual(["first", "first"]);

    const revoked = jsonLine(
      await viaHttp("key", "revoke", "--app", appId, "--key", String(rotated.key_id), "--json"),
    );
    expect(revoked.revoked_at).not.toBeNull();
    expect(await get(String(rotated.api_key))).toBe(401);
    const apps = jsonLine(await viaHttp("app", "list", "--json"));
    expect((apps.apps as { app_id: string }[]).map((a) => a.app_id)).toContain(appId);
    expect(server.logProblems()).toEqual([]);
  });

  test("a wrong operator secret is refused with the server's message", async () => {
    const r = await run(process.execPath, ["scripts/admin.mjs", "--url", server.baseUrl, "app", "list"], {
      ENCRYPXON_ADMIN_TOKEN: "wrong",
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/401 Unauthorized/);
  });
});
