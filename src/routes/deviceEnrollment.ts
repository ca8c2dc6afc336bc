import { admitDevice } from "../abuse/limits";
import { b64url, fromHex } from "../crypto/encoding";
import { encryptForDevice, tokenPlaintext } from "../crypto/encrypt";
import { sha256, sha256Hex, timingSafeEqual } from "../crypto/hash";
import { importDevicePublicKey } from "../crypto/keys";
import { newId, newSecret } from "../crypto/random";
import { appName } from "../db/apiKeys";
import { auditIfChanged } from "../db/audit";
import { deviceById } from "../db/devices";
import { enrollmentByCodeHash } from "../db/enrollments";
import { wakeEnrollment } from "../durable/enrollmentWaiter";
import { iso, json, readJson } from "../http/body";
import { badRequest, conflict, Problem } from "../http/problem";
import { clientIp, type Handler } from "../http/request";
import { deviceActivate, deviceEnroll } from "../schemas";
import { kickWebhooks, queueWebhookEvent } from "../webhooks/events";
import { deviceJson } from "./views";

/** Time a device has, after claiming a code, to prove it holds the private key. */
export const ACTIVATION_WINDOW_MS = 5 * 60 * 1000;

// One answer for unknown, used, cancelled and expired codes: a scanner learns nothing from the difference.
const codeRefused = () =>
  new Problem(
    410,
    "enrollment-code-invalid",
    "Enrollment code not usable",
    "This enrollment code is unknown, already used, cancelled or expired. Ask for a new QR code.",
  );

const activationRefused = () =>
  new Problem(
    401,
    "activation-refused",
    "Activation refused",
    "The device id and token do not match a device awaiting activation.",
  );

/**
 * Step 3 of enrollment: the device presents the code and its new public key. Exactly one device can claim
 * a code: the conditional UPDATE and the INSERT…SELECT that depends on it run in one D1 transaction.
 */
export const enroll: Handler = async (request, env) => {
  const body = await readJson(request, deviceEnroll);
  const imported = await importDevicePublicKey(body.key_format, body.public_key);
  if (!imported.ok) {
    throw badRequest(`public_key: ${imported.reason}`, [{ field: "public_key", message: imported.reason }]);
  }

  if (!/^enc_[A-Za-z0-9_-]{43}$/.test(body.code)) throw codeRefused();
  const now = Date.now();
  const enrollment = await enrollmentByCodeHash(env.DB, await sha256Hex(body.code));
  // Every try of a known code counts, used or not: a second scan, or many devices racing on one code.
  if (enrollment) {
    await admitDevice(env, enrollment.app_id, clientIp(request), [
      { limit: "enrollment_code_attempts", subject: enrollment.id, cost: 1 },
    ]);
  }
  if (enrollment?.status !== "pending" || now >= enrollment.expires_at) throw codeRefused();

  const deviceId = newId("dev");
  const token = newSecret("edt_");
  const activateBy = Math.max(enrollment.expires_at, now + ACTIVATION_WINDOW_MS);
  const db = env.DB;
  const [claim] = await db.batch([
    db
      .prepare(
        `UPDATE enrollments SET status = 'claimed', device_id = ?2, expires_at = ?3
         WHERE id = ?1 AND status = 'pending' AND expires_at > ?4`,
      )
      .bind(enrollment.id, deviceId, activateBy, now),
    db
      .prepare(
        `INSERT INTO devices (id, app_id, user_id, enrollment_id, name, platform, key_format, public_key,
                              token_hash, status, created_at, activate_by)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', ?10, ?11
         WHERE EXISTS (SELECT 1 FROM enrollments WHERE id = ?4 AND device_id = ?1 AND status = 'claimed')`,
      )
      .bind(
        deviceId,
        enrollment.app_id,
        enrollment.user_id,
        enrollment.id,
        body.name ?? null,
        body.platform ?? null,
        body.key_format,
        JSON.stringify(imported.jwk),
        await sha256Hex(token),
        now,
        activateBy,
      ),
    auditIfChanged(db, {
      appId: enrollment.app_id,
      type: "device.enrolled",
      outcome: "pending",
      userId: enrollment.user_id,
      enrollmentId: enrollment.id,
      deviceId,
      ip: clientIp(request),
      detail: { key_format: body.key_format, name: body.name ?? null, platform: body.platform ?? null },
      at: now,
    }),
  ]);
  if (claim?.meta.changes !== 1) throw codeRefused();

  // The token travels encrypted to the key just registered: only the holder of its private key can use it.
  const ciphertext = await encryptForDevice(
    body.key_format,
    imported.key,
    tokenPlaintext({ did: deviceId, token }),
  );
  return json(
    {
      device_id: deviceId,
      key_format: body.key_format,
      encrypted_device_token: b64url(ciphertext),
      activate_by: new Date(activateBy).toISOString(),
      app_name: (await appName(db, enrollment.app_id)) ?? enrollment.app_id,
      user_label: enrollment.user_label ?? enrollment.user_id,
    },
    201,
  );
};

