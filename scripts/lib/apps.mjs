// Applications and API keys, written through wrangler to the same D1 database and KV namespace the
// Worker reads (schema: migrations/0001_init.sql; cache entries: src/auth/apiKey.ts).
// Keys are shown once and stored only as their SHA-256 hex digest.
import { createHash, randomBytes } from "node:crypto";
import {
  APP_ID,
  checkId,
  checkName,
  KEY_ID,
  SHA256_HEX,
  sqlInt,
  sqlString,
  sqlText,
  UsageError,
} from "./sql.mjs";
import { d1Execute, ensureMigrations, kvDelete } from "./wrangler.mjs";

/** @typedef {import("./wrangler.mjs").Target} Target */

/**
 * @typedef {object} CreatedKey
 * @property {string} app_id
 * @property {string} key_id
 * @property {string} api_key  The secret itself: shown once, never stored.
 * @property {string} prefix
 * @property {string} created_at  ISO-8601 UTC
 */

/**
 * @typedef {object} KeyInfo
 * @property {string} key_id
 * @property {string} app_id
 * @property {string} prefix
 * @property {string} created_at  ISO-8601 UTC
 * @property {string | null} revoked_at  ISO-8601 UTC, or null while the key works
 */

/** How many leading characters of a key are kept in D1 so operators can tell keys apart. */
export const KEY_PREFIX_LENGTH = 12;

// Crockford base32, lowercase, as in src/crypto/random.ts.
const CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz";

/**
 * `prefix_` + 26 lowercase Crockford base32 chars of 16 random bytes, like newId() in the Worker.
 * @param {"app" | "key"} prefix
 */
export function newId(prefix) {
  let acc = 0n;
  for (const b of randomBytes(16)) acc = (acc << 8n) | BigInt(b);
  let s = "";
  for (let i = 0; i < 26; i++) {
    s = CROCKFORD[Number(acc & 31n)] + s;
    acc >>= 5n;
  }
  return `${prefix}_${s}`;
}

/**
 * A new API key: `ek_live_` (or `ek_test_`) + base64url of 32 random bytes (256 bits).
 * @param {"live" | "test"} mode
 */
export function newApiKey(mode) {
  return `ek_${mode}_${randomBytes(32).toString("base64url")}`;
}

/**
 * Lowercase hex SHA-256 of the key's UTF-8 bytes, as the Worker computes it.
 * @param {string} key
 */
