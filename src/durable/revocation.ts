// What follows a device's revocation (by the application or by the device itself): its live channels
// close, and the challenges only it could answer are cancelled at once (reason `device_revoked`), so
// the application's long-poll returns now instead of waiting out the expiry.
import { pendingOnlyFor } from "../db/challenges";
import type { Env } from "../env";
import { disconnectDevice } from "./notify";

export const DEVICE_REVOKED_REASON = "device_revoked";

/** Never throws: the revocation has landed; a challenge left pending here still expires on its alarm. */
export async function afterDeviceRevoked(
  env: Env,
  appId: string,
  deviceId: string,
  ip: string | null,
): Promise<void> {
  const closing = (async () => {
    for (const id of await pendingOnlyFor(env.DB, appId, deviceId)) {
      await env.CHALLENGES.get(env.CHALLENGES.idFromName(id)).cancel(appId, ip, DEVICE_REVOKED_REASON);
    }
  })();
  const [closed] = await Promise.allSettled([closing, disconnectDevice(env, deviceId)]);
  if (closed.status === "rejected") {
    const why = closed.reason instanceof Error ? closed.reason.message : String(closed.reason);
    console.error(`device ${deviceId} revoked: closing its challenges failed: ${why}`);
  }
}
