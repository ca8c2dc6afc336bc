import { sha256Hex } from "../crypto/hash";
import { type DeviceRow, deviceByTokenHash } from "../db/devices";
import type { Env } from "../env";
import { deviceUnauthorized } from "../http/problem";
import { trimOws } from "../http/request";

const TOKEN_SHAPE = /^edt_[A-Za-z0-9_-]{43}$/;

/** Resolves the calling device from `Authorization: Bearer <device token>`; only active devices pass. */
export async function authenticateDevice(request: Request, env: Env): Promise<DeviceRow> {
  return deviceForToken(bearer(request), env);
}

/** The hash a device token is stored under, from `Authorization: Bearer …`; 401 when it cannot be one. */
export async function deviceTokenHash(request: Request): Promise<string> {
  return tokenHash(bearer(request));
}

function bearer(request: Request): string | undefined {
  return bearerToken(request.headers.get("authorization"));
}

/** The token of an `Authorization: Bearer <token>` value, spaces and tabs around it allowed. */
export function bearerToken(header: string | null): string | undefined {
  return /^Bearer[ \t]+(\S+)$/i.exec(trimOws(header) ?? "")?.[1];
}

async function tokenHash(token: string | undefined): Promise<string> {
  if (!token || !TOKEN_SHAPE.test(token)) throw deviceUnauthorized();
  return sha256Hex(token);
}

/** The active device a token belongs to, or the one 401 for every kind of bad token. */
export async function deviceForToken(token: string | undefined, env: Env): Promise<DeviceRow> {
  const device = await deviceByTokenHash(env.DB, await tokenHash(token));
  if (!device) throw deviceUnauthorized();
  return device;
}
