// Validation and import of device public keys. Everything a device sends at enrollment goes through
// importDevicePublicKey; reasons are user-facing (they end up in an HTTP 400 problem detail).
import { b64url, fromB64Any, fromB64url } from "./encoding";

export type KeyFormat = "ecies-p256" | "rsa-oaep-sha1" | "rsa-oaep-sha256";
export const KEY_FORMATS: readonly KeyFormat[] = ["ecies-p256", "rsa-oaep-sha1", "rsa-oaep-sha256"];

export function isKeyFormat(value: unknown): value is KeyFormat {
  return typeof value === "string" && (KEY_FORMATS as readonly string[]).includes(value);
}

export type ImportResult = { ok: true; jwk: JsonWebKey; key: CryptoKey } | { ok: false; reason: string };

const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 4096;
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] as const;

// P-256 domain parameters (SEC 2 / FIPS 186-4); a = -3.
const P256_P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const P256_B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

function bigFromBytes(bytes: Uint8Array): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

/** y² = x³ − 3x + b (mod p) with both coordinates reduced. Checked here rather than trusting each
 * runtime's importKey to reject invalid points (an invalid-curve point would leak the ECDH result). */
function isOnP256(x: Uint8Array, y: Uint8Array): boolean {
  const X = bigFromBytes(x);
  const Y = bigFromBytes(y);
  if (X >= P256_P || Y >= P256_P) return false;
  const rhs = (((((X * X) % P256_P) * X - 3n * X + P256_B) % P256_P) + P256_P) % P256_P;
  return (Y * Y) % P256_P === rhs;
}

/** A member's value for an error message; never calls into attacker-supplied objects. */
function shown(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v.slice(0, 40)) : typeof v;
}

