// Security headers and CORS on every response of every route in the table: answers, problems, 404/405,
// preflights, WebSocket upgrades and their refusals, the docs page, the QR images and a 500.
import { createExecutionContext, SELF, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CORS_READABLE_PATHS, SECURITY_HEADERS } from "../src/http/headers";
import worker from "../src/index";
import { BASE } from "./helpers";
import { answerWebhooks, credentials, fillPath, ownId, routeTable, type Tenant, tenant } from "./routeTable";

let t: Tenant;
afterEach(() => {
  vi.restoreAllMocks();
});
beforeEach(async () => {
  answerWebhooks();
  t = await tenant("headers");
});

function checkHeaders(what: string, res: Response, path: string) {
  for (const name of Object.keys(SECURITY_HEADERS)) {
    expect(res.headers.get(name), `${what}: ${name}`).not.toBeNull();
  }
  const cors = [...res.headers.keys()].filter((k) => k.startsWith("access-control-"));
  if (!CORS_READABLE_PATHS.has(path)) expect(cors, `${what}: CORS headers`).toEqual([]);
  if (res.status >= 400) {
    expect(res.headers.get("content-type"), `${what}: problem type`).toMatch(/^application\/problem\+json/);
  }
}

/** A response's headers, without the length (which only a body has). */
const headerMap = (res: Response) =>
  Object.fromEntries([...res.headers].filter(([k]) => k !== "content-length"));

async function send(method: string, path: string, init: RequestInit = {}) {
  const res = await SELF.fetch(`${BASE}${path}`, { method, ...init });
  // A 101 carries a live socket: accept and close it so the test leaves nothing open.
  if (res.webSocket) {
    res.webSocket.accept();
    res.webSocket.close(1000, "done");
  } else await res.arrayBuffer();
  return res;
}

