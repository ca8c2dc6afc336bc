// A push-fatigue attack over real HTTP: someone who holds alice's password asks for challenge after
// challenge, hoping she approves one by reflex. The per-user limit throttles the loop with 429 and
// Retry-After, the audit shows every attempt (created or refused), number matching keeps a reflex
// approval from counting, and her "this wasn't me" pauses the user until the application clears it.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Encrypxon2FaClient } from "../../packages/client/src/index";
import { DeviceClient, DeviceStore } from "../../packages/device/src/index";
import { type E2eServer, startServer } from "./harness";

const PER_MINUTE = 5;
const ATTEMPTS = 12;
const VICTIM = "alice";

let server: E2eServer;
let tmp: string;
let client: Encrypxon2FaClient;
let phone: DeviceClient;

beforeAll(async () => {
  server = await startServer({ appName: "Fatigue Shop" });
  tmp = await mkdtemp(path.join(os.tmpdir(), "encrypxon-fatigue-"));
  client = new Encrypxon2FaClient({ apiKey: server.apiKey, baseUrl: server.baseUrl });
  const enrollment = await client.createEnrollment({ user_id: VICTIM });
  phone = await DeviceClient.enroll(enrollment.enrollment_uri, { store: new DeviceStore(tmp) });
}, 120_000);

afterAll(async () => {
  await server?.cleanup();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** The attacker's request, as raw HTTP: the SDK never retries a POST, and neither does the attacker. */
async function attempt(): Promise<{
  status: number;
  retryAfter: string | null;
  body: Record<string, unknown>;
}> {
  const res = await fetch(`${server.baseUrl}/v1/challenges`, {
    method: "POST",
    headers: { "x-api-key": server.apiKey, "content-type": "application/json" },
    body: JSON.stringify({
      user_id: VICTIM,
      context: { title: "Sign in to Fatigue Shop", ip: "198.51.100.66" },
    }),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.json() };
}

describe("push fatigue", () => {
  test("the attacker's loop is throttled after the configured limit, and the audit shows each attempt", async () => {
    await client.updateSettings({
      number_matching: true,
      limits: { user_challenges_per_minute: PER_MINUTE, user_pending_challenges: 100 },
    });
    const results = [];
    for (let i = 0; i < ATTEMPTS; i++) results.push(await attempt());

    const created = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status === 429);
    expect(created).toHaveLength(PER_MINUTE);
    expect(refused).toHaveLength(ATTEMPTS - PER_MINUTE);
    // The first PER_MINUTE went through, every later one was refused: a burst, then nothing.
    expect(results.map((r) => r.status)).toEqual([
      ...Array(PER_MINUTE).fill(201),
      ...Array(ATTEMPTS - PER_MINUTE).fill(429),
    ]);
    for (const r of refused) {
      expect(r.body).toMatchObject({
        type: "https://encrypxon.dev/problems/rate-limited",
        status: 429,
        limit: "user_challenges_per_minute",
        limit_value: PER_MINUTE,
      });
      // 5 per minute: the next one in at most 12 s.
      expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(r.retryAfter)).toBeLessThanOrEqual(60 / PER_MINUTE);
      expect(r.body.retry_after).toBe(Number(r.retryAfter));
    }

    const audit = [];
    for await (const e of client.auditEvents({ user_id: VICTIM })) audit.push(e);
    const createdRows = audit.filter((e) => e.type === "challenge.created");
    const refusedRows = audit.filter((e) => e.type === "challenge.refused");
    expect(createdRows.map((e) => e.challenge_id).sort()).toEqual(created.map((r) => r.body.id).sort());
    expect(refusedRows).toHaveLength(ATTEMPTS - PER_MINUTE);
    for (const e of refusedRows) {
      expect(e).toMatchObject({ outcome: "rate_limited", detail: { limit: "user_challenges_per_minute" } });
    }
    // Every attempt is one row: nothing lost, nothing doubled.
    expect(createdRows.length + refusedRows.length).toBe(ATTEMPTS);
  });

  test("a reflex approval without the number does not count; 'this wasn't me' pauses the user", async () => {
    const { challenges } = await phone.listChallenges();
    expect(challenges.length).toBe(PER_MINUTE);
    expect(challenges.every((c) => c.number_matching)).toBe(true);
    const [first, second] = challenges;
    if (!first || !second) throw new Error("expected pending challenges");
    // The library will not send an approval without the number the login page shows.
    await expect(phone.respond(first.id, "approve")).rejects.toThrow(/needs the number/);
    // A guess is a wrong answer: 99 in 100 wrong, and three of them fail the challenge.
    const shown = await client.getChallenge(first.id);
    const guess = shown.match_number === "00" ? "01" : "00";
    await expect(phone.respond(first.id, "approve", { number: guess })).rejects.toMatchObject({
      status: 422,
    });
    expect((await client.getChallenge(first.id)).status).toBe("pending");

    const report = await phone.respond(second.id, "deny", { reason: "not_me" });
    expect(report).toMatchObject({ status: "denied", reason: "not_me", fraud_reported: true });
    const pause = await client.getUserPause(VICTIM);
    expect(pause).toMatchObject({ paused: true, challenge_id: second.id, device_id: phone.info.device_id });

    // Once the per-minute budget allows another try, the user is paused: 423, not a new push.
    let answer = await attempt();
    for (let i = 0; i < 30 && answer.status === 429; i++) {
      await new Promise((r) => setTimeout(r, Number(answer.retryAfter ?? "1") * 1000));
      answer = await attempt();
    }
    expect(answer.status).toBe(423);
    expect(answer.body).toMatchObject({
      type: "https://encrypxon.dev/problems/user-paused",
      challenge_id: second.id,
    });

    await client.clearUserPause(VICTIM);
    expect((await client.getUserPause(VICTIM)).paused).toBe(false);
    const types = [];
    for await (const e of client.auditEvents({ user_id: VICTIM })) types.push(`${e.type}/${e.outcome}`);
    expect(types).toContain("user.paused/paused");
    expect(types).toContain("user.unpaused/cleared");
    expect(types).toContain("challenge.refused/user_paused");
    expect(server.logProblems()).toEqual([]);
  }, 120_000);
});
