import { auditInsert } from "../db/audit";
import type { Env } from "../env";
import { forPushProvider, pushProviders } from "../push/provider";
import type { ChannelEvent } from "./channel";

export interface NotifyTarget {
  appId: string;
  userId: string;
  challengeId: string;
}

/**
 * Tells each device about a challenge event: its live channel, and every registered push provider
 * (src/push/provider.ts). Called only once the challenge is stored, and never throws: a device that
 * misses the event still finds the challenge by polling or on its next connect. Each failed hand-off
 * is recorded in the audit trail (`device.notify_failed` for the channel, `device.push_failed` for a
 * provider) so it is not silently lost.
 */
export async function notifyDevices(
  env: Env,
  target: NotifyTarget,
  deviceIds: readonly string[],
  eventFor: (deviceId: string) => ChannelEvent,
): Promise<void> {
  const providers = pushProviders();
  const attempts = deviceIds.flatMap((deviceId) => {
    const event = eventFor(deviceId);
    return [
      {
        deviceId,
        event,
        via: null as string | null,
        run: () => env.DEVICE_CHANNELS.get(env.DEVICE_CHANNELS.idFromName(deviceId)).notify(deviceId, event),
      },
      ...providers.map((p) => ({
        deviceId,
        event,
        via: p.name as string | null,
        run: () =>
          p.send({ appId: target.appId, userId: target.userId, deviceId, event: forPushProvider(event) }),
      })),
    ];
  });
  // Each attempt is started in its own try, so a provider that throws synchronously is caught too.
  const results = await Promise.allSettled(attempts.map(async (a) => a.run()));
  const failed = attempts.filter((_, i) => results[i]?.status === "rejected");
  if (failed.length === 0) return;
  for (const [i, r] of results.entries()) {
    if (r.status === "rejected") {
      const where = attempts[i]?.via ? `push provider ${attempts[i]?.via}` : "device channel";
      console.error(`${where} notify failed:`, r.reason instanceof Error ? r.reason.message : r.reason);
    }
  }
  const at = Date.now();
  try {
    await env.DB.batch(
      failed.map((f) =>
        auditInsert(env.DB, {
          appId: target.appId,
          type: f.via === null ? "device.notify_failed" : "device.push_failed",
          outcome: "failed",
          userId: target.userId,
          deviceId: f.deviceId,
          challengeId: target.challengeId,
          detail:
            f.via === null
              ? { channel: "websocket", event: f.event.type }
              : { provider: f.via, event: f.event.type },
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
