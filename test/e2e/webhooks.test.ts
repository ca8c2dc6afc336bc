// Webhooks under `wrangler dev`: a small local HTTP receiver verifies every signature with node:crypto
// (and with the SDK's verifier); one that fails twice gets the event on the third attempt and accepts
// it exactly once. Then a few dozen rounds measure device answer → webhook received (printed only).
import { createHmac, timingSafeEqual } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Encrypxon2FaClient, verifyWebhook, type WebhookEvent } from "../../packages/client/src/index";
import { DeviceClient, DeviceStore } from "../../packages/device/src/index";
import { freePort } from "../../scripts/lib/net.mjs";
import { type E2eServer, startServer } from "./harness";

/** First retry after ~300 ms instead of 30 s, so a fail-twice receiver is done in about a second. */
const RETRY_BASE_MS = 300;

let server: E2eServer;
let client: Encrypxon2FaClient;
let storeDir: string;
let phone: DeviceClient;

interface Hit {
  at: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  answered: number;
}

/** A receiver on 127.0.0.1 answering from `script` (then 200), verifying with `secret`. */
async function receiver(script: number[] = []) {
  const hits: Hit[] = [];
  const accepted: WebhookEvent[] = [];
  const seenEventIds = new Set<string>();
  let secret = "";
  const port = await freePort();
  const http: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const answered =
        script.shift() ?? (verifiedByNode(req.headers["encrypxon-signature"], body, secret) ? 200 : 400);
      hits.push({ at: performance.now(), headers: req.headers, body, answered });
      if (answered === 200) {
        const event = JSON.parse(body) as WebhookEvent;
        // What a receiver should do with retries and re-sends: act once per event id.
        if (!seenEventIds.has(event.id)) accepted.push(event);
        seenEventIds.add(event.id);
      }
      res.writeHead(answered, { "content-type": "text/plain" }).end(answered === 200 ? "ok" : "not now");
    });
  });
  await new Promise<void>((resolve) => http.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${port}/encrypxon`,
    hits,
    accepted,
    setSecret: (s: string) => {
      secret = s;
    },
    close: () => new Promise<void>((resolve) => http.close(() => resolve())),
  };
}

function verifiedByNode(header: string | string[] | undefined, body: string, secret: string): boolean {
  if (typeof header !== "string" || !secret) return false;
  const entries = header.split(",").map((e) => e.trim().split("=") as [string, string]);
  const t = entries.find(([k]) => k === "t")?.[1];
  if (!t || Math.abs(Number(t) - Date.now() / 1000) > 300) return false;
  const mac = createHmac("sha256", secret).update(`${t}.${body}`).digest();
  return entries.some(
    ([k, v]) => k === "v1" && v?.length === 64 && timingSafeEqual(Buffer.from(v, "hex"), mac),
  );
}

async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  ms = 20_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function answerNext(challengeId: string, decision: "approve" | "deny") {
  await until("the challenge on the phone", async () =>
    (await phone.listChallenges()).challenges.some((c) => c.id === challengeId) ? true : undefined,
  );
  return phone.respond(challengeId, decision);
}

beforeAll(async () => {
  server = await startServer({
    appName: "E2E Webhooks",
    wranglerArgs: ["--var", `WEBHOOK_RETRY_BASE_MS:${RETRY_BASE_MS}`],
  });
  client = new Encrypxon2FaClient({ apiKey: server.apiKey, baseUrl: server.baseUrl });
  storeDir = await mkdtemp(path.join(os.tmpdir(), "encrypxon-webhook-device-"));
}, 120_000);

afterAll(async () => {
  if (storeDir) await rm(storeDir, { recursive: true, force: true });
  if (server) {
    const problems = server.logProblems();
    await server.cleanup();
    expect(problems).toEqual([]);
  }
});

describe("webhooks to a local receiver", () => {
  test("enrollment completion and a denied challenge arrive signed; the SDK verifies them too", async () => {
    const rx = await receiver();
    try {
      const hook = await client.createWebhook({ url: rx.url, description: "e2e" });
      server.secret(hook.secret);
      rx.setSecret(hook.secret);

      const enrollment = await client.createEnrollment({ user_id: "erin" });
      phone = await DeviceClient.enroll(enrollment.enrollment_uri, { store: new DeviceStore(storeDir) });
      const completed = await until("enrollment.completed", () =>
        rx.accepted.find((e) => e.type === "enrollment.completed"),
      );
      expect(completed.data.enrollment).toMatchObject({
        id: enrollment.id,
        status: "completed",
        device_id: phone.deviceId,
      });

      const challenge = await client.createChallenge({ user_id: "erin", context: { title: "Webhook test" } });
      await answerNext(challenge.id, "deny");
      const denied = await until("challenge.denied", () =>
        rx.accepted.find((e) => e.type === "challenge.denied"),
      );
      expect(denied.data.challenge).toEqual(await client.getChallenge(challenge.id));

      for (const hit of rx.hits) {
        expect(hit.answered).toBe(200);
        const event = await verifyWebhook({
          payload: hit.body,
          signature: hit.headers["encrypxon-signature"] as string,
          secret: hook.secret,
        });
        expect(hit.headers["encrypxon-event-id"]).toBe(event.id);
        expect(hit.headers["encrypxon-event-type"]).toBe(event.type);
      }
      const log = await client.listWebhookDeliveries({ endpoint_id: hook.id });
      expect(log.data.map((d) => [d.event_type, d.status, d.attempts])).toEqual([
        ["challenge.denied", "succeeded", 1],
        ["enrollment.completed", "succeeded", 1],
      ]);
      await client.deleteWebhook(hook.id);
    } finally {
      await rx.close();
    }
  });

  test("a receiver that fails twice gets the event a third time and accepts it exactly once", async () => {
    const rx = await receiver([500, 503]);
    try {
      const hook = await client.createWebhook({ url: rx.url, events: ["challenge.approved"] });
      server.secret(hook.secret);
      rx.setSecret(hook.secret);
      const challenge = await client.createChallenge({ user_id: "erin" });
      await answerNext(challenge.id, "approve");

      const delivered = await until("a succeeded delivery", async () => {
        const [d] = (await client.listWebhookDeliveries({ endpoint_id: hook.id })).data;
        return d?.status === "succeeded" ? d : undefined;
      });
      expect(delivered).toMatchObject({
        attempts: 3,
        last_status_code: 200,
        event_type: "challenge.approved",
      });
      expect(rx.hits.map((h) => h.answered)).toEqual([500, 503, 200]);
      expect(rx.hits.map((h) => h.headers["encrypxon-delivery-attempt"])).toEqual(["1", "2", "3"]);
      expect(new Set(rx.hits.map((h) => h.headers["encrypxon-event-id"])).size).toBe(1);
      expect(rx.accepted).toHaveLength(1);
      expect(rx.accepted[0]?.data.challenge?.id).toBe(challenge.id);
      // The waits grew: the second retry came later after its failure than the first did.
      const [a, b, c] = rx.hits.map((h) => h.at) as [number, number, number];
      expect(c - b).toBeGreaterThan(b - a);

      // Nothing more comes once it succeeded, however long one waits (here: past two more retry periods).
      await new Promise((r) => setTimeout(r, RETRY_BASE_MS * 8));
      expect(rx.hits).toHaveLength(3);

      // A re-send is a new delivery of the same event: the receiver sees it, and de-duplicates it.
      const resent = await client.resendWebhookDelivery(delivered.id);
      expect(resent).toMatchObject({
        status: "pending",
        resent_from: delivered.id,
        event_id: delivered.event_id,
      });
      await until("the re-send", () => (rx.hits.length === 4 ? true : undefined));
      expect(rx.accepted).toHaveLength(1);
      await client.deleteWebhook(hook.id);
    } finally {
      await rx.close();
    }
  });

  test("device answer → webhook received, over many rounds (printed, not asserted)", async () => {
    const rx = await receiver();
    try {
      const hook = await client.createWebhook({ url: rx.url, events: ["challenge.approved"] });
      server.secret(hook.secret);
      rx.setSecret(hook.secret);
      const rounds = Number(process.env.ENCRYPXON_WEBHOOK_ROUNDS ?? 60);
      // Many challenges for one user in seconds: above the default per-user rate limit.
      await client.updateSettings({ limits: { user_challenges_per_minute: 1000 } });
      const lags: number[] = [];
      for (let i = 0; i < rounds; i++) {
        const challenge = await client.createChallenge({ user_id: "erin" });
        const before = rx.hits.length;
        await until("the challenge on the phone", async () =>
          (await phone.listChallenges()).challenges.some((c) => c.id === challenge.id) ? true : undefined,
        );
        const answered = performance.now();
        await phone.respond(challenge.id, "approve");
        const hit = await until("its webhook", () => rx.hits[before]);
        lags.push(hit.at - answered);
      }
      expect(rx.accepted).toHaveLength(rounds);
      lags.sort((x, y) => x - y);
      const pct = (p: number) =>
        lags[Math.min(lags.length - 1, Math.floor((p / 100) * lags.length))]?.toFixed(1);
      console.log(
        `webhooks: device answer sent → webhook received over ${rounds} rounds: median ${pct(50)} ms, p99 ${pct(99)} ms`,
      );
      await client.deleteWebhook(hook.id);
    } finally {
      await rx.close();
    }
  }, 180_000);
});
