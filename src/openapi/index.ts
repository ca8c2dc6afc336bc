// GET /openapi.json and GET /docs. The description is built from the live route table (passed in by
// src/index.ts), so a route added there shows up without touching this file.
import type { Handler } from "../http/request";
import { DOCS_HTML } from "./page";
import { buildSpec, type RouteLike } from "./spec";

export { buildSpec, undescribed } from "./spec";

export function docsRoutes(table: () => readonly RouteLike[]): [string, string, Handler][] {
  let cached: string | undefined;
  const spec: Handler = async () => {
    cached ??= JSON.stringify(buildSpec(table()), null, 2);
    return new Response(cached, {
      headers: {
        "content-type": "application/json; charset=utf-8",
        "cache-control": "no-cache",
        // Public and credential-free: API tools on other origins may read it.
        "access-control-allow-origin": "*",
        "cross-origin-resource-policy": "cross-origin",
      },
    });
  };
  const docs: Handler = async () =>
    new Response(DOCS_HTML, {
      headers: {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-cache",
        "content-security-policy":
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
      },
    });
  return [
    ["GET", "/openapi.json", spec],
    ["GET", "/docs", docs],
  ];
}
