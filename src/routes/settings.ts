import { authorizeApp, limiterFor } from "../abuse/limits";
import { effectiveSettings, settingsPatch } from "../abuse/settings";
import { patchSettings, settingsOf } from "../db/settings";
import { iso, json, readJson } from "../http/body";
import { clientIp, type Handler } from "../http/request";

async function current(db: D1Database, appId: string) {
  const row = await settingsOf(db, appId);
  return {
    object: "settings",
    ...effectiveSettings(row?.settings ?? null),
    updated_at: iso(row?.updated_at),
  };
}

/** The application's effective abuse settings: what it set, defaults for the rest. */
export const get: Handler = async (request, env) => {
  const caller = await authorizeApp(request, env);
  return json(await current(env.DB, caller.appId));
};

/** Changes the named settings only; each change is an audit row (`settings.updated`). */
export const update: Handler = async (request, env) => {
  const caller = await authorizeApp(request, env);
  const patch = await readJson(request, settingsPatch);
  await patchSettings(env.DB, caller.appId, patch, Date.now(), clientIp(request));
  // The limiter caches the settings; it reads them again now rather than within its cache's 30 s.
  await limiterFor(env, caller.appId).settingsChanged();
  return json(await current(env.DB, caller.appId));
};
