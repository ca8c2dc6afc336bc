// src/crypto inside workerd (the runtime it ships in). Cross-checks against Python and node:crypto live
// in test/node; here the independent decryptor is packages/device, run inside workerd too.
import { describe, expect, it } from "vitest";
import { decryptForDevice, parseChallengePlaintext } from "../packages/device/src/crypto";
import { ECIES_P256_OVERHEAD, eciesP256Encrypt } from "../src/crypto/ecies";
import { b64url, fromB64Any, fromB64url, hex, utf8 } from "../src/crypto/encoding";
import {
  challengePlaintext,
  encryptForDevice,
  importStoredKey,
  MAX_PLAINTEXT_BYTES,
  tokenPlaintext,
} from "../src/crypto/encrypt";
import { sha256, sha256Hex, timingSafeEqual } from "../src/crypto/hash";
import { importDevicePublicKey, isKeyFormat, KEY_FORMATS, type KeyFormat } from "../src/crypto/keys";
import { type IdPrefix, idPattern, newId, newSecret, randomBytes } from "../src/crypto/random";
import apple from "./fixtures/apple-ecies-p256.json";
import testKeys from "./fixtures/test-device-keys.json";

const ecPub = testKeys["ecies-p256"].publicKey; // base64 of 04‖X‖Y
const ecPriv = testKeys["ecies-p256"].privateJwk;
const rsaPub = testKeys["rsa-oaep-sha1"].publicKey; // {kty, n, e}

function rawPoint(): Uint8Array<ArrayBuffer> {
  return fromB64Any(ecPub);
}

async function importedOrThrow(format: KeyFormat, pk: unknown) {
  const r = await importDevicePublicKey(format, pk);
  if (!r.ok) throw new Error(r.reason);
  return r;
}

async function reason(format: KeyFormat, pk: unknown): Promise<string> {
  const r = await importDevicePublicKey(format, pk);
  if (r.ok) throw new Error("expected the key to be rejected");
  return r.reason;
}

async function exportedPublicJwk(alg: Parameters<SubtleCrypto["generateKey"]>[0], usages: string[]) {
  const pair = (await crypto.subtle.generateKey(alg, true, usages)) as CryptoKeyPair;
  return (await crypto.subtle.exportKey("jwk", pair.publicKey)) as JsonWebKey;
}

describe("encoding", () => {
  it("round-trips base64url for every length 0..64", () => {
    for (let n = 0; n <= 64; n++) {
      const bytes = randomBytes(n);
      const s = b64url(bytes);
      expect(s).toMatch(/^[A-Za-z0-9_-]*$/);
      expect(hex(fromB64url(s))).toBe(hex(bytes));
    }
  });

  it("fromB64url is strict", () => {
    for (const bad of ["AQ==", "A+8", "A/8", "A", "AQ=", "AB", "A Q", "é"]) {
      expect(() => fromB64url(bad), bad).toThrow(Error);
    }
    expect(hex(fromB64url("-_-_"))).toBe("fbffbf");
    expect(hex(fromB64url("-_8"))).toBe("fbff");
  });

  it("fromB64Any accepts standard (padded or not) and url alphabets, not a mix", () => {
    expect(hex(fromB64Any("+/+/"))).toBe("fbffbf");
    expect(hex(fromB64Any("-_-_"))).toBe("fbffbf");
    expect(hex(fromB64Any("+/8="))).toBe("fbff");
    expect(hex(fromB64Any("+/8"))).toBe("fbff");
    expect(hex(fromB64Any("-_8"))).toBe("fbff");
    for (const bad of ["+_8=", "+/8==", "+/8A=", "AQ=", "A", "!!!!"]) {
      expect(() => fromB64Any(bad), bad).toThrow(Error);
    }
  });

  it("hex and utf8", () => {
    expect(hex(utf8("é€"))).toBe("c3a9e282ac");
    expect(hex(new Uint8Array([0, 15, 255]))).toBe("000fff");
  });
});

