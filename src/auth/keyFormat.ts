// The API key format. `ek_live_` / `ek_test_`, then base64url of 32 random bytes (43 chars, 256 bits),
// then a 6-character checksum: CRC-32 (the zlib/PNG polynomial) of everything before it, in base62,
// left-padded with "0". Secret scanners can match `ek_(live|test)_[A-Za-z0-9_-]{43}[0-9A-Za-z]{6}` and
// check the CRC to drop look-alikes; the service refuses a key whose checksum is wrong without a
// lookup. Keys made before the checksum existed (no suffix) keep working.

import { b64url, utf8 } from "../crypto/encoding";
import { randomBytes } from "../crypto/random";

export type KeyMode = "live" | "test";

const BODY = "[A-Za-z0-9_-]{43}";
const WITH_CHECKSUM = new RegExp(`^ek_(live|test)_${BODY}[0-9A-Za-z]{6}$`);
const LEGACY = new RegExp(`^ek_(live|test)_${BODY}$`);
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** How many characters of a key listings show at each end: `ek_live_AbCd…wXyZ`. */
export const KEY_PREFIX_LENGTH = 12;
export const KEY_LAST_CHARS = 4;

let table: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, reflected, as zlib's crc32) of the bytes. */
export function crc32(bytes: Uint8Array): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const b of bytes) crc = (table[(crc ^ b) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** The 6-character base62 checksum of a key's first part. */
export function keyChecksum(head: string): string {
  let n = crc32(utf8(head));
  let s = "";
  for (let i = 0; i < 6; i++) {
    s = BASE62[n % 62] + s;
    n = Math.floor(n / 62);
  }
  return s;
}

/** A new API key with its checksum. */
export function newApiKey(mode: KeyMode): string {
  const head = `ek_${mode}_${b64url(randomBytes(32))}`;
  return head + keyChecksum(head);
}

/** Whether a string can be an API key: the right shape and, for current keys, the right checksum. */
export function plausibleApiKey(key: string): boolean {
  if (LEGACY.test(key)) return true;
  if (!WITH_CHECKSUM.test(key)) return false;
  return keyChecksum(key.slice(0, -6)) === key.slice(-6);
}

/** What listings show of a key: never enough to use it. */
export const keyPrefix = (key: string) => key.slice(0, KEY_PREFIX_LENGTH);
export const keyLastChars = (key: string) => key.slice(-KEY_LAST_CHARS);
