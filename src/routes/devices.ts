import { authorizeApp } from "../abuse/limits";
import { auditIfChanged } from "../db/audit";
import { deviceForApp, devicesOfUser } from "../db/devices";
import { afterDeviceRevoked } from "../durable/revocation";
import { json } from "../http/body";
import { badRequest, conflict, notFound } from "../http/problem";
import { clientIp, type Handler, pathId, pathText } from "../http/request";
import { userId as userIdSchema } from "../schemas";
import { deviceJson } from "./views";

export const listForUser: Handler = async (request, env) => {
  const caller = await authorizeApp(request, env);
  const parsed = userIdSchema.safeParse(pathText(request, "user_id"));
  if (!parsed.success) {
    const message = parsed.error.issues[0]?.message ?? "invalid";
    throw badRequest(`user_id: ${message}`, [{ field: "user_id", message }]);
  }
  const devices = await devicesOfUser(env.DB, caller.appId, parsed.data);
  return json({ object: "list", data: devices.map(deviceJson) });
};

export const revoke: Handler = async (request, env) => {
  const caller = await authorizeApp(request, env);
  const id = pathId(request, "id", "dev", "device");
  const device = await deviceForApp(env.DB, caller.appId, id);
  if (!device || device.status === "pending") throw notFound("device");
  if (device.status === "revoked") {
    throw conflict("device-revoked", "Device already revoked", "This device was already revoked.");
  }
  const now = Date.now();
  const db = env.DB;
  const [update] = await db.batch([
    db
      .prepare(
        "UPDATE devices SET status = 'revoked', revoked_at = ?3 WHERE id = ?1 AND app_id = ?2 AND status = 'active'",
      )
      .bind(id, caller.appId, now),
    auditIfChanged(db, {
      appId: caller.appId,
      type: "device.revoked",
      outcome: "revoked",
      userId: device.user_id,
      deviceId: id,
      ip: clientIp(request),
      detail: { by: "application" },
      at: now,
    }),
  ]);
  if (update?.meta.changes !== 1) {
    throw conflict("device-revoked", "Device already revoked", "This device was revoked meanwhile.");
  }
  await afterDeviceRevoked(env, caller.appId, id, clientIp(request));
  const after = await deviceForApp(db, caller.appId, id);
  return json(deviceJson(after ?? device));
};