describe("random ids and secrets", () => {
  const prefixes: IdPrefix[] = ["enr", "dev", "chl", "evt", "app", "key"];

  it("newId has the documented shape for every prefix, with no repeats in 1,000", () => {
    for (const p of prefixes) {
      const ids = Array.from({ length: 1000 }, () => newId(p));
      for (const id of ids) expect(id).toMatch(idPattern(p));
      expect(new Set(ids).size).toBe(1000);
    }
  });

  it("every position after the first spreads over the Crockford alphabet", () => {
    // A broken encoder (constant char, stuck bits) shows up as a position with few distinct symbols.
    const bodies = Array.from({ length: 1000 }, () => newId("chl").slice(4));
    for (let pos = 0; pos < 26; pos++) {
      const seen = new Set(bodies.map((b) => b[pos]));
      expect(seen.size, `position ${pos}`).toBeGreaterThanOrEqual(pos === 0 ? 8 : 30);
    }
  });

  it("newSecret is prefix + 43 base64url chars (32 bytes), no repeats in 1,000", () => {
    const secrets = Array.from({ length: 1000 }, () => newSecret("ek_live_"));
    for (const s of secrets) {
      expect(s).toMatch(/^ek_live_[A-Za-z0-9_-]{43}$/);
      expect(fromB64url(s.slice(8)).length).toBe(32);
    }
    expect(new Set(secrets).size).toBe(1000);
    expect(newSecret("edt_")).toMatch(/^edt_[A-Za-z0-9_-]{43}$/);
  });

  it("randomBytes gives the requested length and differs between calls", () => {
    expect(randomBytes(0).length).toBe(0);
    expect(randomBytes(33).length).toBe(33);
    expect(hex(randomBytes(16))).not.toBe(hex(randomBytes(16)));
  });
});

