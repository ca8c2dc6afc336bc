// The seam for mobile push services (FCM HTTP v1, APNs, Web Push). None is implemented yet: a provider
// is registered here and then receives every device event after the challenge is stored and the live
// channels were told. A provider's failure is audited (`device.push_failed`) and never reaches the
// challenge: it is already stored, and the device still finds it over its channel or by polling.
import type { ChannelEvent } from "../durable/channel";

/**
 * What a provider is handed: ids and times only. A push payload travels through third parties, so the
 * context and ciphertext that the live channel's `challenge.created` carries never go into it; the
 * device fetches them over its authenticated call.
 */
export interface PushNotification {
  appId: string;
  userId: string;
  deviceId: string;
  event: PushEvent;
}

export type PushEvent = DistributiveOmit<ChannelEvent, "challenge">;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** The channel's event cut down to what may pass through a third party. */
export function forPushProvider(event: ChannelEvent): PushEvent {
  if (event.type !== "challenge.created") return event;
  const { challenge: _, ...small } = event;
  return small;
}

export interface PushProvider {
  /** Short and stable: it goes into audit records (`detail.provider`). */
  readonly name: string;
  /**
   * Delivers or throws. Looking up the device's push token (and whether it has one at all) is the
   * provider's business; resolving without sending is fine for a device it does not serve.
   */
  send(notification: PushNotification): Promise<void>;
}

const registered = new Map<string, PushProvider>();

/** Adds a provider (replacing one of the same name); returns the function that removes it again. */
export function registerPushProvider(provider: PushProvider): () => void {
  registered.set(provider.name, provider);
  return () => {
    if (registered.get(provider.name) === provider) registered.delete(provider.name);
  };
}

export function pushProviders(): PushProvider[] {
  return [...registered.values()];
}
