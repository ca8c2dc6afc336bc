import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { generateDeviceKey } from "../packages/device/src/crypto";
import { DEFAULT_SETTINGS, type Limits } from "../src/abuse/settings";
import { sha256Hex } from "../src/crypto/hash";
import { newId, newSecret } from "../src/crypto/random";
import { bucketLevel, REFUSAL_AUDITS_PER_MINUTE, secondsUntil } from "../src/durable/rateLimiter";
import {
  type ApiResult,
  answer,
  call,
  codeOf,
  createApp,
  enrollDevice,
  entropyFor,
  expectProblem,
  type Json,
  type TestApp,
} from "./helpers";

async function limit(app: TestApp, limits: Partial<Limits>) {
  const res = await call("PATCH", "/v1/settings", { key: app.apiKey, body: { limits } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

/** A 429 as documented: problem+json naming the limit, Retry-After in whole seconds within `max`. */
function expectLimited(res: ApiResult<Json>, name: keyof Limits, max: number): number {
  const p = expectProblem(res, 429);
  expect(p.type).toMatch(/rate-limited$/);
  expect(p.limit).toBe(name);
  const retry = Number(res.headers.get("retry-after"));
  expect(Number.isInteger(retry)).toBe(true);
  expect(retry).toBeGreaterThanOrEqual(1);
  expect(retry).toBeLessThanOrEqual(max);
  expect(p.retry_after).toBe(retry);
  return retry;
}

const create = (app: TestApp, user: string, extra: Record<string, unknown> = {}) =>
  call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: user, ...extra } });

async function refusedAudits(appId: string, userId: string) {
  const { results } = await env.DB.prepare(
    "SELECT outcome, detail FROM audit_events WHERE app_id = ?1 AND user_id = ?2 AND type = 'challenge.refused' ORDER BY seq",
  )
    .bind(appId, userId)
    .all<{ outcome: string; detail: string }>();
  return results.map((r) => ({ outcome: r.outcome, ...JSON.parse(r.detail) }));
}

describe("token buckets", () => {
  it("refill continuously up to the capacity; Retry-After is the time to the next whole token", () => {
    expect(bucketLevel(undefined, 10, 60_000, 0)).toBe(10);
    expect(bucketLevel({ tokens: 0, at: 0 }, 10, 60_000, 6_000)).toBeCloseTo(1);
    expect(bucketLevel({ tokens: 0, at: 0 }, 10, 60_000, 30_000)).toBeCloseTo(5);
    expect(bucketLevel({ tokens: 9, at: 0 }, 10, 60_000, 600_000)).toBe(10);
    // A clock that stepped back refills nothing rather than draining.
    expect(bucketLevel({ tokens: 2, at: 1_000 }, 10, 60_000, 0)).toBe(2);
    expect(secondsUntil(0, 1, 10, 60_000)).toBe(6);
    expect(secondsUntil(0.5, 1, 10, 60_000)).toBe(3);
    expect(secondsUntil(0.999, 1, 10, 3_600_000)).toBe(1);
    expect(secondsUntil(0, 1, 2, 3_600_000)).toBe(1800);
  });
});

