import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  call,
  createApp,
  enrollDevice,
  entropyFor,
  expectProblem,
  type TestApp,
  type TestDevice,
} from "./helpers";

async function deny(device: TestDevice, id: string, reason?: string, entropy?: string) {
  return call("POST", `/v1/device/challenges/${id}/response`, {
    token: device.token,
    body: {
      entropy: entropy ?? (await entropyFor(device, id)),
      decision: "deny",
      ...(reason !== undefined && { reason }),
    },
  });
}

const create = (app: TestApp, user: string) =>
  call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: user } });

async function audit(appId: string, type: string) {
  const { results } = await env.DB.prepare(
    "SELECT outcome, user_id, challenge_id, device_id, detail FROM audit_events WHERE app_id = ?1 AND type = ?2 ORDER BY seq",
  )
    .bind(appId, type)
    .all<{ outcome: string; user_id: string; challenge_id: string; device_id: string; detail: string }>();
  return results.map((r) => ({ ...r, detail: r.detail ? JSON.parse(r.detail) : null }));
}

describe('"this wasn\'t me"', () => {
  it("marks the challenge, is audited, pauses the user until the application clears it", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "hal");
    await enrollDevice(app, "ivy");
    const chl = await create(app, "hal");
    const denied = await deny(device, chl.body.id, "not_me");
    expect(denied.body).toMatchObject({ status: "denied", reason: "not_me", fraud_reported: true });
    const view = await call("GET", `/v1/challenges/${chl.body.id}`, { key: app.apiKey });
    expect(view.body).toMatchObject({ status: "denied", reason: "not_me", fraud_reported: true });

    const resolved = await audit(app.appId, "challenge.resolved");
    expect(resolved).toEqual([
      expect.objectContaining({
        outcome: "denied",
        challenge_id: chl.body.id,
        detail: { reason: "not_me", fraud_reported: true, wrong_answers: 0 },
      }),
    ]);
    expect(await audit(app.appId, "user.paused")).toEqual([
      expect.objectContaining({
        outcome: "paused",
        user_id: "hal",
        challenge_id: chl.body.id,
        device_id: device.deviceId,
      }),
    ]);

    const pause = await call("GET", "/v1/users/hal/pause", { key: app.apiKey });
    expect(pause.body).toMatchObject({
      object: "user_pause",
      user_id: "hal",
      paused: true,
      challenge_id: chl.body.id,
      device_id: device.deviceId,
    });
    expect(pause.body.paused_at).toMatch(/Z$/);

    const refused = expectProblem(await create(app, "hal"), 423);
    expect(refused.type).toMatch(/user-paused$/);
    expect(refused.detail).toContain(chl.body.id);
    expect(refused.detail).toContain("DELETE /v1/users/{user_id}/pause");
    expect(refused.challenge_id).toBe(chl.body.id);
    expect((await audit(app.appId, "challenge.refused")).map((r) => [r.outcome, r.user_id])).toEqual([
      ["user_paused", "hal"],
    ]);
    const count = await env.DB.prepare(
      "SELECT COUNT(*) AS n FROM challenges WHERE app_id = ?1 AND user_id = 'hal'",
    )
      .bind(app.appId)
      .first<{ n: number }>();
    expect(count?.n).toBe(1);
    // Other users of the application are not affected.
    expect((await create(app, "ivy")).status).toBe(201);

    const cleared = await call("DELETE", "/v1/users/hal/pause", { key: app.apiKey });
    expect(cleared.status).toBe(200);
    expect(cleared.body).toMatchObject({ paused: false, paused_at: null, challenge_id: null });
    expect((await call("GET", "/v1/users/hal/pause", { key: app.apiKey })).body.paused).toBe(false);
    expect(await audit(app.appId, "user.unpaused")).toEqual([
      expect.objectContaining({ outcome: "cleared", user_id: "hal", challenge_id: chl.body.id }),
    ]);
    expect((await create(app, "hal")).status).toBe(201);
    // Clearing again changes nothing and writes nothing.
    expect((await call("DELETE", "/v1/users/hal/pause", { key: app.apiKey })).status).toBe(200);
    expect(await audit(app.appId, "user.unpaused")).toHaveLength(1);
  });

  it("with fraud_auto_pause off the report is recorded but the user is not paused", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "jo");
    await call("PATCH", "/v1/settings", { key: app.apiKey, body: { fraud_auto_pause: false } });
    const chl = await create(app, "jo");
    expect((await deny(device, chl.body.id, "not_me")).body.fraud_reported).toBe(true);
    expect(await audit(app.appId, "user.paused")).toEqual([]);
    expect((await call("GET", "/v1/users/jo/pause", { key: app.apiKey })).body.paused).toBe(false);
    expect((await create(app, "jo")).status).toBe(201);
  });

  it("another reason, a wrong entropy or a second report do not pause (again)", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "kim");
    const plain = await create(app, "kim");
    expect((await deny(device, plain.body.id, "changed my mind")).body).toMatchObject({
      status: "denied",
      fraud_reported: false,
    });
    const wrong = await create(app, "kim");
    expectProblem(await deny(device, wrong.body.id, "not_me", "A".repeat(43)), 422);
    expect((await call("GET", "/v1/users/kim/pause", { key: app.apiKey })).body.paused).toBe(false);

    // Two challenges pending, both reported: one pause, one user.paused row, naming the first report.
    const second = await create(app, "kim");
    expect((await deny(device, wrong.body.id, "not_me")).body.fraud_reported).toBe(true);
    expect((await deny(device, second.body.id, "not_me")).body.fraud_reported).toBe(true);
    expect(await audit(app.appId, "user.paused")).toEqual([
      expect.objectContaining({ challenge_id: wrong.body.id }),
    ]);
    const pause = await call("GET", "/v1/users/kim/pause", { key: app.apiKey });
    expect(pause.body.challenge_id).toBe(wrong.body.id);
  });

  it("a pause belongs to one application, and user ids are checked like everywhere else", async () => {
    const app = await createApp();
    const other = await createApp();
    const device = await enrollDevice(app, "lee");
    await enrollDevice(other, "lee");
    const chl = await create(app, "lee");
    await deny(device, chl.body.id, "not_me");
    expect((await call("GET", "/v1/users/lee/pause", { key: other.apiKey })).body.paused).toBe(false);
    expect((await create(other, "lee")).status).toBe(201);
    await call("DELETE", "/v1/users/lee/pause", { key: other.apiKey });
    expect((await call("GET", "/v1/users/lee/pause", { key: app.apiKey })).body.paused).toBe(true);
    expectProblem(await call("GET", "/v1/users/%ZZ/pause", { key: app.apiKey }), 400);
    expectProblem(await call("GET", "/v1/users/lee/pause"), 401);
  });
});
