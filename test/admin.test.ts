// The admin API: applications and the API key life cycle (issue, list, rotate, revoke), guarded by the
// operator secret, with audit rows for every key change.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { kvKeyFor } from "../src/auth/apiKey";
import { keyChecksum, plausibleApiKey } from "../src/auth/keyFormat";
import { sha256Hex } from "../src/crypto/hash";
import type { Env } from "../src/env";
import worker from "../src/index";
import { BASE, call, createApp, expectProblem, type Json } from "./helpers";

const TOKEN = env.ADMIN_TOKEN ?? "";

function adminCall(method: string, path: string, body?: unknown, token: string | null = TOKEN) {
  return call(method, path, { body, headers: token === null ? {} : { authorization: `Bearer ${token}` } });
}

async function newApp(name = "Shop"): Promise<Json> {
  const res = await adminCall("POST", "/v1/admin/apps", { name });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function issue(appId: string, body: unknown = {}): Promise<Json> {
  const res = await adminCall("POST", `/v1/admin/apps/${appId}/keys`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

const asApp = (key: string) => call("GET", "/v1/audit?limit=1", { key });

async function auditTypes(appId: string): Promise<Json[]> {
  const { results } = await env.DB.prepare(
    "SELECT type, outcome, detail FROM audit_events WHERE app_id = ?1 ORDER BY seq",
  )
    .bind(appId)
    .all<{ type: string; outcome: string | null; detail: string }>();
  return results.map((r) => ({ type: r.type, outcome: r.outcome, detail: JSON.parse(r.detail) }));
}

describe("admin API: applications and keys", () => {
  it("creates an application, issues two named keys that both work, lists them without secrets", async () => {
    expect(TOKEN.length).toBeGreaterThanOrEqual(32);
    const app = await newApp("Acme Web");
    expect(app).toMatchObject({ object: "application", name: "Acme Web", key_count: 0, active_keys: 0 });
    const a = await issue(app.id, { name: "web servers" });
    const b = await issue(app.id, { name: "batch jobs", mode: "test" });
    expect(a.api_key).toMatch(/^ek_live_[A-Za-z0-9_-]{43}[0-9A-Za-z]{6}$/);
    expect(b.api_key).toMatch(/^ek_test_/);
    expect(plausibleApiKey(a.api_key)).toBe(true);
    expect(a).toMatchObject({ name: "web servers", mode: "live", status: "active", app_id: app.id });
    expect(a.prefix).toBe(a.api_key.slice(0, 12));
    expect(a.last_chars).toBe(a.api_key.slice(-4));
    expect((await asApp(a.api_key)).status).toBe(200);
    expect((await asApp(b.api_key)).status).toBe(200);

    const list = await adminCall("GET", `/v1/admin/apps/${app.id}/keys`);
    expect(list.status).toBe(200);
    expect(list.body.data.map((k: Json) => k.name)).toEqual(["web servers", "batch jobs"]);
    const text = JSON.stringify(list.body);
    for (const secret of [a.api_key, b.api_key]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(secret.slice(12, -4));
      expect(text).not.toContain(await sha256Hex(secret));
    }
    const got = await adminCall("GET", `/v1/admin/apps/${app.id}`);
    expect(got.body).toMatchObject({ id: app.id, key_count: 2, active_keys: 2 });
    const all = await adminCall("GET", "/v1/admin/apps");
    expect(all.body.data.map((x: Json) => x.id)).toContain(app.id);
    expect((await auditTypes(app.id)).map((e) => e.type)).toEqual([
      "application.created",
      "api_key.created",
      "api_key.created",
    ]);
  });

  it("rotation: a new key at once, the old one works until its grace ends, or stops with grace 0", async () => {
    const app = await newApp();
    const old = await issue(app.id, { name: "main" });
    const rot = await adminCall("POST", `/v1/admin/apps/${app.id}/keys/${old.id}/rotate`, {
      grace_seconds: 3600,
    });
    expect(rot.status, JSON.stringify(rot.body)).toBe(201);
    expect(rot.body).toMatchObject({ name: "main", status: "active", mode: "live" });
    expect(rot.body.replaces).toMatchObject({ id: old.id, status: "expiring", replaced_by: rot.body.id });
    const ends = Date.parse(rot.body.replaces.expires_at);
    expect(ends).toBeGreaterThan(Date.now() + 3590_000);
    expect(ends).toBeLessThanOrEqual(Date.now() + 3600_000);
    expect((await asApp(rot.body.api_key)).status).toBe(200);
    expect((await asApp(old.api_key)).status).toBe(200);

    // An expiring key does not rotate again; its replacement does.
    const again = await adminCall("POST", `/v1/admin/apps/${app.id}/keys/${old.id}/rotate`, {});
    expect(expectProblem(again, 409).key_status).toBe("expiring");

    const now = await adminCall("POST", `/v1/admin/apps/${app.id}/keys/${rot.body.id}/rotate`, {
      grace_seconds: 0,
    });
    expect(now.status).toBe(201);
    expectProblem(await asApp(rot.body.api_key), 401);
    expect((await asApp(now.body.api_key)).status).toBe(200);
    expect((await asApp(old.api_key)).status).toBe(200);

    const rotated = (await auditTypes(app.id)).filter((e) => e.type === "api_key.rotated");
    expect(rotated.map((e) => e.detail.key_id)).toEqual([old.id, rot.body.id]);
    expect(rotated[1].detail.new_key_id).toBe(now.body.id);
  });

  it("the grace period ends even for a key cached in KV before the rotation", async () => {
    const app = await newApp();
    const old = await issue(app.id);
    expect((await asApp(old.api_key)).status).toBe(200); // now cached
    const hash = await sha256Hex(old.api_key);
    expect(await env.API_KEYS.get(kvKeyFor(hash))).not.toBeNull();
    await adminCall("POST", `/v1/admin/apps/${app.id}/keys/${old.id}/rotate`, { grace_seconds: 1 });
    // The rotation dropped the entry; the next use caches the end of grace with it.
    expect((await asApp(old.api_key)).status).toBe(200);
    const cached = await env.API_KEYS.get<Json>(kvKeyFor(hash), "json");
    expect(cached?.expires_at).toBeGreaterThan(Date.now() - 1);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 1500);
    try {
      expectProblem(await asApp(old.api_key), 401);
    } finally {
      vi.useRealTimers();
    }
  });

  it("revocation is immediate here, even for a cached key, and is audited", async () => {
    const app = await newApp();
    const a = await issue(app.id, { name: "leaked" });
    const b = await issue(app.id, { name: "kept" });
    expect((await asApp(a.api_key)).status).toBe(200); // cached in KV now
    const res = await adminCall("DELETE", `/v1/admin/apps/${app.id}/keys/${a.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: a.id, status: "revoked" });
    expect(await env.API_KEYS.get(kvKeyFor(await sha256Hex(a.api_key)))).toBeNull();
    const refused = expectProblem(await asApp(a.api_key), 401);
    expect(refused).toEqual(expectProblem(await asApp(`${a.api_key.slice(0, -6)}AAAAAA`), 401));
    expect((await asApp(b.api_key)).status).toBe(200);
    expect(
      expectProblem(await adminCall("DELETE", `/v1/admin/apps/${app.id}/keys/${a.id}`), 409).type,
    ).toMatch(/api-key-revoked$/);
    expect(
      expectProblem(await adminCall("POST", `/v1/admin/apps/${app.id}/keys/${a.id}/rotate`, {}), 409)
        .key_status,
    ).toBe("revoked");
    const revoked = (await auditTypes(app.id)).filter((e) => e.type === "api_key.revoked");
    expect(revoked).toEqual([
      {
        type: "api_key.revoked",
        outcome: "revoked",
        detail: { key_id: a.id, name: "leaked", prefix: a.prefix },
      },
    ]);
    // The application sees its key events in its own audit trail.
    const seen = await call("GET", "/v1/audit?type=api_key.revoked", { key: b.api_key });
    expect(seen.body.data).toHaveLength(1);
  });

  it("keeps applications apart: another application's key or id is a 404", async () => {
    const one = await newApp("one");
    const two = await newApp("two");
    const k1 = await issue(one.id);
    const k2 = await issue(two.id);
    for (const [method, path] of [
      ["GET", `/v1/admin/apps/${two.id}/keys/${k1.id}`],
      ["DELETE", `/v1/admin/apps/${two.id}/keys/${k1.id}`],
      ["POST", `/v1/admin/apps/${two.id}/keys/${k1.id}/rotate`],
    ] as const) {
      expectProblem(await adminCall(method, path, method === "POST" ? {} : undefined), 404);
    }
    expect((await asApp(k1.api_key)).status).toBe(200);
    const listed = await adminCall("GET", `/v1/admin/apps/${two.id}/keys`);
    expect(listed.body.data.map((k: Json) => k.id)).toEqual([k2.id]);
    // A key authenticates as its own application only.
    const mine = await call("GET", "/v1/audit?type=api_key.created", { key: k2.api_key });
    expect(mine.body.data.map((e: Json) => e.detail.key_id)).toEqual([k2.id]);
    const missing = "app_00000000000000000000000000";
    expectProblem(await adminCall("POST", `/v1/admin/apps/${missing}/keys`, {}), 404);
    expectProblem(await adminCall("GET", `/v1/admin/apps/${missing}/keys`), 404);
    expectProblem(await adminCall("GET", "/v1/admin/apps/app_nope"), 404);
  });

  it("refuses bad bodies as problem+json", async () => {
    const app = await newApp();
    expectProblem(await adminCall("POST", "/v1/admin/apps", {}), 400);
    expectProblem(await adminCall("POST", "/v1/admin/apps", { name: "   " }), 400);
    expectProblem(await adminCall("POST", `/v1/admin/apps/${app.id}/keys`, { mode: "prod" }), 400);
    const k = await issue(app.id);
    expectProblem(
      await adminCall("POST", `/v1/admin/apps/${app.id}/keys/${k.id}/rotate`, { grace_seconds: -1 }),
      400,
    );
  });

  it("keys made before the checksum still work; a wrong checksum is refused without a lookup", async () => {
    const legacy = await createApp(); // helpers make checksum-less keys, as older versions did
    expect(plausibleApiKey(legacy.apiKey)).toBe(true);
    expect((await asApp(legacy.apiKey)).status).toBe(200);
    const app = await newApp();
    const k = await issue(app.id);
    const head = k.api_key.slice(0, -6);
    expect(keyChecksum(head)).toBe(k.api_key.slice(-6));
    const flipped = head.slice(0, 20) + (head[20] === "A" ? "B" : "A") + head.slice(21) + k.api_key.slice(-6);
    expect(plausibleApiKey(flipped)).toBe(false);
    expectProblem(await asApp(flipped), 401);
  });
});

describe("admin API: the operator secret", () => {
  const paths = [
    ["GET", "/v1/admin/apps"],
    ["POST", "/v1/admin/apps"],
    ["GET", "/v1/admin/apps/app_00000000000000000000000000/keys"],
    ["DELETE", "/v1/admin/apps/app_00000000000000000000000000/keys/key_00000000000000000000000000"],
  ] as const;

  it("a missing or wrong secret is 401, with one body whatever the guess", async () => {
    const bodies = new Set<string>();
    for (const [method, path] of paths) {
      for (const token of [null, "", "x", TOKEN.slice(0, -1), `${TOKEN}x`, TOKEN.toUpperCase()]) {
        const res = await adminCall(method, path, method === "POST" ? { name: "x" } : undefined, token);
        const body = expectProblem(res, 401);
        expect(res.headers.get("www-authenticate")).toContain("Bearer");
        bodies.add(JSON.stringify(body));
      }
      const basic = await call(method, path, {
        headers: { authorization: `Basic ${btoa(`admin:${TOKEN}`)}` },
      });
      bodies.add(JSON.stringify(expectProblem(basic, 401)));
    }
    expect(bodies.size).toBe(1);
    // An API key is not an operator secret.
    const app = await createApp();
    expectProblem(await call("GET", "/v1/admin/apps", { key: app.apiKey }), 401);
  });

  async function direct(method: string, path: string, overrides: Partial<Env>) {
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request(`${BASE}${path}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: method === "POST" ? "{}" : undefined,
      }),
      { ...env, ...overrides },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return { status: res.status, headers: res.headers, body: (await res.json()) as Json };
  }

  it("without the secret configured (or with a short one) there are no admin routes: 404, never 405", async () => {
    for (const overrides of [{ ADMIN_TOKEN: undefined }, { ADMIN_TOKEN: "" }, { ADMIN_TOKEN: "short" }]) {
      for (const [method, path] of [...paths, ["PUT", "/v1/admin/apps"], ["GET", "/v1/admin"]] as const) {
        const res = await direct(method, path, overrides);
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(res.headers.get("allow")).toBeNull();
        const unknown = await direct(method, path.replace("/v1/admin", "/v1/nothing"), overrides);
        expect(res.body.title).toBe(unknown.body.title);
        expect(res.body.type).toBe(unknown.body.type);
      }
    }
    // With it, the same call works.
    expect((await direct("GET", "/v1/admin/apps", {})).status).toBe(200);
  });
});
