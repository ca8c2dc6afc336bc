// Size limits over the route table: the 16 KiB body limit on every route that reads a body, a bound on
// every field of every body and query schema (checked on the schemas, then on the wire at max and max+1),
// and the headers and path segments the Worker reads.
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { MAX_BODY_BYTES } from "../src/http/body";
import { BASE, call, callDirectly, dispatch, expectProblem } from "./helpers";
import {
  answerWebhooks,
  credentials,
  fillPath,
  ownId,
  type RouteInfo,
  routeTable,
  type Tenant,
  tenant,
} from "./routeTable";

callDirectly();

let t: Tenant;
afterEach(() => {
  vi.restoreAllMocks();
});
beforeEach(async () => {
  answerWebhooks();
  t = await tenant("limits");
});

type Json = Record<string, unknown>;
const jsonSchema = (schema: z.ZodType) =>
  z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Json;

/** Every place in a JSON Schema that lets input grow without bound, as "path: what". */
function unbounded(schema: Json, at: string): string[] {
  const out: string[] = [];
  for (const key of ["anyOf", "oneOf", "allOf"] as const) {
    for (const [i, s] of ((schema[key] as Json[] | undefined) ?? []).entries()) {
      out.push(...unbounded(s, `${at}|${i}`));
    }
  }
  const type = schema.type;
  if (type === "string" && schema.maxLength === undefined && !schema.enum && !schema.pattern) {
    out.push(`${at}: string without maxLength`);
  }
  if (
    (type === "number" || type === "integer") &&
    (schema.maximum === undefined || schema.minimum === undefined)
  ) {
    out.push(`${at}: number without a range`);
  }
  if (type === "array" && schema.maxItems === undefined) out.push(`${at}: array without maxItems`);
  if (type === "object") {
    if (schema.additionalProperties !== false && schema.maxProperties === undefined) {
      out.push(`${at}: object open to any number of members`);
    }
    const names = schema.propertyNames as Json | undefined;
    if (schema.additionalProperties !== false && names && names.maxLength === undefined) {
      out.push(`${at}: member names without maxLength`);
    }
    for (const [name, s] of Object.entries((schema.properties as Record<string, Json> | undefined) ?? {})) {
      out.push(...unbounded(s, `${at}.${name}`));
    }
  }
  return out;
}

/** (dotted field, maxLength) for every length-limited string field, nested objects included. */
function stringFields(schema: Json, prefix = ""): [string, number][] {
  const out: [string, number][] = [];
  for (const [name, s] of Object.entries((schema.properties as Record<string, Json> | undefined) ?? {})) {
    if (s.type === "string" && typeof s.maxLength === "number" && !s.pattern)
      out.push([prefix + name, s.maxLength]);
    if (s.type === "object") out.push(...stringFields(s, `${prefix}${name}.`));
  }
  return out;
}

function nest(field: string, value: unknown): Json {
  const parts = field.split(".");
  let v: unknown = value;
  for (const p of parts.reverse()) v = { [p]: v };
  return v as Json;
}

function routePath(route: RouteInfo): string {
  return fillPath(route.path, (param, collection) => ownId(t, param, collection));
}

const bodyRoutes = routeTable().filter((r) => r.body);
const queryRoutes = routeTable().filter((r) => r.query);

describe("the schemas bound everything they accept", () => {
  it("there are body and query schemas to check (the table is read)", () => {
    expect(bodyRoutes.length).toBeGreaterThanOrEqual(5);
    expect(queryRoutes.length).toBeGreaterThanOrEqual(3);
  });

  for (const route of bodyRoutes) {
    it(`${route.method} ${route.path}: body schema`, () => {
      expect(unbounded(jsonSchema(route.body as z.ZodType), "body")).toEqual([]);
    });
  }
  for (const route of queryRoutes) {
    it(`${route.method} ${route.path}: query schema`, () => {
      // Unknown query parameters are ignored (never read or stored), so only the known ones need bounds.
      const { additionalProperties: _, ...known } = jsonSchema(route.query as z.ZodType);
      expect(unbounded({ ...known, additionalProperties: false }, "query")).toEqual([]);
    });
  }
});

