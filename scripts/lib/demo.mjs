// The demo application and API key that `npm run dev` prints. Only hashes are stored in D1, so the key
// itself is kept in a local file (under .wrangler/, which git ignores) and reused while D1 still
// accepts it.
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { createApp, createKey, findAppByName, findKey } from "./apps.mjs";
import { API_KEY } from "./sql.mjs";

/** @typedef {import("./wrangler.mjs").Target} Target */

export const DEMO_APP_NAME = "Demo App";

/**
 * @typedef {object} DemoKey
 * @property {string} api_key
 * @property {string} app_id
 * @property {string} key_id
 * @property {boolean} reused  true when the saved key was still valid
 * @property {string} file     where the key is kept
 */

/**
 * Where the demo key of a local state is kept: beside the state directory given with --persist-to,
 * else in the .wrangler/ folder next to the configuration file (where wrangler keeps its state).
 * @param {Target} target
 */
export function demoKeyFile(target) {
  if (target.persistTo) return path.join(target.persistTo, "demo-api-key.json");
  return path.join(path.dirname(target.config), ".wrangler", "demo-api-key.json");
}

/**
 * @param {string} file
 * @returns {Promise<{ api_key: string } | null>}
 */
async function readSaved(file) {
  try {
    const saved = JSON.parse(await readFile(file, "utf8"));
    return saved && typeof saved.api_key === "string" && API_KEY.test(saved.api_key) ? saved : null;
  } catch {
    return null;
  }
}

/**
 * Returns a usable demo API key for local state: the saved one while its hash is in D1 and unrevoked,
 * otherwise a new `ek_test_` key for the oldest "Demo App" (created if there is none), saved for next time.
 * @param {Target} target  a local target
 * @returns {Promise<DemoKey>}
 */
export async function ensureDemoKey(target) {
  if (target.remote) throw new Error("the demo key is for local state only");
  const file = demoKeyFile(target);
  const saved = await readSaved(file);
  if (saved) {
    const found = await findKey(target, saved.api_key);
    const expired = found?.expires_at != null && Date.parse(found.expires_at) <= Date.now();
    if (found && found.revoked_at === null && !expired) {
      return { api_key: saved.api_key, app_id: found.app_id, key_id: found.key_id, reused: true, file };
    }
  }
  const appId = await findAppByName(target, DEMO_APP_NAME);
  const created = appId
    ? await createKey(target, { appId, mode: "test" })
    : await createApp(target, { name: DEMO_APP_NAME, mode: "test" });
  await mkdir(path.dirname(file), { recursive: true });
  const record = {
    api_key: created.api_key,
    app_id: created.app_id,
    key_id: created.key_id,
    created_at: created.created_at,
    note: "Demo API key for local development (npm run dev). Only its SHA-256 hash is in D1.",
  };
  await writeFile(file, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return { api_key: created.api_key, app_id: created.app_id, key_id: created.key_id, reused: false, file };
}
