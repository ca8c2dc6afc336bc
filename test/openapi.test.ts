// The OpenAPI description: served from the route table, identical to the committed docs/openapi.json
// (regenerate with `npm run openapi`), self-consistent, and rendered by a page that needs no internet.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import committed from "../docs/openapi.json";
import { DOCS_HTML } from "../src/openapi/page";
import { BASE } from "./helpers";

type Json = Record<string, unknown>;

async function served(): Promise<Json> {
  const res = await SELF.fetch(`${BASE}/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("application/json");
  return (await res.json()) as Json;
}

describe("GET /openapi.json", () => {
  it("matches the committed docs/openapi.json (else: npm run openapi)", async () => {
    const spec = await served();
    expect(
      JSON.stringify(spec) === JSON.stringify(committed),
      "docs/openapi.json is out of date: run `npm run openapi` and commit it",
    ).toBe(true);
  });

  it("is OpenAPI 3.1 with every $ref resolvable and an operation per route", async () => {
    const spec = await served();
    expect(spec.openapi).toBe("3.1.0");
    const schemas = (spec.components as { schemas: Json }).schemas;
    const refs = new Set<string>();
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === "object") {
        for (const [k, x] of Object.entries(v)) {
          if (k === "$ref" && typeof x === "string") refs.add(x);
          else walk(x);
        }
      }
    };
    walk(spec);
    for (const ref of refs) {
      expect(ref).toMatch(/^#\/components\/schemas\//);
      expect(schemas, ref).toHaveProperty([ref.split("/").pop() ?? ""]);
    }
    const paths = spec.paths as Record<string, Record<string, Json>>;
    for (const [m, p] of [
      ["post", "/v1/enrollments"],
      ["get", "/v1/enrollments/{id}"],
      ["delete", "/v1/challenges/{id}"],
      ["get", "/v1/audit"],
      ["post", "/v1/device/challenges/{id}/response"],
      ["get", "/openapi.json"],
      ["get", "/docs"],
    ] as const) {
      expect(paths[p]?.[m], `${m} ${p}`).toBeDefined();
    }
    const ids = Object.values(paths).flatMap((item) => Object.values(item).map((op) => op.operationId));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("uses the routes' own request schemas (limits, required fields, no extra fields)", async () => {
    const schemas = ((await served()).components as { schemas: Record<string, Json> }).schemas;
    const create = schemas.CreateChallengeRequest as {
      required: string[];
      additionalProperties: boolean;
      properties: Record<string, Json>;
    };
    expect(create.required).toEqual(["user_id"]);
    expect(create.additionalProperties).toBe(false);
    expect(create.properties.ttl_seconds).toMatchObject({ type: "integer", minimum: 10, maximum: 600 });
    expect(create.properties.wait_seconds).toMatchObject({ minimum: 0, maximum: 25 });
    expect(create.properties.context).toEqual({ $ref: "#/components/schemas/ChallengeContext" });
    const audit = ((await served()).paths as Record<string, Record<string, { parameters: Json[] }>>)[
      "/v1/audit"
    ]?.get?.parameters;
    expect(audit?.find((p) => p.name === "limit")).toMatchObject({
      in: "query",
      required: false,
      schema: { minimum: 1, maximum: 200 },
    });
  });
});

describe("GET /docs", () => {
  it("is a self-contained page: no script, style, font or image from another origin", async () => {
    const res = await SELF.fetch(`${BASE}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    const html = await res.text();
    expect(html).toBe(DOCS_HTML);
    expect(html).not.toMatch(/\b(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/@import|url\(/i);
    expect(html).toContain('fetch("/openapi.json")');
  });
});
