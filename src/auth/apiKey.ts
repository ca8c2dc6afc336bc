import { sha256Hex } from "../crypto/hash";
import { findActiveKey, type KeyOwner } from "../db/apiKeys";
import type { Env } from "../env";
import { unauthorized } from "../http/problem";
import { trimOws } from "../http/request";
import { plausibleApiKey } from "./keyFormat";

export interface AppCaller {
  appId: string;
  keyId: string;
}

/** KV is a cache in front of D1; an entry lives this long, bounding how long a revoked key can linger. */
export const KEY_CACHE_TTL_SECONDS = 300;
export const kvKeyFor = (keyHash: string) => `apikey:${keyHash}`;

/**
 * Resolves the calling application from `X-API-Key` (or the legacy `X_API_Key`). Missing, malformed,
 * unknown, revoked and expired keys all get the same 401, so a caller learns nothing about which keys
 * exist.
 */
export async function authenticateApp(request: Request, env: Env): Promise<AppCaller> {
  const key = trimOws(request.headers.get("x-api-key") ?? request.headers.get("x_api_key"));
  if (!key || !plausibleApiKey(key)) throw unauthorized();
  const hash = await sha256Hex(key);
  const now = Date.now();
  const cached = await env.API_KEYS.get<KeyOwner>(kvKeyFor(hash), "json");
  // A rotated key's cache entry carries its end of grace, so it stops at that moment wherever cached.
  if (cached && (cached.expires_at == null || cached.expires_at > now)) {
    return { appId: cached.app_id, keyId: cached.key_id };
  }
  const owner = await findActiveKey(env.DB, hash, now);
  if (!owner) throw unauthorized();
  await env.API_KEYS.put(kvKeyFor(hash), JSON.stringify(owner), { expirationTtl: KEY_CACHE_TTL_SECONDS });
  return { appId: owner.app_id, keyId: owner.key_id };
}
