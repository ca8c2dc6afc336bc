import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { createHmac, timingSafeEqual } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MAX_ATTEMPTS } from "../src/durable/webhookDispatcher";
import * as shapes from "../src/openapi/responses";
import { openSecret } from "../src/webhooks/secret";
import { answer, call, createApp, enrollDevice, expectProblem, type Json, type TestApp } from "./helpers";

const HOOK = "https://hooks.example.test/encrypxon";

interface Received {
  url: string;
  headers: Headers;
  body: string;
}

// The receiver: every outbound POST to hooks.example.test lands here and is answered from `replies`
// (then 200s). Anything else would be a bug in the test or the Worker, so it fails loudly.
let received: Received[] = [];
let replies: (number | "hang-up")[] = [];

beforeEach(() => {
  received = [];
  replies = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    if (new URL(request.url).host !== "hooks.example.test")
      throw new Error(`unexpected fetch ${request.url}`);
    received.push({ url: request.url, headers: request.headers, body: await request.text() });
    const reply = replies.shift() ?? 200;
    if (reply === "hang-up") throw new TypeError("Network connection lost.");
    return new Response("thanks", { status: reply });
  });
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

/** Checks the signature as a receiver would, with node:crypto's HMAC (not the Worker's WebCrypto code). */
function verifies(r: Received, secret: string): boolean {
  const header = r.headers.get("encrypxon-signature") ?? "";
  const parts = header.split(",").map((p) => p.trim().split("="));
  const t = parts.find(([k]) => k === "t")?.[1];
  if (!t) return false;
  const expected = createHmac("sha256", secret).update(`${t}.${r.body}`).digest();
  return parts
    .filter(([k]) => k === "v1")
    .some(([, v]) => v !== undefined && v.length === 64 && timingSafeEqual(Buffer.from(v, "hex"), expected));
}

const CHALLENGE_EVENTS = [
  "challenge.approved",
  "challenge.denied",
  "challenge.expired",
  "challenge.cancelled",
  "challenge.failed",
];

/** An endpoint for the challenge events (pass `events: undefined` for every type, enrollments too). */
async function register(app: TestApp, body: Record<string, unknown> = {}) {
  const res = await call("POST", "/v1/webhooks", {
    key: app.apiKey,
    body: { url: HOOK, events: CHALLENGE_EVENTS, ...body },
  });
  expect(res.status).toBe(201);
  shapes.webhookEndpointWithSecret.parse(res.body); // the wire shape the OpenAPI description promises
  return res.body as Json;
}

const dispatcher = (app: TestApp) => env.WEBHOOKS.get(env.WEBHOOKS.idFromName(app.appId));

/** Runs the application's dispatcher now and waits for its pass (and any already under way) to end. */
const dispatch = (app: TestApp) => dispatcher(app).kick(app.appId);

async function deliveries(app: TestApp, query = ""): Promise<Json[]> {
  const res = await call("GET", `/v1/webhooks/deliveries${query}`, { key: app.apiKey });
  expect(res.status).toBe(200);
  shapes.webhookDeliveryPage.parse(res.body);
  return res.body.data;
}

async function approvedChallenge(app: TestApp, user = "alice") {
  const device = await enrollDevice(app, user);
  const created = await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: user } });
  expect((await answer(device, created.body.id, "approve")).status).toBe(200);
  return { device, challengeId: created.body.id as string };
}

