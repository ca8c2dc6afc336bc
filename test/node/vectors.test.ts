// Apple-made ECIES ciphertexts (test/fixtures/apple-ecies-p256.json, sources cited per vector) must
// decrypt with the device implementation and with both references, so all three are anchored to
// real iOS output rather than only to each other.
import { describe, expect, it } from "vitest";
import { decryptForDevice } from "../../packages/device/src/crypto";
import fixture from "../fixtures/apple-ecies-p256.json";
import { nodeEciesDecrypt, runPython, type Variant } from "./refs";

function variantOf(v: string): Variant {
  if (v !== "variable-iv" && v !== "legacy-zero-iv") throw new Error(`unknown variant ${v}`);
  return v;
}
const other = (v: Variant): Variant => (v === "variable-iv" ? "legacy-zero-iv" : "variable-iv");

const vectors = fixture.vectors.map((v) => ({
  ...v,
  variant: variantOf(v.variant),
  ct: new Uint8Array(Buffer.from(v.ciphertext_b64, "base64")),
}));

describe("Apple ECIES P-256 known-answer vectors", () => {
  it("has vectors for both variants", () => {
    expect(new Set(vectors.map((v) => v.variant))).toEqual(new Set(["variable-iv", "legacy-zero-iv"]));
  });

  for (const v of vectors) {
    it(`device decrypts ${v.name}`, async () => {
      const pt = await decryptForDevice("ecies-p256", v.private_jwk, v.ct, { eciesVariant: v.variant });
      expect(Buffer.from(pt).toString("hex")).toBe(v.plaintext_hex);
    });

    it(`device rejects ${v.name} under the other variant`, async () => {
      await expect(
        decryptForDevice("ecies-p256", v.private_jwk, v.ct, { eciesVariant: other(v.variant) }),
      ).rejects.toThrow();
    });

    it(`node:crypto reference decrypts ${v.name}`, () => {
      expect(nodeEciesDecrypt(v.private_jwk, v.ct, v.variant).toString("hex")).toBe(v.plaintext_hex);
    });
  }

  it("python reference decrypts every vector", () => {
    const results = runPython(
      vectors.map((v) => ({
        op: "decrypt" as const,
        format: "ecies-p256" as const,
        private_jwk: v.private_jwk,
        ciphertext: Buffer.from(v.ct).toString("base64url"),
        variant: v.variant,
      })),
    );
    expect(results).toEqual(vectors.map((v) => ({ ok: true, plaintext_hex: v.plaintext_hex })));
  });
});
