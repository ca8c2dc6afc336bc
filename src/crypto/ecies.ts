// ECIES on P-256 in the byte format of Apple's SecKeyCreateEncryptedData with
// kSecKeyAlgorithmECIESEncryption{Cofactor,Standard}VariableIVX963SHA256AESGCM, so an iPhone can
// decrypt with a Secure Enclave key. For P-256 the cofactor is 1, so both variants are identical.
//
//   E      = fresh ephemeral P-256 key pair; E_raw = 04‖X‖Y (65 bytes)
//   Z      = x-coordinate of ECDH(e, recipient)
//   K      = SHA-256(Z ‖ 00000001 ‖ E_raw)   (ANSI X9.63 KDF, one block, shared info = E_raw)
//   output = E_raw ‖ AES-128-GCM(key K[0:16], iv K[16:32], no AAD) ‖ 16-byte tag
//
// Reusing a derived IV is safe: K is unique per message because E is.

export const ECIES_P256_OVERHEAD = 65 + 16;

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

type EcAlgorithm = { name?: string; namedCurve?: string };

export async function eciesP256Encrypt(
  recipient: CryptoKey,
  plaintext: Uint8Array,
): Promise<Uint8Array<ArrayBuffer>> {
  const alg = recipient.algorithm as EcAlgorithm;
  if (recipient.type !== "public" || alg.name !== "ECDH" || alg.namedCurve !== "P-256") {
    throw new Error("eciesP256Encrypt: recipient must be an ECDH P-256 public key");
  }
  const eph = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, [
    "deriveBits",
  ])) as CryptoKeyPair;
  const ephRaw = new Uint8Array((await crypto.subtle.exportKey("raw", eph.publicKey)) as ArrayBuffer);
  // Not an inline literal: workers-types misspells this member `$public`, so a literal fails to type-check.
  const ecdh = { name: "ECDH", public: recipient };
  const z = new Uint8Array(await crypto.subtle.deriveBits(ecdh, eph.privateKey, 256));
  const k = new Uint8Array(
    await crypto.subtle.digest("SHA-256", concat(z, Uint8Array.of(0, 0, 0, 1), ephRaw)),
  );
  const aesKey = await crypto.subtle.importKey("raw", k.slice(0, 16), { name: "AES-GCM" }, false, [
    "encrypt",
  ]);
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: k.slice(16, 32), tagLength: 128 },
    aesKey,
    new Uint8Array(plaintext),
  );
  return concat(ephRaw, new Uint8Array(sealed));
}
