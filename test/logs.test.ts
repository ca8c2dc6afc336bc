// No secret in any log line: full flows (enroll, activate, challenge, respond, revoke, cancel) and the
// error paths (bad credentials, bad bodies, an unexpected failure with secrets in the request) run with
// every console method captured, in the Worker and in its Durable Objects (same isolate). Then no API
// key, device token, enrollment code, entropy, webhook secret or private key material may appear.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import {
  answer,
  BASE,
  call,
  callDirectly,
  codeOf,
  createApp,
  enrollDevice,
  entropyFor,
  type TestDevice,
} from "./helpers";

callDirectly();

const METHODS = ["log", "info", "warn", "error", "debug", "trace"] as const;
let lines: string[] = [];

beforeEach(() => {
  lines = [];
  for (const m of METHODS) {
    vi.spyOn(console, m).mockImplementation((...args: unknown[]) => {
      lines.push(
        args
          .map((a) => (typeof a === "string" ? a : a instanceof Error ? `${a.stack}` : JSON.stringify(a)))
          .join(" "),
      );
    });
  }
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** Shapes of secrets this service issues, whichever value they hold. */
const SECRET_SHAPES: [RegExp, string][] = [
  [/ek_(live|test)_[A-Za-z0-9_-]{43}/, "API key"],
  [/edt_[A-Za-z0-9_-]{43}/, "device token"],
  [/enc_[A-Za-z0-9_-]{43}/, "enrollment code"],
  [/whsec_[A-Za-z0-9_-]{20,}/, "webhook secret"],
  [/"d"\s*:\s*"/, "private JWK member"],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, "PEM private key"],
];

function leaks(secrets: string[]): string[] {
  const found: string[] = [];
  for (const line of lines) {
    for (const [re, what] of SECRET_SHAPES) if (re.test(line)) found.push(`${what}: ${line.slice(0, 200)}`);
    for (const s of secrets) if (s && line.includes(s)) found.push(`known secret: ${line.slice(0, 200)}`);
  }
  return found;
}

const privateParts = (d: TestDevice) => [
  d.token,
  d.privateJwk.d ?? "",
  d.privateJwk.p ?? "",
  d.privateJwk.q ?? "",
];

describe("no secret in any log line", () => {
  it("through enrollment, challenges, answers, revocation and cancellation", async () => {
    const app = await createApp("Logs");
    const secrets: string[] = [app.apiKey];
    const phone = await enrollDevice(app, "alice", "ecies-p256");
    const tablet = await enrollDevice(app, "alice", "rsa-oaep-sha1");
    secrets.push(...privateParts(phone), ...privateParts(tablet));

    const enr = await call("POST", "/v1/enrollments", { key: app.apiKey, body: { user_id: "bob" } });
    const code = codeOf(enr.body.enrollment_uri);
    secrets.push(code);
    expect((await call("GET", `/v1/enrollments/${enr.body.id}/qr.svg?code=${code}`)).status).toBe(200);
    expect((await call("DELETE", `/v1/enrollments/${enr.body.id}`, { key: app.apiKey })).status).toBe(200);

    for (const decision of ["approve", "deny"] as const) {
      const chl = await call("POST", "/v1/challenges", {
        key: app.apiKey,
        body: { user_id: "alice", context: { title: "Sign in", ip: "203.0.113.5" } },
      });
      const entropy = await entropyFor(phone, chl.body.id);
      secrets.push(entropy);
      expect((await answer(phone, chl.body.id, decision, entropy)).status).toBe(200);
      expect((await call("GET", `/v1/challenges/${chl.body.id}`, { key: app.apiKey })).body.status).toBe(
        decision === "approve" ? "approved" : "denied",
      );
    }
    // Wrong answers until the challenge fails, then a cancel of a closed one.
    const chl = await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: "alice" } });
    secrets.push(await entropyFor(tablet, chl.body.id));
    for (let i = 0; i < 3; i++) await answer(phone, chl.body.id, "approve", "A".repeat(43));
    await call("DELETE", `/v1/challenges/${chl.body.id}`, { key: app.apiKey });

    await call("GET", "/v1/audit?limit=200", { key: app.apiKey });
    await call("GET", "/v1/users/alice/devices", { key: app.apiKey });
    expect((await call("DELETE", `/v1/devices/${tablet.deviceId}`, { key: app.apiKey })).status).toBe(200);
    expect((await call("DELETE", "/v1/device", { token: phone.token })).status).toBe(204);

    // Refusals that carry secrets in the request.
    await call("GET", "/v1/device/challenges", { token: phone.token });
    await call("POST", "/v1/device/enroll", { body: { code, key_format: "ecies-p256", public_key: "x" } });
    await call("POST", "/v1/device/activate", {
      body: { device_id: phone.deviceId, device_token: phone.token },
    });
    await call("POST", "/v1/enrollments", { key: app.apiKey, rawBody: `{"user_id": "${app.apiKey}"` });
    await call("POST", "/v1/enrollments", { key: `${app.apiKey}x`, body: { user_id: "x" } });

    expect(leaks(secrets)).toEqual([]);
  });

  it("an unexpected failure logs what went wrong, and nothing of the request's secrets", async () => {
    const app = await createApp("Logs 500");
    const device = await enrollDevice(app, "carol");
    const broken = new Proxy(env.DB, {
      get: () => () => {
        throw new Error("D1_ERROR: database is locked");
      },
    });
    const enr = await call("POST", "/v1/enrollments", { key: app.apiKey, body: { user_id: "dave" } });
    const code = codeOf(enr.body.enrollment_uri);
    // A device call, and the QR image whose URL carries the enrollment code.
    for (const url of [
      `${BASE}/v1/device/challenges`,
      `${BASE}/v1/enrollments/${enr.body.id}/qr.svg?code=${code}`,
    ]) {
      const ctx = createExecutionContext();
      const request = new Request<unknown, IncomingRequestCfProperties>(url, {
        headers: { authorization: `Bearer ${device.token}`, "x-api-key": app.apiKey },
      });
      const res = await worker.fetch(request, { ...env, DB: broken }, ctx);
      await waitOnExecutionContext(ctx);
      expect(res.status).toBe(500);
    }
    // The log is not empty: the failures are there, for the operator, with the path but not the query.
    expect(lines.join("\n")).toMatch(/database is locked/);
    expect(lines.join("\n")).toMatch(/qr\.svg/);
    expect(leaks([app.apiKey, code, ...privateParts(device)])).toEqual([]);
  });

  it("the checker sees a secret when one is logged", () => {
    console.error(`oops ${`edt_${"Q".repeat(43)}`}`);
    console.log({ jwk: { kty: "EC", d: "secret" } });
    expect(leaks([]).length).toBe(2);
  });
});
