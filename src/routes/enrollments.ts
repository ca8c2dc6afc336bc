import type { IRequest } from "itty-router";
import { encode, renderSVG } from "uqr";
import { authorizeApp } from "../abuse/limits";
import { sha256Hex } from "../crypto/hash";
import { newId, newSecret } from "../crypto/random";
import { appName } from "../db/apiKeys";
import { auditIfChanged, auditInsert } from "../db/audit";
import { enrollmentByCodeHash, enrollmentForApp, enrollmentStatus } from "../db/enrollments";
import { wakeEnrollment } from "../durable/enrollmentWaiter";
import type { Env } from "../env";
import { json, readJson, readQuery } from "../http/body";
import { conflict, notFound, Problem } from "../http/problem";
import { clientIp, type Handler, pathId, publicOrigin } from "../http/request";
import { encodeQrPng } from "../qr/png";
import { createEnrollment, waitQuery } from "../schemas";
import { enrollmentJson } from "./views";

export const DEFAULT_ENROLLMENT_TTL_SECONDS = 600;
/** Long-polls wait on the enrollment's EnrollmentWaiter; D1 is re-read at least this often as a safety net. */
const RECHECK_MS = 5_000;

export function enrollmentUri(origin: string, code: string, app: string, userLabel: string): string {
  const q = new URLSearchParams({ v: "1", url: origin, code, app, user: userLabel });
  return `encrypxon://enroll?${q.toString()}`;
}

export const create: Handler = async (request, env) => {
  const caller = await authorizeApp(request, env);
  const body = await readJson(request, createEnrollment);
  const now = Date.now();
  const id = newId("enr");
  const code = newSecret("enc_");
  const expiresAt = now + (body.ttl_seconds ?? DEFAULT_ENROLLMENT_TTL_SECONDS) * 1000;
  const label = body.user_label ?? body.user_id;
  const db = env.DB;
  await db.batch([
    db
      .prepare(
        `INSERT INTO enrollments (id, app_id, user_id, user_label, code_hash, status, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7)`,
      )
      .bind(id, caller.appId, body.user_id, body.user_label ?? null, await sha256Hex(code), now, expiresAt),
    auditInsert(db, {
      appId: caller.appId,
      type: "enrollment.created",
      outcome: "pending",
      userId: body.user_id,
      enrollmentId: id,
      ip: clientIp(request),
      at: now,
    }),
  ]);
  const origin = publicOrigin(request, env);
  const name = (await appName(db, caller.appId)) ?? caller.appId;
  const row = await enrollmentForApp(db, caller.appId, id);
  if (!row) throw new Error("enrollment vanished after insert");
  return json(
    {
      ...enrollmentJson(row, now),
      // The code appears only here, once; the server keeps its hash.
      enrollment_uri: enrollmentUri(origin, code, name, label),
      qr_svg_url: `${origin}/v1/enrollments/${id}/qr.svg?code=${encodeURIComponent(code)}`,
    },
    201,
    { location: `/v1/enrollments/${id}` },
  );
};

export const get: Handler = async (request, env) => {
  const caller = await authorizeApp(request, env);
  const id = pathId(request, "id", "enr", "enrollment");
  const { wait } = readQuery(request, waitQuery);
  const deadline = Date.now() + (wait ?? 0) * 1000;
  let row = await enrollmentForApp(env.DB, caller.appId, id);
  if (!row) throw notFound("enrollment");
  // Woken by activation or cancellation (wakeEnrollment); expiry is a deadline we know. D1 is re-read
  // after each wake-up, and every RECHECK_MS in case a wake was lost.
  const waiter = env.ENROLLMENT_WAITERS.get(env.ENROLLMENT_WAITERS.idFromName(id));
  for (;;) {
    const now = Date.now();
    if (enrollmentStatus(row, now) !== "pending" || now >= deadline) break;
    await waiter.wait(Math.min(deadline - now, RECHECK_MS, row.expires_at - now + 50));
    row = (await enrollmentForApp(env.DB, caller.appId, id)) ?? row;
  }
  return json(enrollmentJson(row, Date.now()));
};

