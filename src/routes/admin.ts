// The admin API: applications and their API keys, for operators holding the ADMIN_TOKEN secret.
// src/index.ts routes /v1/admin/… here only when that secret is configured.
import { authenticateAdmin } from "../auth/adminToken";
import { kvKeyFor } from "../auth/apiKey";
import { type KeyMode, keyLastChars, keyPrefix, newApiKey } from "../auth/keyFormat";
import { sha256Hex } from "../crypto/hash";
import { newId } from "../crypto/random";
import * as apps from "../db/applications";
import { iso, json, readJson } from "../http/body";
import { conflict, notFound } from "../http/problem";
import { clientIp, type Handler, pathId } from "../http/request";
import { adminCreateApp, adminCreateKey, adminRotateKey, DEFAULT_ROTATION_GRACE_SECONDS } from "../schemas";

export function appJson(row: apps.AppRow) {
  return {
    id: row.id,
    object: "application",
    name: row.name,
    created_at: iso(row.created_at),
    key_count: row.key_count,
    active_keys: row.active_keys,
  };
}

export function keyStatus(row: apps.KeyRow, now: number): "active" | "expiring" | "expired" | "revoked" {
  if (row.revoked_at !== null) return "revoked";
  if (row.expires_at === null) return "active";
  return row.expires_at > now ? "expiring" : "expired";
}

/** A key as listings show it: its first and last characters, never the key or its hash. */
export function keyJson(row: apps.KeyRow, now: number) {
  return {
    id: row.id,
    object: "api_key",
    app_id: row.app_id,
    name: row.name,
    mode: row.prefix.startsWith("ek_test_") ? "test" : "live",
    prefix: row.prefix,
    last_chars: row.last_chars,
    status: keyStatus(row, now),
    created_at: iso(row.created_at),
    expires_at: iso(row.expires_at),
    revoked_at: iso(row.revoked_at),
    replaced_by: row.replaced_by,
  };
}

const appIdOf = (request: Parameters<Handler>[0]) => pathId(request, "id", "app", "application");
const keyIdOf = (request: Parameters<Handler>[0]) => pathId(request, "key_id", "key", "API key");

async function existingApp(db: D1Database, appId: string, now: number): Promise<apps.AppRow> {
  const app = await apps.getApp(db, appId, now);
  if (!app) throw notFound("application");
  return app;
}

async function existingKey(db: D1Database, appId: string, keyId: string): Promise<apps.KeyRow> {
  const key = await apps.getKey(db, appId, keyId);
  if (!key) throw notFound("API key");
  return key;
}

async function makeKey(appId: string, mode: KeyMode, name: string | null, at: number) {
  const secret = newApiKey(mode);
  const key: apps.NewKey = {
    id: newId("key"),
    appId,
    name,
    hash: await sha256Hex(secret),
    prefix: keyPrefix(secret),
    lastChars: keyLastChars(secret),
    at,
  };
  return { secret, key };
}

/** The answer to issuing or rotating: the key's listing plus the key itself, shown this once. */
async function issuedJson(db: D1Database, appId: string, keyId: string, secret: string, now: number) {
  const row = await existingKey(db, appId, keyId);
  return { ...keyJson(row, now), api_key: secret };
}

export const createApp: Handler = async (request, env) => {
  await authenticateAdmin(request, env);
  const body = await readJson(request, adminCreateApp);
  const now = Date.now();
  const id = newId("app");
  await apps.createApp(env.DB, { id, name: body.name }, { ip: clientIp(request), at: now });
  return json(appJson(await existingApp(env.DB, id, now)), 201);
};

export const listApps: Handler = async (request, env) => {
  await authenticateAdmin(request, env);
  const now = Date.now();
  return json({ object: "list", data: (await apps.listApps(env.DB, now)).map(appJson) });
};

export const getApp: Handler = async (request, env) => {
  await authenticateAdmin(request, env);
  return json(appJson(await existingApp(env.DB, appIdOf(request), Date.now())));
};

export const createKey: Handler = async (request, env) => {
  await authenticateAdmin(request, env);
  const appId = appIdOf(request);
  const body = await readJson(request, adminCreateKey);
  const now = Date.now();
  const { secret, key } = await makeKey(appId, body.mode ?? "live", body.name ?? null, now);
  if (!(await apps.issueKey(env.DB, key, clientIp(request)))) throw notFound("application");
  return json(await issuedJson(env.DB, appId, key.id, secret, now), 201);
};

export const listKeys: Handler = async (request, env) => {
  await authenticateAdmin(request, env);
  const appId = appIdOf(request);
  const now = Date.now();
  await existingApp(env.DB, appId, now);
  const keys = await apps.listKeys(env.DB, appId);
  return json({ object: "list", data: keys.map((k) => keyJson(k, now)) });
};

export const getKey: Handler = async (request, env) => {
  await authenticateAdmin(request, env);
  const key = await existingKey(env.DB, appIdOf(request), keyIdOf(request));
  return json(keyJson(key, Date.now()));
};

const notActive = (status: string) =>
  conflict("api-key-not-active", "API key not active", `This key is ${status}; only an active key rotates.`, {
    key_status: status,
  });

export const rotateKey: Handler = async (request, env) => {
  await authenticateAdmin(request, env);
  const appId = appIdOf(request);
  const old = await existingKey(env.DB, appId, keyIdOf(request));
  const body = await readJson(request, adminRotateKey);
  const now = Date.now();
  if (keyStatus(old, now) !== "active") throw notActive(keyStatus(old, now));
  const mode: KeyMode = old.prefix.startsWith("ek_test_") ? "test" : "live";
  const { secret, key } = await makeKey(appId, mode, body.name ?? old.name, now);
  const graceEndsAt = now + (body.grace_seconds ?? DEFAULT_ROTATION_GRACE_SECONDS) * 1000;
  if (!(await apps.rotateKey(env.DB, old, key, graceEndsAt, clientIp(request)))) {
    const current = await existingKey(env.DB, appId, old.id);
    throw notActive(keyStatus(current, Date.now()));
  }
  // A cached entry of the old key has no end of grace yet; drop it so the next use re-reads D1.
  await env.API_KEYS.delete(kvKeyFor(old.key_hash));
  const replaced = await existingKey(env.DB, appId, old.id);
  return json(
    { ...(await issuedJson(env.DB, appId, key.id, secret, now)), replaces: keyJson(replaced, now) },
    201,
  );
};

export const revokeKey: Handler = async (request, env) => {
  await authenticateAdmin(request, env);
  const appId = appIdOf(request);
  const key = await existingKey(env.DB, appId, keyIdOf(request));
  const now = Date.now();
  const revoked = await apps.revokeKey(env.DB, key, now, clientIp(request));
  // D1 first (the source of truth), then this location's cache entry, so the key fails here at once.
  // Purged on a repeated revoke too, so retrying finishes a revocation whose purge failed.
  await env.API_KEYS.delete(kvKeyFor(key.key_hash));
  if (!revoked) {
    throw conflict("api-key-revoked", "API key already revoked", "This key was already revoked.");
  }
  return json(keyJson(await existingKey(env.DB, appId, key.id), now));
};
