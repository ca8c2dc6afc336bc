// The same operator commands over HTTP, through the Worker's admin API (/v1/admin/…, docs/api.md), for
// a deployed Worker without wrangler credentials: `npm run admin -- --url https://… <command>`. The
// operator secret comes from $ENCRYPXON_ADMIN_TOKEN, never from the command line (shell history, ps).
import { UsageError } from "./sql.mjs";

/**
 * @typedef {object} HttpTarget
 * @property {string} url    the Worker's origin
 * @property {string} token  the ADMIN_TOKEN secret
 */

/**
 * @param {string} url
 * @param {string | undefined} token
 * @returns {HttpTarget}
 */
export function makeHttpTarget(url, token) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--url is not a URL: ${url}`);
  }
  if (!token)
    throw new UsageError("--url needs the operator secret in the ENCRYPXON_ADMIN_TOKEN environment variable");
  return { url: parsed.origin, token };
}

/**
 * One admin API call; a problem+json answer becomes an error carrying its detail.
 * @param {HttpTarget} t
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
async function call(t, method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { authorization: `Bearer ${t.token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  let res;
  try {
    res = await fetch(`${t.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (e) {
    throw new Error(`${t.url} could not be reached (${/** @type {Error} */ (e).message})`);
  }
  /** @type {any} */
  const data = await res.json().catch(() => ({}));
  if (res.status === 404 && path === "/v1/admin/apps") {
    throw new UsageError(`${t.url} has no admin API: set it with \`wrangler secret put ADMIN_TOKEN\``);
  }
  if (!res.ok)
    throw new UsageError(`${res.status} ${data.title ?? res.statusText}: ${data.detail ?? ""}`.trim());
  return data;
}

/** @param {any} k  an api_key object of the admin API */
const keyInfo = (k) => ({
  key_id: k.id,
  app_id: k.app_id,
  prefix: k.prefix,
  created_at: k.created_at,
  revoked_at: k.revoked_at,
  name: k.name,
  last_chars: k.last_chars,
  expires_at: k.expires_at,
});

/**
 * @param {HttpTarget} t
 * @param {{ name: string, mode: "live" | "test", keyName?: string }} opts
 */
export async function createApp(t, { name, mode, keyName }) {
  const app = await call(t, "POST", "/v1/admin/apps", { name });
  const key = await createKey(t, { appId: app.id, mode, name: keyName });
  return { ...key, name: app.name };
}

/**
 * @param {HttpTarget} t
 * @param {{ appId: string, mode: "live" | "test", name?: string }} opts
 */
export async function createKey(t, { appId, mode, name }) {
  const k = await call(t, "POST", `/v1/admin/apps/${encodeURIComponent(appId)}/keys`, { mode, name });
  return { app_id: k.app_id, key_id: k.id, api_key: k.api_key, prefix: k.prefix, created_at: k.created_at };
}

/** @param {HttpTarget} t */
export async function listApps(t) {
  const list = await call(t, "GET", "/v1/admin/apps");
  return list.data.map((/** @type {any} */ a) => ({
    app_id: a.id,
    name: a.name,
    created_at: a.created_at,
    active_keys: a.active_keys,
    key_count: a.key_count,
  }));
}

/**
 * @param {HttpTarget} t
 * @param {{ appId: string }} opts
 */
export async function listKeys(t, { appId }) {
  const app = await call(t, "GET", `/v1/admin/apps/${encodeURIComponent(appId)}`);
  const list = await call(t, "GET", `/v1/admin/apps/${encodeURIComponent(appId)}/keys`);
  return { app_id: app.id, name: app.name, keys: list.data.map(keyInfo) };
}

/**
 * @param {HttpTarget} t
 * @param {{ appId: string, keyId: string }} opts
 */
export async function revokeKey(t, { appId, keyId }) {
  const path = `/v1/admin/apps/${encodeURIComponent(appId)}/keys/${encodeURIComponent(keyId)}`;
  return keyInfo(await call(t, "DELETE", path));
}

/**
 * @param {HttpTarget} t
 * @param {{ appId: string, keyId: string, graceSeconds?: number, name?: string }} opts
 */
export async function rotateKey(t, { appId, keyId, graceSeconds, name }) {
  const path = `/v1/admin/apps/${encodeURIComponent(appId)}/keys/${encodeURIComponent(keyId)}/rotate`;
  const k = await call(t, "POST", path, { grace_seconds: graceSeconds, name });
  return {
    app_id: k.app_id,
    key_id: k.id,
    api_key: k.api_key,
    prefix: k.prefix,
    created_at: k.created_at,
    replaces: k.replaces.id,
    old_key_expires_at: k.replaces.expires_at,
  };
}
