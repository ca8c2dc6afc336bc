// The API key checksum: the Worker's own CRC-32 (src/auth/keyFormat.ts) against zlib's (node:zlib),
// and the keys the operator script makes (scripts/lib/apps.mjs, zlib-based) against the Worker's check.
import { crc32 as zlibCrc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { crc32, keyChecksum, newApiKey, plausibleApiKey } from "../../src/auth/keyFormat";

// The operator script is plain JS; a computed specifier keeps it out of the Worker's type program.
const scriptPath: string = "../../scripts/lib/apps.mjs";
const { keyChecksum: scriptChecksum, newApiKey: scriptKey } = (await import(scriptPath)) as {
  keyChecksum(head: string): string;
  newApiKey(mode: "live" | "test"): string;
};

describe("API key checksum", () => {
  it("CRC-32 matches zlib on fixed and random inputs", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926); // the CRC-32 check value
    for (let i = 0; i < 200; i++) {
      const bytes = crypto.getRandomValues(new Uint8Array(i));
      expect(crc32(bytes)).toBe(zlibCrc32(bytes));
    }
  });

  it("keys made by the Worker and by the admin script check out in both", () => {
    for (let i = 0; i < 50; i++) {
      for (const key of [newApiKey(i % 2 ? "live" : "test"), scriptKey(i % 2 ? "live" : "test")]) {
        expect(key).toMatch(/^ek_(live|test)_[A-Za-z0-9_-]{43}[0-9A-Za-z]{6}$/);
        expect(plausibleApiKey(key)).toBe(true);
        const head = key.slice(0, -6);
        expect(keyChecksum(head)).toBe(key.slice(-6));
        expect(scriptChecksum(head)).toBe(key.slice(-6));
      }
    }
  });

  it("a changed character or checksum is refused; a wrong length too", () => {
    const key = newApiKey("live");
    for (let i = 8; i < key.length; i++) {
      const c = key[i] === "A" ? "B" : "A";
      expect(plausibleApiKey(key.slice(0, i) + c + key.slice(i + 1)), `position ${i}`).toBe(false);
    }
    expect(plausibleApiKey(key.slice(0, -1))).toBe(false);
    expect(plausibleApiKey(`${key}0`)).toBe(false);
    expect(plausibleApiKey(key.replace("ek_live_", "ek_prod_"))).toBe(false);
  });
});
