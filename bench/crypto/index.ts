// GET /?format=ecies-p256|rsa-oaep-sha1|rsa-oaep-sha256&op=service|import|raw&n=200
// Runs n iterations of one operation and answers {format, op, n, inside_ms}. `service` is what
// POST /v1/challenges does per device (the per-isolate cached key, deviceKey, + encryptForDevice of a
// challenge plaintext); `import` is importStoredKey alone, what a cache miss adds; `raw` is the bare WebCrypto calls the encryption consists of, with
// the key already imported (ECIES: generateKey + exportKey + deriveBits + digest + importKey + AES-GCM;
// RSA: one RSA-OAEP encrypt). workerd may not advance the clock between I/O, so the caller also times
// the whole request from outside and subtracts an n=0 request: that is the figure the report uses.
import { deviceKey } from "../../src/crypto/deviceKeys";
import { challengePlaintext, encryptForDevice, importStoredKey } from "../../src/crypto/encrypt";
import type { KeyFormat } from "../../src/crypto/keys";

const FORMATS: KeyFormat[] = ["ecies-p256", "rsa-oaep-sha1", "rsa-oaep-sha256"];
const PLAINTEXT = challengePlaintext({
  cid: "chl_00000000000000000000000000",
  entropy: new Uint8Array(32),
  exp: 2_000_000_000,
});

interface Recipient {
  jwk: string;
  key: CryptoKey;
}
const recipients = new Map<KeyFormat, Recipient>();

async function recipient(format: KeyFormat): Promise<Recipient> {
  const have = recipients.get(format);
  if (have) return have;
  let pair: CryptoKeyPair;
  if (format === "ecies-p256") {
    pair = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, [
      "deriveBits",
    ])) as CryptoKeyPair;
  } else {
    pair = (await crypto.subtle.generateKey(
      {
        name: "RSA-OAEP",
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: format === "rsa-oaep-sha1" ? "SHA-1" : "SHA-256",
      },
      true,
      ["encrypt", "decrypt"],
    )) as CryptoKeyPair;
  }
  const exported = (await crypto.subtle.exportKey("jwk", pair.publicKey)) as JsonWebKey;
  // The stored form is a canonical public JWK; drop what workerd adds (key_ops, ext, undefined members).
  const jwk =
    format === "ecies-p256"
      ? { kty: "EC", crv: "P-256", x: exported.x, y: exported.y }
      : { kty: "RSA", n: exported.n, e: exported.e };
  const text = JSON.stringify(jwk);
  const made = { jwk: text, key: await importStoredKey(format, text) };
  recipients.set(format, made);
  return made;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

async function rawOnce(format: KeyFormat, key: CryptoKey): Promise<void> {
  if (format !== "ecies-p256") {
    await crypto.subtle.encrypt({ name: "RSA-OAEP" }, key, PLAINTEXT);
    return;
  }
  const eph = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, [
    "deriveBits",
  ])) as CryptoKeyPair;
  const ephRaw = new Uint8Array((await crypto.subtle.exportKey("raw", eph.publicKey)) as ArrayBuffer);
  const ecdh = { name: "ECDH", public: key };
  const z = new Uint8Array(await crypto.subtle.deriveBits(ecdh, eph.privateKey, 256));
  const k = new Uint8Array(
    await crypto.subtle.digest("SHA-256", concat(z, Uint8Array.of(0, 0, 0, 1), ephRaw)),
  );
  const aes = await crypto.subtle.importKey("raw", k.slice(0, 16), { name: "AES-GCM" }, false, ["encrypt"]);
  await crypto.subtle.encrypt({ name: "AES-GCM", iv: k.slice(16, 32), tagLength: 128 }, aes, PLAINTEXT);
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const format = url.searchParams.get("format") as KeyFormat;
    const op = url.searchParams.get("op") ?? "service";
    const n = Math.min(Math.max(Number(url.searchParams.get("n") ?? "0") | 0, 0), 5000);
    if (!FORMATS.includes(format)) return new Response("format?", { status: 400 });
    const r = await recipient(format);
    const device = { id: `dev_bench_${format}`, key_format: format, public_key: r.jwk };
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      if (op === "service") await encryptForDevice(format, await deviceKey(device), PLAINTEXT);
      else if (op === "import") await importStoredKey(format, r.jwk);
      else if (op === "raw") await rawOnce(format, r.key);
      else return new Response("op?", { status: 400 });
    }
    return Response.json({ format, op, n, inside_ms: performance.now() - started });
  },
} satisfies ExportedHandler;