/**
 * The QR images. The enrollment code in the query string is the capability (it is what the QR shows), so
 * the URL works as an <img src> on the login page; it stops working once the code is used or expires.
 */
async function qrUriFor(request: IRequest, env: Env): Promise<string> {
  // One answer whatever is wrong (the id, the code, or the code's state), so it reveals nothing.
  const noMatch = () =>
    new Problem(404, "not-found", "Not found", "The id and code do not match a pending enrollment.");
  const id = request.params.id ?? "";
  const code = new URL(request.url).searchParams.get("code") ?? "";
  if (!/^enc_[A-Za-z0-9_-]{43}$/.test(code)) throw noMatch();
  const row = await enrollmentByCodeHash(env.DB, await sha256Hex(code));
  const now = Date.now();
  if (!row || row.id !== id || row.status !== "pending" || now >= row.expires_at) throw noMatch();
  const name = (await appName(env.DB, row.app_id)) ?? row.app_id;
  return enrollmentUri(publicOrigin(request, env), code, name, row.user_label ?? row.user_id);
}

const QR = { ecc: "M", border: 2 } as const;
/** Pixels per module: a typical enrollment QR (version 7–10, 45–57 modules with its border) is ~300 px. */
const QR_PIXELS = 6;

const imageHeaders = (type: string) => ({
  "content-type": type,
  "cache-control": "no-store",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  // The login page that shows the QR is on the application's origin: its <img> is a cross-origin load.
  "cross-origin-resource-policy": "cross-origin",
});

export const qrSvg: Handler = async (request, env) => {
  const svg = renderSVG(await qrUriFor(request, env), { ...QR, pixelSize: QR_PIXELS });
  return new Response(svg, { headers: imageHeaders("image/svg+xml") });
};

export const qrPng: Handler = async (request, env) => {
  const png = await encodeQrPng(encode(await qrUriFor(request, env), QR).data, QR_PIXELS);
  return new Response(png, { headers: imageHeaders("image/png") });
};

export const cancel: Handler = async (request, env, ctx) => {
  const caller = await authorizeApp(request, env);
  const id = pathId(request, "id", "enr", "enrollment");
  const row = await enrollmentForApp(env.DB, caller.appId, id);
  if (!row) throw notFound("enrollment");
  const now = Date.now();
  const status = enrollmentStatus(row, now);
  if (status !== "pending") {
    throw conflict("enrollment-closed", "Enrollment closed", `The enrollment is already ${status}.`, {
      enrollment_status: status,
    });
  }
  const db = env.DB;
  const [update] = await db.batch([
    db
      .prepare(
        `UPDATE enrollments SET status = 'cancelled', completed_at = ?3
         WHERE id = ?1 AND app_id = ?2 AND status IN ('pending', 'claimed')`,
      )
      .bind(id, caller.appId, now),
    auditIfChanged(db, {
      appId: caller.appId,
      type: "enrollment.cancelled",
      outcome: "cancelled",
      userId: row.user_id,
      enrollmentId: id,
      ip: clientIp(request),
      at: now,
    }),
    // A device that claimed the code but has not activated is dropped with it, and that is audited too.
    db
      .prepare(
        `UPDATE devices SET status = 'revoked', revoked_at = ?3
         WHERE enrollment_id = ?1 AND app_id = ?2 AND status = 'pending'
           AND EXISTS (SELECT 1 FROM enrollments WHERE id = ?1 AND status = 'cancelled')`,
      )
      .bind(id, caller.appId, now),
    auditIfChanged(db, {
      appId: caller.appId,
      type: "device.revoked",
      outcome: "revoked",
      userId: row.user_id,
      enrollmentId: id,
      deviceId: row.device_id,
      ip: clientIp(request),
      detail: { by: "enrollment_cancelled" },
      at: now,
    }),
  ]);
  if (!update || update.meta.changes === 0) {
    throw conflict("enrollment-closed", "Enrollment closed", "The enrollment was completed meanwhile.");
  }
  ctx.waitUntil(wakeEnrollment(env, id));
  const after = await enrollmentForApp(db, caller.appId, id);
  return json(enrollmentJson(after ?? row, now));
};
