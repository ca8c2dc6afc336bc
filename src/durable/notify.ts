import { auditInsert } from "../db/audit";
import type { Env } from "../env";
import type { ChannelEvent } from "./channel";

export interface NotifyTarget {
  appId: string;
  userId: string;
  challengeId: string;
}

/**
 * Tells each device's channel about a challenge event. Never throws: the challenge is already stored,
 * and a device that misses the event still finds the challenge by polling or on its next connect. A
 * failed hand-off is recorded in the audit trail (`device.notify_failed`) so it is not silently lost.
 */
export async function notifyDevices(
  env: Env,
  target: NotifyTarget,
  deviceIds: readonly string[],
  eventFor: (deviceId: string) => ChannelEvent,
): Promise<void> {
  const results = await Promise.allSettled(
    deviceIds.map((deviceId) =>
      env.DEVICE_CHANNELS.get(env.DEVICE_CHANNELS.idFromName(deviceId)).notify(deviceId, eventFor(deviceId)),
    ),
  );
  const failed = deviceIds.filter((_, i) => results[i]?.status === "rejected");
  if (failed.length === 0) return;
  for (const r of results) {
    if (r.status === "rejected") {
      console.error("device channel notify failed:", r.reason instanceof Error ? r.reason.message : r.reason);
    }
  }
  const at = Date.now();
  try {
    await env.DB.batch(
      failed.map((deviceId) =>
        auditInsert(env.DB, {
          appId: target.appId,
          type: "device.notify_failed",
          outcome: "failed",
          userId: target.userId,
          deviceId,
          challengeId: target.challengeId,
          detail: { channel: "websocket", event: eventFor(deviceId).type },
          at,
        }),
      ),
    );
  } catch (err) {
    console.error("could not record failed notify:", err instanceof Error ? err.message : err);
  }
}

/** Closes a revoked device's open sockets at once (best effort: the channel re-checks on every sync). */
export async function disconnectDevice(env: Env, deviceId: string): Promise<void> {
  try {
    await env.DEVICE_CHANNELS.get(env.DEVICE_CHANNELS.idFromName(deviceId)).disconnect(deviceId);
  } catch (err) {
    console.error("could not close a revoked device's channel:", err instanceof Error ? err.message : err);
  }
}
