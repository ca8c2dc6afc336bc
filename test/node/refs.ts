// Independent decryptors/encryptors for cross-checks: Python's `cryptography` (spawned) and node:crypto.
// Neither shares code with src/crypto or packages/device.
import { execFileSync, spawnSync } from "node:child_process";
import {
  constants,
  createDecipheriv,
  createECDH,
  createHash,
  createPrivateKey,
  privateDecrypt,
} from "node:crypto";
import path from "node:path";

export type Format = "ecies-p256" | "rsa-oaep-sha1" | "rsa-oaep-sha256";
export type Variant = "variable-iv" | "legacy-zero-iv";
export const FORMATS: readonly Format[] = ["ecies-p256", "rsa-oaep-sha1", "rsa-oaep-sha256"];

const SCRIPT = path.join(import.meta.dirname, "py", "ref_crypto.py");

let python: string | undefined;

/**
 * The first interpreter that has `cryptography`: $ENCRYPXON_PYTHON, then python3 on PATH, then Debian's
 * /usr/bin/python3 (where `apt-get install python3-cryptography` puts it, even when pyenv shadows it).
 * Throws rather than skipping: CI has it, and a silently skipped cross-check proves nothing.
 */
export function pythonWithCryptography(): string {
  if (python) return python;
  const candidates = [process.env.ENCRYPXON_PYTHON, "python3", "/usr/bin/python3"].filter(
    (c): c is string => !!c,
  );
  for (const c of candidates) {
    const r = spawnSync(c, ["-c", "import cryptography"], { stdio: "ignore" });
    if (r.status === 0) {
      python = c;
      return c;
    }
  }
  throw new Error(
    `no python3 with the 'cryptography' package (tried ${candidates.join(", ")}); ` +
      "install it with: apt-get install -y python3-cryptography",
  );
}

export type PyJob =
  | { op: "decrypt"; format: Format; private_jwk: JsonWebKey; ciphertext: string; variant?: Variant }
  | {
      op: "encrypt";
      format: Format;
      public_key: JsonWebKey | string;
      plaintext_hex: string;
      variant?: Variant;
    };
export type PyResult =
  | { ok: true; plaintext_hex?: string; ciphertext?: string }
  | { ok: false; error: string };

/** Run jobs through test/node/py/ref_crypto.py in one process. */
export function runPython(jobs: PyJob[]): PyResult[] {
  const out = execFileSync(pythonWithCryptography(), [SCRIPT], {
    input: JSON.stringify(jobs),
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024,
  });
  const results = JSON.parse(out) as PyResult[];
  if (results.length !== jobs.length) throw new Error("python returned the wrong number of results");
  return results;
}

function b64urlToBuf(s: string | undefined): Buffer {
  if (typeof s !== "string") throw new Error("missing JWK member");
  return Buffer.from(s, "base64url");
}

/** ECIES decrypt with node:crypto's OpenSSL bindings (createECDH + aes-128-gcm). */
export function nodeEciesDecrypt(privateJwk: JsonWebKey, ct: Uint8Array, variant: Variant): Buffer {
  const c = Buffer.from(ct);
  if (c.length < 65 + 16) throw new Error("too short");
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(b64urlToBuf(privateJwk.d));
  const eph = c.subarray(0, 65);
  const z = ecdh.computeSecret(eph);
  const k = createHash("sha256")
    .update(z)
    .update(Buffer.from([0, 0, 0, 1]))
    .update(eph)
    .digest();
  const iv = variant === "variable-iv" ? k.subarray(16, 32) : Buffer.alloc(16);
  const d = createDecipheriv("aes-128-gcm", k.subarray(0, 16), iv, { authTagLength: 16 });
  d.setAuthTag(c.subarray(c.length - 16));
  return Buffer.concat([d.update(c.subarray(65, c.length - 16)), d.final()]);
}

/** RSA-OAEP decrypt with node:crypto (privateDecrypt with an explicit oaepHash). */
export function nodeRsaDecrypt(format: Format, privateJwk: JsonWebKey, ct: Uint8Array): Buffer {
  const { kty, n, e, d, p, q, dp, dq, qi } = privateJwk;
  const key = createPrivateKey({ key: { kty, n, e, d, p, q, dp, dq, qi }, format: "jwk" });
  const oaepHash = format === "rsa-oaep-sha1" ? "sha1" : "sha256";
  return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, ct);
}

export function nodeDecrypt(
  format: Format,
  privateJwk: JsonWebKey,
  ct: Uint8Array,
  variant?: Variant,
): Buffer {
  return format === "ecies-p256"
    ? nodeEciesDecrypt(privateJwk, ct, variant ?? "variable-iv")
    : nodeRsaDecrypt(format, privateJwk, ct);
}
