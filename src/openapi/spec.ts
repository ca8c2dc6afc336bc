// Builds the OpenAPI 3.1 description from the route table (method, path) and the schemas in
// operations.ts, with zod 4's own JSON Schema output (OpenAPI 3.1 schemas are JSON Schema 2020-12).
import { z } from "zod";
import { COMPONENTS, OPERATIONS, type Operation } from "./operations";

export interface RouteLike {
  0: string;
  1: string;
}

type Json = Record<string, unknown>;

const REF = (name: string) => `#/components/schemas/${name}`;

/** JSON Schema keys that only make sense at a document's top level. */
function bare(schema: Json): Json {
  const { $schema: _s, $id: _i, ...rest } = schema;
  return rest;
}

function components(): Json {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(COMPONENTS)) registry.add(schema, { id });
  const out = z.toJSONSchema(registry, { io: "input", uri: REF, unrepresentable: "any" }) as {
    schemas: Record<string, Json>;
  };
  return Object.fromEntries(Object.entries(out.schemas).map(([k, v]) => [k, bare(v)]));
}

const names = new Map<z.ZodType, string>(Object.entries(COMPONENTS).map(([k, v]) => [v, k]));

function schemaOf(schema: z.ZodType): Json {
  const name = names.get(schema);
  if (name) return { $ref: REF(name) };
  return bare(z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Json);
}

function parameters(path: string, op: Operation | undefined): Json[] {
  const params: Json[] = [...path.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({
    name: m[1],
    in: "path",
    required: true,
    schema: { type: "string" },
  }));
  if (op?.query) {
    const q = z.toJSONSchema(op.query, { io: "input", unrepresentable: "any" }) as {
      properties?: Record<string, Json>;
      required?: string[];
    };
    for (const [name, schema] of Object.entries(q.properties ?? {})) {
      params.push({ name, in: "query", required: q.required?.includes(name) ?? false, schema });
    }
  }
  return params;
}

function operation(method: string, path: string, op: Operation | undefined): Json {
  const doc: Json = {
    operationId: `${method.toLowerCase()}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? "").toUpperCase())}`,
    summary: op?.summary ?? `${method} ${path} (not yet described in src/openapi/operations.ts)`,
    tags: [op?.tag ?? (path.startsWith("/v1/device") ? "Device" : "Other")],
  };
  if (op?.description) doc.description = op.description;
  const auth = op?.auth ?? (path.startsWith("/v1/device") ? "device" : "app");
  const scheme = { app: "ApiKey", device: "DeviceToken", admin: "AdminToken", none: null }[auth];
  doc.security = scheme ? [{ [scheme]: [] }] : [];
  const params = parameters(path, op);
  if (params.length) doc.parameters = params;
  if (op?.body) {
    doc.requestBody = { required: true, content: { "application/json": { schema: schemaOf(op.body) } } };
  }
  const responses: Json = {};
  for (const [status, [description, body]] of Object.entries(op?.responses ?? { 200: ["OK", null] })) {
    const entry: Json = { description };
    if (typeof body === "string") entry.content = { [body]: {} };
    else if (body) {
      entry.content = {
        [names.get(body) === "Problem" ? "application/problem+json" : "application/json"]: {
          schema: schemaOf(body),
        },
      };
    }
    responses[status] = entry;
  }
  responses.default = {
    description: "An error (400, 401, 404, 405, 413, 415, 500, …) as RFC 9457 problem details",
    content: { "application/problem+json": { schema: { $ref: REF("Problem") } } },
  };
  doc.responses = responses;
  return doc;
}

/** The whole description for a route table; the same table always gives the same document. */
export function buildSpec(routes: readonly RouteLike[]): Json {
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const method = route[0].toUpperCase();
    const path = route[1];
    const key = path.replace(/:([A-Za-z_]+)/g, "{$1}");
    paths[key] ??= {};
    (paths[key] as Json)[method.toLowerCase()] = operation(method, path, OPERATIONS[`${method} ${path}`]);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Encrypxon 2FA API",
      version: "1.0.0",
      description:
        "Push-based two-factor authentication. Application calls carry `X-API-Key`; device calls carry `Authorization: Bearer <device token>`. See docs/api.md for the walk-through.",
    },
    servers: [{ url: "http://127.0.0.1:8787", description: "npm run dev" }],
    tags: [
      "Enrollments",
      "Devices",
      "Challenges",
      "Audit",
      "Settings",
      "Webhooks",
      "Device",
      "Admin",
      "Meta",
    ].map((name) => ({
      name,
    })),
    paths,
    components: {
      securitySchemes: {
        ApiKey: { type: "apiKey", in: "header", name: "X-API-Key" },
        DeviceToken: { type: "http", scheme: "bearer", description: "edt_… device token" },
        AdminToken: {
          type: "http",
          scheme: "bearer",
          description: "the operator secret ADMIN_TOKEN (wrangler secret put ADMIN_TOKEN)",
        },
      },
      schemas: components(),
    },
  };
}

/** Route-table entries (method, path) that operations.ts does not describe: a test lists them. */
export function undescribed(routes: readonly RouteLike[]): string[] {
  return routes.map((r) => `${r[0].toUpperCase()} ${r[1]}`).filter((k) => !(k in OPERATIONS));
}
