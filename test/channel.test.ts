import { runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { decryptForDevice, fromBase64Url, parseChallengePlaintext } from "../packages/device/src/crypto";
import { CLOSE_REVOKED, DeviceChannel } from "../src/durable/channel";
import { notifyDevices } from "../src/durable/notify";
import type { Env } from "../src/env";
import {
  answer,
  BASE,
  call,
  createApp,
  enrollDevice,
  expectProblem,
  type Json,
  type TestDevice,
} from "./helpers";

/** Collects a socket's JSON messages; `next` waits for the first unread one that matches. */
class Inbox {
  readonly messages: Json[] = [];
  closed: { code: number; reason: string } | null = null;
  #read = 0;
  #wakers = new Set<() => void>();

  constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (e) => {
      const text = typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data);
      try {
        this.messages.push(JSON.parse(text));
      } catch {
        this.messages.push({ raw: text });
      }
      this.#wake();
    });
    ws.addEventListener("close", (e) => {
      this.closed = { code: e.code, reason: e.reason };
      this.#wake();
    });
  }

  #wake() {
    for (const w of [...this.#wakers]) w();
  }

  /** The next message (in order) matching `where`; earlier non-matching ones are skipped. */
  async next(where: (m: Json) => boolean = () => true, ms = 5_000): Promise<Json> {
    const deadline = Date.now() + ms;
    for (;;) {
      while (this.#read < this.messages.length) {
        const m = this.messages[this.#read++];
        if (where(m)) return m;
      }
      if (this.closed) throw new Error(`socket closed (${this.closed.code}) while waiting`);
      if (Date.now() > deadline) throw new Error(`no matching message; got ${JSON.stringify(this.messages)}`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          this.#wakers.delete(done);
          resolve();
        };
        const t = setTimeout(done, 50);
        this.#wakers.add(done);
      });
    }
  }

  async whenClosed(ms = 5_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (!this.closed) throw new Error("socket still open");
    return this.closed;
  }
}

async function connect(device: TestDevice, how: "header" | "protocol" = "header") {
  const headers: Record<string, string> = { upgrade: "websocket" };
  if (how === "header") headers.authorization = `Bearer ${device.token}`;
  else headers["sec-websocket-protocol"] = `encrypxon.v1, encrypxon.bearer.${device.token}`;
  const res = await SELF.fetch(`${BASE}/v1/device/connect`, { headers });
  expect(res.status).toBe(101);
  const ws = res.webSocket;
  if (!ws) throw new Error("no webSocket on the 101 response");
  ws.accept();
  const inbox = new Inbox(ws);
  const hello = await inbox.next((m) => m.type === "hello");
  return { ws, inbox, hello, res };
}

const channelOf = (deviceId: string) => env.DEVICE_CHANNELS.get(env.DEVICE_CHANNELS.idFromName(deviceId));
const challengeObjectOf = (id: string) => env.CHALLENGES.get(env.CHALLENGES.idFromName(id));

async function createChallenge(apiKey: string, userId: string, extra: Record<string, unknown> = {}) {
  const res = await call("POST", "/v1/challenges", {
    key: apiKey,
    body: { user_id: userId, context: { title: "Sign in" }, ...extra },
  });
  expect(res.status).toBe(201);
  return res.body;
}

describe("GET /v1/device/connect", () => {
  it("refuses a request that is not a WebSocket upgrade with 426", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "alice");
    const res = await call("GET", "/v1/device/connect", { token: device.token });
    const problem = expectProblem(res, 426);
    expect(problem.type).toMatch(/upgrade-required$/);
    expect(res.headers.get("upgrade")).toBe("websocket");
  });

  it("refuses missing, malformed, unknown and revoked tokens with the same 401", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "alice");
    const revoked = await enrollDevice(app, "alice");
    expect((await call("DELETE", `/v1/devices/${revoked.deviceId}`, { key: app.apiKey })).status).toBe(200);
    const attempts: Record<string, string>[] = [
      {},
      { authorization: "Bearer nope" },
      { authorization: `Bearer edt_${"A".repeat(43)}` },
      { authorization: `Bearer ${revoked.token}` },
      { "sec-websocket-protocol": `encrypxon.v1, encrypxon.bearer.${revoked.token}` },
      { authorization: `Bearer ${app.apiKey}` },
    ];
    const bodies = new Set<string>();
    for (const extra of attempts) {
      const res = await SELF.fetch(`${BASE}/v1/device/connect`, {
        headers: { upgrade: "websocket", ...extra },
      });
      expect(res.status).toBe(401);
      expect(res.webSocket).toBeNull();
      expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      bodies.add(await res.text());
    }
    expect(bodies.size).toBe(1);
    // …while the good token connects.
    const { ws } = await connect(device);
    ws.close(1000, "done");
  });

  it("accepts the token as a subprotocol and echoes only encrypxon.v1", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "alice");
    const { res, hello, ws } = await connect(device, "protocol");
    expect(res.headers.get("sec-websocket-protocol")).toBe("encrypxon.v1");
    expect(hello).toEqual({ type: "hello", device_id: device.deviceId, pending: [] });
    ws.close(1000, "done");
  });
});

