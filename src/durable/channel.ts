import { DurableObject } from "cloudflare:workers";
import { pendingForDevice } from "../db/challenges";
import type { Env } from "../env";
import { type deviceChallengeJson, pendingDeliveryJson } from "../routes/views";

/**
 * What a device's socket receives. `challenge.created` carries the challenge exactly as the device's
 * listing would (its ciphertext and context): the socket is the same authenticated connection to this
 * service as `GET /v1/device/challenges`, so a device answers from the event without listing first, and
 * decrypts and checks it just the same. Push providers (third parties) never get that part: see
 * `forPushProvider` in src/push/provider.ts.
 */
export type ChannelEvent =
  | {
      type: "challenge.created";
      id: string;
      expires_at: string;
      /** Absent only where the sender had no delivery for this device; then the device lists. */
      challenge?: ReturnType<typeof deviceChallengeJson>;
    }
  | {
      type: "challenge.closed";
      id: string;
      status: string;
      /** Who decided it, seen from the receiving device; null for expiry and cancellation. */
      answered_by: "this_device" | "another_device" | null;
    };

/**
 * Sent once per connection, and again on `{"type":"sync"}`: what this device may still answer, each
 * entry as its listing shows it (so a reconnecting device catches up without listing).
 */
export interface HelloEvent {
  type: "hello";
  device_id: string;
  pending: ReturnType<typeof pendingDeliveryJson>[];
}

/**
 * Sent right before the close with code 4001: clients act on it at once, since the runtime can take
 * seconds to deliver the close itself to a socket that has been quiet.
 */
export interface RevokedEvent {
  type: "device.revoked";
}

/** Kept with each socket through hibernation (serializeAttachment: small, structured-clonable). */
interface Attachment {
  deviceId: string;
  appId: string;
  connectedAt: number;
}

/** Internal headers the Worker sets when it forwards an authenticated upgrade to this object. */
export const CHANNEL_DEVICE_HEADER = "x-encrypxon-device-id";
export const CHANNEL_APP_HEADER = "x-encrypxon-app-id";
export const CHANNEL_PROTOCOL_HEADER = "x-encrypxon-protocol";

/** Sockets one device may hold at once; the oldest is closed to make room (a phone that reconnects). */
export const MAX_SOCKETS_PER_DEVICE = 4;

/** Close codes: 1000 normal, 4001 the device was revoked, 4008 replaced by a newer connection. */
export const CLOSE_REVOKED = 4001;
export const CLOSE_REPLACED = 4008;

/**
 * One object per device (addressed by `idFromName(<device id>)`), holding its WebSockets with the
 * hibernation API: an idle connection costs nothing, and the object is woken by a message, a close or
 * a `notify` call. It keeps no storage of its own: the sockets (with their attachments) survive
 * hibernation in the runtime, and what is pending is read from D1.
 *
 * Only the Worker reaches this object, and only after authenticating the device token, so `fetch`
 * trusts the ids in its internal headers.
 */
export class DeviceChannel extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Answered by the runtime without waking the object: keep-alives cost nothing.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  override async fetch(request: Request): Promise<Response> {
    const deviceId = request.headers.get(CHANNEL_DEVICE_HEADER);
    const appId = request.headers.get(CHANNEL_APP_HEADER);
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket" || !deviceId || !appId) {
      return new Response("expected an authenticated WebSocket upgrade", { status: 400 });
    }
    const existing = this.ctx.getWebSockets(deviceId);
    for (const old of existing.slice(0, Math.max(0, existing.length - MAX_SOCKETS_PER_DEVICE + 1))) {
      safeClose(old, CLOSE_REPLACED, "replaced by a newer connection");
    }
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server, [deviceId]);
    const attachment: Attachment = { deviceId, appId, connectedAt: Date.now() };
    server.serializeAttachment(attachment);
    // Catch-up: whatever is still pending is announced at once, so a device that was offline (or
    // reconnects after a drop) misses nothing. Sent before the 101 returns; the runtime queues it.
    const hello = await this.#hello(server, attachment);
    if (hello) server.send(JSON.stringify(hello));
    const protocol = request.headers.get(CHANNEL_PROTOCOL_HEADER);
    return new Response(null, {
      status: 101,
      webSocket: client,
      ...(protocol && { headers: { "sec-websocket-protocol": protocol } }),
    });
  }

  /** Pushes one event to every socket of this device; returns how many sockets it was written to. */
  async notify(deviceId: string, event: ChannelEvent): Promise<number> {
    const text = JSON.stringify(event);
    let sent = 0;
    for (const ws of this.ctx.getWebSockets(deviceId)) {
      try {
        ws.send(text);
        sent++;
      } catch {
        // closing or closed: its close handler cleans up
      }
    }
    return sent;
  }

  /** Closes every socket of the device (it was revoked); returns how many were open. */
  async disconnect(deviceId: string, code = CLOSE_REVOKED, reason = "device revoked"): Promise<number> {
    const sockets = this.ctx.getWebSockets(deviceId);
    for (const ws of sockets) {
      if (code === CLOSE_REVOKED) safeSend(ws, REVOKED_EVENT);
      safeClose(ws, code, reason);
    }
    return sockets.length;
  }

  /** Open sockets of the device; for tests and diagnostics. */
  async connections(deviceId: string): Promise<number> {
    return this.ctx.getWebSockets(deviceId).length;
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const attachment = ws.deserializeAttachment() as Attachment | null;
    if (!attachment) {
      safeClose(ws, 1011, "lost connection state");
      return;
    }
    let type: unknown;
    if (typeof message === "string" && message.length <= 1024) {
      try {
        const parsed: unknown = JSON.parse(message);
        if (typeof parsed === "object" && parsed !== null) type = (parsed as { type?: unknown }).type;
      } catch {}
    }
    if (type === "sync") {
      const hello = await this.#hello(ws, attachment);
      if (hello) ws.send(JSON.stringify(hello));
      return;
    }
    ws.send(JSON.stringify({ type: "error", detail: 'unknown message; send {"type":"sync"} or "ping"' }));
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    // The runtime answers the client's close frame itself (web_socket_auto_reply_to_close); a second
    // close on an already-closed socket is harmless.
    safeClose(ws, code === 1005 || code === 1006 ? 1000 : code, reason);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    safeClose(ws, 1011, "socket error");
  }

  /** The catch-up for this socket, or null (and the socket closed) if the device is no longer active. */
  async #hello(ws: WebSocket, a: Attachment): Promise<HelloEvent | null> {
    const device = await this.env.DB.prepare(
      "SELECT status, key_format FROM devices WHERE id = ?1 AND app_id = ?2",
    )
      .bind(a.deviceId, a.appId)
      .first<{ status: string; key_format: string }>();
    if (device?.status !== "active") {
      safeSend(ws, REVOKED_EVENT);
      safeClose(ws, CLOSE_REVOKED, "device revoked");
      return null;
    }
    // Scoped by the device's own application, like every device call.
    const rows = await pendingForDevice(this.env.DB, a.appId, a.deviceId, Date.now());
    return {
      type: "hello",
      device_id: a.deviceId,
      pending: rows.map((r) => pendingDeliveryJson(r, device.key_format)),
    };
  }
}

const REVOKED_EVENT = JSON.stringify({ type: "device.revoked" } satisfies RevokedEvent);

function safeSend(ws: WebSocket, text: string): void {
  try {
    ws.send(text);
  } catch {
    // closing or closed
  }
}

function safeClose(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // already closed
  }
}