describe("webhook endpoints", () => {
  it("are registered with a secret shown once and stored only sealed", async () => {
    const app = await createApp();
    const hook = await register(app, { description: "orders", events: ["challenge.approved"] });
    expect(hook).toMatchObject({
      object: "webhook_endpoint",
      url: HOOK,
      description: "orders",
      events: ["challenge.approved"],
      status: "active",
    });
    expect(hook.id).toMatch(/^whk_[0-9a-z]{26}$/);
    expect(hook.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);

    const listed = await call("GET", "/v1/webhooks", { key: app.apiKey });
    shapes.webhookEndpointList.parse(listed.body);
    expect(listed.body.data).toHaveLength(1);
    expect(JSON.stringify(listed.body)).not.toContain(hook.secret);
    const got = await call("GET", `/v1/webhooks/${hook.id}`, { key: app.apiKey });
    expect(got.body.secret).toBeUndefined();

    const row = await env.DB.prepare("SELECT * FROM webhook_endpoints WHERE id = ?1")
      .bind(hook.id)
      .first<Record<string, string>>();
    expect(JSON.stringify(row)).not.toContain(hook.secret.slice(6));
    const sealed = row?.secret_ciphertext ?? "";
    expect(await openSecret(env.WEBHOOK_KEY ?? "", app.appId, hook.id, sealed)).toBe(hook.secret);
    // Bound to its row: the same ciphertext does not open as another endpoint's or under another key.
    expect(await openSecret(env.WEBHOOK_KEY ?? "", app.appId, "whk_other", sealed)).toBeNull();
    expect(await openSecret("another key", app.appId, hook.id, sealed)).toBeNull();
  });

  it("refuse URLs that would leak events, point inside a network, or are not URLs", async () => {
    const app = await createApp();
    for (const url of [
      "http://hooks.example.test/x",
      "https://user:pw@hooks.example.test/x",
      "https://hooks.example.test/x#frag",
      "/relative",
      "ftp://hooks.example.test/x",
      `https://hooks.example.test/${"a".repeat(2100)}`,
      "https://169.254.169.254/latest/meta-data",
      "https://10.1.2.3/hook",
      "https://172.16.0.1/hook",
      "https://192.168.1.10/hook",
      "https://100.64.0.1/hook",
      "https://0.0.0.0/hook",
      "https://198.18.0.1/hook",
      "https://224.0.0.1/hook",
      "https://255.255.255.255/hook",
      "https://[fd00::1]/hook",
      "https://[fe80::1]/hook",
      "https://[fec0::1]/hook",
      "https://[::ffff:10.0.0.1]/hook",
      "https://[::a9fe:a9fe]/hook",
      "https://[64:ff9b::a9fe:a9fe]/hook",
      "https://[2002:a9fe:a9fe::1]/hook",
      "https://[2001:db8::1]/hook",
      "https://[::]/hook",
      "https://intranet/hook",
      "https://printer.local/hook",
      "https://metadata.google.internal/hook",
      // Loopback in every spelling, over https or not, from a service that is not itself on loopback.
      "https://127.0.0.1/hook",
      "https://2130706433/hook",
      "http://0x7f.1:9911/hook",
      "http://127.9.9.9/hook",
      "https://localhost/hook",
      "https://foo.localhost/hook",
      "https://[::1]/hook",
      "http://localhost:9000/hook",
    ]) {
      const res = await call("POST", "/v1/webhooks", { key: app.apiKey, body: { url } });
      const problem = expectProblem(res, 400);
      expect(problem.errors[0].field, url).toBe("url");
    }
    const bad = await call("POST", "/v1/webhooks", {
      key: app.apiKey,
      body: { url: HOOK, events: ["challenge.approved", "challenge.approved"] },
    });
    expectProblem(bad, 400);
    const unknown = await call("POST", "/v1/webhooks", {
      key: app.apiKey,
      body: { url: HOOK, events: ["x"] },
    });
    expectProblem(unknown, 400);
    // Public addresses and names are fine over https.
    for (const url of [
      "https://172.32.0.1/hook",
      "https://[2606:4700::1111]/hook",
      "https://a.example.com/h",
    ]) {
      expect((await call("POST", "/v1/webhooks", { key: app.apiKey, body: { url } })).status, url).toBe(201);
    }
    const count = await env.DB.prepare("SELECT COUNT(*) AS n FROM webhook_endpoints WHERE app_id = ?1")
      .bind(app.appId)
      .first<{ n: number }>();
    expect(count?.n).toBe(3);
  });

  it("accept a loopback receiver, plain http too, only from a service that itself runs on loopback", async () => {
    const app = await createApp();
    const base = "http://127.0.0.1:8787";
    for (const url of [
      "http://localhost:9000/hook",
      "http://127.0.0.1:9000/hook",
      "http://[::1]:9000/hook",
    ]) {
      const res = await call("POST", "/v1/webhooks", { key: app.apiKey, body: { url }, base });
      expect(res.status, url).toBe(201);
      await call("DELETE", `/v1/webhooks/${res.body.id}`, { key: app.apiKey, base });
    }
    // Still only https to anything else, and still nothing private.
    for (const url of ["http://hooks.example.test/x", "https://10.0.0.1/x"]) {
      expectProblem(await call("POST", "/v1/webhooks", { key: app.apiKey, body: { url }, base }), 400);
    }
  });

  it("are limited per application, even when created concurrently", async () => {
    const app = await createApp();
    const results = await Promise.all(
      Array.from({ length: 8 }, () => call("POST", "/v1/webhooks", { key: app.apiKey, body: { url: HOOK } })),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(5);
    for (const r of results.filter((r) => r.status !== 201)) expectProblem(r, 409);
    const audit = await call("GET", "/v1/audit?type=webhook.created", { key: app.apiKey });
    expect(audit.body.data).toHaveLength(5);
  });

  it("belong to their application alone", async () => {
    const a = await createApp("A");
    const b = await createApp("B");
    const hook = await register(a);
    expectProblem(await call("GET", `/v1/webhooks/${hook.id}`, { key: b.apiKey }), 404);
    expectProblem(await call("DELETE", `/v1/webhooks/${hook.id}`, { key: b.apiKey }), 404);
    expectProblem(await call("POST", `/v1/webhooks/${hook.id}/rotate-secret`, { key: b.apiKey }), 404);
    expect((await call("GET", "/v1/webhooks", { key: b.apiKey })).body.data).toEqual([]);

    await approvedChallenge(a);
    await dispatch(a);
    const [delivery] = await deliveries(a);
    expect(await deliveries(b)).toEqual([]);
    expectProblem(
      await call("POST", `/v1/webhooks/deliveries/${delivery.id}/resend`, { key: b.apiKey }),
      404,
    );
    expect((await call("GET", "/v1/webhooks/deliveries", {})).status).toBe(401);
  });

  it("answer 503 with a reason when the deployment has no WEBHOOK_KEY", async () => {
    const app = await createApp();
    const worker = (await import("../src/index")).default;
    const res = await worker.fetch(
      new Request("https://encrypxon.test/v1/webhooks", {
        method: "POST",
        headers: { "x-api-key": app.apiKey, "content-type": "application/json" },
        body: JSON.stringify({ url: HOOK }),
      }),
      { ...env, WEBHOOK_KEY: undefined },
      { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext,
    );
    expect(res.status).toBe(503);
    expect(((await res.json()) as Json).type).toContain("webhooks-not-configured");
    const count = await env.DB.prepare("SELECT COUNT(*) AS n FROM webhook_endpoints WHERE app_id = ?1")
      .bind(app.appId)
      .first<{ n: number }>();
    expect(count?.n).toBe(0);
  });
});

describe("webhook events", () => {
  it("tell a terminal challenge state, signed so a receiver can verify it", async () => {
    const app = await createApp();
    const hook = await register(app);
    const { device, challengeId } = await approvedChallenge(app);
    await dispatch(app);

    expect(received).toHaveLength(1);
    const [r] = received as [Received];
    expect(r.url).toBe(HOOK);
    expect(r.headers.get("content-type")).toBe("application/json");
    expect(verifies(r, hook.secret)).toBe(true);
    expect(verifies({ ...r, body: r.body.replace("approved", "denied") }, hook.secret)).toBe(false);
    const t = Number(/t=(\d+)/.exec(r.headers.get("encrypxon-signature") ?? "")?.[1]);
    expect(Math.abs(t - Date.now() / 1000)).toBeLessThan(300);

    const event = JSON.parse(r.body);
    expect(event).toMatchObject({
      object: "event",
      type: "challenge.approved",
      data: {
        challenge: { id: challengeId, status: "approved", user_id: "alice", device_id: device.deviceId },
      },
    });
    expect(event.id).toMatch(/^wev_/);
    expect(r.headers.get("encrypxon-event-id")).toBe(event.id);
    expect(r.headers.get("encrypxon-event-type")).toBe("challenge.approved");
    expect(r.headers.get("encrypxon-delivery-attempt")).toBe("1");
    // The webhook says what GET /v1/challenges/{id} says.
    const got = await call("GET", `/v1/challenges/${challengeId}`, { key: app.apiKey });
    expect(event.data.challenge).toEqual(got.body);

    const [d] = await deliveries(app);
    expect(d).toMatchObject({
      object: "webhook_delivery",
      endpoint_id: hook.id,
      event_id: event.id,
      event_type: "challenge.approved",
      status: "succeeded",
      attempts: 1,
      last_status_code: 200,
      next_attempt_at: null,
    });
  });

  it("cover deny, cancel, expiry and enrollment completion, filtered by the endpoint's types", async () => {
    const app = await createApp();
    const some = await register(app, {
      events: ["challenge.denied", "challenge.cancelled", "challenge.expired"],
    });
    const all = await register(app, { events: undefined });
    const device = await enrollDevice(app, "bob"); // enrollment.completed: only `all` wants it
    const denied = await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: "bob" } });
    await answer(device, denied.body.id, "deny");
    const cancelled = await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: "bob" } });
    await call("DELETE", `/v1/challenges/${cancelled.body.id}`, { key: app.apiKey });
    const expiring = await call("POST", "/v1/challenges", {
      key: app.apiKey,
      body: { user_id: "bob", ttl_seconds: 10 },
    });
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 11_000);
    expect(await runDurableObjectAlarm(env.CHALLENGES.get(env.CHALLENGES.idFromName(expiring.body.id)))).toBe(
      true,
    );
    await dispatch(app);

    const endpointOf = new Map((await deliveries(app)).map((d) => [d.id, d.endpoint_id]));
    const types = (hookId: string) =>
      received
        .filter((r) => endpointOf.get(r.headers.get("encrypxon-delivery-id") ?? "") === hookId)
        .map((r) => JSON.parse(r.body).type)
        .sort();
    expect(types(all.id)).toEqual([
      "challenge.cancelled",
      "challenge.denied",
      "challenge.expired",
      "enrollment.completed",
    ]);
    expect(types(some.id)).toEqual(["challenge.cancelled", "challenge.denied", "challenge.expired"]);
    expect(received).toHaveLength(7);
    const completed = received.find((r) => JSON.parse(r.body).type === "enrollment.completed");
    expect(JSON.parse(completed?.body ?? "{}").data).toMatchObject({
      enrollment: { status: "completed", user_id: "bob", device_id: device.deviceId },
      device: { id: device.deviceId, status: "active", user_id: "bob" },
    });
  });

  it("are not stored at all for an application without endpoints", async () => {
    const app = await createApp();
    await approvedChallenge(app);
    const n = await env.DB.prepare("SELECT COUNT(*) AS n FROM webhook_events WHERE app_id = ?1")
      .bind(app.appId)
      .first<{ n: number }>();
    expect(n?.n).toBe(0);
    expect(received).toEqual([]);
  });

  it("are told once when two devices race to answer", async () => {
    const app = await createApp();
    await register(app);
    const one = await enrollDevice(app, "dana");
    const two = await enrollDevice(app, "dana");
    await dispatch(app);
    received = [];
    const created = await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: "dana" } });
    const answers = await Promise.all([
      answer(one, created.body.id, "approve"),
      answer(two, created.body.id, "deny"),
    ]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    await dispatch(app);
    expect(received).toHaveLength(1);
  });
});

