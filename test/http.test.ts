import { createExecutionContext, SELF, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MAX_BODY_BYTES } from "../src/http/body";
import worker from "../src/index";
import { BASE, call, createApp, enrollDevice, expectProblem } from "./helpers";

/**
 * Sends `path` to the Worker with header values exactly as given. A Headers object built in a test is
 * normalised (Fetch trims the whitespace around each value), but one from the network reaches the
 * Worker with its trailing spaces and tabs, so this hands the Worker a Headers that returns them raw.
 */
async function sendRaw(path: string, raw: Record<string, string>): Promise<Response> {
  class RawHeaders extends Headers {
    override get(name: string): string | null {
      return raw[name.toLowerCase()] ?? super.get(name);
    }
  }
  const request = new Request<unknown, IncomingRequestCfProperties>(`${BASE}${path}`);
  Object.defineProperty(request, "headers", { value: new RawHeaders() });
  const ctx = createExecutionContext();
  const res = await worker.fetch(request, env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

describe("authentication", () => {
  it("a missing, malformed, unknown or revoked key gets the same 401", async () => {
    const app = await createApp();
    const bodies = new Set<string>();
    const attempts: (string | undefined)[] = [
      undefined,
      "nope",
      `ek_live_${"A".repeat(43)}`,
      `${app.apiKey}x`,
    ];
    await env.DB.prepare("UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2")
      .bind(Date.now(), app.keyId)
      .run();
    attempts.push(app.apiKey);
    for (const key of attempts) {
      const res = await call("GET", "/v1/audit", key ? { key } : {});
      expectProblem(res, 401);
      bodies.add(JSON.stringify(res.body));
    }
    expect(bodies.size).toBe(1);
    // It says which header to send, and nothing about what was wrong with the one sent.
    expect(JSON.parse([...bodies][0] ?? "{}").detail).toBe("Send a valid API key in the X-API-Key header.");
  });

  it("an API key or device token with spaces or tabs around it is accepted", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "ws");
    for (const pad of [" ", "  ", "\t", " \t "]) {
      const keyed = await sendRaw("/v1/audit", { "x-api-key": `${pad}${app.apiKey}${pad}` });
      expect(keyed.status, JSON.stringify(pad)).toBe(200);
      const legacy = await sendRaw("/v1/audit", { x_api_key: `${app.apiKey}${pad}` });
      expect(legacy.status, JSON.stringify(pad)).toBe(200);
      const bearer = await sendRaw("/v1/device/challenges", {
        authorization: `${pad}Bearer ${device.token}${pad}`,
      });
      expect(bearer.status, JSON.stringify(pad)).toBe(200);
    }
    // Only around it: a space inside is still a different value.
    expect((await sendRaw("/v1/audit", { "x-api-key": `${app.apiKey} x` })).status).toBe(401);
    expect(
      (await sendRaw("/v1/device/challenges", { authorization: `Bearer ${device.token} x` })).status,
    ).toBe(401);
  });

  it("accepts the legacy X_API_Key header spelling", async () => {
    const app = await createApp();
    const res = await call("GET", "/v1/audit", { headers: { X_API_Key: app.apiKey } });
    expect(res.status).toBe(200);
  });

  it("device calls need a valid bearer token", async () => {
    const bodies = new Set<string>();
    for (const auth of [undefined, "Bearer", "Bearer nope", `Bearer edt_${"A".repeat(43)}`, "Basic abc"]) {
      const res = await call(
        "GET",
        "/v1/device/challenges",
        auth ? { headers: { authorization: auth } } : {},
      );
      expectProblem(res, 401);
      bodies.add(JSON.stringify(res.body));
    }
    expect(bodies.size).toBe(1);
    expect(JSON.parse([...bodies][0] ?? "{}").detail).toBe(
      "Send a valid device token in the Authorization header: Bearer <device token>.",
    );
  });
});

