import { createExecutionContext, SELF, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import {
  decryptForDevice,
  fromBase64Url,
  generateDeviceKey,
  type KeyFormat,
  parseChallengePlaintext,
  parseTokenPlaintext,
} from "../packages/device/src/crypto";
import { sha256Hex } from "../src/crypto/hash";
import { newId, newSecret } from "../src/crypto/random";
import worker from "../src/index";

export const BASE = "https://encrypxon.test";

export interface TestApp {
  appId: string;
  apiKey: string;
  keyId: string;
}

/** An application with one API key, written straight into D1 as the admin command would. */
export async function createApp(name = "Test App"): Promise<TestApp> {
  const appId = newId("app");
  const keyId = newId("key");
  const apiKey = newSecret("ek_test_");
  const now = Date.now();
  await env.DB.batch([
    env.DB.prepare("INSERT INTO applications (id, name, created_at) VALUES (?1, ?2, ?3)").bind(
      appId,
      name,
      now,
    ),
    env.DB.prepare(
      "INSERT INTO api_keys (id, app_id, key_hash, prefix, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    ).bind(keyId, appId, await sha256Hex(apiKey), apiKey.slice(0, 12), now),
  ]);
  return { appId, apiKey, keyId };
}

export interface ApiResult<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

// biome-ignore lint/suspicious/noExplicitAny: test responses are inspected field by field
export type Json = any;

/**
 * The Worker's own fetch, called in this isolate with a fresh execution context whose `waitUntil` work
 * is awaited before the answer is returned. Unlike SELF.fetch, whose cost per request grows with every
 * request a test file has made (workers-sdk#15446: ~5 ms to ~100 ms after a few hundred), it stays flat,
 * which is what suites making thousands of calls need.
 */
export async function dispatch(input: string, init?: RequestInit): Promise<Response> {
  const ctx = createExecutionContext();
  const request = new Request<unknown, IncomingRequestCfProperties>(
    input,
    init as RequestInit<IncomingRequestCfProperties>,
  );
  const response = await worker.fetch(request, env, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

let transport: (input: string, init?: RequestInit) => Promise<Response> = (input, init) =>
  SELF.fetch(input, init);

/** Makes `call` (and everything built on it) use `dispatch` instead of SELF for this test file. */
export function callDirectly(): void {
  transport = dispatch;
}

export async function call(
  method: string,
  path: string,
  opts: {
    key?: string;
    token?: string;
    body?: unknown;
    rawBody?: string;
    headers?: Record<string, string>;
    /** Another origin for the service than BASE (e.g. loopback, as under `wrangler dev`). */
    base?: string;
  } = {},
): Promise<ApiResult<Json>> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.key) headers["x-api-key"] = opts.key;
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.rawBody !== undefined) body = opts.rawBody;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined && !headers["content-type"]) headers["content-type"] = "application/json";
  const res = await transport(`${opts.base ?? BASE}${path}`, { method, headers, body });
  const text = await res.text();
  const type = res.headers.get("content-type") ?? "";
  const parsed = type.includes("json") && text ? JSON.parse(text) : text;
  return { status: res.status, headers: res.headers, body: parsed };
}

export interface TestDevice {
  deviceId: string;
  token: string;
  format: KeyFormat;
  privateJwk: JsonWebKey;
}

/** Plays the phone for one enrollment: scan, register a fresh key, decrypt the token, activate. */
export async function enrollDevice(
  app: TestApp,
  userId: string,
  format: KeyFormat = "ecies-p256",
): Promise<TestDevice> {
  const enr = await call("POST", "/v1/enrollments", { key: app.apiKey, body: { user_id: userId } });
  if (enr.status !== 201) throw new Error(`enrollment failed: ${JSON.stringify(enr.body)}`);
  const code = codeOf(enr.body.enrollment_uri);
  const key = await generateDeviceKey(format);
  const res = await call("POST", "/v1/device/enroll", {
    body: { code, key_format: format, public_key: key.publicKey, name: "Test phone", platform: "test" },
  });
  if (res.status !== 201) throw new Error(`device enroll failed: ${JSON.stringify(res.body)}`);
  const plain = await decryptForDevice(
    format,
    key.privateJwk,
    fromBase64Url(res.body.encrypted_device_token),
  );
  const token = parseTokenPlaintext(plain, res.body.device_id);
  const act = await call("POST", "/v1/device/activate", {
    body: { device_id: res.body.device_id, device_token: token },
  });
  if (act.status !== 200) throw new Error(`activate failed: ${JSON.stringify(act.body)}`);
  return { deviceId: res.body.device_id, token, format, privateJwk: key.privateJwk };
}

export function codeOf(enrollmentUri: string): string {
  const code = new URL(enrollmentUri.replace(/^encrypxon:/, "https:")).searchParams.get("code");
  if (!code) throw new Error("no code in enrollment uri");
  return code;
}

/** Fetches the device's pending challenge with this id and decrypts its entropy as the phone would. */
export async function entropyFor(device: TestDevice, challengeId: string): Promise<string> {
  const list = await call("GET", "/v1/device/challenges", { token: device.token });
  const item = (list.body.data as Json[]).find((c) => c.id === challengeId);
  if (!item) throw new Error(`challenge ${challengeId} not listed for device`);
  const plain = await decryptForDevice(device.format, device.privateJwk, fromBase64Url(item.ciphertext));
  return parseChallengePlaintext(plain, challengeId, Math.floor(Date.now() / 1000)).entropy;
}

export async function answer(
  device: TestDevice,
  challengeId: string,
  decision: "approve" | "deny",
  entropy?: string,
) {
  const e = entropy ?? (await entropyFor(device, challengeId));
  return call("POST", `/v1/device/challenges/${challengeId}/response`, {
    token: device.token,
    body: { entropy: e, decision },
  });
}

export function expectProblem(res: ApiResult<Json>, status: number): Json {
  if (res.status !== status)
    throw new Error(`expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
  const type = res.headers.get("content-type") ?? "";
  if (!type.startsWith("application/problem+json")) throw new Error(`not problem+json: ${type}`);
  if (
    res.body.status !== status ||
    typeof res.body.title !== "string" ||
    typeof res.body.detail !== "string"
  ) {
    throw new Error(`malformed problem: ${JSON.stringify(res.body)}`);
  }
  return res.body;
}
