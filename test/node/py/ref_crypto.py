"""Independent reference for Encrypxon's device ciphertexts, built on pyca/cryptography.

Reads a JSON list of jobs on stdin and writes a JSON list of results (same order) on stdout:
  {"op": "decrypt", "format", "private_jwk", "ciphertext" (base64url), "variant"?}
      -> {"ok": true, "plaintext_hex"} | {"ok": false, "error"}
  {"op": "encrypt", "format", "public_key" (JWK or base64 of 04||X||Y), "plaintext_hex", "variant"?}
      -> {"ok": true, "ciphertext" (base64url)}
ECIES follows Apple's ecies*X963SHA256AESGCM layout: E(65) || AES-GCM ciphertext || tag(16).
Works with cryptography 38 (Debian bookworm's python3-cryptography) and newer.
"""

import base64
import json
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF


def b64d(s):
    s = s.replace("-", "+").replace("_", "/")
    return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def as_int(s):
    return int.from_bytes(b64d(s), "big")


def ec_private(jwk):
    key = ec.derive_private_key(as_int(jwk["d"]), ec.SECP256R1())
    pub = key.public_key().public_numbers()
    if (pub.x, pub.y) != (as_int(jwk["x"]), as_int(jwk["y"])):
        raise ValueError("JWK x/y do not match d")
    return key


def rsa_private(jwk):
    public = rsa.RSAPublicNumbers(as_int(jwk["e"]), as_int(jwk["n"]))
    return rsa.RSAPrivateNumbers(
        as_int(jwk["p"]), as_int(jwk["q"]), as_int(jwk["d"]),
        as_int(jwk["dp"]), as_int(jwk["dq"]), as_int(jwk["qi"]), public,
    ).private_key()


def oaep(fmt):
    h = hashes.SHA1() if fmt == "rsa-oaep-sha1" else hashes.SHA256()
    return padding.OAEP(mgf=padding.MGF1(algorithm=h), algorithm=h, label=None)


def ecies_key_iv(shared, eph_raw, variant):
    if variant == "variable-iv":
        k = X963KDF(algorithm=hashes.SHA256(), length=32, sharedinfo=eph_raw).derive(shared)
        return k[:16], k[16:]
    k = X963KDF(algorithm=hashes.SHA256(), length=16, sharedinfo=eph_raw).derive(shared)
    return k, bytes(16)


def decrypt(job):
    fmt, ct = job["format"], b64d(job["ciphertext"])
    if fmt == "ecies-p256":
        if len(ct) < 65 + 16:
            raise ValueError("ciphertext too short")
        eph_raw = ct[:65]
        eph = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), eph_raw)
        shared = ec_private(job["private_jwk"]).exchange(ec.ECDH(), eph)
        key, iv = ecies_key_iv(shared, eph_raw, job.get("variant", "variable-iv"))
        return AESGCM(key).decrypt(iv, ct[65:], None)
    return rsa_private(job["private_jwk"]).decrypt(ct, oaep(fmt))


def encrypt(job):
    fmt, pt, pub = job["format"], bytes.fromhex(job["plaintext_hex"]), job["public_key"]
    if fmt == "ecies-p256":
        if isinstance(pub, str):
            raw = b64d(pub)
        else:
            raw = b"\x04" + b64d(pub["x"]) + b64d(pub["y"])
        recipient = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        eph = ec.generate_private_key(ec.SECP256R1())
        eph_raw = eph.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        key, iv = ecies_key_iv(eph.exchange(ec.ECDH(), recipient), eph_raw, job.get("variant", "variable-iv"))
        return eph_raw + AESGCM(key).encrypt(iv, pt, None)
    recipient = rsa.RSAPublicNumbers(as_int(pub["e"]), as_int(pub["n"])).public_key()
    return recipient.encrypt(pt, oaep(fmt))


def run(job):
    try:
        if job["op"] == "decrypt":
            return {"ok": True, "plaintext_hex": decrypt(job).hex()}
        if job["op"] == "encrypt":
            return {"ok": True, "ciphertext": b64u(encrypt(job))}
        return {"ok": False, "error": "unknown op"}
    except Exception as e:  # reported per job so one failure doesn't hide the others
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


if __name__ == "__main__":
    json.dump([run(j) for j in json.load(sys.stdin)], sys.stdout)
