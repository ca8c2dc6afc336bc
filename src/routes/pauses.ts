// Users paused after a "this wasn't me" report: what POST /v1/challenges answers for them, and the
// application's calls to read and clear a pause.
import { authorizeApp } from "../abuse/limits";
import { auditInsert } from "../db/audit";
import { clearPause, type PauseRow, pauseOf } from "../db/pauses";
import type { Env } from "../env";
import { iso, json } from "../http/body";
import { badRequest, Problem } from "../http/problem";
import { clientIp, type Handler, pathText } from "../http/request";
import { userId as userIdSchema } from "../schemas";

function pauseJson(userId: string, pause: PauseRow | null) {
  return {
    object: "user_pause",
    user_id: userId,
    paused: pause !== null,
    paused_at: iso(pause?.paused_at),
    challenge_id: pause?.challenge_id ?? null,
    device_id: pause?.device_id ?? null,
  };
}

/** The refusal of a new challenge for a paused user, audited as `challenge.refused` (`user_paused`). */
export async function userPaused(env: Env, appId: string, pause: PauseRow, ip: string | null) {
  await auditInsert(env.DB, {
    appId,
    type: "challenge.refused",
    outcome: "user_paused",
    userId: pause.user_id,
    challengeId: pause.challenge_id,
    ip,
    detail: { paused_at: iso(pause.paused_at) },
    at: Date.now(),
  }).run();
  return new Problem(
    423,
    "user-paused",
    "User paused",
    `New challenges for this user are paused since ${iso(pause.paused_at)}: their device reported challenge ${pause.challenge_id} as "this wasn't me", so their password is probably known to someone else. Check with the user (and reset the password), then clear the pause with DELETE /v1/users/{user_id}/pause.`,
    { extra: { paused_at: iso(pause.paused_at), challenge_id: pause.challenge_id } },
  );
}

function pathUser(request: Parameters<Handler>[0]): string {
  const parsed = userIdSchema.safeParse(pathText(request, "user_id"));
  if (!parsed.success) throw badRequest(`user_id: ${parsed.error.issues[0]?.message ?? "invalid"}`);
  return parsed.data;
}

/** `GET /v1/users/{user_id}/pause`: whether new challenges for the user are paused, and why. */
export const get: Handler = async (request, env) => {
  const caller = await authorizeApp(request, env);
  const userId = pathUser(request);
  return json(pauseJson(userId, await pauseOf(env.DB, caller.appId, userId)));
};

/** `DELETE /v1/users/{user_id}/pause`: challenges for the user work again; `user.unpaused` is audited. */
export const clear: Handler = async (request, env) => {
  const caller = await authorizeApp(request, env);
  const userId = pathUser(request);
  const pause = await pauseOf(env.DB, caller.appId, userId);
  // Clearing a pause that is not there changes nothing and is not an error: the end state is the same.
  if (pause) await clearPause(env.DB, caller.appId, pause, clientIp(request), Date.now());
  return json(pauseJson(userId, null));
};