describe("webhook retries", () => {
  it("back off exponentially on the object's alarm and stop at the first success", async () => {
    const app = await createApp();
    const hook = await register(app);
    replies = [500, "hang-up"];
    await approvedChallenge(app);
    await dispatch(app);

    let [d] = await deliveries(app);
    expect(d).toMatchObject({ status: "pending", attempts: 1, last_status_code: 500 });
    const firstWait = Date.parse(d.next_attempt_at) - Date.parse(d.last_attempt_at);
    expect(firstWait).toBeGreaterThanOrEqual(24_000); // 30 s base, ±20 %
    expect(firstWait).toBeLessThanOrEqual(36_000);

    // Nothing is due yet: the alarm changes nothing.
    const stub = dispatcher(app);
    await runDurableObjectAlarm(stub);
    expect(received).toHaveLength(1);

    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.parse(d.next_attempt_at) + 1);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    [d] = await deliveries(app);
    expect(d).toMatchObject({
      status: "pending",
      attempts: 2,
      last_status_code: null,
      last_error: "could not connect",
    });
    const secondWait = Date.parse(d.next_attempt_at) - Date.parse(d.last_attempt_at);
    expect(secondWait).toBeGreaterThanOrEqual(48_000);
    expect(secondWait).toBeLessThanOrEqual(72_000);

    vi.setSystemTime(Date.parse(d.next_attempt_at) + 1);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    [d] = await deliveries(app);
    expect(d).toMatchObject({
      status: "succeeded",
      attempts: 3,
      last_status_code: 200,
      next_attempt_at: null,
    });

    // Three attempts of one event, each signed afresh; nothing after the success.
    expect(received.map((r) => r.headers.get("encrypxon-delivery-attempt"))).toEqual(["1", "2", "3"]);
    expect(new Set(received.map((r) => r.headers.get("encrypxon-event-id"))).size).toBe(1);
    expect(received.every((r) => verifies(r, hook.secret))).toBe(true);
    vi.setSystemTime(Date.now() + 24 * 3600 * 1000);
    await runDurableObjectAlarm(stub);
    await dispatch(app);
    expect(received).toHaveLength(3);
  });

  it(`give up after ${MAX_ATTEMPTS} attempts, audited`, async () => {
    const app = await createApp();
    await register(app);
    replies = Array.from({ length: MAX_ATTEMPTS }, () => 503);
    await approvedChallenge(app);
    await dispatch(app);
    vi.useFakeTimers({ toFake: ["Date"] });
    const stub = dispatcher(app);
    for (let i = 1; i < MAX_ATTEMPTS; i++) {
      const [d] = await deliveries(app);
      vi.setSystemTime(Date.parse(d.next_attempt_at) + 1);
      await runDurableObjectAlarm(stub);
    }
    const [d] = await deliveries(app);
    expect(d).toMatchObject({
      status: "failed",
      attempts: MAX_ATTEMPTS,
      last_status_code: 503,
      next_attempt_at: null,
    });
    expect(received).toHaveLength(MAX_ATTEMPTS);
    const audit = await call("GET", "/v1/audit?type=webhook.delivery_failed", { key: app.apiKey });
    expect(audit.body.data).toHaveLength(1);
    expect(audit.body.data[0].detail).toMatchObject({ delivery_id: d.id, attempts: MAX_ATTEMPTS });
    expect(await runDurableObjectAlarm(stub)).toBe(false); // no alarm left
  });

  it("can be re-sent by the application as a new delivery of the same event", async () => {
    const app = await createApp();
    const hook = await register(app);
    await approvedChallenge(app);
    await dispatch(app);
    const [first] = await deliveries(app);
    const resent = await call("POST", `/v1/webhooks/deliveries/${first.id}/resend`, { key: app.apiKey });
    expect(resent.status).toBe(202);
    expect(resent.body).toMatchObject({ status: "pending", resent_from: first.id, event_id: first.event_id });
    await dispatch(app);
    expect(received).toHaveLength(2);
    expect(received[1]?.body).toBe(received[0]?.body);
    expect(verifies(received[1] as Received, hook.secret)).toBe(true);
    const log = await deliveries(app);
    expect(log.map((d) => d.id)).toEqual([resent.body.id, first.id]);
    expect(log[0].status).toBe("succeeded");
    expect((await deliveries(app, `?event_id=${first.event_id}&limit=1`)).map((d) => d.id)).toEqual([
      resent.body.id,
    ]);
    const page = await call("GET", "/v1/webhooks/deliveries?limit=1", { key: app.apiKey });
    expect(page.body.has_more).toBe(true);
    const next = await call("GET", `/v1/webhooks/deliveries?limit=1&cursor=${page.body.next_cursor}`, {
      key: app.apiKey,
    });
    expect(next.body.data.map((d: Json) => d.id)).toEqual([first.id]);
    expect(next.body.has_more).toBe(false);
    expectProblem(await call("GET", "/v1/webhooks/deliveries?cursor=evt_nope", { key: app.apiKey }), 400);
    expectProblem(await call("POST", "/v1/webhooks/deliveries/whd_nope/resend", { key: app.apiKey }), 404);
  });

  it("stop when the endpoint is deleted, and a deleted endpoint takes no re-sends", async () => {
    const app = await createApp();
    const hook = await register(app);
    replies = [500];
    await approvedChallenge(app);
    await dispatch(app);
    const del = await call("DELETE", `/v1/webhooks/${hook.id}`, { key: app.apiKey });
    expect(del.body).toMatchObject({ status: "disabled" });
    expectProblem(await call("DELETE", `/v1/webhooks/${hook.id}`, { key: app.apiKey }), 409);
    const [d] = await deliveries(app);
    expect(d).toMatchObject({ status: "cancelled", attempts: 1, next_attempt_at: null });
    expectProblem(await call("POST", `/v1/webhooks/deliveries/${d.id}/resend`, { key: app.apiKey }), 409);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 3600_000);
    await runDurableObjectAlarm(dispatcher(app));
    expect(received).toHaveLength(1);
  });
});