/** Alice's phone (ECIES) and tablet (RSA) both connected, and the challenge each was told about. */
async function phoneAndTabletAnnounced() {
  const app = await createApp();
  const phone = await enrollDevice(app, "alice");
  const tablet = await enrollDevice(app, "alice", "rsa-oaep-sha256");
  const a = await connect(phone);
  const b = await connect(tablet);
  const created = await createChallenge(app.apiKey, "alice");
  const forPhone = await a.inbox.next((m) => m.type === "challenge.created" && m.id === created.id);
  const forTablet = await b.inbox.next((m) => m.type === "challenge.created" && m.id === created.id);
  return { phone, tablet, a, b, created, forPhone, forTablet };
}

describe("live challenge events", () => {
  it("announces a new challenge at once, carrying the device's own entry of its listing", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "alice");
    const { inbox, ws } = await connect(device);
    const created = await createChallenge(app.apiKey, "alice");
    const event = await inbox.next((m) => m.type === "challenge.created");
    const listed = await call("GET", "/v1/device/challenges", { token: device.token });
    expect(listed.body.data).toHaveLength(1);
    expect(event).toEqual({
      type: "challenge.created",
      id: created.id,
      expires_at: created.expires_at,
      challenge: listed.body.data[0],
    });
    expect(event.challenge).toMatchObject({ id: created.id, context: { title: "Sign in" } });
    ws.close(1000, "done");
  });

  it("gives each device the ciphertext for its own key, answerable without listing", async () => {
    const { phone, tablet, a, b, created, forPhone, forTablet } = await phoneAndTabletAnnounced();
    expect(forPhone.challenge.key_format).toBe("ecies-p256");
    expect(forTablet.challenge.key_format).toBe("rsa-oaep-sha256");
    expect(forPhone.challenge.ciphertext).not.toBe(forTablet.challenge.ciphertext);
    const now = Math.floor(Date.now() / 1000);
    const open = async (d: TestDevice, c: Json) =>
      parseChallengePlaintext(
        await decryptForDevice(d.format, d.privateJwk, fromBase64Url(c.ciphertext)),
        created.id,
        now,
      ).entropy;
    const [e1, e2] = [await open(phone, forPhone.challenge), await open(tablet, forTablet.challenge)];
    expect(e1).toBe(e2);
    // One device's ciphertext is not the other's key's.
    await expect(open(tablet, forPhone.challenge)).rejects.toThrow();
    const res = await answer(tablet, created.id, "approve", e2);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("approved");
    a.ws.close(1000, "done");
    b.ws.close(1000, "done");
  });

  it("tells every device who answered: first answer wins, the others learn it is closed", async () => {
    const { phone, tablet, a, b, created } = await phoneAndTabletAnnounced();

    const res = await answer(phone, created.id, "approve");
    expect(res.status).toBe(200);
    const late = await answer(tablet, created.id, "deny").catch((e: Error) => e);
    // The tablet can no longer even list it: it is closed.
    expect(late).toBeInstanceOf(Error);

    expect(await b.inbox.next((m) => m.type === "challenge.closed")).toEqual({
      type: "challenge.closed",
      id: created.id,
      status: "approved",
      answered_by: "another_device",
    });
    expect(await a.inbox.next((m) => m.type === "challenge.closed")).toMatchObject({
      id: created.id,
      answered_by: "this_device",
    });
    a.ws.close(1000, "done");
    b.ws.close(1000, "done");
  });

  it("of two devices answering at the same moment exactly one wins", async () => {
    const app = await createApp();
    const phone = await enrollDevice(app, "alice");
    const tablet = await enrollDevice(app, "alice");
    const created = await createChallenge(app.apiKey, "alice");
    const { entropyFor } = await import("./helpers");
    const [e1, e2] = await Promise.all([entropyFor(phone, created.id), entropyFor(tablet, created.id)]);
    const results = await Promise.all([
      answer(phone, created.id, "approve", e1),
      answer(tablet, created.id, "deny", e2),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    const audit = await call("GET", `/v1/audit?type=challenge.resolved&user_id=alice`, { key: app.apiKey });
    expect(audit.body.data).toHaveLength(1);
  });

  it("pushes cancellation and expiry", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "alice");
    const { inbox, ws } = await connect(device);

    const first = await createChallenge(app.apiKey, "alice");
    expect((await call("DELETE", `/v1/challenges/${first.id}`, { key: app.apiKey })).status).toBe(200);
    expect(await inbox.next((m) => m.type === "challenge.closed" && m.id === first.id)).toMatchObject({
      status: "cancelled",
      answered_by: null,
    });

    const second = await createChallenge(app.apiKey, "alice", { ttl_seconds: 10 });
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(Date.now() + 11_000);
      expect(await runDurableObjectAlarm(challengeObjectOf(second.id))).toBe(true);
    } finally {
      vi.useRealTimers();
    }
    expect(await inbox.next((m) => m.type === "challenge.closed" && m.id === second.id)).toMatchObject({
      status: "expired",
      answered_by: null,
    });
    ws.close(1000, "done");
  });
});