describe("rate limits", () => {
  it("per API key: every integrator route counts; another key and another application are unaffected", async () => {
    const app = await createApp();
    const other = await createApp();
    const secondKey = newSecret("ek_test_");
    await env.DB.prepare(
      "INSERT INTO api_keys (id, app_id, key_hash, prefix, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
      .bind(newId("key"), app.appId, await sha256Hex(secondKey), secondKey.slice(0, 12), Date.now())
      .run();
    await limit(app, { api_key_per_minute: 3 });
    for (const path of ["/v1/audit", "/v1/settings", "/v1/users/x/devices"]) {
      expect((await call("GET", path, { key: app.apiKey })).status).toBe(200);
    }
    // 3 per minute: one token every 20 s.
    expectLimited(await call("GET", "/v1/audit", { key: app.apiKey }), "api_key_per_minute", 20);
    expectLimited(await create(app, "u"), "api_key_per_minute", 20);
    expect((await call("GET", "/v1/audit", { key: secondKey })).status).toBe(200);
    expect((await call("GET", "/v1/audit", { key: other.apiKey })).status).toBe(200);
  });

  it("per user, creations per minute: the next one is refused and audited; other users go on", async () => {
    const app = await createApp();
    await enrollDevice(app, "ann");
    await enrollDevice(app, "ben");
    await limit(app, { user_challenges_per_minute: 2 });
    expect((await create(app, "ann")).status).toBe(201);
    expect((await create(app, "ann")).status).toBe(201);
    expectLimited(await create(app, "ann"), "user_challenges_per_minute", 30);
    expect((await create(app, "ben")).status).toBe(201);
    expect(await refusedAudits(app.appId, "ann")).toEqual([
      {
        outcome: "rate_limited",
        limit: "user_challenges_per_minute",
        limit_value: 2,
        retry_after: expect.any(Number),
        unaudited_before: 0,
      },
    ]);
    // Refused calls take no tokens: still exactly one refusal per further try, none created.
    expectLimited(await create(app, "ann"), "user_challenges_per_minute", 30);
    const { n } = (await env.DB.prepare(
      "SELECT COUNT(*) AS n FROM challenges WHERE app_id = ?1 AND user_id = 'ann'",
    )
      .bind(app.appId)
      .first<{ n: number }>()) ?? { n: -1 };
    expect(n).toBe(2);
  });

  it("per user, pending challenges: a decided or cancelled one frees its place; supersede is not counted", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "cat");
    await limit(app, { user_pending_challenges: 2 });
    const first = await create(app, "cat", { ttl_seconds: 300 });
    const second = await create(app, "cat");
    expect([first.status, second.status]).toEqual([201, 201]);
    // Retry-After: until the sooner of the two expires (120 s, the default TTL).
    expectLimited(await create(app, "cat"), "user_pending_challenges", 120);

    expect((await answer(device, first.body.id, "approve")).body.status).toBe("approved");
    expect(await eventually(async () => (await create(app, "cat")).status)).toBe(201);
    expectLimited(await create(app, "cat"), "user_pending_challenges", 120);
    expect((await call("DELETE", `/v1/challenges/${second.body.id}`, { key: app.apiKey })).status).toBe(200);
    expect(await eventually(async () => (await create(app, "cat")).status)).toBe(201);

    const superseding = await create(app, "cat", { supersede: true });
    expect(superseding.status).toBe(201);
    expect(superseding.body.superseded).toHaveLength(2);
  });

  it("per device, wrong answers: past the limit the device is refused even with the right answer", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "dan");
    const spare = await enrollDevice(app, "dan");
    await limit(app, { device_wrong_answers_per_hour: 2 });
    const a = await create(app, "dan");
    const b = await create(app, "dan");
    expectProblem(await answer(device, a.body.id, "approve", "A".repeat(43)), 422);
    expectProblem(await answer(device, b.body.id, "approve", "A".repeat(43)), 422);
    // 2 per hour: one more wrong answer allowed every 30 minutes.
    const right = await entropyFor(device, a.body.id);
    expectLimited(await answer(device, a.body.id, "approve", right), "device_wrong_answers_per_hour", 1800);
    // Refused before it reached the challenge: still pending, and the user's other phone answers.
    expect((await call("GET", `/v1/challenges/${a.body.id}`, { key: app.apiKey })).body.status).toBe(
      "pending",
    );
    expect((await answer(spare, a.body.id, "approve")).body.status).toBe("approved");
  });

  it("per device, wrong answers: answers to a closed challenge are not compared and cost nothing", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "dee");
    await limit(app, { device_wrong_answers_per_hour: 4 });
    const failed = await create(app, "dee");
    const right = await entropyFor(device, failed.body.id);
    for (let i = 0; i < 3; i++)
      expectProblem(await answer(device, failed.body.id, "approve", "A".repeat(43)), 422);
    // The challenge has failed; the right entropy, again and again, only hears that it is closed.
    for (let i = 0; i < 5; i++) expectProblem(await answer(device, failed.body.id, "deny", right), 409);
    // Three of four spent: the next challenge is still answered.
    const next = await create(app, "dee");
    expect((await answer(device, next.body.id, "approve")).body.status).toBe("approved");
  });

  it("per enrollment code: claim attempts, used code or not", async () => {
    const app = await createApp();
    await limit(app, { enrollment_code_attempts: 2 });
    const enr = await call("POST", "/v1/enrollments", { key: app.apiKey, body: { user_id: "eve" } });
    const code = codeOf(enr.body.enrollment_uri);
    const { publicKey } = await generateDeviceKey("ecies-p256");
    const claim = () =>
      call("POST", "/v1/device/enroll", { body: { code, key_format: "ecies-p256", public_key: publicKey } });
    expect((await claim()).status).toBe(201);
    expectProblem(await claim(), 410);
    // 2 per 10 minutes: one every 5 minutes.
    expectLimited(await claim(), "enrollment_code_attempts", 300);
  });

  it("per client IP on the device endpoints; another address goes on", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "fay");
    await limit(app, { device_ip_per_minute: 2 });
    const list = (ip: string) =>
      call("GET", "/v1/device/challenges", { token: device.token, headers: { "cf-connecting-ip": ip } });
    expect((await list("203.0.113.5")).status).toBe(200);
    expect((await list("203.0.113.5")).status).toBe(200);
    expectLimited(await list("203.0.113.5"), "device_ip_per_minute", 30);
    const chl = await create(app, "fay");
    const res = await call("POST", `/v1/device/challenges/${chl.body.id}/response`, {
      token: device.token,
      headers: { "cf-connecting-ip": "203.0.113.5" },
      body: { entropy: "A".repeat(43), decision: "approve" },
    });
    expectLimited(res, "device_ip_per_minute", 30);
    expect((await list("198.51.100.7")).status).toBe(200);
  });

  it("refusals are audited up to a budget per user and minute, so a flood cannot flood the audit", async () => {
    const app = await createApp();
    await enrollDevice(app, "gus");
    await limit(app, { user_challenges_per_minute: 1 });
    expect((await create(app, "gus")).status).toBe(201);
    const tries = REFUSAL_AUDITS_PER_MINUTE.user + 5;
    for (let i = 0; i < tries; i++) expectLimited(await create(app, "gus"), "user_challenges_per_minute", 60);
    const rows = await refusedAudits(app.appId, "gus");
    expect(rows).toHaveLength(REFUSAL_AUDITS_PER_MINUTE.user);
    expect(rows.every((r) => r.limit === "user_challenges_per_minute")).toBe(true);
  });

  it("the defaults are the documented ones", () => {
    expect(DEFAULT_SETTINGS.limits).toEqual({
      api_key_per_minute: 6000,
      user_challenges_per_minute: 10,
      user_pending_challenges: 5,
      device_wrong_answers_per_hour: 10,
      enrollment_code_attempts: 10,
      device_ip_per_minute: 600,
    });
  });
});

/** Retries a call a few times: the pending count is freed just after the answer, not before it. */
async function eventually<T>(fn: () => Promise<T>, ok = (v: T) => v === (201 as T)): Promise<T> {
  let last = await fn();
  for (let i = 0; i < 20 && !ok(last); i++) {
    await new Promise((r) => setTimeout(r, 50));
    last = await fn();
  }
  return last;
}
