// Verifying a webhook from Encrypxon: `Encrypxon-Signature: t=<unix s>,v1=<hex HMAC-SHA256>` over
// `<t>.<raw body>`, keyed with the UTF-8 of the whole `whsec_…` secret. WebCrypto only, so it runs in
// Node ≥ 20, browsers, Deno, Bun and Workers alike.
import { EncrypxonClientError } from "./errors.js";
import type { WebhookEvent } from "./types.js";

/** The signature did not verify: answer the request with 400 and do not act on it. */
export class EncrypxonWebhookError extends EncrypxonClientError {
  override name = "EncrypxonWebhookError";
}

export interface VerifyWebhookOptions {
  /** The raw request body, exactly as received (not re-serialised JSON). */
  payload: string | Uint8Array;
  /** The `Encrypxon-Signature` header. */
  signature: string | null | undefined;
  /** The endpoint's `whsec_…` secret; during a rotation pass both (either one verifying is enough). */
  secret: string | readonly string[];
  /** How far the signed timestamp may be from now, in seconds (default 300): stale replays fail. */
  toleranceSeconds?: number;
  /** The current time (for tests). */
  now?: Date;
}

const encoder = new TextEncoder();

function parseHeader(header: string): { t: number; v1: string[] } {
  let t: number | null = null;
  const v1: string[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t" && /^\d{1,12}$/.test(value)) t = Number(value);
    else if (key === "v1" && /^[0-9a-f]{64}$/i.test(value)) v1.push(value.toLowerCase());
  }
  if (t === null) throw new EncrypxonWebhookError("Encrypxon-Signature has no timestamp (t=)");
  if (v1.length === 0) throw new EncrypxonWebhookError("Encrypxon-Signature has no v1= signature");
  return { t, v1 };
}

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

// Compares every byte whatever the first difference, so timing does not tell how much of a forgery matched.
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

async function hmac(secret: string, message: Uint8Array): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, message as Uint8Array<ArrayBuffer>));
}

/**
 * Verifies a webhook request and returns its event; throws `EncrypxonWebhookError` when the signature is
 * missing, malformed, does not match, or is older (or newer) than the tolerance. Events may arrive more
 * than once (retries, re-sends): de-duplicate on `event.id`.
 */
export async function verifyWebhook(options: VerifyWebhookOptions): Promise<WebhookEvent> {
  if (!options.signature) throw new EncrypxonWebhookError("no Encrypxon-Signature header");
  const { t, v1 } = parseHeader(options.signature);
  const tolerance = options.toleranceSeconds ?? 300;
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  if (Math.abs(now - t) > tolerance) {
    throw new EncrypxonWebhookError(`the signature's timestamp is more than ${tolerance} s from now`);
  }
  const body = typeof options.payload === "string" ? encoder.encode(options.payload) : options.payload;
  const signed = new Uint8Array([...encoder.encode(`${t}.`), ...body]);
  const secrets = typeof options.secret === "string" ? [options.secret] : options.secret;
  if (secrets.length === 0) throw new EncrypxonWebhookError("no secret to verify with");
  let ok = false;
  for (const secret of secrets) {
    const expected = await hmac(secret, signed);
    for (const candidate of v1) if (constantTimeEqual(fromHex(candidate), expected)) ok = true;
  }
  if (!ok) throw new EncrypxonWebhookError("the signature does not match this secret and body");
  try {
    return JSON.parse(new TextDecoder().decode(body)) as WebhookEvent;
  } catch {
    throw new EncrypxonWebhookError("the signed body is not JSON");
  }
}
