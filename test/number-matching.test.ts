import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { decryptForDevice, fromBase64Url } from "../packages/device/src/crypto";
import { randomDigits } from "../src/crypto/random";
import { MAX_WRONG_ANSWERS } from "../src/durable/challenge";
import {
  call,
  createApp,
  enrollDevice,
  entropyFor,
  expectProblem,
  type TestApp,
  type TestDevice,
} from "./helpers";

async function matched(
  app: TestApp,
  user: string,
  extra: Record<string, unknown> = { number_matching: true },
) {
  const res = await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: user, ...extra } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

function approve(device: TestDevice, id: string, entropy: string, number?: string) {
  return call("POST", `/v1/device/challenges/${id}/response`, {
    token: device.token,
    body: { entropy, decision: "approve", ...(number !== undefined && { number }) },
  });
}

const otherNumber = (n: string) => String((Number(n) + 1) % 100).padStart(2, "0");

describe("number matching", () => {
  it("the application gets a 2-digit number; the device is told to ask for it but never sees it", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "nina");
    const created = await matched(app, "nina");
    expect(created.number_matching).toBe(true);
    expect(created.match_number).toMatch(/^[0-9]{2}$/);
    const got = await call("GET", `/v1/challenges/${created.id}`, { key: app.apiKey });
    expect(got.body.match_number).toBe(created.match_number);

    const list = await call("GET", "/v1/device/challenges", { token: device.token });
    const item = list.body.data.find((c: { id: string }) => c.id === created.id);
    expect(item.number_matching).toBe(true);
    expect(Object.keys(item)).not.toContain("match_number");
    // Nor inside the ciphertext: the plaintext is exactly {v, cid, e, exp}.
    const plain = JSON.parse(
      new TextDecoder().decode(
        await decryptForDevice(device.format, device.privateJwk, fromBase64Url(item.ciphertext)),
      ),
    );
    expect(Object.keys(plain).sort()).toEqual(["cid", "e", "exp", "v"]);
    // And not in D1, where device listings come from.
    const row = await env.DB.prepare("SELECT * FROM challenges WHERE id = ?1").bind(created.id).first();
    expect(row?.number_matching).toBe(1);
    expect(JSON.stringify(row)).not.toContain(`"${created.match_number}"`);
  });

  it("the right number approves; the number is gone from the view once resolved", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "omar");
    const created = await matched(app, "omar");
    const res = await approve(device, created.id, await entropyFor(device, created.id), created.match_number);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.status).toBe("approved");
    expect(res.body.match_number).toBeNull();
    const got = await call("GET", `/v1/challenges/${created.id}`, { key: app.apiKey });
    expect(got.body).toMatchObject({ status: "approved", number_matching: true, match_number: null });
  });

  it("wait_seconds does not hold back the number: the call returns at once, pending, with it", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "pia");
    const creating = matched(app, "pia", { number_matching: true, wait_seconds: 10 });
    // The user denies as soon as the prompt shows up: a call still waiting would come back "denied".
    let id: string | undefined;
    while (!id) {
      const list = await call("GET", "/v1/device/challenges", { token: device.token });
      id = list.body.data[0]?.id;
    }
    const deny = await call("POST", `/v1/device/challenges/${id}/response`, {
      token: device.token,
      body: { entropy: await entropyFor(device, id), decision: "deny" },
    });
    expect(deny.body.status).toBe("denied");
    const created = await creating;
    expect(created).toMatchObject({ id, status: "pending", number_matching: true });
    expect(created.match_number).toMatch(/^[0-9]{2}$/);
  });

  it("a wrong or missing number is a wrong answer; enough of them fail the challenge", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "pia");
    const created = await matched(app, "pia");
    const entropy = await entropyFor(device, created.id);
    const wrong = expectProblem(
      await approve(device, created.id, entropy, otherNumber(created.match_number)),
      422,
    );
    expect(wrong.type).toMatch(/wrong-number$/);
    expect(wrong.attempts_left).toBe(MAX_WRONG_ANSWERS - 1);
    const missing = expectProblem(await approve(device, created.id, entropy), 422);
    expect(missing.type).toMatch(/wrong-number$/);
    expect(missing.attempts_left).toBe(MAX_WRONG_ANSWERS - 2);
    // The last allowed wrong try fails the challenge; the right number then comes too late.
    const last = await approve(device, created.id, entropy, otherNumber(created.match_number));
    expect(expectProblem(last, 422)).toMatchObject({ attempts_left: 0, challenge_status: "failed" });
    const late = await approve(device, created.id, entropy, created.match_number);
    expect(expectProblem(late, 409).challenge_status).toBe("failed");
    const got = await call("GET", `/v1/challenges/${created.id}`, { key: app.apiKey });
    expect(got.body).toMatchObject({ status: "failed", reason: "too_many_wrong_answers" });
  });

  it("a deny needs no number; a malformed number is a 400 that costs no attempt", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "quin");
    const created = await matched(app, "quin");
    const entropy = await entropyFor(device, created.id);
    for (const number of ["7", "007", "a1", " 7"]) {
      const bad = expectProblem(await approve(device, created.id, entropy, number), 400);
      expect(bad.errors[0].field).toBe("number");
    }
    const denied = await call("POST", `/v1/device/challenges/${created.id}/response`, {
      token: device.token,
      body: { entropy, decision: "deny" },
    });
    expect(denied.status).toBe(200);
    expect(denied.body.status).toBe("denied");
  });

  it("follows the application's default unless the request says otherwise; a number sent without it is ignored", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "rita");
    const plain = await matched(app, "rita", {});
    expect(plain).toMatchObject({ number_matching: false, match_number: null });
    const ok = await approve(device, plain.id, await entropyFor(device, plain.id), "42");
    expect(ok.body.status).toBe("approved");

    const patched = await call("PATCH", "/v1/settings", { key: app.apiKey, body: { number_matching: true } });
    expect(patched.status).toBe(200);
    const byDefault = await matched(app, "rita", {});
    expect(byDefault.match_number).toMatch(/^[0-9]{2}$/);
    const optedOut = await matched(app, "rita", { number_matching: false });
    expect(optedOut).toMatchObject({ number_matching: false, match_number: null });
  });
});

