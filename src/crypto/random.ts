// Identifiers and bearer secrets from the platform CSPRNG.
import { b64url } from "./encoding";

/** n bytes from crypto.getRandomValues (n ≤ 65536, the WebCrypto per-call limit). */
export function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint8Array(n));
}

export type IdPrefix = "enr" | "dev" | "chl" | "evt" | "app" | "key" | "whk" | "wev";

// Crockford base32, lowercase: no i, l, o, u, so ids survive being read aloud or retyped.
const CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz";

/** 128 random bits as 26 Crockford base32 chars (130 bits: the two leading bits are always 0). */
function base32Crockford128(bytes: Uint8Array): string {
  let acc = 0n;
  for (const b of bytes) acc = (acc << 8n) | BigInt(b);
  let s = "";
  for (let i = 0; i < 26; i++) {
    s = CROCKFORD[Number(acc & 31n)] + s;
    acc >>= 5n;
  }
  return s;
}

/** `prefix_` + 26 lowercase Crockford base32 chars of 16 random bytes, e.g. `chl_3f9…`. */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${base32Crockford128(randomBytes(16))}`;
}

/** Pattern matching ids made by newId with the given prefix. */
export function idPattern(prefix: IdPrefix): RegExp {
  return new RegExp(`^${prefix}_[0-7][0-9a-hjkmnp-tv-z]{25}$`);
}

/** Bearer secret: prefix + base64url of 32 random bytes (256 bits), e.g. `ek_live_…`, `edt_…`. */
export function newSecret(prefix: string): string {
  return prefix + b64url(randomBytes(32));
}

/**
 * `n` decimal digits, each uniform: a random byte is used only when it is below 250 (the largest
 * multiple of 10 that fits), so `byte % 10` favours no digit; bytes 250–255 are drawn again.
 * `source` is for tests that feed chosen bytes.
 */
export function randomDigits(n: number, source: (n: number) => Uint8Array = randomBytes): string {
  let out = "";
  while (out.length < n) {
    for (const b of source(n - out.length + 2)) {
      if (b < 250 && out.length < n) out += String(b % 10);
    }
  }
  return out;
}
