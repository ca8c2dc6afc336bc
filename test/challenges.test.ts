import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MAX_WRONG_ANSWERS } from "../src/durable/challenge";
import { answer, call, createApp, enrollDevice, entropyFor, expectProblem } from "./helpers";

const WRONG = "A".repeat(43);

async function setup(user = "dave") {
  const app = await createApp();
  const device = await enrollDevice(app, user);
  const created = await call("POST", "/v1/challenges", {
    key: app.apiKey,
    body: { user_id: user, context: { title: "Log in", message: "From Firefox on Linux" } },
  });
  expect(created.status).toBe(201);
  return { app, device, id: created.body.id as string };
}

describe("POST /v1/challenges", () => {
  it("answers 422 for a user without an active device, and writes nothing", async () => {
    const app = await createApp();
    const res = await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: "nobody" } });
    expect(expectProblem(res, 422).type).toMatch(/no-active-device$/);
    const rows = await env.DB.prepare("SELECT COUNT(*) AS n FROM challenges").first<{ n: number }>();
    expect(rows?.n).toBe(0);
  });

  it("validates the body field by field", async () => {
    const app = await createApp();
    const cases: [unknown, string][] = [
      [{}, "user_id"],
      [{ user_id: "" }, "user_id"],
      [{ user_id: "x", ttl_seconds: 5 }, "ttl_seconds"],
      [{ user_id: "x", ttl_seconds: 601 }, "ttl_seconds"],
      [{ user_id: "x", wait_seconds: 26 }, "wait_seconds"],
      [{ user_id: "x", context: { title: "t".repeat(101) } }, "context.title"],
      [{ user_id: "x", context: { colour: "red" } }, "context"],
      [{ user_id: "x", surprise: 1 }, "body"],
      [{ user_id: "a\u0000b" }, "user_id"],
      [[1, 2], "body"],
    ];
    for (const [body, field] of cases) {
      const p = expectProblem(await call("POST", "/v1/challenges", { key: app.apiKey, body }), 400);
      expect(
        p.errors.map((e: { field: string }) => e.field),
        JSON.stringify(body),
      ).toContain(field);
    }
  });

  it("encrypts to every active device of the user and to no one else", async () => {
    const app = await createApp();
    const a = await enrollDevice(app, "erin", "ecies-p256");
    const b = await enrollDevice(app, "erin", "rsa-oaep-sha1");
    const other = await enrollDevice(app, "frank");
    const created = await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: "erin" } });
    expect(created.body.devices).toBe(2);
    const id = created.body.id as string;
    const ea = await entropyFor(a, id);
    expect(ea).toBe(await entropyFor(b, id));
    const seen = await call("GET", "/v1/device/challenges", { token: other.token });
    expect(seen.body.data).toHaveLength(0);
    // The first answer wins; the second device finds it closed.
    expect((await answer(b, id, "approve")).body.status).toBe("approved");
    expect(expectProblem(await answer(a, id, "deny", ea), 409).challenge_status).toBe("approved");
  });

  it("with wait_seconds returns once the device has answered", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "gina");
    const pending = call("POST", "/v1/challenges", {
      key: app.apiKey,
      body: { user_id: "gina", wait_seconds: 10 },
    });
    let id: string | undefined;
    for (let i = 0; i < 50 && !id; i++) {
      const list = await call("GET", "/v1/device/challenges", { token: device.token });
      id = list.body.data[0]?.id;
      if (!id) await new Promise((r) => setTimeout(r, 20));
    }
    expect(id).toBeDefined();
    await answer(device, id!, "approve");
    const res = await pending;
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ id, status: "approved" });
  });
});