describe("reconnect and catch-up", () => {
  it("lists what is still pending when a device connects, and again on sync", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "alice");
    const c1 = await createChallenge(app.apiKey, "alice");
    const c2 = await createChallenge(app.apiKey, "alice");
    const answered = await createChallenge(app.apiKey, "alice");
    await answer(device, answered.id, "approve");

    const { hello, inbox, ws } = await connect(device);
    expect(hello.pending.map((p: Json) => p.id).sort()).toEqual([c1.id, c2.id].sort());
    expect(hello.pending[0].expires_at).toMatch(/Z$/);
    // Each entry as the device's listing shows it, so catching up needs no listing.
    const listed = await call("GET", "/v1/device/challenges", { token: device.token });
    expect(hello.pending).toEqual(listed.body.data);

    await answer(device, c1.id, "deny");
    ws.send(JSON.stringify({ type: "sync" }));
    const again = await inbox.next((m) => m.type === "hello");
    expect(again.pending.map((p: Json) => p.id)).toEqual([c2.id]);

    ws.send("ping");
    expect(await inbox.next((m) => m.raw !== undefined)).toEqual({ raw: "pong" });
    ws.send("nonsense");
    expect(await inbox.next((m) => m.type === "error")).toMatchObject({ type: "error" });
    ws.close(1000, "done");
  });

  it("a second connection of the same device gets the same events", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "alice");
    const first = await connect(device);
    const second = await connect(device);
    expect(await channelOf(device.deviceId).connections(device.deviceId)).toBe(2);
    const created = await createChallenge(app.apiKey, "alice");
    await first.inbox.next((m) => m.type === "challenge.created" && m.id === created.id);
    await second.inbox.next((m) => m.type === "challenge.created" && m.id === created.id);
    first.ws.close(1000, "done");
    second.ws.close(1000, "done");
  });
});