describe("the 16 KiB body limit, on every route that reads a body", () => {
  for (const route of bodyRoutes) {
    it(`${route.method} ${route.path}`, async () => {
      const headers = { ...credentials(t, route.auth), "content-type": "application/json" };
      const url = `${BASE}${routePath(route)}`;
      // Valid JSON padded to exactly the limit gets past the size check; one byte more does not.
      const atLimit = `{}${" ".repeat(MAX_BODY_BYTES - 2)}`;
      const at = await dispatch(url, { method: route.method, headers, body: atLimit });
      expect(at.status, await at.text()).not.toBe(413);
      const over = await dispatch(url, { method: route.method, headers, body: `${atLimit} ` });
      expect(over.status).toBe(413);
      await over.arrayBuffer();
      // Without a content-length (chunked), the count is kept while reading.
      let sent = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent > MAX_BODY_BYTES) return controller.close();
          controller.enqueue(new TextEncoder().encode(" ".repeat(4096)));
          sent += 4096;
        },
      });
      const chunked = await dispatch(url, { method: route.method, headers, body: stream });
      expect(chunked.status).toBe(413);
    });
  }
});

describe("every string field: at its limit no length error, one more and it is named", () => {
  for (const route of bodyRoutes) {
    it(`${route.method} ${route.path}`, async () => {
      const fields = stringFields(jsonSchema(route.body as z.ZodType));
      for (const [field, max] of fields) {
        for (const [length, named] of [
          [max, false],
          [max + 1, true],
        ] as const) {
          const res = await call(route.method, routePath(route), {
            headers: credentials(t, route.auth),
            body: nest(field, "a".repeat(length)),
          });
          const errors = (res.body?.errors ?? []) as { field: string; message: string }[];
          const about = errors.filter((e) => e.field === field && /at most|<=\d/.test(e.message));
          expect(about.length > 0, `${field} with ${length} characters: ${JSON.stringify(res.body)}`).toBe(
            named,
          );
          if (named) expectProblem(res, 400);
        }
      }
    });
  }
});

/** zod's own wording ("Invalid input: expected string, received number", "Too small: …"), never sent. */
const ZOD_DEFAULT = /Invalid (input|option|key|element)|Too (small|big)|expected .* received|Unrecognized/;

describe("every field error reads plainly, whatever the value (no zod default wording)", () => {
  const values: unknown[] = [12, 1.5, -1, 1e12, "s", "", "x".repeat(2100), true, null, [], [1], {}, { a: 1 }];

  function expectPlain(what: string, res: { body: Json }) {
    for (const e of (res.body.errors ?? []) as { field: string; message: string }[]) {
      expect(e.message, `${what}: ${e.field}`).not.toMatch(ZOD_DEFAULT);
      expect(e.message.startsWith(e.field), `${what}: ${e.field} named twice`).toBe(false);
      expect(e.field, what).not.toBe("(body)");
    }
    if (res.body.errors) expect(String(res.body.detail), what).not.toMatch(ZOD_DEFAULT);
  }

  for (const route of bodyRoutes) {
    it(`${route.method} ${route.path}`, async () => {
      const fields = Object.keys((jsonSchema(route.body as z.ZodType).properties as Json | undefined) ?? {});
      const bodies: unknown[] = [
        [],
        "x",
        5,
        null,
        {},
        ...values.map((v) => Object.fromEntries(fields.map((f) => [f, v]))),
      ];
      for (const body of bodies) {
        const res = await call(route.method, routePath(route), { headers: credentials(t, route.auth), body });
        expectPlain(`${route.path} ${JSON.stringify(body).slice(0, 80)}`, res);
      }
    });
  }

  it("query parameters", async () => {
    for (const route of queryRoutes) {
      const names = Object.keys((jsonSchema(route.query as z.ZodType).properties as Json | undefined) ?? {});
      for (const v of ["x", "-1", "0x10", "9".repeat(12), "a".repeat(300)]) {
        const qs = names.map((n) => `${n}=${encodeURIComponent(v)}`).join("&");
        const res = await call(route.method, `${routePath(route)}?${qs}`, {
          headers: credentials(t, route.auth),
        });
        expectPlain(`${route.path}?${qs.slice(0, 80)}`, res);
      }
    }
  });
});