describe("request errors are problem+json, never a 500", () => {
  it("unknown route 404, wrong method 405 with Allow", async () => {
    expectProblem(await call("GET", "/v2/nothing"), 404);
    const res = await call("PUT", "/v1/challenges");
    expectProblem(res, 405);
    expect(res.headers.get("allow")).toBe("POST");
    const multi = await call("PATCH", "/v1/enrollments/enr_00000000000000000000000000");
    expect(multi.headers.get("allow")?.split(", ").sort()).toEqual(["DELETE", "GET", "HEAD"]);
  });

  it("malformed JSON is 400, a non-JSON content type 415, an oversize body 413", async () => {
    const app = await createApp();
    const bad = await call("POST", "/v1/enrollments", { key: app.apiKey, rawBody: '{"user_id": ' });
    expect(expectProblem(bad, 400).detail).toMatch(/not valid JSON/);
    const form = await call("POST", "/v1/enrollments", {
      key: app.apiKey,
      rawBody: "user_id=x",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expectProblem(form, 415);
    const big = await call("POST", "/v1/enrollments", {
      key: app.apiKey,
      rawBody: JSON.stringify({ user_id: "x".repeat(MAX_BODY_BYTES) }),
    });
    expectProblem(big, 413);
  });

  it("JSON is application/json or an application/*+json type, with any parameters", async () => {
    const app = await createApp();
    const send = (type: string | undefined, userId: string) =>
      SELF.fetch(`${BASE}/v1/enrollments`, {
        method: "POST",
        headers: { "x-api-key": app.apiKey, ...(type === undefined ? {} : { "content-type": type }) },
        // Bytes, not a string: fetch would label a string text/plain.
        body: new TextEncoder().encode(JSON.stringify({ user_id: userId })),
      });
    for (const type of [
      "application/json",
      "application/json; charset=utf-8",
      "Application/JSON;charset=UTF-8",
      "application/merge-patch+json",
      "application/vnd.api+json; ext=bulk",
      "application/json ; charset=utf-8",
      // No content type at all is read as JSON, as before.
      undefined,
    ]) {
      const res = await send(type, "ct");
      expect(res.status, String(type)).toBe(201);
      await res.arrayBuffer();
    }
    for (const type of [
      "application/json-seq",
      "application/jsonl",
      "application/json5",
      "application/jsonx+xml",
      "text/json",
      "application/+json",
      "application/x-www-form-urlencoded",
    ]) {
      const res = await send(type, "ct");
      expect(res.status, type).toBe(415);
      await res.arrayBuffer();
    }
  });

  it("an oversize body without content-length is cut off while streaming", async () => {
    const app = await createApp();
    const chunk = new TextEncoder().encode(" ".repeat(4096));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > MAX_BODY_BYTES * 2) controller.close();
        else {
          controller.enqueue(chunk);
          sent += chunk.byteLength;
        }
      },
    });
    const res = await SELF.fetch(`${BASE}/v1/enrollments`, {
      method: "POST",
      headers: { "x-api-key": app.apiKey, "content-type": "application/json" },
      body: stream,
    });
    expect(res.status).toBe(413);
  });

  it("field errors name the field", async () => {
    const app = await createApp();
    const res = await call("POST", "/v1/enrollments", { key: app.apiKey, body: { user_id: 42 } });
    const p = expectProblem(res, 400);
    expect(p.detail).toMatch(/^user_id: /);
    expect(p.errors[0].field).toBe("user_id");
  });

  it("field errors read plainly: no zod defaults, the field named once, the body called body", async () => {
    const app = await createApp();
    const errorsOf = async (path: string, body: unknown) =>
      expectProblem(await call("POST", path, { key: app.apiKey, body }), 400);
    const cases: [string, unknown, { field: string; message: string }[]][] = [
      [
        "/v1/enrollments",
        { user_id: 42, ttl_seconds: 30 },
        [
          { field: "user_id", message: "must be a string" },
          { field: "ttl_seconds", message: "must be an integer from 60 to 3600" },
        ],
      ],
      [
        "/v1/enrollments",
        { user_id: "x", ttl_seconds: 100.5 },
        [{ field: "ttl_seconds", message: "must be an integer from 60 to 3600" }],
      ],
      ["/v1/enrollments", { user_id: "x", extra: 1 }, [{ field: "body", message: "unknown field: extra" }]],
      ["/v1/enrollments", [1, 2], [{ field: "body", message: "must be a JSON object" }]],
      [
        "/v1/challenges",
        { user_id: "x", supersede: "yes", context: "s" },
        [
          { field: "context", message: "must be a JSON object" },
          { field: "supersede", message: "must be true or false" },
        ],
      ],
      [
        "/v1/device/enroll",
        {},
        [
          { field: "code", message: "is required" },
          { field: "key_format", message: "is required" },
          { field: "public_key", message: "is required" },
        ],
      ],
      [
        "/v1/device/enroll",
        { code: "c".repeat(201), key_format: "dsa", public_key: 5 },
        [
          { field: "code", message: "must be at most 200 characters" },
          { field: "key_format", message: "must be one of ecies-p256, rsa-oaep-sha1, rsa-oaep-sha256" },
          { field: "public_key", message: "must be a string or a JSON object" },
        ],
      ],
    ];
    for (const [path, body, errors] of cases) {
      const p = await errorsOf(path, body);
      expect(p.errors, `${path} ${JSON.stringify(body)}`).toEqual(errors);
      // The detail sums it up: the first error, and how many more there are.
      const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : "";
      expect(p.detail).toBe(`${errors[0]?.field}: ${errors[0]?.message}${more}`);
    }
    // A key the service refuses: the message says what is wrong without repeating the field's name.
    const enr = await call("POST", "/v1/enrollments", { key: app.apiKey, body: { user_id: "pk" } });
    const code = new URL(enr.body.qr_svg_url).searchParams.get("code");
    const bad = await errorsOf("/v1/device/enroll", { code, key_format: "ecies-p256", public_key: "AAAA" });
    expect(bad.errors).toHaveLength(1);
    expect(bad.errors[0].field).toBe("public_key");
    expect(bad.errors[0].message).not.toMatch(/public_key/);
    expect(bad.detail).toBe(`public_key: ${bad.errors[0].message}`);
    // Query strings too.
    const q = expectProblem(await call("GET", "/v1/audit?limit=0x10", { key: app.apiKey }), 400);
    expect(q.errors).toEqual([{ field: "limit", message: "must be an integer from 1 to 200" }]);
  });

  it("every response carries the security headers", async () => {
    const res = await call("GET", "/");
    expect(res.status).toBe(200);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("strict-transport-security")).toMatch(/max-age=/);
  });
});