describe("security headers and CORS over the route table", () => {
  for (const route of routeTable()) {
    const name = `${route.method} ${route.path}`;
    it(`${name}: with and without credentials, preflight, wrong method`, async () => {
      let path = fillPath(route.path, (param, collection) => ownId(t, param, collection));
      if (path.endsWith("/qr.svg") || path.endsWith("/qr.png")) path += `?code=${t.code}`;
      const pathname = new URL(`${BASE}${path}`).pathname;
      const creds = credentials(t, route.auth);
      const body = route.method === "GET" || route.method === "DELETE" ? undefined : "{}";
      const json: Record<string, string> = body ? { "content-type": "application/json" } : {};
      const origin = { origin: "https://evil.example" };

      const authed = await send(route.method, path, { headers: { ...creds, ...json, ...origin }, body });
      checkHeaders(`${name} authed (${authed.status})`, authed, pathname);
      expect(authed.status).toBeLessThan(500);

      const anonymous = await send(route.method, path, { headers: { ...json, ...origin }, body });
      checkHeaders(`${name} anonymous (${anonymous.status})`, anonymous, pathname);
      // 426 only on the WebSocket endpoint, which refuses a plain GET before looking at credentials.
      if (route.auth === "app" || route.auth === "device") expect([401, 426]).toContain(anonymous.status);

      // A browser's preflight: refused like any method the path lacks, granting nothing.
      const preflight = await send("OPTIONS", path, {
        headers: {
          ...origin,
          "access-control-request-method": route.method,
          "access-control-request-headers": "x-api-key, authorization, content-type",
        },
      });
      checkHeaders(`${name} preflight`, preflight, pathname);
      expect(preflight.status).toBe(405);
      expect(preflight.headers.get("allow")?.split(", ")).toContain(route.method);
      expect(preflight.headers.get("allow")?.split(", ")).not.toContain("OPTIONS");
      expect([...preflight.headers.keys()].filter((k) => k.startsWith("access-control-"))).toEqual([]);

      if (route.method === "GET") {
        expect(preflight.headers.get("allow")?.split(", ")).toContain("HEAD");
        // HEAD is the GET without its body: same status, same headers.
        const get = await send("GET", path, { headers: creds });
        const head = await SELF.fetch(`${BASE}${path}`, { method: "HEAD", headers: creds });
        expect(await head.text(), `${name} HEAD body`).toBe("");
        checkHeaders(`${name} HEAD (${head.status})`, head, pathname);
        expect(head.status, `${name} HEAD`).toBe(get.status);
        expect(headerMap(head), `${name} HEAD headers`).toEqual(headerMap(get));
      }

      // PUT: no route takes it (PATCH does, on /v1/settings).
      const wrong = await send("PUT", path, { headers: creds });
      checkHeaders(`${name} PUT`, wrong, pathname);
      expect(wrong.status).toBe(405);
    });
  }

  it("unknown paths, HEAD, and a preflight for an unknown path", async () => {
    for (const [method, path, status] of [
      ["GET", "/nowhere", 404],
      ["OPTIONS", "/nowhere", 404],
      // HEAD answers as GET does: without the API key, the same 401.
      ["HEAD", "/v1/audit", 401],
      ["HEAD", "/", 200],
      ["HEAD", "/openapi.json", 200],
      ["HEAD", "/docs", 200],
      ["HEAD", "/nowhere", 404],
      // Where there is no GET there is no HEAD either.
      ["HEAD", "/v1/challenges", 405],
      ["GET", "/v1/enrollments/../../etc/passwd", 404],
    ] as const) {
      const res = await send(method, path);
      expect(res.status, `${method} ${path}`).toBe(status);
      checkHeaders(`${method} ${path}`, res, new URL(`${BASE}${path}`).pathname);
    }
    const postOnly = await send("HEAD", "/v1/challenges");
    expect(postOnly.headers.get("allow")).toBe("POST");
  });

  it("the WebSocket endpoint: refusal without Upgrade, 401 with a bad token, 101 with a good one", async () => {
    const path = "/v1/device/connect";
    const refused = await send("GET", path, { headers: credentials(t, "device") });
    expect(refused.status).toBe(426);
    checkHeaders("426", refused, path);
    const bad = await send("GET", path, {
      headers: { upgrade: "websocket", authorization: `Bearer edt_${"A".repeat(43)}` },
    });
    expect(bad.status).toBe(401);
    checkHeaders("401", bad, path);
    const ok = await send("GET", path, { headers: { upgrade: "websocket", ...credentials(t, "device") } });
    expect(ok.status).toBe(101);
    checkHeaders("101", ok, path);
    // A HEAD asking for an upgrade is answered as a plain GET (426), with no socket. Straight to the
    // Worker: workerd's own fetch would turn such a HEAD into a GET upgrade before it arrives.
    const ctx = createExecutionContext();
    const head = await worker.fetch(
      new Request<unknown, IncomingRequestCfProperties>(`${BASE}${path}`, {
        method: "HEAD",
        headers: { upgrade: "websocket", ...credentials(t, "device") },
      }),
      env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(head.status).toBe(426);
    expect(head.webSocket).toBeNull();
    expect(head.body).toBeNull();
  });

  it("the docs page and the QR images keep their own policies, tightened by the defaults", async () => {
    const docs = await send("GET", "/docs");
    expect(docs.headers.get("content-security-policy")).toMatch(/frame-ancestors 'none'/);
    expect(docs.headers.get("content-security-policy")).toMatch(/connect-src 'self'/);
    for (const image of ["qr.svg", "qr.png"]) {
      const head = await SELF.fetch(`${BASE}/v1/enrollments/${t.enrollmentId}/${image}?code=${t.code}`, {
        method: "HEAD",
      });
      expect(head.status, image).toBe(200);
      expect(head.headers.get("content-type"), image).toMatch(/^image\//);
      expect(await head.text(), image).toBe("");
    }
    const svg = await send("GET", `/v1/enrollments/${t.enrollmentId}/qr.svg?code=${t.code}`);
    expect(svg.status).toBe(200);
    // Shown by an <img> on the application's own origin: a cross-origin load it must allow.
    expect(svg.headers.get("cross-origin-resource-policy")).toBe("cross-origin");
    const api = await send("GET", "/v1/audit", { headers: credentials(t, "app") });
    expect(api.headers.get("cross-origin-resource-policy")).toBe("same-origin");
    expect(api.headers.get("content-security-policy")).toBe("default-src 'none'; frame-ancestors 'none'");
    const spec = await send("GET", "/openapi.json", { headers: { origin: "https://tools.example" } });
    expect(spec.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("an unexpected failure (D1 down) is a bland 500 with the same headers", async () => {
    const broken = new Proxy(env.DB, {
      get: () => () => {
        throw new Error("D1_ERROR: no such table: secrets_table at /src/db/x.ts:1");
      },
    });
    const logged = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const ctx = createExecutionContext();
    // The worker's fetch is typed for requests arriving from the edge (with their `cf` object).
    const request = new Request<unknown, IncomingRequestCfProperties>(`${BASE}/v1/device/challenges`, {
      headers: credentials(t, "device"),
    });
    const res = await worker.fetch(request, { ...env, DB: broken }, ctx);
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(500);
    checkHeaders("500", res, "/v1/device/challenges");
    const text = await res.text();
    expect(text).not.toMatch(/D1_|secrets_table|\.ts|at \//);
    // The detail goes to the log instead.
    expect(logged.mock.calls.flat().join(" ")).toMatch(/secrets_table/);
    logged.mockRestore();
  });
});
