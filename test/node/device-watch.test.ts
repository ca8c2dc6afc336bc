// The device's watch loop against scripted sockets: reconnect with backoff, catch-up from hello,
// one answer per challenge however often it is announced, and the end on revocation.
import { describe, expect, it } from "vitest";
import {
  type ChallengeList,
  DeviceApiError,
  type DeviceClient,
  DeviceError,
  type PendingChallenge,
} from "../../packages/device/src/client";
import { type SocketLike, type WatchEvent, watch } from "../../packages/device/src/watch";

type Listener = (e: { data: unknown; code: number; reason: string }) => void;

class FakeSocket implements SocketLike {
  readyState = 1;
  readonly sent: string[] = [];
  #listeners = new Map<string, Listener[]>();

  send(data: string): void {
    this.sent.push(data);
  }
  close(code = 1000, reason = ""): void {
    this.drop(code, reason);
  }
  addEventListener(type: string, listener: Listener): void {
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), listener]);
  }
  message(value: unknown): void {
    for (const l of this.#listeners.get("message") ?? [])
      l({ data: JSON.stringify(value), code: 0, reason: "" });
  }
  /**
   * The server's close frame as undici shows it while the TCP connection lingers (about 10 s under
   * wrangler dev): readyState CLOSING at once, the close event only when the connection ends.
   */
  closeFrame(): void {
    this.readyState = 2;
  }
  drop(code: number, reason = ""): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    for (const l of this.#listeners.get("close") ?? []) l({ data: null, code, reason });
  }
}

// Ids ending in "_nm" are number-matching challenges.
const challenge = (id: string): PendingChallenge => ({
  id,
  context: { title: "Sign in" },
  created_at: new Date().toISOString(),
  expires_at: new Date(Date.now() + 60_000).toISOString(),
  number_matching: id.endsWith("_nm"),
});