describe("webhook secret rotation", () => {
  it("signs with both secrets during the overlap, then with the new one only", async () => {
    const app = await createApp();
    const hook = await register(app);
    const rotated = await call("POST", `/v1/webhooks/${hook.id}/rotate-secret`, {
      key: app.apiKey,
      body: { previous_secret_expires_in_seconds: 60 },
    });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(hook.secret);
    expect(rotated.body.previous_secret_expires_at).not.toBeNull();
    await approvedChallenge(app);
    await dispatch(app);
    const [r] = received as [Received];
    expect(r.headers.get("encrypxon-signature")?.match(/v1=/g)).toHaveLength(2);
    expect(verifies(r, rotated.body.secret)).toBe(true);
    expect(verifies(r, hook.secret)).toBe(true);

    const again = await call("POST", `/v1/webhooks/${hook.id}/rotate-secret`, {
      key: app.apiKey,
      body: { previous_secret_expires_in_seconds: 0 },
    });
    expect(again.body.previous_secret_expires_at).toBeNull();
    const [first] = await deliveries(app);
    await call("POST", `/v1/webhooks/deliveries/${first.id}/resend`, { key: app.apiKey });
    await dispatch(app);
    const last = received[1] as Received;
    expect(last.headers.get("encrypxon-signature")?.match(/v1=/g)).toHaveLength(1);
    expect(verifies(last, again.body.secret)).toBe(true);
    expect(verifies(last, rotated.body.secret)).toBe(false);
    const audit = await call("GET", "/v1/audit?type=webhook.secret_rotated", { key: app.apiKey });
    expect(audit.body.data).toHaveLength(2);
  });
});