/** Step 4: proof of possession. The decrypted token activates the device and completes the enrollment. */
export const activate: Handler = async (request, env, ctx) => {
  const body = await readJson(request, deviceActivate);
  const device = /^dev_[0-9a-z]{26}$/.test(body.device_id) ? await deviceById(env.DB, body.device_id) : null;
  if (device) await admitDevice(env, device.app_id, clientIp(request));
  if (!device || !/^edt_[A-Za-z0-9_-]{43}$/.test(body.device_token)) throw activationRefused();
  if (!timingSafeEqual(await sha256(body.device_token), fromHex(device.token_hash)))
    throw activationRefused();
  if (device.status === "active") {
    throw conflict(
      "device-already-active",
      "Device already active",
      "This device has already been activated.",
    );
  }
  const now = Date.now();
  if (device.status !== "pending" || now >= device.activate_by) throw activationRefused();

  const db = env.DB;
  const event = queueWebhookEvent(
    db,
    device.app_id,
    "enrollment.completed",
    {
      enrollment: {
        id: device.enrollment_id,
        object: "enrollment",
        user_id: device.user_id,
        status: "completed",
        device_id: device.id,
        completed_at: iso(now),
      },
      device: deviceJson({ ...device, status: "active", activated_at: now }),
    },
    now,
  );
  const [update, , , , stored] = await db.batch([
    db
      .prepare(
        `UPDATE devices SET status = 'active', activated_at = ?2
         WHERE id = ?1 AND status = 'pending' AND activate_by > ?2
           AND EXISTS (SELECT 1 FROM enrollments WHERE id = devices.enrollment_id AND status = 'claimed')`,
      )
      .bind(device.id, now),
    auditIfChanged(db, {
      appId: device.app_id,
      type: "device.activated",
      outcome: "active",
      userId: device.user_id,
      enrollmentId: device.enrollment_id,
      deviceId: device.id,
      ip: clientIp(request),
      detail: { key_format: device.key_format },
      at: now,
    }),
    db
      .prepare(
        `UPDATE enrollments SET status = 'completed', completed_at = ?3
         WHERE id = ?1 AND device_id = ?2 AND status = 'claimed'
           AND EXISTS (SELECT 1 FROM devices WHERE id = ?2 AND status = 'active')`,
      )
      .bind(device.enrollment_id, device.id, now),
    auditIfChanged(db, {
      appId: device.app_id,
      type: "enrollment.completed",
      outcome: "completed",
      userId: device.user_id,
      enrollmentId: device.enrollment_id,
      deviceId: device.id,
      ip: clientIp(request),
      at: now,
    }),
    ...event.statements,
  ]);
  if (update?.meta.changes !== 1) throw activationRefused();
  ctx.waitUntil(wakeEnrollment(env, device.enrollment_id));
  if (stored?.meta.changes === 1) ctx.waitUntil(kickWebhooks(env, device.app_id));
  return json({
    device_id: device.id,
    status: "active",
    user_id: device.user_id,
    activated_at: new Date(now).toISOString(),
  });
};