/** A DeviceClient stand-in: each openChannel hands the next scripted socket to `onOpen`. */
function fakeClient(pending: Set<string>, onOpen: (socket: FakeSocket, n: number) => void) {
  const responses: { id: string; decision: string; number?: string }[] = [];
  let opened = 0;
  let listings = 0;
  const client = {
    deviceId: "dev_test",
    openChannel(): SocketLike {
      const socket = new FakeSocket();
      const n = ++opened;
      // Like a real socket, events come after the constructor returns.
      setTimeout(() => onOpen(socket, n), 0);
      return socket;
    },
    async listChallenges(): Promise<ChallengeList> {
      listings++;
      return { challenges: [...pending].map(challenge), refused: [] };
    },
    // Like the real one: an entry "decrypts" when its ciphertext is "ok", else it is refused.
    async accept(raw: unknown): Promise<ChallengeList> {
      const entry = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
      const id = typeof entry.id === "string" ? entry.id : "(no id)";
      return entry.ciphertext === "ok"
        ? { challenges: [challenge(id)], refused: [] }
        : { challenges: [], refused: [{ id, reason: "ciphertext does not decrypt" }] };
    },
    async respond(id: string, decision: string, opts: { number?: string } = {}) {
      if (decision === "approve" && id.endsWith("_nm") && opts.number === undefined) {
        throw new Error(`${id} needs the number shown on the login page to approve it`);
      }
      responses.push({ id, decision, ...(opts.number !== undefined && { number: opts.number }) });
      pending.delete(id);
      return { id, status: decision === "approve" ? "approved" : "denied" };
    },
  };
  return {
    client: client as unknown as DeviceClient,
    responses,
    opened: () => opened,
    listings: () => listings,
  };
}

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe("watch", () => {
  it("reconnects with growing backoff, catches up from hello, and stops on abort", async () => {
    const events: WatchEvent[] = [];
    const stop = new AbortController();
    const { client, responses } = fakeClient(new Set(["chl_a"]), (socket, n) => {
      // Three failed connections, then one that works.
      if (n <= 3) return socket.drop(1006);
      socket.message({ type: "hello", device_id: "dev_test", pending: [{ id: "chl_a" }] });
      setTimeout(() => stop.abort(), 30);
    });
    const end = await watch(client, {
      onEvent: (e) => events.push(e),
      decide: () => "approve",
      signal: stop.signal,
      initialBackoffMs: 10,
      maxBackoffMs: 25,
    });
    expect(end).toBe("stopped");
    const delays = events.flatMap((e) => (e.event === "disconnected" ? [e.retry_in_ms] : []));
    expect(delays).toHaveLength(3);
    // 10, 20, then capped at 25 — each within ±20 % jitter.
    expect(delays[0]).toBeGreaterThanOrEqual(8);
    expect(delays[0]).toBeLessThanOrEqual(12);
    expect(delays[1]).toBeGreaterThanOrEqual(16);
    expect(delays[1]).toBeLessThanOrEqual(24);
    expect(delays[2]).toBeGreaterThanOrEqual(20);
    expect(delays[2]).toBeLessThanOrEqual(30);
    expect(events.map((e) => e.event)).toEqual([
      "disconnected",
      "disconnected",
      "disconnected",
      "connected",
      "challenge",
      "answered",
      "stopped",
    ]);
    expect(responses).toEqual([{ id: "chl_a", decision: "approve" }]);
  });

  it("answers a challenge once however often it is announced, and reports closes", async () => {
    const events: WatchEvent[] = [];
    const stop = new AbortController();
    const pending = new Set(["chl_b"]);
    const { client, responses } = fakeClient(pending, async (socket) => {
      socket.message({ type: "hello", device_id: "dev_test", pending: [{ id: "chl_b" }] });
      socket.message({ type: "challenge.created", id: "chl_b", expires_at: "x" });
      socket.message({ type: "challenge.created", id: "chl_b", expires_at: "x" });
      socket.message("not json at all");
      await tick(20);
      socket.message({ type: "challenge.closed", id: "chl_b", status: "denied", answered_by: "this_device" });
      socket.message({
        type: "challenge.closed",
        id: "chl_c",
        status: "approved",
        answered_by: "another_device",
      });
      stop.abort();
    });
    await watch(client, { onEvent: (e) => events.push(e), decide: () => "deny", signal: stop.signal });
    expect(responses).toEqual([{ id: "chl_b", decision: "deny" }]);
    expect(events.filter((e) => e.event === "challenge")).toHaveLength(1);
    expect(events.filter((e) => e.event === "closed")).toEqual([
      { event: "closed", id: "chl_b", status: "denied", answered_by: "this_device" },
      { event: "closed", id: "chl_c", status: "approved", answered_by: "another_device" },
    ]);
  });

  it("asks for the number of number-matching approvals only, and does not answer without one", async () => {
    const events: WatchEvent[] = [];
    const stop = new AbortController();
    const asked: string[] = [];
    const { client, responses } = fakeClient(new Set(["chl_p", "chl_q_nm", "chl_r_nm"]), async (socket) => {
      socket.message({
        type: "hello",
        device_id: "dev_test",
        pending: [{ id: "chl_p" }, { id: "chl_q_nm" }, { id: "chl_r_nm" }],
      });
      await tick(30);
      stop.abort();
    });
    await watch(client, {
      onEvent: (e) => events.push(e),
      decide: () => "approve",
      numberFor: (c) => {
        asked.push(c.id);
        return c.id === "chl_q_nm" ? "42" : null;
      },
      signal: stop.signal,
    });
    expect(asked).toEqual(["chl_q_nm", "chl_r_nm"]);
    expect(responses).toEqual([
      { id: "chl_p", decision: "approve" },
      { id: "chl_q_nm", decision: "approve", number: "42" },
    ]);
    const failed = events.find((e) => e.event === "answer_failed");
    expect(failed).toMatchObject({ id: "chl_r_nm", error: expect.stringMatching(/needs the number/) });
  });

  it("answers from the entries hello and the event carry, without listing", async () => {
    const stop = new AbortController();
    const { client, responses, listings } = fakeClient(new Set(["chl_e", "chl_k"]), async (socket) => {
      socket.message({ type: "hello", device_id: "dev_test", pending: [{ id: "chl_k", ciphertext: "ok" }] });
      socket.message({
        type: "challenge.created",
        id: "chl_e",
        challenge: { id: "chl_e", ciphertext: "ok" },
      });
      await tick(20);
      stop.abort();
    });
    await watch(client, { onEvent: () => undefined, decide: () => "approve", signal: stop.signal });
    expect(responses).toEqual([
      { id: "chl_k", decision: "approve" },
      { id: "chl_e", decision: "approve" },
    ]);
    expect(listings()).toBe(0);
  });

  it("lets the listing decide when the carried entry does not verify, is another's, or is missing", async () => {
    const shown: string[] = [];
    const stop = new AbortController();
    // chl_t's entry fails to decrypt and the listing does not have it: it is neither shown nor answered.
    const pending = new Set(["chl_f", "chl_h", "chl_i", "chl_j"]);
    const { client, responses, listings } = fakeClient(pending, async (socket) => {
      socket.message({ type: "hello", device_id: "dev_test", pending: [{ id: "chl_j" }] }); // ids only
      socket.message({
        type: "challenge.created",
        id: "chl_f",
        challenge: { id: "chl_g", ciphertext: "ok" },
      });
      socket.message({ type: "challenge.created", id: "chl_h", challenge: "garbage" });
      socket.message({ type: "challenge.created", id: "chl_i" });
      socket.message({
        type: "challenge.created",
        id: "chl_t",
        challenge: { id: "chl_t", ciphertext: "bad" },
      });
      await tick(20);
      stop.abort();
    });
    await watch(client, {
      onEvent: (e) => {
        if (e.event === "challenge") shown.push(e.challenge.id);
      },
      decide: () => "approve",
      signal: stop.signal,
    });
    expect(responses.map((r) => r.id)).toEqual(["chl_j", "chl_f", "chl_h", "chl_i"]);
    expect(shown).toEqual(["chl_j", "chl_f", "chl_h", "chl_i"]);
    expect(listings()).toBe(5);
  });

  it("without a decision only shows the challenge", async () => {
    const events: WatchEvent[] = [];
    const stop = new AbortController();
    const { client, responses } = fakeClient(new Set(["chl_d"]), async (socket) => {
      socket.message({ type: "challenge.created", id: "chl_d", expires_at: "x" });
      await tick(20);
      stop.abort();
    });
    await watch(client, { onEvent: (e) => events.push(e), signal: stop.signal });
    expect(responses).toEqual([]);
    expect(events.find((e) => e.event === "challenge")).toMatchObject({ challenge: { id: "chl_d" } });
  });

  it("ends for good when the server closes with 4001 (revoked)", async () => {
    const events: WatchEvent[] = [];
    const { client, opened } = fakeClient(new Set(), (socket) => socket.drop(4001, "device revoked"));
    expect(await watch(client, { onEvent: (e) => events.push(e), initialBackoffMs: 1 })).toBe("revoked");
    expect(opened()).toBe(1);
    expect(events).toEqual([{ event: "revoked" }]);
  });

  it("ends on the server's device.revoked message without waiting for the close to arrive", async () => {
    const events: WatchEvent[] = [];
    let socket: FakeSocket | undefined;
    const { client, opened } = fakeClient(new Set(), (s) => {
      socket = s;
      s.message({ type: "hello", device_id: "dev_test", pending: [] });
      // The message only: the close frame is slow on a quiet socket, so it is not sent here at all.
      s.message({ type: "device.revoked" });
    });
    expect(await watch(client, { onEvent: (e) => events.push(e), initialBackoffMs: 1 })).toBe("revoked");
    expect(opened()).toBe(1);
    expect(events).toEqual([{ event: "connected", device_id: "dev_test", pending: 0 }, { event: "revoked" }]);
    expect(socket?.readyState).toBe(3);
  });

  it("reconnects as soon as the server's close frame arrives, not when the connection finally ends", async () => {
    const events: WatchEvent[] = [];
    const stop = new AbortController();
    const first: FakeSocket[] = [];
    const { client, opened } = fakeClient(new Set(), (socket, n) => {
      socket.message({ type: "hello", device_id: "dev_test", pending: [] });
      if (n === 1) {
        first.push(socket);
        setTimeout(() => socket.closeFrame(), 10);
      } else stop.abort();
    });
    const started = performance.now();
    expect(
      await watch(client, { onEvent: (e) => events.push(e), signal: stop.signal, initialBackoffMs: 1 }),
    ).toBe("stopped");
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(opened()).toBe(2);
    expect(events.map((e) => e.event)).toEqual(["connected", "disconnected", "connected", "stopped"]);
    // The late close of the abandoned socket changes nothing.
    first[0]?.drop(4008, "replaced by a newer connection");
    expect(events.at(-1)).toEqual({ event: "stopped" });
  });

  it("ends when the server refuses to connect a device it no longer knows (401 behind a 1006)", async () => {
    const events: WatchEvent[] = [];
    const { client, opened } = fakeClient(new Set(), (socket) => socket.drop(1006));
    let listing: () => never = () => {
      throw new DeviceError("cannot reach http://x: fetch failed");
    };
    (client as unknown as { listChallenges: () => never }).listChallenges = () => listing();
    const ended = watch(client, { onEvent: (e) => events.push(e), initialBackoffMs: 1 });
    // A network failure: it keeps trying.
    while (opened() < 3) await tick();
    listing = () => {
      throw new DeviceApiError({ type: "about:blank", title: "Unauthorized", status: 401, detail: "No." });
    };
    expect(await ended).toBe("revoked");
    expect(events.at(-1)).toEqual({ event: "revoked" });
    expect(events.filter((e) => e.event === "disconnected").length).toBeGreaterThanOrEqual(2);
  });
});
