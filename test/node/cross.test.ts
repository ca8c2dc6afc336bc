// Server encryption (src/crypto under Node's WebCrypto) checked against Python's `cryptography`,
// node:crypto and the device package, and the reverse direction; tampering and wrong keys must fail.
import { beforeAll, describe, expect, it } from "vitest";
import {
  type DeviceKey,
  decryptForDevice,
  generateDeviceKey,
  parseChallengePlaintext,
  parseTokenPlaintext,
} from "../../packages/device/src/crypto";
import { b64url } from "../../src/crypto/encoding";
import {
  challengePlaintext,
  encryptForDevice,
  importStoredKey,
  tokenPlaintext,
} from "../../src/crypto/encrypt";
import { importDevicePublicKey } from "../../src/crypto/keys";
import { newId, newSecret, randomBytes } from "../../src/crypto/random";
import { FORMATS, type Format, nodeDecrypt, type PyResult, runPython, type Variant } from "./refs";

const hexOf = (b: Uint8Array) => Buffer.from(b).toString("hex");

function flipBit(ct: Uint8Array, index: number): Uint8Array {
  const out = ct.slice();
  out[index] = (out[index] ?? 0) ^ 0x01;
  return out;
}

async function deviceFails(format: Format, jwk: JsonWebKey, ct: Uint8Array, variant?: Variant) {
  await expect(
    decryptForDevice(format, jwk, ct, { eciesVariant: variant ?? "variable-iv" }),
  ).rejects.toThrow();
}

function pyDecryptJob(format: Format, jwk: JsonWebKey, ct: Uint8Array, variant?: Variant) {
  return {
    op: "decrypt" as const,
    format,
    private_jwk: jwk,
    ciphertext: b64url(ct),
    ...(variant && { variant }),
  };
}

