import type { z } from "zod";
import { admitChallenge, authorizeApp, releasePending } from "../abuse/limits";
import type { Settings } from "../abuse/settings";
import { authenticateApp } from "../auth/apiKey";
import { deviceKey } from "../crypto/deviceKeys";
import { b64url } from "../crypto/encoding";
import { challengePlaintext, encryptForDevice } from "../crypto/encrypt";
import { sha256Hex } from "../crypto/hash";
import { newId, randomBytes, randomDigits } from "../crypto/random";
import { challengeForApp, olderPendingOfUser } from "../db/challenges";
import { activeDevicesOfUserQuery, type DeviceRow } from "../db/devices";
import { type PauseRow, pauseQuery } from "../db/pauses";
import type { ChallengeView } from "../durable/challenge";
import type { Env } from "../env";
import { json, readJson, readQuery } from "../http/body";
import { conflict, notFound, Problem } from "../http/problem";
import { clientIp, concurrently, type Handler, pathId } from "../http/request";
import { createChallenge, waitQuery } from "../schemas";
import { userPaused } from "./pauses";
import { challengeJson, challengeRowView } from "./views";

export const DEFAULT_CHALLENGE_TTL_SECONDS = 120;

const stubFor = (env: Env, id: string) => env.CHALLENGES.get(env.CHALLENGES.idFromName(id));

export const create: Handler = async (request, env, ctx) => {
  const [caller, body] = await concurrently(
    authenticateApp(request, env),
    readJson(request, createChallenge),
  );
  const now = Date.now();
  const id = newId("chl");
  const expiresAt = now + (body.ttl_seconds ?? DEFAULT_CHALLENGE_TTL_SECONDS) * 1000;
  // Before any other work, one limiter call: the key's budget, the user's creations per minute and
  // pending challenges (this one is counted as pending from here on). It also answers with the
  // application's settings, which it caches.
  const settings = await admitChallenge(env, caller, body, { id, expiresAt }, clientIp(request));
  try {
    return await createAdmitted(request, env, caller.appId, body, settings, { id, now, expiresAt });
  } catch (err) {
    ctx.waitUntil(releasePending(env, caller.appId, body.user_id, id));
    throw err;
  }
};

async function createAdmitted(
  request: Request,
  env: Env,
  appId: string,
  body: z.output<typeof createChallenge>,
  settings: Settings,
  { id, now, expiresAt }: { id: string; now: number; expiresAt: number },
): Promise<Response> {
  // The user's devices and whether the user is paused, in one D1 round trip (a read-only batch).
  const [devicesRead, pauseRead] = await env.DB.batch<unknown>([
    activeDevicesOfUserQuery(env.DB, appId, body.user_id),
    pauseQuery(env.DB, appId, body.user_id),
  ]);
  const devices = (devicesRead?.results ?? []) as DeviceRow[];
  const pause = pauseRead?.results[0] as PauseRow | undefined;
  if (pause) throw await userPaused(env, appId, pause, clientIp(request));
  if (devices.length === 0) {
    throw new Problem(
      422,
      "no-active-device",
      "No active device",
      "This user has no active device. Enroll one first with POST /v1/enrollments.",
    );
  }
  const entropy = randomBytes(32);
  const plaintext = challengePlaintext({
    cid: id,
    entropy: b64url(entropy),
    exp: Math.floor(expiresAt / 1000),
  });
  const hashing = sha256Hex(entropy);
  const deliveries = await Promise.all(
    devices.map(async (d) => ({
      deviceId: d.id,
      keyFormat: d.key_format,
      ciphertext: b64url(await encryptForDevice(d.key_format, await deviceKey(d), plaintext)),
    })),
  );
  const entropyHash = await hashing;
  const stub = stubFor(env, id);
  let view: ChallengeView = await stub.create({
    id,
    appId: appId,
    userId: body.user_id,
    context: body.context ?? {},
    createdAt: now,
    expiresAt,
    entropyHash,
    deliveries,
    ip: clientIp(request),
    matchNumber: (body.number_matching ?? settings.number_matching) ? randomDigits(2) : null,
    fraudAutoPause: settings.fraud_auto_pause,
  });
  // Only once the new challenge exists: a failed creation never leaves the user with nothing pending.
  const superseded: string[] = [];
  if (body.supersede) {
    const ip = clientIp(request);
    for (const older of await olderPendingOfUser(env.DB, appId, body.user_id, {
      id,
      createdAt: now,
    })) {
      const result = await stubFor(env, older).cancel(appId, ip, "superseded");
      if (result.kind === "cancelled") superseded.push(older);
    }
  }
  // With number matching the login page must show the number while the user answers, so the call
  // returns at once (still pending, with match_number) instead of waiting past the point of use.
  if (body.wait_seconds && view.matchNumber === null) {
    view = (await stub.wait(appId, body.wait_seconds * 1000)) ?? view;
  }
  const extra = body.supersede ? { superseded } : {};
  return json({ ...challengeJson(view), devices: deliveries.length, ...extra }, 201, {
    location: `/v1/challenges/${id}`,
  });
}

export const get: Handler = async (request, env) => {
  const caller = await authorizeApp(request, env);
  const id = pathId(request, "id", "chl", "challenge");
  const { wait } = readQuery(request, waitQuery);
  const live = await stubFor(env, id).wait(caller.appId, (wait ?? 0) * 1000);
  if (live) return json(challengeJson(live));
  // Long-finished challenges leave their object; the D1 summary row still answers for them.
  const row = await challengeForApp(env.DB, caller.appId, id);
  if (!row) throw notFound("challenge");
  return json(challengeJson(challengeRowView(row)));
};

export const cancel: Handler = async (request, env) => {
  const caller = await authorizeApp(request, env);
  const id = pathId(request, "id", "chl", "challenge");
  const result = await stubFor(env, id).cancel(caller.appId, clientIp(request));
  if (result.kind === "not_found" || !result.view) throw notFound("challenge");
  if (result.kind === "closed") {
    throw conflict(
      "challenge-closed",
      "Challenge closed",
      `The challenge is already ${result.view.status}.`,
      {
        challenge_status: result.view.status,
      },
    );
  }
  return json(challengeJson(result.view));
};