describe("query parameters and path segments", () => {
  it("numbers in a query string are plain decimal digits (0x10, 1e1, ' 1' are refused)", async () => {
    for (const wait of ["0x10", "1e1", " 1", "1.0", "-0"]) {
      const res = await call("GET", `/v1/challenges/${t.challengeId}?wait=${encodeURIComponent(wait)}`, {
        key: t.app.apiKey,
      });
      expect(expectProblem(res, 400).errors[0].field, wait).toBe("wait");
    }
    for (const limit of ["1e2", "0x10", "+5"]) {
      const res = await call("GET", `/v1/audit?limit=${encodeURIComponent(limit)}`, { key: t.app.apiKey });
      expect(expectProblem(res, 400).errors[0].field, limit).toBe("limit");
    }
    expect((await call("GET", "/v1/audit?limit=007", { key: t.app.apiKey })).status).toBe(200);
  });

  it("every length-limited query string refuses max+1", async () => {
    for (const route of queryRoutes) {
      for (const [name, max] of stringFields(jsonSchema(route.query as z.ZodType))) {
        const res = await call(route.method, `${routePath(route)}?${name}=${"a".repeat(max + 1)}`, {
          headers: credentials(t, route.auth),
        });
        expect(expectProblem(res, 400).errors[0].field, `${route.path} ${name}`).toBe(name);
      }
    }
  });

  it("overlong path ids are 404s and an overlong user id a 400, whatever their length", async () => {
    for (const n of [27, 1000, 8000]) {
      expectProblem(await call("GET", `/v1/challenges/chl_${"a".repeat(n)}`, { key: t.app.apiKey }), 404);
    }
    const res = await call("GET", `/v1/users/${"u".repeat(257)}/devices`, { key: t.app.apiKey });
    expectProblem(res, 400);
    expect((await call("GET", `/v1/users/${"u".repeat(256)}/devices`, { key: t.app.apiKey })).status).toBe(
      200,
    );
  });

  it("credentials: an oversized API key or bearer header is the same 401, not an error", async () => {
    const big = "A".repeat(12_000);
    expectProblem(await call("GET", "/v1/audit", { headers: { "x-api-key": big } }), 401);
    expectProblem(await call("GET", "/v1/audit", { headers: { "x-api-key": `${t.app.apiKey}${big}` } }), 401);
    expectProblem(
      await call("GET", "/v1/device/challenges", { headers: { authorization: `Bearer ${big}` } }),
      401,
    );
    expectProblem(
      await call("GET", "/v1/device/challenges", {
        headers: { authorization: `Bearer ${" ".repeat(9000)}x` },
      }),
      401,
    );
  });

  it("a 415 or 404 detail quotes at most a short piece of what was sent", async () => {
    const res = await call("POST", "/v1/enrollments", {
      key: t.app.apiKey,
      rawBody: "x",
      headers: { "content-type": `text/${"p".repeat(5000)}` },
    });
    expect(JSON.stringify(expectProblem(res, 415)).length).toBeLessThan(600);
    const lost = await call("GET", `/${"n".repeat(5000)}`);
    expect(JSON.stringify(expectProblem(lost, 404)).length).toBeLessThan(600);
  });

  it("a cf-connecting-ip that is not an address is not stored in the audit", async () => {
    const junk = `${"<script>".repeat(50)}`;
    for (const ip of [junk, "203.0.113.7", "2001:db8::1"]) {
      const res = await call("POST", "/v1/enrollments", {
        key: t.app.apiKey,
        headers: { "cf-connecting-ip": ip },
        body: { user_id: `ip-${ip.length}` },
      });
      expect(res.status).toBe(201);
      const row = await env.DB.prepare("SELECT ip FROM audit_events WHERE enrollment_id = ?1")
        .bind(res.body.id)
        .first<{ ip: string | null }>();
      expect(row?.ip).toBe(ip === junk ? null : ip);
    }
  });

  it("a public JWK with too many members is refused before any key import", async () => {
    const jwk = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`m${i}`, "x"]));
    const res = await call("POST", "/v1/device/enroll", {
      body: { code: t.code, key_format: "ecies-p256", public_key: jwk },
    });
    expect(expectProblem(res, 400).errors.map((e: { field: string }) => e.field)).toContain("public_key");
  });
});
