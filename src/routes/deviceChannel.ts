import { admitDevice } from "../abuse/limits";
import { bearerToken, deviceForToken } from "../auth/deviceToken";
import { CHANNEL_APP_HEADER, CHANNEL_DEVICE_HEADER, CHANNEL_PROTOCOL_HEADER } from "../durable/channel";
import { Problem } from "../http/problem";
import { clientIp, type Handler } from "../http/request";

/** The subprotocol a client names to speak this channel; the server echoes it. */
export const CHANNEL_PROTOCOL = "encrypxon.v1";
/**
 * For clients that cannot set headers on a WebSocket (browsers, some mobile stacks): the device token as
 * a second offered subprotocol, `encrypxon.bearer.<token>`. It is never echoed back, and unlike a query
 * parameter it does not end up in URLs, access logs or browser history.
 */
export const BEARER_PROTOCOL_PREFIX = "encrypxon.bearer.";

/**
 * `GET /v1/device/connect`: the device's live channel. Authenticates the device token (Authorization
 * header, or the bearer subprotocol), then hands the upgrade to the device's own `DeviceChannel`.
 */
export const connect: Handler = async (request, env) => {
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    throw new Problem(
      426,
      "upgrade-required",
      "Upgrade required",
      "This endpoint speaks WebSocket only: send Upgrade: websocket (see docs/api.md).",
      { headers: { upgrade: "websocket" } },
    );
  }
  const offered = (request.headers.get("sec-websocket-protocol") ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
  const header = bearerToken(request.headers.get("authorization"));
  const fromProtocol = offered
    .find((p) => p.startsWith(BEARER_PROTOCOL_PREFIX))
    ?.slice(BEARER_PROTOCOL_PREFIX.length);
  const device = await deviceForToken(header ?? fromProtocol, env);
  await admitDevice(env, device.app_id, clientIp(request));

  const headers = new Headers({
    upgrade: "websocket",
    [CHANNEL_DEVICE_HEADER]: device.id,
    [CHANNEL_APP_HEADER]: device.app_id,
  });
  // A client that offered subprotocols must get one of them back, or it drops the connection.
  if (offered.includes(CHANNEL_PROTOCOL)) headers.set(CHANNEL_PROTOCOL_HEADER, CHANNEL_PROTOCOL);
  const stub = env.DEVICE_CHANNELS.get(env.DEVICE_CHANNELS.idFromName(device.id));
  // Only our own headers go to the object: the token stays here.
  return stub.fetch(new Request("https://device-channel/connect", { headers }));
};
