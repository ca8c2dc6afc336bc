import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { type PushNotification, registerPushProvider } from "../src/push/provider";
import { answer, call, createApp, enrollDevice, type Json } from "./helpers";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const undo of cleanups.splice(0)) undo();
});

/** Polls the audit trail until `n` rows of the type exist (notifications run after the response). */
async function auditRows(apiKey: string, type: string, n: number): Promise<Json[]> {
  for (let i = 0; i < 200; i++) {
    const res = await call("GET", `/v1/audit?type=${type}`, { key: apiKey });
    if (res.body.data.length >= n) return res.body.data;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`fewer than ${n} ${type} rows`);
}

describe("push-provider seam", () => {
  it("hands each device the small event only after the challenge is stored", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "alice");
    const sent: { n: PushNotification; storedFirst: boolean }[] = [];
    cleanups.push(
      registerPushProvider({
        name: "test-recorder",
        async send(n) {
          const row = await env.DB.prepare("SELECT status FROM challenges WHERE id = ?1")
            .bind(n.event.id)
            .first<{ status: string }>();
          sent.push({ n, storedFirst: row !== null });
        },
      }),
    );
    const created = await call("POST", "/v1/challenges", {
      key: app.apiKey,
      body: { user_id: "alice", context: { title: "Secret-ish context" } },
    });
    expect(created.status).toBe(201);
    await answer(device, created.body.id, "approve");
    for (let i = 0; i < 200 && sent.length < 2; i++) await new Promise((r) => setTimeout(r, 10));

    expect(sent.map((s) => s.n.event.type)).toEqual(["challenge.created", "challenge.closed"]);
    expect(sent.every((s) => s.storedFirst)).toBe(true);
    expect(sent[0]?.n).toEqual({
      appId: app.appId,
      userId: "alice",
      deviceId: device.deviceId,
      event: { type: "challenge.created", id: created.body.id, expires_at: created.body.expires_at },
    });
    // Nothing of the context or the ciphertext goes to a third party.
    expect(JSON.stringify(sent)).not.toMatch(/Secret-ish|ciphertext/);
  });

  it("a failing provider neither fails nor delays the challenge, and is audited", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "alice");
    cleanups.push(
      registerPushProvider({
        name: "test-broken",
        send: () => Promise.reject(new Error("FCM said 503")),
      }),
      registerPushProvider({
        name: "test-throws",
        send: () => {
          throw new Error("synchronous failure");
        },
      }),
    );
    const created = await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: "alice" } });
    expect(created.status).toBe(201);
    // The device still gets it by polling and can answer it.
    expect((await answer(device, created.body.id, "approve")).status).toBe(200);

    const rows = await auditRows(app.apiKey, "device.push_failed", 4);
    const seen = rows.map((r) => `${r.detail.provider}:${r.detail.event}`).sort();
    expect(seen).toEqual([
      "test-broken:challenge.closed",
      "test-broken:challenge.created",
      "test-throws:challenge.closed",
      "test-throws:challenge.created",
    ]);
    expect(rows[0]).toMatchObject({
      outcome: "failed",
      device_id: device.deviceId,
      challenge_id: created.body.id,
    });
    // The provider's error message stays in the server log, not in the audit detail.
    expect(JSON.stringify(rows)).not.toMatch(/FCM said|synchronous/);
  });
});
