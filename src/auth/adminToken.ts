// The operator secret that guards the admin API (`wrangler secret put ADMIN_TOKEN`; `npm run dev` puts
// one in .dev.vars). Without it the admin routes do not exist: every /v1/admin path is a plain 404.
import { sha256, timingSafeEqual } from "../crypto/hash";
import type { Env } from "../env";
import { Problem } from "../http/problem";

/** Shorter operator secrets are ignored (and logged), leaving the admin API off rather than weak. */
export const MIN_ADMIN_TOKEN_LENGTH = 32;

let warnedShort = false;

/** Whether the admin API is on: a configured operator secret of a sensible length. */
export function adminEnabled(env: Env): boolean {
  const token = env.ADMIN_TOKEN;
  if (!token) return false;
  if (token.length < MIN_ADMIN_TOKEN_LENGTH) {
    if (!warnedShort)
      console.error(`ADMIN_TOKEN is shorter than ${MIN_ADMIN_TOKEN_LENGTH} characters: admin API off`);
    warnedShort = true;
    return false;
  }
  return true;
}

export const adminUnauthorized = () =>
  new Problem(401, "unauthorized", "Unauthorized", "A valid operator token is required for this call.", {
    headers: { "WWW-Authenticate": 'Bearer realm="encrypxon-admin"' },
  });

/**
 * Checks `Authorization: Bearer <operator secret>`. Both sides are hashed first and the digests compared
 * in constant time, so neither the secret's length nor how much of it a guess got right shows in the
 * timing; a missing header is hashed and compared like any other wrong value.
 */
export async function authenticateAdmin(request: Request, env: Env): Promise<void> {
  const header = request.headers.get("authorization") ?? "";
  const presented = /^Bearer +/i.test(header) ? header.replace(/^Bearer +/i, "").trim() : "";
  const [given, expected] = await Promise.all([sha256(presented), sha256(env.ADMIN_TOKEN ?? "")]);
  const same = timingSafeEqual(given, expected);
  if (!same || presented === "") throw adminUnauthorized();
}