describe.each(FORMATS)("%s", (format) => {
  let device: DeviceKey;
  let stranger: DeviceKey;
  let key: CryptoKey;
  let storedJwk: string;

  beforeAll(async () => {
    device = await generateDeviceKey(format);
    stranger = await generateDeviceKey(format);
    const imported = await importDevicePublicKey(format, device.publicKey);
    if (!imported.ok) throw new Error(imported.reason);
    key = imported.key;
    storedJwk = JSON.stringify(imported.jwk);
  });

  it("publishes the public key in the documented shape", () => {
    if (format === "ecies-p256") {
      expect(typeof device.publicKey).toBe("string");
      const raw = Buffer.from(device.publicKey as string, "base64");
      expect(raw.length).toBe(65);
      expect(raw[0]).toBe(4);
    } else {
      expect(device.publicKey).toEqual({ kty: "RSA", n: expect.any(String), e: "AQAB" });
      expect(Buffer.from((device.publicKey as JsonWebKey).n ?? "", "base64url").length).toBe(256);
    }
  });

  it("server challenge ciphertext decrypts with python, node:crypto and the device", async () => {
    const now = Math.floor(Date.now() / 1000);
    const cid = newId("chl");
    const entropy = randomBytes(32);
    const pt = challengePlaintext({ cid, entropy, exp: now + 120 });
    const ct = await encryptForDevice(format, key, pt);

    const [py] = runPython([pyDecryptJob(format, device.privateJwk, ct)]);
    expect(py).toEqual({ ok: true, plaintext_hex: hexOf(pt) });
    expect(hexOf(nodeDecrypt(format, device.privateJwk, ct))).toBe(hexOf(pt));
    const mine = await decryptForDevice(format, device.privateJwk, ct);
    expect(hexOf(mine)).toBe(hexOf(pt));
    expect(parseChallengePlaintext(mine, cid, now)).toEqual({
      cid,
      entropy: b64url(entropy),
      exp: now + 120,
    });
  });

  it("a key read back from storage encrypts the token plaintext decryptably", async () => {
    const stored = await importStoredKey(format, storedJwk);
    const did = newId("dev");
    const token = newSecret("edt_");
    const pt = tokenPlaintext({ did, token });
    const ct = await encryptForDevice(format, stored, pt);
    const [py] = runPython([pyDecryptJob(format, device.privateJwk, ct)]);
    expect(py).toEqual({ ok: true, plaintext_hex: hexOf(pt) });
    expect(hexOf(nodeDecrypt(format, device.privateJwk, ct))).toBe(hexOf(pt));
    expect(parseTokenPlaintext(await decryptForDevice(format, device.privateJwk, ct), did)).toBe(token);
  });

  it("encrypting the same plaintext twice gives different ciphertexts", async () => {
    const pt = new TextEncoder().encode("same plaintext");
    const a = await encryptForDevice(format, key, pt);
    const b = await encryptForDevice(format, key, pt);
    expect(hexOf(a)).not.toBe(hexOf(b));
  });

  const variants: (Variant | undefined)[] =
    format === "ecies-p256" ? ["variable-iv", "legacy-zero-iv"] : [undefined];
  for (const variant of variants) {
    it(`python encrypts to the device key${variant ? ` (${variant})` : ""}; the device decrypts`, async () => {
      const pt = randomBytes(100);
      const job = {
        op: "encrypt" as const,
        format,
        public_key: device.publicKey,
        plaintext_hex: hexOf(pt),
        ...(variant && { variant }),
      };
      const [res] = runPython([job]) as [PyResult];
      if (!res.ok || !res.ciphertext) throw new Error(`python encrypt failed: ${JSON.stringify(res)}`);
      const ct = new Uint8Array(Buffer.from(res.ciphertext, "base64url"));
      const got = await decryptForDevice(format, device.privateJwk, ct, variant && { eciesVariant: variant });
      expect(hexOf(got)).toBe(hexOf(pt));
    });
  }

  it("tampered ciphertexts fail in all three decryptors", async () => {
    const pt = new TextEncoder().encode('{"v":1,"tamper":"me"}');
    const ct = await encryptForDevice(format, key, pt);
    const tampered =
      format === "ecies-p256"
        ? [
            flipBit(ct, 10), // ephemeral X
            flipBit(ct, 64), // ephemeral Y
            flipBit(ct, 65), // first ciphertext byte
            flipBit(ct, ct.length - 1), // tag
            ct.slice(0, ct.length - 1), // truncated tag
          ]
        : [flipBit(ct, 0), flipBit(ct, 128), flipBit(ct, ct.length - 1)];
    const py = runPython(tampered.map((t) => pyDecryptJob(format, device.privateJwk, t)));
    for (const [i, t] of tampered.entries()) {
      expect(py[i]?.ok, `python accepted tampered #${i}`).toBe(false);
      expect(() => nodeDecrypt(format, device.privateJwk, t), `node accepted tampered #${i}`).toThrow();
      await deviceFails(format, device.privateJwk, t);
    }
    // Sanity: the untampered original still decrypts everywhere, so the failures above are the tampering.
    expect(runPython([pyDecryptJob(format, device.privateJwk, ct)])[0]?.ok).toBe(true);
    expect(hexOf(nodeDecrypt(format, device.privateJwk, ct))).toBe(hexOf(pt));
  });

  it("another device's key cannot decrypt", async () => {
    const ct = await encryptForDevice(format, key, new TextEncoder().encode("for the enrolled device only"));
    const [py] = runPython([pyDecryptJob(format, stranger.privateJwk, ct)]);
    expect(py?.ok).toBe(false);
    expect(() => nodeDecrypt(format, stranger.privateJwk, ct)).toThrow();
    await deviceFails(format, stranger.privateJwk, ct);
  });

  if (format !== "ecies-p256") {
    const otherFormat: Format = format === "rsa-oaep-sha1" ? "rsa-oaep-sha256" : "rsa-oaep-sha1";
    it(`a ciphertext made for ${format} does not decrypt as ${otherFormat}`, async () => {
      const ct = await encryptForDevice(format, key, new TextEncoder().encode("hash matters"));
      const [py] = runPython([pyDecryptJob(otherFormat, device.privateJwk, ct)]);
      expect(py?.ok).toBe(false);
      expect(() => nodeDecrypt(otherFormat, device.privateJwk, ct)).toThrow();
    });

    it(`refuses to encrypt ${format} with a key imported for ${otherFormat}`, async () => {
      const wrong = await importStoredKey(otherFormat, storedJwk);
      await expect(encryptForDevice(format, wrong, new Uint8Array(1))).rejects.toThrow(/not imported/);
    });
  } else {
    it("the device's legacy-zero-iv mode does not accept a variable-iv ciphertext", async () => {
      const ct = await encryptForDevice(format, key, new TextEncoder().encode("variant matters"));
      await deviceFails(format, device.privateJwk, ct, "legacy-zero-iv");
      expect(() => nodeDecrypt(format, device.privateJwk, ct, "legacy-zero-iv")).toThrow();
    });
  }
});