describe("GET /v1/challenges/{id}", () => {
  it("long-polls: returns as soon as the device answers, well before the wait ends", async () => {
    const { app, device, id } = await setup();
    const started = Date.now();
    const polling = call("GET", `/v1/challenges/${id}?wait=20`, { key: app.apiKey });
    await new Promise((r) => setTimeout(r, 100));
    await answer(device, id, "deny");
    const res = await polling;
    expect(res.body.status).toBe("denied");
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it("without wait returns the pending state at once", async () => {
    const { app, id } = await setup();
    const res = await call("GET", `/v1/challenges/${id}`, { key: app.apiKey });
    expect(res.body).toMatchObject({
      id,
      status: "pending",
      resolved_at: null,
      context: { title: "Log in" },
    });
  });

  it("rejects a bad wait value", async () => {
    const { app, id } = await setup();
    for (const w of ["26", "-1", "abc", "1.5"]) {
      expectProblem(await call("GET", `/v1/challenges/${id}?wait=${w}`, { key: app.apiKey }), 400);
    }
  });

  it("answers 404 for unknown and malformed ids", async () => {
    const app = await createApp();
    for (const id of ["chl_00000000000000000000000000", "chl_x", "enr_00000000000000000000000000", "..%2f"]) {
      expectProblem(await call("GET", `/v1/challenges/${id}`, { key: app.apiKey }), 404);
    }
  });
});

describe("answers", () => {
  it(`fail the challenge after ${MAX_WRONG_ANSWERS} wrong entropies; the right one is then too late`, async () => {
    const { app, device, id } = await setup();
    const right = await entropyFor(device, id);
    for (let i = 1; i < MAX_WRONG_ANSWERS; i++) {
      const p = expectProblem(await answer(device, id, "approve", WRONG), 422);
      expect(p.attempts_left).toBe(MAX_WRONG_ANSWERS - i);
    }
    const last = expectProblem(await answer(device, id, "approve", WRONG), 422);
    expect(last).toMatchObject({ attempts_left: 0, challenge_status: "failed" });
    expect(expectProblem(await answer(device, id, "approve", right), 409).challenge_status).toBe("failed");
    const got = await call("GET", `/v1/challenges/${id}`, { key: app.apiKey });
    expect(got.body).toMatchObject({ status: "failed", reason: "too_many_wrong_answers" });
  });

  it("are single use: a replay of the right answer is refused", async () => {
    const { device, id } = await setup();
    const right = await entropyFor(device, id);
    expect((await answer(device, id, "approve", right)).status).toBe(200);
    expect(expectProblem(await answer(device, id, "approve", right), 409).challenge_status).toBe("approved");
    expect(expectProblem(await answer(device, id, "deny", right), 409).challenge_status).toBe("approved");
  });

  it("racing answers from the same device resolve exactly once", async () => {
    const { app, device, id } = await setup();
    const right = await entropyFor(device, id);
    const results = await Promise.all([
      answer(device, id, "approve", right),
      answer(device, id, "deny", right),
      answer(device, id, "approve", right),
    ]);
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(2);
    const audit = await call("GET", "/v1/audit?type=challenge.resolved", { key: app.apiKey });
    expect(audit.body.data).toHaveLength(1);
  });

  it("refuse malformed entropy and a missing decision", async () => {
    const { device, id } = await setup();
    const path = `/v1/device/challenges/${id}/response`;
    expectProblem(await call("POST", path, { token: device.token, body: { entropy: "x" } }), 400);
    expectProblem(
      await call("POST", path, { token: device.token, body: { entropy: "x", decision: "maybe" } }),
      400,
    );
    // Not the shape of 32 bytes in base64url: a broken client, refused without spending an attempt.
    for (const entropy of ["!!!", "A".repeat(42), `${"A".repeat(43)}=`, "+".repeat(43)]) {
      const res = await call("POST", path, { token: device.token, body: { entropy, decision: "approve" } });
      expect(expectProblem(res, 400).errors[0].field).toBe("entropy");
    }
    const right = await entropyFor(device, id);
    const wrong = await answer(
      device,
      id,
      "approve",
      right.replace(/^./, (c) => (c === "A" ? "B" : "A")),
    );
    expect(expectProblem(wrong, 422).attempts_left).toBe(MAX_WRONG_ANSWERS - 1);
  });

  it("from a device the challenge was not sent to get 404", async () => {
    const { app, id } = await setup("hank");
    const stranger = await enrollDevice(app, "ivy");
    expectProblem(await answer(stranger, id, "approve", WRONG), 404);
  });
});

describe("DELETE /v1/challenges/{id}", () => {
  it("cancels a pending challenge once; the device can no longer answer", async () => {
    const { app, device, id } = await setup();
    const right = await entropyFor(device, id);
    const res = await call("DELETE", `/v1/challenges/${id}`, { key: app.apiKey });
    expect(res.body.status).toBe("cancelled");
    expectProblem(await call("DELETE", `/v1/challenges/${id}`, { key: app.apiKey }), 409);
    expect(expectProblem(await answer(device, id, "approve", right), 409).challenge_status).toBe("cancelled");
    const listed = await call("GET", "/v1/device/challenges", { token: device.token });
    expect(listed.body.data).toHaveLength(0);
  });
});

describe("revoking a device", () => {
  it("cancels the challenges only it could answer, at once, and leaves the others", async () => {
    const app = await createApp();
    const phone = await enrollDevice(app, "rex");
    const create = async () =>
      (await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: "rex" } })).body.id as string;
    const onlyPhone = await create();
    const tablet = await enrollDevice(app, "rex");
    const both = await create();
    const status = async (id: string) =>
      (await call("GET", `/v1/challenges/${id}`, { key: app.apiKey })).body as Record<string, unknown>;

    expect((await call("DELETE", `/v1/devices/${phone.deviceId}`, { key: app.apiKey })).status).toBe(200);
    // Already cancelled when the DELETE returns: nobody could have answered it any more.
    expect(await status(onlyPhone)).toMatchObject({ status: "cancelled", reason: "device_revoked" });
    // Sent to the tablet too: still pending, and the tablet answers it.
    expect((await status(both)).status).toBe("pending");
    expect((await answer(tablet, both, "approve")).body.status).toBe("approved");
    const { results } = await env.DB.prepare(
      "SELECT challenge_id, detail FROM audit_events WHERE app_id = ?1 AND type = 'challenge.resolved' AND outcome = 'cancelled'",
    )
      .bind(app.appId)
      .all<{ challenge_id: string; detail: string }>();
    expect(results.map((r) => [r.challenge_id, JSON.parse(r.detail).reason])).toEqual([
      [onlyPhone, "device_revoked"],
    ]);

    // The device removing itself does the same for what only it held.
    const third = await create();
    expect((await call("DELETE", "/v1/device", { token: tablet.token })).status).toBe(204);
    expect(await status(third)).toMatchObject({ status: "cancelled", reason: "device_revoked" });
  });
});
