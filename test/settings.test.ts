import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEFAULT_SETTINGS } from "../src/abuse/settings";
import { call, createApp, expectProblem } from "./helpers";

async function auditRows(appId: string) {
  const { results } = await env.DB.prepare(
    "SELECT detail FROM audit_events WHERE app_id = ?1 AND type = 'settings.updated' ORDER BY seq",
  )
    .bind(appId)
    .all<{ detail: string }>();
  return results.map((r) => JSON.parse(r.detail));
}

describe("GET/PATCH /v1/settings", () => {
  it("starts at the documented defaults", async () => {
    const app = await createApp();
    const res = await call("GET", "/v1/settings", { key: app.apiKey });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ object: "settings", ...DEFAULT_SETTINGS, updated_at: null });
  });

  it("changes only what is named, limit by limit, audits each change, and touches no other application", async () => {
    const app = await createApp();
    const other = await createApp();
    const first = await call("PATCH", "/v1/settings", {
      key: app.apiKey,
      body: { number_matching: true, limits: { user_challenges_per_minute: 3 } },
    });
    expect(first.status).toBe(200);
    const second = await call("PATCH", "/v1/settings", {
      key: app.apiKey,
      body: { limits: { user_pending_challenges: 2 } },
    });
    expect(second.body).toMatchObject({
      number_matching: true,
      fraud_auto_pause: true,
      limits: {
        ...DEFAULT_SETTINGS.limits,
        user_challenges_per_minute: 3,
        user_pending_challenges: 2,
      },
    });
    expect(second.body.updated_at).toMatch(/Z$/);
    expect(await auditRows(app.appId)).toEqual([
      { number_matching: true, limits: { user_challenges_per_minute: 3 } },
      { limits: { user_pending_challenges: 2 } },
    ]);
    const untouched = await call("GET", "/v1/settings", { key: other.apiKey });
    expect(untouched.body).toMatchObject({ ...DEFAULT_SETTINGS, updated_at: null });
  });

  it("concurrent patches of different limits both land", async () => {
    const app = await createApp();
    await Promise.all([
      call("PATCH", "/v1/settings", { key: app.apiKey, body: { limits: { api_key_per_minute: 50 } } }),
      call("PATCH", "/v1/settings", { key: app.apiKey, body: { limits: { device_ip_per_minute: 40 } } }),
      call("PATCH", "/v1/settings", { key: app.apiKey, body: { fraud_auto_pause: false } }),
    ]);
    const res = await call("GET", "/v1/settings", { key: app.apiKey });
    expect(res.body).toMatchObject({
      fraud_auto_pause: false,
      limits: { api_key_per_minute: 50, device_ip_per_minute: 40 },
    });
  });

  it("refuses bad values field by field and writes nothing", async () => {
    const app = await createApp();
    const cases: [unknown, string][] = [
      [{}, "body"],
      [{ number_matching: "yes" }, "number_matching"],
      [{ fraud_auto_pause: 1 }, "fraud_auto_pause"],
      [{ limits: { api_key_per_minute: 0 } }, "limits.api_key_per_minute"],
      [{ limits: { user_pending_challenges: 1.5 } }, "limits.user_pending_challenges"],
      [{ limits: { user_pending_challenges: 10_001 } }, "limits.user_pending_challenges"],
      [{ limits: { device_ip_per_minute: null } }, "limits.device_ip_per_minute"],
      [{ limits: { per_fortnight: 3 } }, "limits"],
      [{ colour: "red" }, "body"],
      [{ limits: [] }, "limits"],
      [{ limits: {} }, "limits"],
      [[], "body"],
    ];
    for (const [body, field] of cases) {
      const p = expectProblem(await call("PATCH", "/v1/settings", { key: app.apiKey, body }), 400);
      expect(
        p.errors.map((e: { field: string }) => e.field),
        JSON.stringify(body),
      ).toContain(field);
    }
    expect(await auditRows(app.appId)).toEqual([]);
    const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM app_settings WHERE app_id = ?1")
      .bind(app.appId)
      .first<{ n: number }>();
    expect(row?.n).toBe(0);
  });

  it("needs an API key", async () => {
    expectProblem(await call("GET", "/v1/settings"), 401);
    expectProblem(await call("PATCH", "/v1/settings", { body: { number_matching: true } }), 401);
  });
});