describe("hash", () => {
  it("sha256 matches the FIPS 180-2 'abc' answer, for strings and bytes", async () => {
    const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    expect(await sha256Hex("abc")).toBe(abc);
    expect(await sha256Hex(new Uint8Array([0x61, 0x62, 0x63]))).toBe(abc);
    expect((await sha256("")).length).toBe(32);
  });

  it("timingSafeEqual (workerd's native one) compares contents and lengths", () => {
    expect(typeof (crypto.subtle as { timingSafeEqual?: unknown }).timingSafeEqual).toBe("function");
    const a = randomBytes(32);
    expect(timingSafeEqual(a, a.slice())).toBe(true);
    for (const i of [0, 17, 31]) {
      const b = a.slice();
      b[i] = (b[i] ?? 0) ^ 0x80;
      expect(timingSafeEqual(a, b), `byte ${i}`).toBe(false);
    }
    expect(timingSafeEqual(a, a.slice(0, 31))).toBe(false);
    expect(timingSafeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });
});

describe("importDevicePublicKey: ecies-p256", () => {
  it("accepts the raw point as standard base64 and base64url, and as a JWK, all canonicalised alike", async () => {
    const raw = rawPoint();
    const fromStd = await importedOrThrow("ecies-p256", ecPub);
    const fromUrl = await importedOrThrow("ecies-p256", b64url(raw));
    const jwk = { kty: "EC", crv: "P-256", x: b64url(raw.slice(1, 33)), y: b64url(raw.slice(33)) };
    const fromJwk = await importedOrThrow("ecies-p256", { ...jwk, alg: "ECDH-ES", ext: true, kid: "phone" });
    expect(fromStd.jwk).toEqual(jwk);
    expect(JSON.stringify(fromStd.jwk)).toBe(JSON.stringify({ crv: jwk.crv, kty: "EC", x: jwk.x, y: jwk.y }));
    expect(fromUrl.jwk).toEqual(fromStd.jwk);
    expect(JSON.stringify(fromJwk.jwk)).toBe(JSON.stringify(fromStd.jwk));
    expect(fromStd.key.type).toBe("public");
    expect(fromStd.key.algorithm).toMatchObject({ name: "ECDH", namedCurve: "P-256" });
    expect(fromStd.key.usages).toEqual([]);
  });

  it("rejects a point that is not on the curve", async () => {
    const raw = rawPoint();
    raw[64] = (raw[64] ?? 0) ^ 1;
    expect(await reason("ecies-p256", b64url(raw))).toMatch(/not on the P-256 curve/);
    const jwk = { kty: "EC", crv: "P-256", x: b64url(raw.slice(1, 33)), y: b64url(raw.slice(33)) };
    expect(await reason("ecies-p256", jwk)).toMatch(/not on the P-256 curve/);
  });

  it("rejects coordinates ≥ p", async () => {
    const p = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";
    const pBytes = new Uint8Array(p.match(/../g)?.map((h) => Number.parseInt(h, 16)) ?? []);
    const raw = new Uint8Array([4, ...pBytes, ...rawPoint().slice(33)]);
    expect(await reason("ecies-p256", b64url(raw))).toMatch(/not on the P-256 curve/);
  });

  it("rejects a P-384 key", async () => {
    const jwk = await exportedPublicJwk({ name: "ECDH", namedCurve: "P-384" }, ["deriveBits"]);
    expect(await reason("ecies-p256", jwk)).toMatch(/curve must be P-256, got "P-384"/);
    const { x, y } = jwk;
    expect(await reason("ecies-p256", { kty: "EC", crv: "P-256", x, y })).toMatch(/32 bytes/);
  });

  it("rejects private members, compressed points, wrong lengths, wrong prefix and garbage", async () => {
    expect(await reason("ecies-p256", ecPriv)).toMatch(/private/);
    const raw = rawPoint();
    const compressed = new Uint8Array([2 + ((raw[64] ?? 0) & 1), ...raw.slice(1, 33)]);
    expect(await reason("ecies-p256", b64url(compressed))).toMatch(/compressed points are not supported/);
    expect(await reason("ecies-p256", b64url(raw.slice(1)))).toMatch(/65 bytes.*got 64/);
    expect(await reason("ecies-p256", b64url(new Uint8Array([5, ...raw.slice(1)])))).toMatch(/0x04/);
    // The route names the field; the reason itself does not repeat it.
    for (const garbage of ["not a key!", "", 42, null, [1, 2], { kty: "RSA", n: "AQAB", e: "AQAB" }]) {
      expect(await reason("ecies-p256", garbage)).toMatch(/^(?!public_key)\S/);
    }
  });
});

describe("importDevicePublicKey: RSA", () => {
  it("accepts a 2048-bit e=65537 JWK for both OAEP formats with the matching hash", async () => {
    for (const format of ["rsa-oaep-sha1", "rsa-oaep-sha256"] as const) {
      const r = await importedOrThrow(format, testKeys[format].publicKey);
      expect(JSON.stringify(r.jwk)).toBe(
        JSON.stringify({ e: "AQAB", kty: "RSA", n: testKeys[format].publicKey.n }),
      );
      expect(r.key.algorithm).toMatchObject({
        name: "RSA-OAEP",
        hash: { name: format === "rsa-oaep-sha1" ? "SHA-1" : "SHA-256" },
      });
      expect(r.key.usages).toEqual(["encrypt"]);
    }
  });

  it("accepts a leading zero octet in n but stores the minimal form", async () => {
    const n = fromB64url(rsaPub.n);
    const r = await importedOrThrow("rsa-oaep-sha1", { ...rsaPub, n: b64url(new Uint8Array([0, ...n])) });
    expect(r.jwk.n).toBe(rsaPub.n);
  });

  it("rejects a 1024-bit modulus", async () => {
    const jwk = await exportedPublicJwk(
      { name: "RSA-OAEP", modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-1" },
      ["encrypt", "decrypt"],
    );
    expect(await reason("rsa-oaep-sha1", jwk)).toBe("RSA modulus must be at least 2048 bits, got 1024");
  });

  it("rejects a modulus over 4096 bits", async () => {
    const n = new Uint8Array(513).fill(0xff);
    n[0] = 1;
    expect(await reason("rsa-oaep-sha256", { kty: "RSA", n: b64url(n), e: "AQAB" })).toMatch(/at most 4096/);
  });

  it("rejects exponents other than exactly 65537", async () => {
    for (const e of ["Aw", "EQ", "AAEAAQ", "AQAC", 65537]) {
      expect(await reason("rsa-oaep-sha1", { ...rsaPub, e })).toMatch(/exponent must be 65537/);
    }
  });

  it("rejects private members, wrong kty, strings, alg mismatch, even or garbage moduli", async () => {
    expect(await reason("rsa-oaep-sha1", testKeys["rsa-oaep-sha1"].privateJwk)).toMatch(/private/);
    expect(await reason("rsa-oaep-sha1", { ...rsaPub, kty: "EC" })).toMatch(/kty must be "RSA"/);
    expect(await reason("rsa-oaep-sha1", ecPub)).toMatch(/must be an RSA JWK object/);
    expect(await reason("rsa-oaep-sha1", { ...rsaPub, alg: "RSA-OAEP-256" })).toMatch(/does not match/);
    const even = fromB64url(rsaPub.n);
    even[even.length - 1] = (even[even.length - 1] ?? 0) & 0xfe;
    expect(await reason("rsa-oaep-sha1", { ...rsaPub, n: b64url(even) })).toMatch(/odd/);
    expect(await reason("rsa-oaep-sha1", { ...rsaPub, n: "not base64!" })).toMatch(/base64url/);
    expect(await reason("rsa-oaep-sha1", "garbage")).toMatch(/^(?!public_key)\S/);
  });

  it("knows exactly the three formats", () => {
    expect([...KEY_FORMATS]).toEqual(["ecies-p256", "rsa-oaep-sha1", "rsa-oaep-sha256"]);
    expect(isKeyFormat("rsa-oaep-sha1")).toBe(true);
    expect(isKeyFormat("rsa-pkcs1")).toBe(false);
  });
});

describe("ECIES ciphertext structure", () => {
  it("is E(65, starting 0x04) ‖ ciphertext ‖ 16-byte tag, with a fresh on-curve ephemeral key each time", async () => {
    const { key } = await importedOrThrow("ecies-p256", ecPub);
    const ephemerals = new Set<string>();
    for (const len of [0, 1, 16, 100, MAX_PLAINTEXT_BYTES, 1000]) {
      for (let i = 0; i < 5; i++) {
        const ct = await eciesP256Encrypt(key, randomBytes(len));
        expect(ct.length).toBe(ECIES_P256_OVERHEAD + len);
        expect(ECIES_P256_OVERHEAD).toBe(65 + 16);
        expect(ct[0]).toBe(0x04);
        const eph = ct.slice(0, 65);
        ephemerals.add(hex(eph));
        expect((await importDevicePublicKey("ecies-p256", b64url(eph))).ok).toBe(true);
      }
    }
    expect(ephemerals.size).toBe(30);
  });

  it("refuses a non-ECDH recipient", async () => {
    const { key } = await importedOrThrow("rsa-oaep-sha1", rsaPub);
    await expect(eciesP256Encrypt(key, new Uint8Array(1))).rejects.toThrow(/ECDH P-256/);
  });
});

describe("plaintexts", () => {
  const cid = newId("chl");

  it("challenge plaintext is the exact versioned JSON and fits the RSA-OAEP-SHA1-2048 limit", () => {
    const entropy = randomBytes(32);
    const exp = Number.MAX_SAFE_INTEGER; // the longest exp the check allows
    const bytes = challengePlaintext({ cid, entropy, exp });
    expect(bytes.length).toBeLessThanOrEqual(MAX_PLAINTEXT_BYTES);
    const text = new TextDecoder().decode(bytes);
    expect(text).toBe(`{"v":1,"cid":"${cid}","e":"${b64url(entropy)}","exp":${exp}}`);
    expect(hex(challengePlaintext({ cid, entropy: b64url(entropy), exp }))).toBe(hex(bytes));
  });

  it("challenge plaintext rejects bad input", () => {
    const ok = { cid, entropy: randomBytes(32), exp: 1_900_000_000 };
    expect(() => challengePlaintext({ ...ok, cid: "dev_0123456789abcdefghjkmnpqrs" })).toThrow(/cid/);
    expect(() => challengePlaintext({ ...ok, entropy: randomBytes(31) })).toThrow(/32 bytes/);
    expect(() => challengePlaintext({ ...ok, exp: 1.5 })).toThrow(/exp/);
    expect(() => challengePlaintext({ ...ok, exp: 0 })).toThrow(/exp/);
  });

  it("token plaintext is the exact versioned JSON and fits the limit", () => {
    const did = newId("dev");
    const token = newSecret("edt_");
    const bytes = tokenPlaintext({ did, token });
    expect(new TextDecoder().decode(bytes)).toBe(`{"v":1,"did":"${did}","t":"${token}"}`);
    expect(bytes.length).toBeLessThanOrEqual(MAX_PLAINTEXT_BYTES);
    expect(() => tokenPlaintext({ did: "chl_x", token })).toThrow(/did/);
    expect(() => tokenPlaintext({ did, token: 'a"b' })).toThrow(/token/);
    expect(() => tokenPlaintext({ did, token: "" })).toThrow(/token/);
  });

  it("the 214-byte limit is the real RSA-OAEP-SHA1-2048 limit in workerd", async () => {
    const { key } = await importedOrThrow("rsa-oaep-sha1", rsaPub);
    expect((await encryptForDevice("rsa-oaep-sha1", key, randomBytes(MAX_PLAINTEXT_BYTES))).length).toBe(256);
    await expect(
      encryptForDevice("rsa-oaep-sha1", key, randomBytes(MAX_PLAINTEXT_BYTES + 1)),
    ).rejects.toThrow();
  });
});

describe("workerd output decrypts with the independent device implementation", () => {
  for (const format of KEY_FORMATS) {
    it(`${format}: server-encrypted challenge decrypts and parses on the device`, async () => {
      const now = 1_800_000_000;
      const pt = challengePlaintext({ cid: newId("chl"), entropy: randomBytes(32), exp: now + 60 });
      const fresh = await importedOrThrow(format, testKeys[format].publicKey);
      const stored = await importStoredKey(format, JSON.stringify(fresh.jwk));
      for (const key of [fresh.key, stored]) {
        const ct = await encryptForDevice(format, key, pt);
        const got = await decryptForDevice(format, testKeys[format].privateJwk, ct);
        expect(hex(got)).toBe(hex(pt));
        const cid = JSON.parse(new TextDecoder().decode(pt)).cid as string;
        expect(parseChallengePlaintext(got, cid, now).exp).toBe(now + 60);
        // A flipped last byte (GCM tag / OAEP block) must not decrypt.
        const bad = ct.slice();
        bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 1;
        await expect(decryptForDevice(format, testKeys[format].privateJwk, bad)).rejects.toThrow();
      }
    });
  }

  for (const v of apple.vectors) {
    it(`device decrypts Apple vector ${v.name} inside workerd`, async () => {
      const ct = fromB64Any(v.ciphertext_b64);
      const variant = v.variant === "legacy-zero-iv" ? "legacy-zero-iv" : "variable-iv";
      expect(hex(await decryptForDevice("ecies-p256", v.private_jwk, ct, { eciesVariant: variant }))).toBe(
        v.plaintext_hex,
      );
    });
  }
});
