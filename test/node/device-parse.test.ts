// The device's checks on decrypted plaintexts, and the server helpers that differ under Node.
import { describe, expect, it } from "vitest";
import {
  fromBase64Url,
  parseChallengePlaintext,
  parseTokenPlaintext,
  toBase64Url,
  x963KdfSha256,
} from "../../packages/device/src/crypto";
import { challengePlaintext, tokenPlaintext } from "../../src/crypto/encrypt";
import { timingSafeEqual } from "../../src/crypto/hash";
import { newId, newSecret, randomBytes } from "../../src/crypto/random";

const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

describe("parseChallengePlaintext", () => {
  const cid = newId("chl");
  const now = 1_800_000_000;
  const e = toBase64Url(randomBytes(32));
  const good = { v: 1, cid, e, exp: now + 30 };

  it("accepts the server's plaintext", () => {
    const entropy = randomBytes(32);
    const pt = challengePlaintext({ cid, entropy, exp: now + 30 });
    expect(parseChallengePlaintext(pt, cid, now)).toEqual({
      cid,
      entropy: toBase64Url(entropy),
      exp: now + 30,
    });
  });

  it("refuses another challenge's plaintext", () => {
    expect(() => parseChallengePlaintext(enc(good), newId("chl"), now)).toThrow(/cid/);
  });

  it("refuses an expired plaintext, including at exactly exp", () => {
    expect(() => parseChallengePlaintext(enc(good), cid, now + 30)).toThrow(/expired/);
    expect(() => parseChallengePlaintext(enc(good), cid, now + 31)).toThrow(/expired/);
    expect(parseChallengePlaintext(enc(good), cid, now + 29).exp).toBe(now + 30);
  });

  it("refuses other versions, bad entropy, bad exp and non-JSON", () => {
    expect(() => parseChallengePlaintext(enc({ ...good, v: 2 }), cid, now)).toThrow(/version/);
    expect(() => parseChallengePlaintext(enc({ ...good, v: "1" }), cid, now)).toThrow(/version/);
    expect(() =>
      parseChallengePlaintext(enc({ ...good, e: toBase64Url(randomBytes(31)) }), cid, now),
    ).toThrow(/entropy/);
    expect(() =>
      parseChallengePlaintext(enc({ ...good, e: toBase64Url(randomBytes(33)) }), cid, now),
    ).toThrow(/entropy/);
    expect(() => parseChallengePlaintext(enc({ ...good, exp: "soon" }), cid, now)).toThrow(/exp/);
    expect(() => parseChallengePlaintext(new TextEncoder().encode("not json"), cid, now)).toThrow();
    expect(() => parseChallengePlaintext(new Uint8Array([0x7b, 0xff, 0x7d]), cid, now)).toThrow();
    expect(() => parseChallengePlaintext(enc([good]), cid, now)).toThrow(/object/);
  });
});

describe("parseTokenPlaintext", () => {
  it("returns the token for this device only", () => {
    const did = newId("dev");
    const token = newSecret("edt_");
    const pt = tokenPlaintext({ did, token });
    expect(parseTokenPlaintext(pt, did)).toBe(token);
    expect(() => parseTokenPlaintext(pt, newId("dev"))).toThrow(/did/);
    expect(() => parseTokenPlaintext(enc({ v: 2, did, t: token }), did)).toThrow(/version/);
    expect(() => parseTokenPlaintext(enc({ v: 1, did, t: "" }), did)).toThrow(/t/);
  });
});

describe("device helpers", () => {
  it("x963KdfSha256 continues with counter 2 past one block (checked against a spelled-out digest)", async () => {
    const { createHash } = await import("node:crypto");
    const z = randomBytes(32);
    const info = randomBytes(65);
    const block = (c: number) =>
      createHash("sha256")
        .update(z)
        .update(Buffer.from([0, 0, 0, c]))
        .update(info)
        .digest();
    const want = Buffer.concat([block(1), block(2)]).subarray(0, 48);
    expect(Buffer.from(await x963KdfSha256(z, info, 48)).toString("hex")).toBe(want.toString("hex"));
  });

  it("base64 helpers accept both alphabets", () => {
    const b = randomBytes(40);
    expect(Buffer.from(fromBase64Url(Buffer.from(b).toString("base64"))).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(fromBase64Url(toBase64Url(b))).equals(Buffer.from(b))).toBe(true);
    expect(() => fromBase64Url("a")).toThrow();
    expect(() => fromBase64Url("a b")).toThrow();
  });
});

describe("timingSafeEqual under Node (XOR fallback)", () => {
  it("exercises the fallback here, since Node's WebCrypto has no timingSafeEqual", () => {
    expect((crypto.subtle as { timingSafeEqual?: unknown }).timingSafeEqual).toBeUndefined();
  });

  it("compares contents and lengths", () => {
    const a = randomBytes(32);
    expect(timingSafeEqual(a, a.slice())).toBe(true);
    for (const i of [0, 15, 31]) {
      const b = a.slice();
      b[i] = (b[i] ?? 0) ^ 1;
      expect(timingSafeEqual(a, b), `byte ${i}`).toBe(false);
    }
    expect(timingSafeEqual(a, a.slice(0, 31))).toBe(false);
    expect(timingSafeEqual(new Uint8Array(), new Uint8Array())).toBe(true);
  });
});
