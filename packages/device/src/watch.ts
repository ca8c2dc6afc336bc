// The device's live channel (GET /v1/device/connect): keeps a WebSocket open, reconnects with backoff,
// and turns the server's events into verified challenges. `challenge.created` and the catch-up `hello`
// carry each challenge as the listing would; it is decrypted and checked exactly as a listed one before
// it is shown or answered. Where that fails, or an older server sent ids only, the device lists.
import {
  type ChallengeResult,
  type Decision,
  DeviceApiError,
  type DeviceClient,
  type PendingChallenge,
} from "./client.js";

/** What a watcher reports, in order. One JSON line each in the CLI's `watch --json`. */
export type WatchEvent =
  | { event: "connected"; device_id: string; pending: number }
  | { event: "challenge"; challenge: PendingChallenge }
  | { event: "refused"; id: string; reason: string }
  | { event: "answered"; id: string; decision: Decision; status: string }
  | { event: "answer_failed"; id: string; error: string }
  | { event: "closed"; id: string; status: string; answered_by: string | null }
  | { event: "disconnected"; code: number; reason: string; retry_in_ms: number }
  | { event: "revoked" }
  | { event: "stopped" };

/** The part of a WHATWG WebSocket the watcher uses; undici's, a browser's or a test double. */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "open", listener: () => void): void;
  addEventListener(type: "message", listener: (e: { data: unknown }) => void): void;
  addEventListener(type: "close", listener: (e: { code: number; reason: string }) => void): void;
  addEventListener(type: "error", listener: () => void): void;
}

export interface WatchOptions {
  onEvent: (event: WatchEvent) => void;
  /** Answers each new challenge automatically (scripted use and tests); null leaves it to the user. */
  decide?: (challenge: PendingChallenge) => Decision | null;
  /**
   * For approvals of number-matching challenges: the number the user typed from the login page (a
   * prompt, or a fixed one in scripts). Null or absent: the approval is not sent (answer_failed).
   */
  numberFor?: (challenge: PendingChallenge) => Promise<string | null> | string | null;
  /** Stops the watcher (closes the socket, no reconnect). */
  signal?: AbortSignal;
  /** First reconnect delay, doubled per failed attempt up to maxBackoffMs, with ±20 % jitter. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Keep-alive interval; the server answers "ping" with "pong" without waking. */
  pingIntervalMs?: number;
}

/** The server's close code for a revoked device: reconnecting would be refused, so the watcher ends. */
export const CLOSE_REVOKED = 4001;

/**
 * How often an open socket is checked for a close frame that its `close` event has not reported yet.
 * undici, like a browser, fires `close` only once the TCP connection has ended; after the server's close
 * frame that took about 10 s under wrangler dev, although the frame shows at once as readyState CLOSING.
 */
const CLOSING_CHECK_MS = 250;

/**
 * Watches until the signal aborts (→ "stopped") or the device is revoked (→ "revoked"). Network
 * failures never end it: it reconnects with exponential backoff, and each new connection's `hello`
 * lists what is pending, so nothing created while it was away is missed.
 */
export async function watch(client: DeviceClient, opts: WatchOptions): Promise<"stopped" | "revoked"> {
  const initial = opts.initialBackoffMs ?? 500;
  const max = opts.maxBackoffMs ?? 30_000;
  const seen = new Set<string>();
  let attempt = 0;
  // Challenges are fetched and handled one at a time: a burst of events makes one listing each, never
  // two answers to the same challenge.
  let queue: Promise<void> = Promise.resolve();
  const handle = (id: string, pushed?: unknown) => {
    queue = queue.then(() => handleChallenge(client, id, pushed, seen, opts)).catch(() => undefined);
  };

  while (!opts.signal?.aborted) {
    let greeted = false;
    const outcome = await connectOnce(client, opts, handle, () => {
      attempt = 0;
      greeted = true;
    });
    if (outcome.kind === "revoked") {
      opts.onEvent({ event: "revoked" });
      return "revoked";
    }
    if (opts.signal?.aborted) break;
    // The server refuses a revoked or removed device's upgrade with a 401, which a WebSocket shows only
    // as 1006, like any network failure; one authenticated listing tells the two apart.
    if (!greeted && (await tokenRefused(client))) {
      opts.onEvent({ event: "revoked" });
      return "revoked";
    }
    const base = Math.min(max, initial * 2 ** attempt);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    attempt++;
    opts.onEvent({ event: "disconnected", code: outcome.code, reason: outcome.reason, retry_in_ms: delay });
    await sleep(delay, opts.signal);
  }
  await queue;
  opts.onEvent({ event: "stopped" });
  return "stopped";
}

type Outcome = { kind: "revoked" } | { kind: "closed"; code: number; reason: string };

