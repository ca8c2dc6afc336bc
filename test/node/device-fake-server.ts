// An in-process stand-in for the device half of the API, built on the server's own src/crypto so the
// device package is exercised against real ciphertexts without starting workerd. Tests can replace any
// route's answer to inject failures.
import { b64url } from "../../src/crypto/encoding";
import { challengePlaintext, encryptForDevice, tokenPlaintext } from "../../src/crypto/encrypt";
import { importDevicePublicKey, type KeyFormat } from "../../src/crypto/keys";
import { newId, newSecret, randomBytes } from "../../src/crypto/random";

export const BASE = "http://fake.test";
export const CODE = `enc_${"c".repeat(43)}`;
export const URI = `encrypxon://enroll?${new URLSearchParams({ v: "1", url: BASE, code: CODE, app: "Acme", user: "alice" })}`;

type Json = Record<string, unknown>;
export interface Seen {
  method: string;
  path: string;
  auth: string | null;
  body: Json | null;
}
type Override = (req: Seen) => Response | Promise<Response> | undefined;

export const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
export const problem = (status: number, slug: string, title: string, detail: string, extra: Json = {}) =>
  new Response(
    JSON.stringify({ type: `https://encrypxon.dev/problems/${slug}`, title, status, detail, ...extra }),
    {
      status,
      headers: { "content-type": "application/problem+json" },
    },
  );

export class FakeServer {
  readonly seen: Seen[] = [];
  readonly overrides = new Map<string, Override>();
  deviceId = "";
  token = "";
  format: KeyFormat = "ecies-p256";
  key: CryptoKey | null = null;
  /** What GET /v1/device/challenges lists. */
  challenges: Json[] = [];
  /** Entropy per challenge id, to check what the device sends back. */
  readonly entropy = new Map<string, string>();
  /** The number shown at login, for challenges added with number matching. */
  readonly numbers = new Map<string, string>();

  readonly fetch: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const headers = new Headers(init?.headers);
    const text = typeof init?.body === "string" ? init.body : "";
    const req: Seen = {
      method: init?.method ?? "GET",
      path: url.pathname,
      auth: headers.get("authorization"),
      body: text ? (JSON.parse(text) as Json) : null,
    };
    this.seen.push(req);
    const override = this.overrides.get(`${req.method} ${req.path}`);
    const replaced = override ? await override(req) : undefined;
    return replaced ?? this.route(req);
  };

  /**
   * Adds a pending challenge encrypted to the enrolled key. Like the server, the listing's `expires_at`
   * is exact to the millisecond and the plaintext's `exp` is its whole second; `cid`, `exp` and
   * `expiresAt` (the listing's, null to leave it out) let a test make them lie or disagree.
   */
  async addChallenge(
    opts: {
      context?: Json;
      cid?: string;
      exp?: number;
      expiresAt?: string | null;
      tamper?: boolean;
      number?: string;
    } = {},
  ): Promise<string> {
    if (!this.key) throw new Error("enroll first");
    const id = newId("chl");
    const entropy = b64url(randomBytes(32));
    const expiresAtMs = opts.exp !== undefined ? opts.exp * 1000 + 697 : Date.now() + 120_000;
    const exp = opts.exp ?? Math.floor(expiresAtMs / 1000);
    const expiresAt = opts.expiresAt === undefined ? new Date(expiresAtMs).toISOString() : opts.expiresAt;
    const ct = await encryptForDevice(
      this.format,
      this.key,
      challengePlaintext({ cid: opts.cid ?? id, entropy, exp }),
    );
    if (opts.tamper) ct[ct.length - 1] = (ct[ct.length - 1] ?? 0) ^ 1;
    this.entropy.set(id, entropy);
    if (opts.number !== undefined) this.numbers.set(id, opts.number);
    this.challenges.push({
      id,
      object: "device_challenge",
      key_format: this.format,
      ciphertext: b64url(ct),
      context: opts.context ?? { title: "Sign in" },
      number_matching: opts.number !== undefined,
      created_at: new Date().toISOString(),
      ...(expiresAt !== null && { expires_at: expiresAt }),
    });
    return id;
  }

  private async route(req: Seen): Promise<Response> {
    const body = req.body ?? {};
    if (req.method === "POST" && req.path === "/v1/device/enroll") {
      if (body.code !== CODE) {
        return problem(410, "enrollment-code-invalid", "Enrollment code not usable", "Bad code.");
      }
      this.format = body.key_format as KeyFormat;
      const imported = await importDevicePublicKey(this.format, body.public_key);
      if (!imported.ok) return problem(400, "invalid-request", "Invalid request", imported.reason);
      this.key = imported.key;
      this.deviceId = newId("dev");
      this.token = newSecret("edt_");
      const ct = await encryptForDevice(
        this.format,
        this.key,
        tokenPlaintext({ did: this.deviceId, token: this.token }),
      );
      return json(
        {
          device_id: this.deviceId,
          key_format: this.format,
          encrypted_device_token: b64url(ct),
          activate_by: new Date(Date.now() + 300_000).toISOString(),
          app_name: "Acme",
          user_label: "alice",
        },
        201,
      );
    }
    if (req.method === "POST" && req.path === "/v1/device/activate") {
      if (body.device_id !== this.deviceId || body.device_token !== this.token) {
        return problem(401, "activation-refused", "Activation refused", "No.");
      }
      return json({ device_id: this.deviceId, status: "active" });
    }
    if (req.auth !== `Bearer ${this.token}`) {
      return problem(401, "unauthorized", "Unauthorized", "Token required.");
    }
    if (req.method === "GET" && req.path === "/v1/device/challenges") {
      return json({ object: "list", data: this.challenges });
    }
    const m = /^\/v1\/device\/challenges\/([^/]+)\/response$/.exec(req.path);
    if (req.method === "POST" && m) {
      const id = m[1] ?? "";
      if (body.entropy !== this.entropy.get(id)) {
        return problem(422, "wrong-entropy", "Wrong entropy", "Does not match.", { attempts_left: 2 });
      }
      const number = this.numbers.get(id);
      if (number !== undefined && body.decision === "approve" && body.number !== number) {
        return problem(422, "wrong-number", "Wrong number", "Not the number.", { attempts_left: 2 });
      }
      this.challenges = this.challenges.filter((c) => c.id !== id);
      return json({ id, object: "challenge", status: body.decision === "approve" ? "approved" : "denied" });
    }
    if (req.method === "DELETE" && req.path === "/v1/device") return new Response(null, { status: 204 });
    return problem(404, "not-found", "Not found", "No route.");
  }
}