describe("randomDigits", () => {
  it("skips bytes 250–255 instead of folding them onto 0–5", () => {
    const feed = [250, 251, 252, 253, 254, 255, 13, 249, 0];
    let at = 0;
    const source = (n: number) => Uint8Array.from({ length: n }, () => feed[at++ % feed.length] ?? 0);
    expect(randomDigits(3, source)).toBe("390");
    // Bytes 0–249, each once: every digit exactly 25 times.
    let next = 0;
    const sweep = (n: number) => Uint8Array.from({ length: n }, () => next++ % 256);
    const counts = new Array(10).fill(0);
    for (const d of randomDigits(250, sweep)) counts[Number(d)]++;
    expect(counts).toEqual(new Array(10).fill(25));
  });

  it("is uniform over 00–99 by a chi-square test that does catch the modulo-biased draw", () => {
    const draws = 100_000;
    const chiSquare = (counts: number[]) => {
      const expected = draws / counts.length;
      return counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
    };
    const ours = new Array(100).fill(0);
    for (let i = 0; i < draws; i++) ours[Number(randomDigits(2))]++;
    const biased = new Array(100).fill(0);
    for (let i = 0; i < draws; i += 50_000) {
      for (const b of crypto.getRandomValues(new Uint8Array(50_000))) biased[b % 100]++;
    }
    // 99 degrees of freedom: mean 99, sd 14; 200 is beyond p = 1e-12. The biased draw scores thousands.
    expect(chiSquare(ours)).toBeLessThan(200);
    expect(chiSquare(biased)).toBeGreaterThan(200);
  });
});
