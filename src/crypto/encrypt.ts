// What the server encrypts to a device, and how: the challenge and token plaintexts and the
// per-format encryption. Ciphertexts travel base64url (see encoding.b64url).
import { eciesP256Encrypt } from "./ecies";
import { b64url, fromB64url, utf8 } from "./encoding";
import { importPublicJwk, type KeyFormat } from "./keys";

/** RSA-OAEP-SHA1 with a 2048-bit key holds 256 − 2·20 − 2 bytes: the smallest limit of any format. */
export const MAX_PLAINTEXT_BYTES = 214;

type RsaAlgorithm = { name?: string; hash?: { name?: string } };

/** Encrypt for a device key imported by importDevicePublicKey / importStoredKey with the same format. */
export async function encryptForDevice(
  format: KeyFormat,
  key: CryptoKey,
  plaintext: Uint8Array,
): Promise<Uint8Array<ArrayBuffer>> {
  if (format === "ecies-p256") return eciesP256Encrypt(key, plaintext);
  // The OAEP hash is bound to the key at import; refuse a key imported for the other format, since
  // the device would fail to decrypt (Android Keystore only does SHA-1).
  const want = format === "rsa-oaep-sha1" ? "SHA-1" : "SHA-256";
  const alg = key.algorithm as RsaAlgorithm;
  if (alg.name !== "RSA-OAEP" || alg.hash?.name !== want) {
    throw new Error(`encryptForDevice: key was not imported for ${format}`);
  }
  return new Uint8Array(await crypto.subtle.encrypt({ name: "RSA-OAEP" }, key, new Uint8Array(plaintext)));
}

/** Import a canonical JWK stored at enrollment (already validated then, so no re-validation here). */
export async function importStoredKey(format: KeyFormat, jwkJson: string): Promise<CryptoKey> {
  const jwk: unknown = JSON.parse(jwkJson);
  if (typeof jwk !== "object" || jwk === null) throw new Error("importStoredKey: not a JWK object");
  return importPublicJwk(format, jwk as JsonWebKey);
}

const CID_RE = /^chl_[0-9a-z]{26}$/;
const DID_RE = /^dev_[0-9a-z]{26}$/;

function checkedBytes(json: string): Uint8Array<ArrayBuffer> {
  const bytes = utf8(json);
  if (bytes.length > MAX_PLAINTEXT_BYTES) {
    throw new Error(
      `plaintext is ${bytes.length} bytes, over the ${MAX_PLAINTEXT_BYTES}-byte RSA-OAEP limit`,
    );
  }
  return bytes;
}

/**
 * `{"v":1,"cid":"chl_…","e":"<base64url 32 bytes>","exp":<unix seconds>}` — member order fixed by
 * construction. `entropy` is the 32 random bytes, or their base64url.
 */
export function challengePlaintext(c: {
  cid: string;
  entropy: Uint8Array | string;
  exp: number;
}): Uint8Array<ArrayBuffer> {
  if (!CID_RE.test(c.cid)) throw new Error("challengePlaintext: bad cid");
  const e = typeof c.entropy === "string" ? fromB64url(c.entropy) : c.entropy;
  if (e.length !== 32) throw new Error("challengePlaintext: entropy must be 32 bytes");
  if (!Number.isSafeInteger(c.exp) || c.exp <= 0)
    throw new Error("challengePlaintext: exp must be unix seconds");
  return checkedBytes(JSON.stringify({ v: 1, cid: c.cid, e: b64url(e), exp: c.exp }));
}

/** `{"v":1,"did":"dev_…","t":"<token>"}`: the device token, delivered encrypted at enrollment. */
export function tokenPlaintext(t: { did: string; token: string }): Uint8Array<ArrayBuffer> {
  if (!DID_RE.test(t.did)) throw new Error("tokenPlaintext: bad did");
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(t.token)) throw new Error("tokenPlaintext: bad token");
  return checkedBytes(JSON.stringify({ v: 1, did: t.did, t: t.token }));
}
