// Reference device ("phone") crypto: key generation, decryption and plaintext checks.
// Written independently of the server's src/crypto (it must not import it) so that each side checks
// the other. Uses only the global crypto, TextEncoder/TextDecoder and atob/btoa, so it also runs in
// workerd and browsers. Casts on WebCrypto results are only there so this file also type-checks
// against workers-types (the server's test project imports it).

export type KeyFormat = "ecies-p256" | "rsa-oaep-sha1" | "rsa-oaep-sha256";
export type EciesVariant = "variable-iv" | "legacy-zero-iv";

export interface DeviceKey {
  /** Keep secret; what a phone would hold in its Secure Enclave / Keystore. */
  privateJwk: JsonWebKey;
  /** What to enroll with: base64 of 04‖X‖Y for ecies-p256, a public JWK for RSA. */
  publicKey: JsonWebKey | string;
}

const subtle = (): SubtleCrypto => crypto.subtle;

function oaepHash(format: "rsa-oaep-sha1" | "rsa-oaep-sha256"): "SHA-1" | "SHA-256" {
  return format === "rsa-oaep-sha1" ? "SHA-1" : "SHA-256";
}

function bytesToBinary(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

function binaryToBytes(s: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** Standard, padded base64 (the form iOS's base64EncodedString() gives). */
export function toBase64(bytes: Uint8Array): string {
  return btoa(bytesToBinary(bytes));
}

export function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

/** Decodes base64url or standard base64; throws on anything else. */
export function fromBase64Url(s: string): Uint8Array<ArrayBuffer> {
  if (!/^[A-Za-z0-9_\-+/]*=*$/.test(s)) throw new Error("not base64");
  const std = s.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
  if (std.length % 4 === 1) throw new Error("not base64");
  return binaryToBytes(atob(std.padEnd(std.length + ((4 - (std.length % 4)) % 4), "=")));
}

/** Make a device key pair as a phone would: P-256 for ECIES, RSA-2048 with e = 65537 for OAEP. */
export async function generateDeviceKey(format: KeyFormat): Promise<DeviceKey> {
  if (format === "ecies-p256") {
    const pair = (await subtle().generateKey({ name: "ECDH", namedCurve: "P-256" }, true, [
      "deriveBits",
    ])) as CryptoKeyPair;
    const raw = new Uint8Array((await subtle().exportKey("raw", pair.publicKey)) as ArrayBuffer);
    return {
      privateJwk: (await subtle().exportKey("jwk", pair.privateKey)) as JsonWebKey,
      publicKey: toBase64(raw),
    };
  }
  const pair = (await subtle().generateKey(
    {
      name: "RSA-OAEP",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: oaepHash(format),
    },
    true,
    ["encrypt", "decrypt"],
  )) as CryptoKeyPair;
  const pub = (await subtle().exportKey("jwk", pair.publicKey)) as JsonWebKey;
  return {
    privateJwk: (await subtle().exportKey("jwk", pair.privateKey)) as JsonWebKey,
    publicKey: { kty: "RSA", n: pub.n, e: pub.e },
  };
}

/** ANSI X9.63 KDF with SHA-256: concatenate SHA-256(Z ‖ counter32 ‖ sharedInfo) for counter = 1, 2, … */
export async function x963KdfSha256(
  z: Uint8Array,
  sharedInfo: Uint8Array,
  length: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let filled = 0;
  for (let counter = 1; filled < length; counter++) {
    const block = new Uint8Array(z.length + 4 + sharedInfo.length);
    block.set(z, 0);
    new DataView(block.buffer).setUint32(z.length, counter, false);
    block.set(sharedInfo, z.length + 4);
    const digest = new Uint8Array(await subtle().digest("SHA-256", block));
    out.set(digest.subarray(0, Math.min(32, length - filled)), filled);
    filled += 32;
  }
  return out;
}

async function eciesDecrypt(
  privateJwk: JsonWebKey,
  ciphertext: Uint8Array,
  variant: EciesVariant,
): Promise<Uint8Array> {
  if (ciphertext.length < 65 + 16 || ciphertext[0] !== 0x04) throw new Error("ECIES: malformed ciphertext");
  const ephemeralRaw = ciphertext.slice(0, 65);
  const ownKey = await subtle().importKey("jwk", privateJwk, { name: "ECDH", namedCurve: "P-256" }, false, [
    "deriveBits",
  ]);
  const ephemeral = await subtle().importKey(
    "raw",
    ephemeralRaw,
    { name: "ECDH", namedCurve: "P-256" },
    false,
    [],
  );
  const ecdh = { name: "ECDH", public: ephemeral };
  const z = new Uint8Array(await subtle().deriveBits(ecdh, ownKey, 256));
  // Apple's variable-IV modes take 32 KDF bytes (key ‖ IV); the older modes take only the 16-byte key
  // and use an all-zero 16-byte IV.
  const derived = await x963KdfSha256(z, ephemeralRaw, variant === "variable-iv" ? 32 : 16);
  const iv = variant === "variable-iv" ? derived.slice(16, 32) : new Uint8Array(16);
  const aesKey = await subtle().importKey("raw", derived.slice(0, 16), "AES-GCM", false, ["decrypt"]);
  const body = ciphertext.slice(65);
  return new Uint8Array(await subtle().decrypt({ name: "AES-GCM", iv, tagLength: 128 }, aesKey, body));
}

/** Decrypt what the server encrypted to this device's key. Throws if it doesn't authenticate. */
export async function decryptForDevice(
  format: KeyFormat,
  privateJwk: JsonWebKey,
  ciphertext: Uint8Array,
  opts?: { eciesVariant?: EciesVariant },
): Promise<Uint8Array> {
  if (format === "ecies-p256")
    return eciesDecrypt(privateJwk, ciphertext, opts?.eciesVariant ?? "variable-iv");
  const key = await subtle().importKey(
    "jwk",
    privateJwk,
    { name: "RSA-OAEP", hash: oaepHash(format) },
    false,
    ["decrypt"],
  );
  return new Uint8Array(await subtle().decrypt({ name: "RSA-OAEP" }, key, new Uint8Array(ciphertext)));
}

function parseJsonObject(bytes: Uint8Array): Record<string, unknown> {
  const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  const value: unknown = JSON.parse(text);
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new Error("plaintext: not an object");
  return value as Record<string, unknown>;
}

export interface ChallengePlaintext {
  cid: string;
  /** base64url of the 32 random bytes the device signs back / returns. */
  entropy: string;
  exp: number;
}

/**
 * Check a decrypted challenge the way a phone must before showing it: right version, the challenge it
 * asked for (so a ciphertext can't be replayed onto another challenge), not expired, 32 bytes of entropy.
 */
export function parseChallengePlaintext(
  bytes: Uint8Array,
  expectedCid: string,
  nowSeconds: number,
): ChallengePlaintext {
  const o = parseJsonObject(bytes);
  if (o.v !== 1) throw new Error(`challenge: unsupported version ${String(o.v)}`);
  if (o.cid !== expectedCid) throw new Error("challenge: cid does not match the requested challenge");
  if (typeof o.exp !== "number" || !Number.isSafeInteger(o.exp)) throw new Error("challenge: bad exp");
  if (nowSeconds >= o.exp) throw new Error("challenge: expired");
  if (typeof o.e !== "string" || !/^[A-Za-z0-9_-]{43}$/.test(o.e) || fromBase64Url(o.e).length !== 32) {
    throw new Error("challenge: entropy must be base64url of 32 bytes");
  }
  return { cid: o.cid, entropy: o.e, exp: o.exp };
}

/** The device token from the enrollment response, after checking it is meant for this device. */
export function parseTokenPlaintext(bytes: Uint8Array, expectedDeviceId: string): string {
  const o = parseJsonObject(bytes);
  if (o.v !== 1) throw new Error(`token: unsupported version ${String(o.v)}`);
  if (o.did !== expectedDeviceId) throw new Error("token: did does not match this device");
  if (typeof o.t !== "string" || o.t.length === 0) throw new Error("token: missing t");
  return o.t;
}
