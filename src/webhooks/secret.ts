// Webhook signing secrets: handed to the application once, kept encrypted under the Worker secret
// WEBHOOK_KEY. They cannot be hashed like API keys because the service must sign with them.
import { b64url, fromB64url, utf8 } from "../crypto/encoding";
import { newSecret, randomBytes } from "../crypto/random";

export const WEBHOOK_SECRET_PREFIX = "whsec_";
const FORMAT = "v1";

export const newWebhookSecret = (): string => newSecret(WEBHOOK_SECRET_PREFIX);

// One derived AES key per WEBHOOK_KEY value and isolate: HKDF turns any long random string into a key.
const keys = new Map<string, Promise<CryptoKey>>();

function sealingKey(master: string): Promise<CryptoKey> {
  let key = keys.get(master);
  if (!key) {
    key = crypto.subtle
      .importKey("raw", utf8(master), "HKDF", false, ["deriveKey"])
      .then((ikm) =>
        crypto.subtle.deriveKey(
          { name: "HKDF", hash: "SHA-256", salt: utf8("encrypxon webhook secrets"), info: utf8(FORMAT) },
          ikm,
          { name: "AES-GCM", length: 256 },
          false,
          ["encrypt", "decrypt"],
        ),
      );
    keys.set(master, key);
  }
  return key;
}

// The ids are authenticated data: a ciphertext copied onto another endpoint's row does not decrypt.
const boundTo = (appId: string, endpointId: string) => utf8(`${appId}/${endpointId}`);

export async function sealSecret(
  master: string,
  appId: string,
  endpointId: string,
  secret: string,
): Promise<string> {
  const iv = randomBytes(12);
  const ct = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: boundTo(appId, endpointId) },
    await sealingKey(master),
    utf8(secret),
  );
  return `${FORMAT}.${b64url(iv)}.${b64url(new Uint8Array(ct))}`;
}

/** The secret, or null when the stored value does not open under this key (wrong key, or tampered). */
export async function openSecret(
  master: string,
  appId: string,
  endpointId: string,
  sealed: string,
): Promise<string | null> {
  const [format, iv, ct] = sealed.split(".");
  if (format !== FORMAT || !iv || !ct) return null;
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: fromB64url(iv), additionalData: boundTo(appId, endpointId) },
      await sealingKey(master),
      fromB64url(ct),
    );
    return new TextDecoder().decode(plain);
  } catch {
    return null;
  }
}
