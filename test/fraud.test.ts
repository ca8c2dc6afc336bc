import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  answer,
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

const status = async (app: TestApp, id: string) =>
  (await call("GET", `/v1/challenges/${id}`, { key: app.apiKey })).body;

/** Polls until `read` gives something other than "pending" (the close runs after the report's answer). */
async function eventually(read: () => Promise<unknown>, ms = 5_000): Promise<unknown> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (value !== "pending" || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
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

    // Two challenges pending, the first reported: one pause, and the other prompt is closed with it.
    const second = await create(app, "kim");
    expect((await deny(device, wrong.body.id, "not_me")).body.fraud_reported).toBe(true);
    expect(await audit(app.appId, "user.paused")).toEqual([
      expect.objectContaining({ challenge_id: wrong.body.id }),
    ]);
    const pause = await call("GET", "/v1/users/kim/pause", { key: app.apiKey });
    expect(pause.body.challenge_id).toBe(wrong.body.id);
    expect(await eventually(async () => (await status(app, second.body.id)).status)).toBe("cancelled");
  });

  it("closes the user's other pending prompts, so none of them can be approved by reflex", async () => {
    const app = await createApp();
    const phone = await enrollDevice(app, "max");
    const tablet = await enrollDevice(app, "max");
    const reported = await create(app, "max");
    const others = [await create(app, "max"), await create(app, "max")];
    const bystander = await enrollDevice(app, "ned");
    const unrelated = await create(app, "ned");
    // The entropy of a prompt as the other device holds it, decrypted while it was still pending.
    const entropy = await entropyFor(tablet, others[0]?.body.id);

    expect((await deny(phone, reported.body.id, "not_me")).body.fraud_reported).toBe(true);
    // Whether the close has landed yet or not, the approval does not count.
    const late = await call("POST", `/v1/device/challenges/${others[0]?.body.id}/response`, {
      token: tablet.token,
      body: { entropy, decision: "approve" },
    });
    expect([409, 423]).toContain(late.status);
    for (const other of others) {
      expect(await eventually(async () => (await status(app, other.body.id)).status)).toBe("cancelled");
      expect((await status(app, other.body.id)).reason).toBe("user_paused");
    }
    const cancelled = (await audit(app.appId, "challenge.resolved")).filter((r) => r.outcome === "cancelled");
    expect(cancelled.map((r) => r.challenge_id).sort()).toEqual(others.map((o) => o.body.id).sort());
    expect(cancelled.every((r) => r.detail.reason === "user_paused")).toBe(true);
    // Another user's prompt is untouched.
    expect((await status(app, unrelated.body.id)).status).toBe("pending");
    expect((await answer(bystander, unrelated.body.id, "approve")).body.status).toBe("approved");
  });

  it("while a user is paused an approval is refused (423) and costs nothing; a deny still lands", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "oli");
    const a = await create(app, "oli");
    const b = await create(app, "oli");
    // Paused behind the challenges' backs, as a racing report on another device would.
    await env.DB.prepare(
      "INSERT INTO user_pauses (app_id, user_id, challenge_id, device_id, paused_at) VALUES (?1, 'oli', ?2, NULL, ?3)",
    )
      .bind(app.appId, a.body.id, Date.now())
      .run();
    const refused = expectProblem(await answer(device, b.body.id, "approve"), 423);
    expect(refused.type).toMatch(/user-paused$/);
    expect(refused.detail).toContain("did not count");
    expect((await status(app, b.body.id)).status).toBe("pending");
    expect((await answer(device, b.body.id, "deny")).body.status).toBe("denied");
    expect((await answer(device, a.body.id, "deny")).body.status).toBe("denied");
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
