// The `Encrypxon-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
// The key is the UTF-8 of the whole secret, prefix included; receivers verify it the same way
// (packages/client/src/webhooks.ts, docs/api.md#verifying-a-webhook).
import { hex, utf8 } from "../crypto/encoding";

export const SIGNATURE_HEADER = "Encrypxon-Signature";

/** The header value for `body` sent at `at`: one `v1=` entry per secret, the current one first. */
export async function signatureHeader(secrets: readonly string[], body: string, at: number): Promise<string> {
  const t = Math.floor(at / 1000);
  const signed = utf8(`${t}.${body}`);
  const macs = await Promise.all(
    secrets.map(async (secret) => {
      const key = await crypto.subtle.importKey(
        "raw",
        utf8(secret),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign"],
      );
      return `v1=${hex(new Uint8Array(await crypto.subtle.sign("HMAC", key, signed)))}`;
    }),
  );
  return [`t=${t}`, ...macs].join(",");
}
