// Applications and API keys, written through wrangler to the same D1 database and KV namespace the
// Worker reads (schema: migrations/0001_init.sql; cache entries: src/auth/apiKey.ts).
// Keys are shown once and stored only as their SHA-256 hex digest. Every key change gets an audit row in
// the same statement list, guarded like the Worker's (src/db/applications.ts).
import { createHash, randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
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
 * @property {string | null} [name]
 * @property {string | null} [last_chars]
 * @property {string | null} [expires_at]  set by rotation: the end of the old key's grace period
 */

/** How many leading and trailing characters of a key are kept in D1 so operators can tell keys apart. */
export const KEY_PREFIX_LENGTH = 12;
export const KEY_LAST_CHARS = 4;

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// Crockford base32, lowercase, as in src/crypto/random.ts.
const CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz";

/**
 * `prefix_` + 26 lowercase Crockford base32 chars of 16 random bytes, like newId() in the Worker.
 * @param {"app" | "key" | "evt"} prefix
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
 * The 6-character checksum of a key (docs/api.md "API keys"): zlib's CRC-32 of the key's first part,
 * in base62, left-padded with "0".
 * @param {string} head
 */
export function keyChecksum(head) {
  let n = crc32(Buffer.from(head, "utf8"));
  let s = "";
  for (let i = 0; i < 6; i++) {
    s = BASE62[n % 62] + s;
    n = Math.floor(n / 62);
  }
  return s;
}

/**
 * A new API key: `ek_live_` (or `ek_test_`) + base64url of 32 random bytes (256 bits) + checksum.
 * @param {"live" | "test"} mode
 */
export function newApiKey(mode) {
  const head = `ek_${mode}_${randomBytes(32).toString("base64url")}`;
  return head + keyChecksum(head);
}

/**
 * An audit row for a key change, inserted only if the statement before it changed exactly one row.
 * @param {string} appId  already validated
 * @param {string} type  e.g. api_key.created
 * @param {Record<string, unknown>} detail
 * @param {number} now
 * @param {string | null} [outcome]
 */
function auditIfChanged(appId, type, detail, now, outcome = null) {
  return (
    "INSERT INTO audit_events (id, app_id, type, outcome, detail, created_at) " +
    `SELECT ${sqlString(newId("evt"))}, ${sqlString(appId)}, ${sqlString(type)}, ` +
    `${outcome === null ? "NULL" : sqlString(outcome)}, ${sqlText(JSON.stringify({ ...detail, by: "admin_cli" }))}, ` +
    `${sqlInt(now)} WHERE changes() = 1`
  );
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
 * The INSERT for a new key and its audit row. By default it inserts nothing when the application is
 * missing; RETURNING tells which happened.
 * @param {string} appId  already validated
 * @param {"live" | "test"} mode
 * @param {number} now
 * @param {{ name?: string | null, where?: string, audit?: (key: CreatedKey) => [string, Record<string, unknown>] }} [opts]
 *   where: the condition for inserting; audit: the audit row's type and detail (default api_key.created)
 */
function keyInsert(appId, mode, now, opts = {}) {
  const apiKey = newApiKey(mode);
  const keyId = newId("key");
  const prefix = apiKey.slice(0, KEY_PREFIX_LENGTH);
  const name = opts.name ?? null;
  const key = { app_id: appId, key_id: keyId, api_key: apiKey, prefix, created_at: iso(now) ?? "" };
  const [type, detail] = opts.audit?.(key) ?? ["api_key.created", { key_id: keyId, name, prefix }];
  const sql =
    "INSERT INTO api_keys (id, app_id, name, key_hash, prefix, last_chars, created_at) " +
    `SELECT ${sqlString(keyId)}, ${sqlString(appId)}, ${name === null ? "NULL" : sqlText(name)}, ` +
    `${sqlString(sha256Hex(apiKey))}, ${sqlString(prefix)}, ${sqlString(apiKey.slice(-KEY_LAST_CHARS))}, ` +
    `${sqlInt(now)} ${opts.where ?? `WHERE EXISTS (SELECT 1 FROM applications WHERE id = ${sqlString(appId)})`} ` +
    `RETURNING id; ${auditIfChanged(appId, type, detail, now)}`;
  return { sql, key };
}

/**
 * Creates an application and its first API key, atomically.
 * @param {Target} target
 * @param {{ name: string, mode?: "live" | "test", keyName?: string }} opts
 * @returns {Promise<CreatedKey & { name: string }>}
 */
export async function createApp(target, { name, mode = "live", keyName }) {
  checkName(name);
  if (keyName !== undefined) checkName(keyName);
  await ensureMigrations(target);
  const appId = newId("app");
  const now = Date.now();
  const { sql, key } = keyInsert(appId, mode, now, { name: keyName ?? null });
  const results = await d1Execute(
    target,
    `INSERT INTO applications (id, name, created_at) VALUES (${sqlString(appId)}, ${sqlText(name)}, ${sqlInt(now)}); ` +
      `${auditIfChanged(appId, "application.created", { name }, now)}; ${sql}`,
  );
  if (results[2]?.length !== 1) throw new Error("the application was created without a key (unexpected)");
  return { ...key, name };
}

/**
 * Adds an API key to an existing application.
 * @param {Target} target
 * @param {{ appId: string, mode?: "live" | "test", name?: string }} opts
 * @returns {Promise<CreatedKey>}
 */
export async function createKey(target, { appId, mode = "live", name }) {
  checkId(APP_ID, appId, "--app");
  if (name !== undefined) checkName(name);
  await ensureMigrations(target);
  const { sql, key } = keyInsert(appId, mode, Date.now(), { name: name ?? null });
  const [inserted] = await d1Execute(target, sql);
  if (inserted?.length !== 1) throw new UsageError(`no application with id ${appId}`);
  return key;
}

/**
 * Rotates a key: a new key now, and the old one keeps working for `graceSeconds` (then stops), as
 * POST /v1/admin/apps/{id}/keys/{key_id}/rotate does. Its KV cache entry is purged so the end of
 * grace is cached with it from the next use on.
 * @param {Target} target
 * @param {{ keyId: string, graceSeconds?: number, name?: string }} opts
 * @returns {Promise<CreatedKey & { replaces: string, old_key_expires_at: string }>}
 */
export async function rotateKey(target, { keyId, graceSeconds = 86_400, name }) {
  checkId(KEY_ID, keyId, "--key");
  if (name !== undefined) checkName(name);
  if (!Number.isSafeInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > 30 * 86_400) {
    throw new UsageError("--grace must be a whole number of seconds from 0 to 2592000 (30 days)");
  }
  await ensureMigrations(target);
  const [rows = []] = await d1Execute(
    target,
    `SELECT id, app_id, name, key_hash, prefix, revoked_at, expires_at FROM api_keys WHERE id = ${sqlString(keyId)}`,
  );
  const row = rows[0];
  if (!row) throw new UsageError(`no API key with id ${keyId}`);
  if (row.revoked_at !== null || row.expires_at !== null) {
    throw new UsageError(`API key ${keyId} is ${row.revoked_at !== null ? "revoked" : "already rotated"}`);
  }
  const appId = checkId(APP_ID, row.app_id, "the key's application");
  const now = Date.now();
  const ends = now + graceSeconds * 1000;
  const mode = String(row.prefix).startsWith("ek_test_") ? "test" : "live";
  const { sql, key } = keyInsert(appId, mode, now, {
    name: name ?? (row.name === null ? null : String(row.name)),
    where: "WHERE changes() = 1",
    audit: (k) => [
      "api_key.rotated",
      {
        key_id: keyId,
        new_key_id: k.key_id,
        name: name ?? row.name ?? null,
        prefix: k.prefix,
        old_key_expires_at: iso(ends),
      },
    ],
  });
  const [updated = [], inserted = []] = await d1Execute(
    target,
    `UPDATE api_keys SET expires_at = ${sqlInt(ends)}, replaced_by = ${sqlString(key.key_id)} ` +
      `WHERE id = ${sqlString(keyId)} AND revoked_at IS NULL AND expires_at IS NULL RETURNING id; ${sql}`,
  );
  if (updated.length !== 1 || inserted.length !== 1)
    throw new UsageError(`API key ${keyId} changed meanwhile`);
  const hash = String(row.key_hash);
  if (SHA256_HEX.test(hash)) await kvDelete(target, kvKeyFor(hash));
  return { ...key, replaces: keyId, old_key_expires_at: iso(ends) ?? "" };
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
      `COUNT(CASE WHEN k.id IS NOT NULL AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ${sqlInt(Date.now())}) THEN 1 END) AS active_keys, ` +
      "COUNT(k.revoked_at) AS revoked_keys " +
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
  ...(r.name !== undefined ? { name: r.name === null ? null : String(r.name) } : {}),
  ...(r.last_chars !== undefined ? { last_chars: r.last_chars === null ? null : String(r.last_chars) } : {}),
  ...(r.expires_at !== undefined ? { expires_at: iso(r.expires_at) } : {}),
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
      "SELECT id, app_id, name, prefix, last_chars, created_at, expires_at, revoked_at FROM api_keys " +
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
  // One statement list: the audit row takes the key's application and names from the key row itself.
  const [before = [], updated = []] = await d1Execute(
    target,
    `SELECT id, app_id, key_hash, prefix, created_at, revoked_at FROM api_keys WHERE id = ${sqlString(keyId)}; ` +
      `UPDATE api_keys SET revoked_at = ${sqlInt(now)} WHERE id = ${sqlString(keyId)} AND revoked_at IS NULL RETURNING id; ` +
      "INSERT INTO audit_events (id, app_id, type, outcome, detail, created_at) " +
      `SELECT ${sqlString(newId("evt"))}, app_id, 'api_key.revoked', 'revoked', ` +
      "json_object('key_id', id, 'name', name, 'prefix', prefix, 'by', 'admin_cli'), " +
      `${sqlInt(now)} FROM api_keys WHERE id = ${sqlString(keyId)} AND changes() = 1`,
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
    "SELECT k.id, k.app_id, k.prefix, k.created_at, k.expires_at, k.revoked_at, a.name AS app_name " +
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