/** A refusal; `reason` is about the public_key field and does not repeat its name. */
function fail(reason: string): ImportResult {
  return { ok: false, reason };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// By value, not `in`: workerd's exportKey("jwk") includes every member, set to undefined when absent.
function hasPrivateMembers(jwk: Record<string, unknown>): boolean {
  return PRIVATE_MEMBERS.some((m) => jwk[m] !== undefined);
}

function decodeField(v: unknown): Uint8Array | null {
  if (typeof v !== "string") return null;
  try {
    return fromB64url(v);
  } catch {
    return null;
  }
}

/** Import a canonical (already validated) public JWK with the parameters each format needs. */
export async function importPublicJwk(format: KeyFormat, jwk: JsonWebKey): Promise<CryptoKey> {
  if (format === "ecies-p256") {
    // workerd refuses ECDH public keys imported with any usage; the key is only ever the `public`
    // argument of deriveBits, which needs none.
    return crypto.subtle.importKey("jwk", jwk, { name: "ECDH", namedCurve: "P-256" }, true, []);
  }
  const hash = format === "rsa-oaep-sha1" ? "SHA-1" : "SHA-256";
  return crypto.subtle.importKey("jwk", jwk, { name: "RSA-OAEP", hash }, true, ["encrypt"]);
}

async function importEc(publicKey: unknown): Promise<ImportResult> {
  let x: Uint8Array;
  let y: Uint8Array;
  if (typeof publicKey === "string") {
    let raw: Uint8Array;
    try {
      raw = fromB64Any(publicKey);
    } catch {
      return fail("must be a P-256 JWK or base64 of the 65-byte uncompressed point 04‖X‖Y");
    }
    if (raw.length === 33 && (raw[0] === 2 || raw[0] === 3)) {
      return fail("compressed points are not supported; send the 65-byte uncompressed point 04‖X‖Y");
    }
    if (raw.length !== 65) return fail(`P-256 point must be 65 bytes (04‖X‖Y), got ${raw.length}`);
    if (raw[0] !== 4) return fail("uncompressed P-256 point must start with byte 0x04");
    x = raw.subarray(1, 33);
    y = raw.subarray(33, 65);
  } else if (isRecord(publicKey)) {
    if (publicKey.kty !== "EC") return fail('kty must be "EC" for key_format ecies-p256');
    if (hasPrivateMembers(publicKey)) return fail("must not contain private key members");
    if (publicKey.crv !== "P-256") return fail(`curve must be P-256, got ${shown(publicKey.crv)}`);
    const dx = decodeField(publicKey.x);
    const dy = decodeField(publicKey.y);
    if (!dx || !dy || dx.length !== 32 || dy.length !== 32) {
      return fail("x and y must be base64url of 32 bytes each");
    }
    x = dx;
    y = dy;
  } else {
    return fail("must be a P-256 JWK or base64 of the 65-byte uncompressed point 04‖X‖Y");
  }
  if (!isOnP256(x, y)) return fail("point is not on the P-256 curve");
  // Members in lexicographic order (RFC 7638), so the stored JSON is also the thumbprint input.
  const jwk: JsonWebKey = { crv: "P-256", kty: "EC", x: b64url(x), y: b64url(y) };
  try {
    return { ok: true, jwk, key: await importPublicJwk("ecies-p256", jwk) };
  } catch {
    return fail("not a valid P-256 public key");
  }
}

async function importRsa(
  format: "rsa-oaep-sha1" | "rsa-oaep-sha256",
  publicKey: unknown,
): Promise<ImportResult> {
  if (!isRecord(publicKey))
    return fail(`must be an RSA JWK object {"kty":"RSA","n":…,"e":"AQAB"} for ${format}`);
  if (publicKey.kty !== "RSA") return fail(`kty must be "RSA" for key_format ${format}`);
  if (hasPrivateMembers(publicKey)) return fail("must not contain private key members");
  const wantAlg = format === "rsa-oaep-sha1" ? "RSA-OAEP" : "RSA-OAEP-256";
  if (publicKey.alg !== undefined && publicKey.alg !== wantAlg) {
    return fail(`alg ${shown(publicKey.alg)} does not match key_format ${format} (expected ${wantAlg})`);
  }
  if (publicKey.e !== "AQAB") return fail('RSA exponent must be 65537 ("AQAB")');
  if (typeof publicKey.n !== "string" || publicKey.n.length > 1024) {
    return fail("n must be base64url of the RSA modulus");
  }
  const decoded = decodeField(publicKey.n);
  if (!decoded) return fail("n must be base64url of the RSA modulus");
  // Tolerate leading zero octets (Java's BigInteger.toByteArray adds one) but store the minimal form.
  let start = 0;
  while (start < decoded.length && decoded[start] === 0) start++;
  const n = decoded.subarray(start);
  const bits = n.length === 0 ? 0 : (n.length - 1) * 8 + (32 - Math.clz32(n[0] ?? 0));
  if (bits < MIN_RSA_BITS) return fail(`RSA modulus must be at least ${MIN_RSA_BITS} bits, got ${bits}`);
  if (bits > MAX_RSA_BITS) return fail(`RSA modulus must be at most ${MAX_RSA_BITS} bits, got ${bits}`);
  if (((n[n.length - 1] ?? 0) & 1) === 0) return fail("RSA modulus must be odd");
  const jwk: JsonWebKey = { e: "AQAB", kty: "RSA", n: b64url(n) };
  try {
    return { ok: true, jwk, key: await importPublicJwk(format, jwk) };
  } catch {
    return fail("not a valid RSA public key");
  }
}

/**
 * Validate a device public key for the given format and import it. On success `jwk` is the canonical
 * public JWK (public members only, fixed order) to store as JSON; read it back with importStoredKey.
 */
export async function importDevicePublicKey(format: KeyFormat, publicKey: unknown): Promise<ImportResult> {
  switch (format) {
    case "ecies-p256":
      return importEc(publicKey);
    case "rsa-oaep-sha1":
    case "rsa-oaep-sha256":
      return importRsa(format, publicKey);
    default:
      return fail(`key_format must be one of ${KEY_FORMATS.join(", ")}`);
  }
}