function connectOnce(
  client: DeviceClient,
  opts: WatchOptions,
  handle: (id: string, pushed?: unknown) => void,
  onHello: () => void,
): Promise<Outcome> {
  return new Promise((resolve) => {
    let socket: SocketLike;
    try {
      socket = client.openChannel();
    } catch (err) {
      resolve({ kind: "closed", code: 0, reason: err instanceof Error ? err.message : String(err) });
      return;
    }
    let settled = false;
    const ping = setInterval(() => {
      if (socket.readyState === 1) socket.send("ping");
    }, opts.pingIntervalMs ?? 30_000);
    // CLOSING on two checks in a row: the closing handshake has started and the connection is not ending
    // by itself, so this socket is done with (its close code, known only at the close event, is not).
    let closing = false;
    const closingCheck = setInterval(() => {
      if (socket.readyState !== 2) return;
      if (closing) finish({ kind: "closed", code: 1005, reason: "closed by the server" });
      closing = true;
    }, CLOSING_CHECK_MS);
    const onAbort = () => socket.close(1000, "stopped");
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearInterval(ping);
      clearInterval(closingCheck);
      opts.signal?.removeEventListener("abort", onAbort);
      resolve(outcome);
    };
    socket.addEventListener("message", (e) => {
      if (typeof e.data !== "string" || e.data === "pong") return;
      let msg: Record<string, unknown>;
      try {
        const parsed: unknown = JSON.parse(e.data);
        if (typeof parsed !== "object" || parsed === null) return;
        msg = parsed as Record<string, unknown>;
      } catch {
        return;
      }
      if (msg.type === "hello" && Array.isArray(msg.pending)) {
        onHello();
        opts.onEvent({
          event: "connected",
          device_id: typeof msg.device_id === "string" ? msg.device_id : client.deviceId,
          pending: msg.pending.length,
        });
        for (const p of msg.pending) {
          const id = (p as { id?: unknown } | null)?.id;
          if (typeof id === "string") handle(id, p);
        }
      } else if (msg.type === "challenge.created" && typeof msg.id === "string") {
        handle(msg.id, msg.challenge);
      } else if (msg.type === "device.revoked") {
        // The close (code 4001) follows, but can take seconds to arrive on a quiet socket: act now.
        finish({ kind: "revoked" });
        socket.close(1000, "revoked");
      } else if (msg.type === "challenge.closed" && typeof msg.id === "string") {
        opts.onEvent({
          event: "closed",
          id: msg.id,
          status: typeof msg.status === "string" ? msg.status : "unknown",
          answered_by: typeof msg.answered_by === "string" ? msg.answered_by : null,
        });
      }
    });
    socket.addEventListener("close", (e) => {
      finish(
        e.code === CLOSE_REVOKED ? { kind: "revoked" } : { kind: "closed", code: e.code, reason: e.reason },
      );
    });
    // An error is always followed by close; nothing to do here but keep it from being unhandled.
    socket.addEventListener("error", () => undefined);
  });
}

async function tokenRefused(client: DeviceClient): Promise<boolean> {
  try {
    await client.listChallenges();
    return false;
  } catch (err) {
    return err instanceof DeviceApiError && err.status === 401;
  }
}

/** `pushed`: the entry the event carried, used when it is for this id; otherwise the device lists. */
async function handleChallenge(
  client: DeviceClient,
  id: string,
  pushed: unknown,
  seen: Set<string>,
  opts: WatchOptions,
): Promise<void> {
  if (seen.has(id)) return;
  let found: PendingChallenge | undefined;
  try {
    let got = pushed === undefined ? null : await client.accept(pushed);
    // An entry that did not verify for this id (none, an older server's ids-only hello, malformed,
    // another challenge's, or one that fails to decrypt): the authenticated listing decides.
    if (!got?.challenges.some((c) => c.id === id)) got = await client.listChallenges();
    const { challenges, refused } = got;
    found = challenges.find((c) => c.id === id);
    const bad = refused.find((r) => r.id === id);
    if (bad) {
      seen.add(id);
      opts.onEvent({ event: "refused", id: bad.id, reason: bad.reason });
      return;
    }
  } catch {
    // Unreachable for now: the next hello (after a reconnect) or sync lists it again.
    return;
  }
  // Not listed: answered, cancelled or expired meanwhile; its closed event says which.
  if (!found) return;
  seen.add(id);
  opts.onEvent({ event: "challenge", challenge: found });
  const decision = opts.decide?.(found) ?? null;
  if (decision === null) return;
  try {
    let number: string | undefined;
    if (decision === "approve" && found.number_matching) {
      number = (await opts.numberFor?.(found)) ?? undefined;
    }
    const result: ChallengeResult = await client.respond(
      id,
      decision,
      number === undefined ? {} : { number },
    );
    opts.onEvent({ event: "answered", id, decision, status: result.status });
  } catch (err) {
    opts.onEvent({ event: "answer_failed", id, error: err instanceof Error ? err.message : String(err) });
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
