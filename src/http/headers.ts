// The headers every response leaves with, applied once in src/index.ts after routing and after the error
// choke point, so 404/405s, problems, WebSocket upgrades and images all get them.

/**
 * Defaults: a handler that sets one of these itself (the /docs page its CSP, the QR images their
 * resource policy) keeps its own value. The API answers JSON to servers and devices, never a page, so it
 * forbids everything a browser could do with a response: render it, frame it, load it cross-origin,
 * cache it.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "strict-transport-security": "max-age=31536000; includeSubDomains",
  "x-frame-options": "DENY",
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-store",
};

/**
 * CORS: no response grants another origin anything, with one exception: the API description
 * (`GET /openapi.json`, public and credential-free) may be read by API tools served from anywhere. The
 * integrator API is called from servers (a browser would have to hold the API key), devices are native
 * apps that CORS does not apply to, and /docs and the QR images need no CORS: the page fetches its own
 * origin and <img> loads are not CORS requests.
 */
export const CORS_READABLE_PATHS: ReadonlySet<string> = new Set(["/openapi.json"]);

/** A copy of `response` with the security headers filled in (WebSocket upgrades keep their socket). */
export function withSecurityHeaders(request: Request, response: Response): Response {
  const headers = new Headers(response.headers);
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) if (!headers.has(k)) headers.set(k, v);
  if (!CORS_READABLE_PATHS.has(new URL(request.url).pathname)) {
    for (const name of [...headers.keys()]) if (name.startsWith("access-control-")) headers.delete(name);
  }
  // A WebSocket upgrade (101) carries its socket on the response object, not in the body.
  if (response.webSocket) return new Response(null, { status: 101, webSocket: response.webSocket, headers });
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}
