import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { AUDIT_EVENT_TYPES, AUDIT_OUTCOMES } from "../src/db/auditEvents";
import { answer, call, createApp, enrollDevice, entropyFor, expectProblem, type Json } from "./helpers";

describe("audit trail", () => {
  it("records every step of enrollment and of each 2FA request", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "mia");
    const approved = await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: "mia" } });
    await answer(device, approved.body.id, "approve");
    const cancelled = await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: "mia" } });
    await call("DELETE", `/v1/challenges/${cancelled.body.id}`, { key: app.apiKey });

    const res = await call("GET", "/v1/audit", { key: app.apiKey });
    const types = (res.body.data as Json[]).map((e) => `${e.type}:${e.outcome}`).reverse();
    expect(types).toEqual([
      "enrollment.created:pending",
      "device.enrolled:pending",
      "device.activated:active",
      "enrollment.completed:completed",
      "challenge.created:pending",
      "challenge.resolved:approved",
      "challenge.created:pending",
      "challenge.resolved:cancelled",
    ]);
    const resolved = (res.body.data as Json[]).find((e) => e.outcome === "approved");
    expect(resolved).toMatchObject({
      challenge_id: approved.body.id,
      device_id: device.deviceId,
      user_id: "mia",
    });
    expect(resolved.id).toMatch(/^evt_/);
  });

  it("filters by user, type, outcome and time", async () => {
    const app = await createApp();
    await enrollDevice(app, "u1");
    await enrollDevice(app, "u2");
    const byUser = await call("GET", "/v1/audit?user_id=u2", { key: app.apiKey });
    expect(byUser.body.data.length).toBe(4);
    expect(new Set((byUser.body.data as Json[]).map((e) => e.user_id))).toEqual(new Set(["u2"]));
    const byType = await call("GET", "/v1/audit?type=device.activated", { key: app.apiKey });
    expect(byType.body.data.length).toBe(2);
    const byOutcome = await call("GET", "/v1/audit?outcome=completed", { key: app.apiKey });
    expect(byOutcome.body.data.length).toBe(2);
    const future = new Date(Date.now() + 60_000).toISOString();
    expect((await call("GET", `/v1/audit?since=${future}`, { key: app.apiKey })).body.data).toEqual([]);
    expect((await call("GET", `/v1/audit?until=${future}`, { key: app.apiKey })).body.data.length).toBe(8);
  });

  it("pages with an opaque cursor: every event exactly once, newest first", async () => {
    const app = await createApp();
    const stmts = Array.from({ length: 23 }, (_, i) =>
      env.DB.prepare(
        "INSERT INTO audit_events (id, app_id, type, outcome, user_id, created_at) VALUES (?1, ?2, 'test.event', 'ok', 'p', ?3)",
      ).bind(`evt_page${String(i).padStart(22, "0")}`, app.appId, 1_700_000_000_000 + i),
    );
    await env.DB.batch(stmts);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor ? `&cursor=${cursor}` : "";
      const res = await call("GET", `/v1/audit?limit=5${q}`, { key: app.apiKey });
      expect(res.status).toBe(200);
      seen.push(...(res.body.data as Json[]).map((e) => e.id as string));
      cursor = res.body.next_cursor;
      expect(res.body.has_more).toBe(cursor !== null);
      pages++;
    } while (cursor);
    expect(pages).toBe(5);
    expect(seen).toHaveLength(23);
    expect(new Set(seen).size).toBe(23);
    expect(seen[0]).toBe(`evt_page${String(22).padStart(22, "0")}`);
  });

  it("time filters are exact at their bounds and combine with the cursor", async () => {
    const app = await createApp();
    const t0 = 1_700_000_000_000;
    await env.DB.batch(
      Array.from({ length: 10 }, (_, i) =>
        env.DB.prepare(
          "INSERT INTO audit_events (id, app_id, type, outcome, created_at) VALUES (?1, ?2, 'test.event', 'ok', ?3)",
        ).bind(`evt_time${String(i).padStart(22, "0")}`, app.appId, t0 + i * 1000),
      ),
    );
    const at = (ms: number) => new Date(ms).toISOString();
    const since = await call("GET", `/v1/audit?since=${at(t0 + 5000)}`, { key: app.apiKey });
    expect(since.body.data.map((e: Json) => e.created_at)).toEqual(
      [9, 8, 7, 6, 5].map((i) => at(t0 + i * 1000)),
    );
    const until = await call("GET", `/v1/audit?until=${at(t0 + 3000)}`, { key: app.apiKey });
    expect(until.body.data.map((e: Json) => e.created_at)).toEqual([2, 1, 0].map((i) => at(t0 + i * 1000)));
    const both = await call("GET", `/v1/audit?since=${at(t0 + 2000)}&until=${at(t0 + 7000)}&limit=2`, {
      key: app.apiKey,
    });
    const next = await call(
      "GET",
      `/v1/audit?since=${at(t0 + 2000)}&until=${at(t0 + 7000)}&limit=10&cursor=${both.body.next_cursor}`,
      { key: app.apiKey },
    );
    const all = [...both.body.data, ...next.body.data].map((e: Json) => e.created_at);
    expect(all).toEqual([6, 5, 4, 3, 2].map((i) => at(t0 + i * 1000)));
  });

  it("since and until take a date alone, as its midnight UTC", async () => {
    const app = await createApp();
    const day = (d: string, hh: string) => Date.parse(`${d}T${hh}:00:00Z`);
    await env.DB.batch(
      [
        day("2026-12-03", "23"),
        day("2026-12-04", "00"),
        day("2026-12-04", "12"),
        day("2026-12-05", "00"),
      ].map((at, i) =>
        env.DB.prepare(
          "INSERT INTO audit_events (id, app_id, type, outcome, created_at) VALUES (?1, ?2, 'user.paused', 'paused', ?3)",
        ).bind(`evt_date${String(i).padStart(22, "0")}`, app.appId, at),
      ),
    );
    const times = async (q: string) => {
      const res = await call("GET", `/v1/audit?${q}`, { key: app.apiKey });
      expect(res.status, `${q}: ${JSON.stringify(res.body)}`).toBe(200);
      return res.body.data.map((e: Json) => e.created_at);
    };
    expect(await times("since=2026-12-04&until=2026-12-05")).toEqual([
      "2026-12-04T12:00:00.000Z",
      "2026-12-04T00:00:00.000Z",
    ]);
    expect(await times("since=2026-12-04")).toEqual(await times("since=2026-12-04T00:00:00Z"));
    expect(await times("until=2026-12-04")).toEqual(["2026-12-03T23:00:00.000Z"]);
    for (const q of ["since=2026-02-30", "since=2026-12-4", "until=20261204", "since=2026-12-04T10:00"]) {
      const p = expectProblem(await call("GET", `/v1/audit?${q}`, { key: app.apiKey }), 400);
      expect(p.errors[0].message, q).toMatch(/ISO-8601 timestamp .* or date/);
    }
  });

  it("type and outcome must be ones the service writes; a misspelt one is a 400 naming them", async () => {
    const app = await createApp();
    for (const [q, field, list] of [
      ["type=nope", "type", AUDIT_EVENT_TYPES],
      ["type=challenge.resolve", "type", AUDIT_EVENT_TYPES],
      ["outcome=zzz", "outcome", AUDIT_OUTCOMES],
      ["outcome=Approved", "outcome", AUDIT_OUTCOMES],
    ] as const) {
      const p = expectProblem(await call("GET", `/v1/audit?${q}`, { key: app.apiKey }), 400);
      expect(p.errors).toEqual([{ field, message: `must be one of ${list.join(", ")}` }]);
    }
    for (const type of AUDIT_EVENT_TYPES) {
      expect((await call("GET", `/v1/audit?type=${type}`, { key: app.apiKey })).status, type).toBe(200);
    }
    for (const outcome of AUDIT_OUTCOMES) {
      expect((await call("GET", `/v1/audit?outcome=${outcome}`, { key: app.apiKey })).status, outcome).toBe(
        200,
      );
    }
  });

  it("every event a full run writes has a listed type and outcome", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "lisa");
    const ok = await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: "lisa" } });
    await answer(device, ok.body.id, "approve");
    const no = await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: "lisa" } });
    await call("POST", `/v1/device/challenges/${no.body.id}/response`, {
      token: device.token,
      body: { entropy: await entropyFor(device, no.body.id), decision: "deny", reason: "not_me" },
    });
    await call("DELETE", `/v1/users/lisa/pause`, { key: app.apiKey });
    await call("PATCH", "/v1/settings", { key: app.apiKey, body: { number_matching: true } });
    await call("DELETE", `/v1/devices/${device.deviceId}`, { key: app.apiKey });
    const { results } = await env.DB.prepare(
      "SELECT DISTINCT type, outcome FROM audit_events WHERE app_id = ?1",
    )
      .bind(app.appId)
      .all<{ type: string; outcome: string | null }>();
    expect(results.length).toBeGreaterThan(8);
    for (const r of results) {
      expect(AUDIT_EVENT_TYPES as readonly string[], r.type).toContain(r.type);
      if (r.outcome !== null) expect(AUDIT_OUTCOMES as readonly string[], r.outcome).toContain(r.outcome);
    }
  });

  it("rejects bad filters and cursors", async () => {
    const app = await createApp();
    for (const q of [
      "limit=0",
      "limit=201",
      "limit=x",
      "since=yesterday",
      "type=nope",
      "outcome=zzz",
      "cursor=abc",
      "cursor=evt_",
      "cursor=c1_7",
    ]) {
      expectProblem(await call("GET", `/v1/audit?${q}`, { key: app.apiKey }), 400);
    }
  });

  it("a failed audit write fails the call and leaves nothing half-written", async () => {
    const app = await createApp();
    await enrollDevice(app, "nia");
    const before = await env.DB.prepare("SELECT COUNT(*) AS n FROM challenges").first<{ n: number }>();
    // Make audit inserts fail: a trigger that aborts any new row.
    await env.DB.prepare(
      "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit unavailable'); END",
    ).run();
    try {
      const res = await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: "nia" } });
      expect(res.status).toBe(500);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(JSON.stringify(res.body)).not.toMatch(/audit unavailable|D1|SQL|trigger/i);
      const enr = await call("POST", "/v1/enrollments", { key: app.apiKey, body: { user_id: "nia" } });
      expect(enr.status).toBe(500);
    } finally {
      await env.DB.prepare("DROP TRIGGER audit_down").run();
    }
    const after = await env.DB.prepare("SELECT COUNT(*) AS n FROM challenges").first<{ n: number }>();
    expect(after?.n).toBe(before?.n);
    const enrollments = await env.DB.prepare("SELECT COUNT(*) AS n FROM enrollments WHERE app_id = ?1")
      .bind(app.appId)
      .first<{ n: number }>();
    expect(enrollments?.n).toBe(1);
    // The service recovers once the audit store does.
    expect((await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: "nia" } })).status).toBe(
      201,
    );
  });
});
