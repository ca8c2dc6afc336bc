import { sha256Hex } from "../crypto/hash";
import { type DeviceRow, deviceByTokenHash } from "../db/devices";
import type { Env } from "../env";
import { deviceUnauthorized } from "../http/problem";

const TOKEN_SHAPE = /^edt_[A-Za-z0-9_-]{43}$/;

/** Resolves the calling device from `Authorization: Bearer <device token>`; only active devices pass. */
export async function authenticateDevice(request: Request, env: Env): Promise<DeviceRow> {
  const header = request.headers.get("authorization") ?? "";
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return deviceForToken(match?.[1], env);
}

/** The active device a token belongs to, or the one 401 for every kind of bad token. */
export async function deviceForToken(token: string | undefined, env: Env): Promise<DeviceRow> {
  if (!token || !TOKEN_SHAPE.test(token)) throw deviceUnauthorized();
  const device = await deviceByTokenHash(env.DB, await sha256Hex(token));
  if (!device) throw deviceUnauthorized();
  return device;
}
