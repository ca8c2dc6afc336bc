// Imported device public keys, kept per isolate so a challenge does not re-import the same JWK for every
// device on every request. Keyed by the stored JWK text itself (not a hash of it): a re-enrolled or
// rotated key is a different entry, and a lookup can never return another key. Public keys only.
import { importStoredKey } from "./encrypt";
import type { KeyFormat } from "./keys";

/** Bound on the entries an isolate keeps; the least recently used one leaves first. */
export const DEVICE_KEY_CACHE_SIZE = 1024;

const cache = new Map<string, Promise<CryptoKey>>();

/** The CryptoKey for a device's stored public key, imported once per isolate while it stays in use. */
export function deviceKey(device: {
  id: string;
  key_format: KeyFormat;
  public_key: string;
}): Promise<CryptoKey> {
  const k = `${device.id}\n${device.key_format}\n${device.public_key}`;
  const hit = cache.get(k);
  if (hit) {
    // Re-inserting moves it to the back of the Map's insertion order: the most recently used.
    cache.delete(k);
    cache.set(k, hit);
    return hit;
  }
  const imported = importStoredKey(device.key_format, device.public_key);
  cache.set(k, imported);
  // A failed import is not remembered: the next request tries again.
  imported.catch(() => {
    if (cache.get(k) === imported) cache.delete(k);
  });
  while (cache.size > DEVICE_KEY_CACHE_SIZE) {
    const oldest = cache.keys().next().value;
    if (oldest === undefined) break;
    cache.delete(oldest);
  }
  return imported;
}

/** For tests: how many keys this isolate holds. */
export const deviceKeyCacheSize = () => cache.size;
