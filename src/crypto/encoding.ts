// Byte <-> text encodings. Pure JS over btoa/atob so it runs the same in workerd and Node.

const B64URL_RE = /^[A-Za-z0-9_-]*$/;
const B64STD_RE = /^[A-Za-z0-9+/]*={0,2}$/;

function toBinaryString(bytes: Uint8Array): string {
  // Chunked so large inputs don't overflow the argument list of fromCharCode.
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return s;
}

/** base64url without padding (RFC 4648 §5), the form used on the wire and in JWKs. */
export function b64url(bytes: Uint8Array): string {
  return btoa(toBinaryString(bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * Strict base64url decode: unpadded, url alphabet only, and canonical (unused trailing bits zero),
 * so every byte string has exactly one accepted spelling. Throws Error otherwise.
 */
export function fromB64url(s: string): Uint8Array<ArrayBuffer> {
  if (!B64URL_RE.test(s) || s.length % 4 === 1) throw new Error("invalid base64url");
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (s.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  if (b64url(out) !== s) throw new Error("invalid base64url: non-canonical trailing bits");
  return out;
}

/**
 * Decode standard base64 (optionally padded) or base64url: phones export raw public keys with
 * either. A single string must stick to one alphabet. Throws Error on anything else.
 */
export function fromB64Any(s: string): Uint8Array<ArrayBuffer> {
  if (B64URL_RE.test(s)) return fromB64url(s);
  if (!B64STD_RE.test(s)) throw new Error("invalid base64");
  const body = s.replace(/=+$/, "");
  if (body.length !== s.length && s.length % 4 !== 0) throw new Error("invalid base64: bad padding");
  return fromB64url(body.replace(/\+/g, "-").replace(/\//g, "_"));
}

/** Lowercase hex. */
export function hex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Bytes of a lowercase or uppercase hex string (as stored for hashes); throws on anything else. */
export function fromHex(s: string): Uint8Array<ArrayBuffer> {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new Error("invalid hex");
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(s.slice(i * 2, i * 2 + 2), 16);
  return out;
}

const encoder = new TextEncoder();

/** UTF-8 bytes of a string. */
export function utf8(s: string): Uint8Array<ArrayBuffer> {
  // Always a fresh ArrayBuffer; workers-types just doesn't say so.
  return encoder.encode(s) as Uint8Array<ArrayBuffer>;
}
