// Hashing and constant-time comparison for secrets stored as digests (API keys, device tokens).
import { hex, utf8 } from "./encoding";

function toBytes(input: string | Uint8Array): Uint8Array<ArrayBuffer> {
  // Copy non-string input so it is backed by a plain ArrayBuffer, as BufferSource requires.
  return typeof input === "string" ? utf8(input) : new Uint8Array(input);
}

/** SHA-256 of a string (UTF-8) or bytes. */
export async function sha256(input: string | Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", toBytes(input)));
}

/** SHA-256 as lowercase hex. */
export async function sha256Hex(input: string | Uint8Array): Promise<string> {
  return hex(await sha256(input));
}

type MaybeTimingSafe = { timingSafeEqual?: (a: ArrayBufferView, b: ArrayBufferView) => boolean };

/**
 * Constant-time equality for equal-length inputs. Lengths are compared first (and leak, which is fine:
 * callers compare fixed-length digests). workerd has subtle.timingSafeEqual; Node's WebCrypto does not,
 * so fall back to an XOR accumulator with no early exit.
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  const subtle = crypto.subtle as unknown as MaybeTimingSafe;
  if (typeof subtle.timingSafeEqual === "function") return subtle.timingSafeEqual(a, b);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}
