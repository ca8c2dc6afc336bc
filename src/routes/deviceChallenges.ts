import { admitDevice, limiterFor } from "../abuse/limits";
import { authenticateDevice, deviceTokenHash } from "../auth/deviceToken";
import { auditIfChanged } from "../db/audit";
import { deviceAndPendingByTokenHash } from "../db/challenges";
import { afterDeviceRevoked } from "../durable/revocation";
import { json, readJson } from "../http/body";
import { conflict, deviceUnauthorized, notFound, Problem } from "../http/problem";
import { clientIp, concurrently, type Handler, pathId } from "../http/request";
import { deviceResponse } from "../schemas";
import { challengeJson, pendingDeliveryJson } from "./views";

/** Pending challenges for the calling device, each with the ciphertext made for its key. */
export const list: Handler = async (request, env) => {
  // Authentication and the list in one D1 round trip.
  const found = await deviceAndPendingByTokenHash(env.DB, await deviceTokenHash(request), Date.now());
  if (!found) throw deviceUnauthorized();
  const { device, pending: rows } = found;
  await admitDevice(env, device.app_id, clientIp(request));
  return json({
    object: "list",
    data: rows.map((r) => pendingDeliveryJson(r, device.key_format)),
  });
};

export const respond: Handler = async (request, env) => {
  const answer = async () => ({
    id: pathId(request, "id", "chl", "challenge"),
    body: await readJson(request, deviceResponse),
  });
  // The token lookup (D1) while the body is read; a bad token is still a 401 whatever the path or body.
  const [device, { id, body }] = await concurrently(authenticateDevice(request, env), answer());
  // A device past its wrong answers for the hour answers nothing until its budget refills.
  await admitDevice(env, device.app_id, clientIp(request), [
    { limit: "device_wrong_answers_per_hour", subject: device.id, cost: 0 },
  ]);
  const stub = env.CHALLENGES.get(env.CHALLENGES.idFromName(id));
  const result = await stub.respond({
    appId: device.app_id,
    deviceId: device.id,
    entropy: body.entropy,
    decision: body.decision,
    reason: body.reason ?? null,
    number: body.number ?? null,
    ip: clientIp(request),
  });
  // Revoked between authentication and the answer: the answer did not count.
  if (result.kind === "device_inactive") throw deviceUnauthorized();
  if (result.kind === "not_found" || !result.view) throw notFound("challenge");
  // Only a compared answer costs: one to a closed challenge is not compared, so it reveals nothing.
  if (result.kind === "wrong_entropy" || result.kind === "wrong_number") {
    await limiterFor(env, device.app_id).spend(device.app_id, {
      limit: "device_wrong_answers_per_hour",
      subject: device.id,
      cost: 1,
    });
  }
  switch (result.kind) {
    case "resolved":
      return json(challengeJson(result.view));
    case "closed":
      throw conflict(
        "challenge-closed",
        "Challenge closed",
        `The challenge is no longer pending (status: ${result.view.status}).`,
        {
          challenge_status: result.view.status,
        },
      );
    case "user_paused":
      throw new Problem(
        423,
        "user-paused",
        "User paused",
        `Approvals for this user are paused: one of their devices reported a challenge as "this wasn't me". The approval did not count; the application clears the pause once it has checked with the user.`,
        { extra: { challenge_status: result.view.status } },
      );
    case "wrong_entropy":
      throw wrongAnswer(
        "wrong-entropy",
        "Wrong entropy",
        "The entropy does not match this challenge",
        result.attemptsLeft,
        result.view.status,
      );
    case "wrong_number":
      throw wrongAnswer(
        "wrong-number",
        "Wrong number",
        "The number is missing or not the one shown on the login page",
        result.attemptsLeft,
        result.view.status,
      );
  }
};

function wrongAnswer(
  slug: string,
  title: string,
  what: string,
  attemptsLeft: number,
  status: string,
): Problem {
  const left =
    attemptsLeft > 0
      ? `${attemptsLeft} attempt(s) left before it fails`
      : "no attempts left: the challenge has failed";
  return new Problem(422, slug, title, `${what}; ${left}.`, {
    extra: { attempts_left: attemptsLeft, challenge_status: status },
  });
}

/** The device removes itself (the app uninstalled, the user reset the phone). */
export const removeSelf: Handler = async (request, env) => {
  const device = await authenticateDevice(request, env);
  await admitDevice(env, device.app_id, clientIp(request));
  const now = Date.now();
  const db = env.DB;
  const [update] = await db.batch([
    db
      .prepare(
        "UPDATE devices SET status = 'revoked', revoked_at = ?2 WHERE id = ?1 AND app_id = ?3 AND status = 'active'",
      )
      .bind(device.id, now, device.app_id),
    auditIfChanged(db, {
      appId: device.app_id,
      type: "device.revoked",
      outcome: "revoked",
      userId: device.user_id,
      deviceId: device.id,
      ip: clientIp(request),
      detail: { by: "device" },
      at: now,
    }),
  ]);
  // Revoked meanwhile (by the application or a parallel call): the token no longer names an active device.
  if (update?.meta.changes !== 1) throw deviceUnauthorized();
  await afterDeviceRevoked(env, device.app_id, device.id, clientIp(request));
  return new Response(null, { status: 204 });
};