export function sha256Hex(key) {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** The KV cache entry the Worker keeps for a key (src/auth/apiKey.ts kvKeyFor). */
export const kvKeyFor = (/** @type {string} */ keyHash) => `apikey:${keyHash}`;

/** @param {unknown} ms */
const iso = (ms) => (typeof ms === "number" ? new Date(ms).toISOString() : null);

/**
 * The INSERT for a new key of an existing application; inserts nothing when the application is
 * missing, and RETURNING tells which happened.
 * @param {string} appId  already validated
 * @param {"live" | "test"} mode
 * @param {number} now
 */
function keyInsert(appId, mode, now) {
  const apiKey = newApiKey(mode);
  const keyId = newId("key");
  const prefix = apiKey.slice(0, KEY_PREFIX_LENGTH);
  const sql =
    "INSERT INTO api_keys (id, app_id, key_hash, prefix, created_at) " +
    `SELECT ${sqlString(keyId)}, id, ${sqlString(sha256Hex(apiKey))}, ${sqlString(prefix)}, ${sqlInt(now)} ` +
    `FROM applications WHERE id = ${sqlString(appId)} RETURNING id`;
  return { sql, key: { app_id: appId, key_id: keyId, api_key: apiKey, prefix, created_at: iso(now) ?? "" } };
}

/**
 * Creates an application and its first API key, atomically.
 * @param {Target} target
 * @param {{ name: string, mode?: "live" | "test" }} opts
 * @returns {Promise<CreatedKey & { name: string }>}
 */
export async function createApp(target, { name, mode = "live" }) {
  checkName(name);
  await ensureMigrations(target);
  const appId = newId("app");
  const now = Date.now();
  const { sql, key } = keyInsert(appId, mode, now);
  const results = await d1Execute(
    target,
    `INSERT INTO applications (id, name, created_at) VALUES (${sqlString(appId)}, ${sqlText(name)}, ${sqlInt(now)}); ${sql}`,
  );
  if (results[1]?.length !== 1) throw new Error("the application was created without a key (unexpected)");
  return { ...key, name };
}

/**
 * Adds an API key to an existing application.
 * @param {Target} target
 * @param {{ appId: string, mode?: "live" | "test" }} opts
 * @returns {Promise<CreatedKey>}
 */
export async function createKey(target, { appId, mode = "live" }) {
  checkId(APP_ID, appId, "--app");
  await ensureMigrations(target);
  const { sql, key } = keyInsert(appId, mode, Date.now());
  const [inserted] = await d1Execute(target, sql);
  if (inserted?.length !== 1) throw new UsageError(`no application with id ${appId}`);
  return key;
}

/**
 * Every application with its key counts, oldest first.
 * @param {Target} target
 * @returns {Promise<{ app_id: string, name: string, created_at: string, active_keys: number, revoked_keys: number }[]>}
 */
export async function listApps(target) {
  await ensureMigrations(target);
  const [rows = []] = await d1Execute(
    target,
    "SELECT a.id, a.name, a.created_at, " +
      "COUNT(k.id) - COUNT(k.revoked_at) AS active_keys, COUNT(k.revoked_at) AS revoked_keys " +
      "FROM applications a LEFT JOIN api_keys k ON k.app_id = a.id " +
      "GROUP BY a.id ORDER BY a.created_at, a.id",
  );
  return rows.map((r) => ({
    app_id: String(r.id),
    name: String(r.name),
    created_at: iso(r.created_at) ?? "",
    active_keys: Number(r.active_keys),
    revoked_keys: Number(r.revoked_keys),
  }));
}

/**
 * @param {Record<string, unknown>} r
 * @returns {KeyInfo}
 */
const toKeyInfo = (r) => ({
  key_id: String(r.id),
  app_id: String(r.app_id),
  prefix: String(r.prefix),
  created_at: iso(r.created_at) ?? "",
  revoked_at: iso(r.revoked_at),
});

/**
 * An application's keys, oldest first. Never returns hashes.
 * @param {Target} target
 * @param {{ appId: string }} opts
 * @returns {Promise<{ app_id: string, name: string, keys: KeyInfo[] }>}
 */
export async function listKeys(target, { appId }) {
  checkId(APP_ID, appId, "--app");
  await ensureMigrations(target);
  const [apps = [], keys = []] = await d1Execute(
    target,
    `SELECT id, name FROM applications WHERE id = ${sqlString(appId)}; ` +
      "SELECT id, app_id, prefix, created_at, revoked_at FROM api_keys " +
      `WHERE app_id = ${sqlString(appId)} ORDER BY created_at, id`,
  );
  const app = apps[0];
  if (!app) throw new UsageError(`no application with id ${appId}`);
  return { app_id: appId, name: String(app.name), keys: keys.map(toKeyInfo) };
}

/**
 * Revokes a key in D1 (the source of truth), then deletes its KV cache entry so the Worker stops
 * accepting it at once (locally; a deployed KV may serve a stale entry at other locations for up to
 * a minute). Revoking an already revoked key is an error, but its cache entry is purged again anyway,
 * so re-running after a failed KV delete finishes the job.
 * @param {Target} target
 * @param {{ keyId: string }} opts
 * @returns {Promise<KeyInfo>}
 */
export async function revokeKey(target, { keyId }) {
  checkId(KEY_ID, keyId, "--key");
  await ensureMigrations(target);
  const now = Date.now();
  const [before = [], updated = []] = await d1Execute(
    target,
    `SELECT id, app_id, key_hash, prefix, created_at, revoked_at FROM api_keys WHERE id = ${sqlString(keyId)}; ` +
      `UPDATE api_keys SET revoked_at = ${sqlInt(now)} WHERE id = ${sqlString(keyId)} AND revoked_at IS NULL RETURNING id`,
  );
  const row = before[0];
  if (!row) throw new UsageError(`no API key with id ${keyId}`);
  const hash = String(row.key_hash);
  if (SHA256_HEX.test(hash)) {
    try {
      await kvDelete(target, kvKeyFor(hash));
    } catch (e) {
      const state = updated.length === 1 ? "revoked in D1" : "already revoked in D1";
      throw new Error(
        `key ${keyId} is ${state}, but its KV cache entry could not be deleted (${/** @type {Error} */ (e).message}). ` +
          "Run `key revoke` again to retry; a cached entry expires by itself within 5 minutes.",
      );
    }
  }
  if (updated.length !== 1) {
    throw new UsageError(`API key ${keyId} is already revoked (since ${iso(row.revoked_at)})`);
  }
  return toKeyInfo({ ...row, revoked_at: now });
}

/**
 * Looks a key up by its hash, for reusing a stored key: null when unknown.
 * @param {Target} target
 * @param {string} apiKey
 * @returns {Promise<(KeyInfo & { app_name: string }) | null>}
 */
export async function findKey(target, apiKey) {
  await ensureMigrations(target);
  const [rows = []] = await d1Execute(
    target,
    "SELECT k.id, k.app_id, k.prefix, k.created_at, k.revoked_at, a.name AS app_name " +
      "FROM api_keys k JOIN applications a ON a.id = k.app_id " +
      `WHERE k.key_hash = ${sqlString(sha256Hex(apiKey))}`,
  );
  const row = rows[0];
  return row ? { ...toKeyInfo(row), app_name: String(row.app_name) } : null;
}

/**
 * The oldest application with exactly this name, or null.
 * @param {Target} target
 * @param {string} name
 * @returns {Promise<string | null>} its id
 */
export async function findAppByName(target, name) {
  checkName(name);
  await ensureMigrations(target);
  const [rows = []] = await d1Execute(
    target,
    `SELECT id FROM applications WHERE name = ${sqlText(name)} ORDER BY created_at, id LIMIT 1`,
  );
  return rows[0] ? String(rows[0].id) : null;
}