describe("hibernation", () => {
  it("keeps nothing in memory: a fresh instance serves a socket from its attachment alone", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "alice");
    const pending = await createChallenge(app.apiKey, "alice");
    const { inbox, ws } = await connect(device);

    await runInDurableObject(channelOf(device.deviceId), async (_instance, state) => {
      const sockets = state.getWebSockets(device.deviceId);
      expect(sockets).toHaveLength(1);
      const socket = sockets[0];
      if (!socket) throw new Error("no socket");
      expect(socket.deserializeAttachment()).toMatchObject({ deviceId: device.deviceId, appId: app.appId });
      // What the runtime does after eviction: a new instance, woken by a message on a hibernated socket.
      const woken = new DeviceChannel(state, env as unknown as Env);
      await woken.webSocketMessage(socket, JSON.stringify({ type: "sync" }));
    });
    const hello = await inbox.next((m) => m.type === "hello");
    expect(hello.pending.map((p: Json) => p.id)).toEqual([pending.id]);
    ws.close(1000, "done");
  });

  it("closes the sockets of a revoked device at once", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "alice");
    const { inbox } = await connect(device);
    expect((await call("DELETE", `/v1/devices/${device.deviceId}`, { key: app.apiKey })).status).toBe(200);
    // Said in a message first: a quiet socket can take seconds to see the close itself.
    expect(await inbox.next((m) => m.type === "device.revoked")).toEqual({ type: "device.revoked" });
    expect((await inbox.whenClosed()).code).toBe(CLOSE_REVOKED);
  });

  it("closes the sockets of a device that removes itself", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "alice");
    const { inbox } = await connect(device);
    expect((await call("DELETE", "/v1/device", { token: device.token })).status).toBe(204);
    expect(await inbox.next((m) => m.type === "device.revoked")).toEqual({ type: "device.revoked" });
    expect((await inbox.whenClosed()).code).toBe(CLOSE_REVOKED);
  });
});

describe("notify failures", () => {
  it("never block creation and leave an audit record", async () => {
    const app = await createApp();
    const failing = {
      ...(env as unknown as Env),
      DEVICE_CHANNELS: {
        idFromName: (name: string) => env.DEVICE_CHANNELS.idFromName(name),
        get: () => ({ notify: () => Promise.reject(new Error("channel unreachable")) }),
      },
    } as unknown as Env;
    await notifyDevices(
      failing,
      { appId: app.appId, userId: "alice", challengeId: "chl_x" },
      ["dev_a", "dev_b"],
      () => ({
        type: "challenge.created",
        id: "chl_x",
        expires_at: new Date().toISOString(),
      }),
    );
    const audit = await call("GET", "/v1/audit?type=device.notify_failed", { key: app.apiKey });
    expect(audit.body.data).toHaveLength(2);
    expect(audit.body.data[0]).toMatchObject({
      outcome: "failed",
      challenge_id: "chl_x",
      detail: { channel: "websocket", event: "challenge.created" },
    });
  });
});

describe("supersede", () => {
  it("cancels the user's older pending challenges, audited with reason superseded", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "alice");
    await enrollDevice(app, "bob");
    const old1 = await createChallenge(app.apiKey, "alice");
    const old2 = await createChallenge(app.apiKey, "alice");
    const bobs = await createChallenge(app.apiKey, "bob");
    const { inbox, ws } = await connect(device);

    const fresh = await createChallenge(app.apiKey, "alice", { supersede: true });
    expect(fresh.status).toBe("pending");
    expect([...fresh.superseded].sort()).toEqual([old1.id, old2.id].sort());

    for (const old of [old1, old2]) {
      const got = await call("GET", `/v1/challenges/${old.id}`, { key: app.apiKey });
      expect(got.body).toMatchObject({ status: "cancelled", reason: "superseded" });
      expect(await inbox.next((m) => m.type === "challenge.closed" && m.id === old.id)).toMatchObject({
        status: "cancelled",
      });
    }
    expect((await call("GET", `/v1/challenges/${bobs.id}`, { key: app.apiKey })).body.status).toBe("pending");
    const audit = await call("GET", "/v1/audit?type=challenge.resolved&outcome=cancelled", {
      key: app.apiKey,
    });
    expect(audit.body.data).toHaveLength(2);
    for (const row of audit.body.data) expect(row.detail.reason).toBe("superseded");

    const listed = await call("GET", "/v1/device/challenges", { token: device.token });
    expect(listed.body.data.map((c: Json) => c.id)).toEqual([fresh.id]);

    // Without the flag nothing is superseded, and the response has no `superseded` field.
    const plain = await createChallenge(app.apiKey, "alice");
    expect(plain.superseded).toBeUndefined();
    expect((await call("GET", `/v1/challenges/${fresh.id}`, { key: app.apiKey })).body.status).toBe(
      "pending",
    );
    ws.close(1000, "done");
  });

  it("refuses a non-boolean supersede", async () => {
    const app = await createApp();
    await enrollDevice(app, "alice");
    const res = await call("POST", "/v1/challenges", {
      key: app.apiKey,
      body: { user_id: "alice", supersede: "yes" },
    });
    expect(expectProblem(res, 400).errors[0].field).toBe("supersede");
  });
});
