/**
 * RFC 9457 problem details. Every error the API returns is built here, so the wire never carries an
 * internal message: unexpected errors are logged server-side and answered with a generic 500.
 */

export interface FieldError {
  field: string;
  message: string;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldError[];
  [extra: string]: unknown;
}

const TYPE_BASE = "https://encrypxon.dev/problems/";

/** A known, client-facing failure. Throw it anywhere in a handler; the choke point renders it. */
export class Problem extends Error {
  readonly status: number;
  readonly slug: string;
  readonly title: string;
  readonly detail: string;
  readonly errors: FieldError[] | undefined;
  readonly extra: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    slug: string,
    title: string,
    detail: string,
    opts: { errors?: FieldError[]; extra?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(detail);
    this.name = "Problem";
    this.status = status;
    this.slug = slug;
    this.title = title;
    this.detail = detail;
    this.errors = opts.errors;
    this.extra = opts.extra ?? {};
    this.headers = opts.headers ?? {};
  }

  body(): ProblemBody {
    // Extension members first, so none can shadow the standard ones.
    const body: ProblemBody = {
      ...this.extra,
      type: TYPE_BASE + this.slug,
      title: this.title,
      status: this.status,
      detail: this.detail,
    };
    if (this.errors) body.errors = this.errors;
    return body;
  }
}

export const badRequest = (detail: string, errors?: FieldError[]) =>
  new Problem(400, "invalid-request", "Invalid request", detail, errors ? { errors } : {});

// One body for every refused credential (missing, malformed, unknown, revoked): it names the header to
// send and nothing about what was wrong with the one that came.
export const unauthorized = () =>
  new Problem(401, "unauthorized", "Unauthorized", "Send a valid API key in the X-API-Key header.", {
    headers: { "WWW-Authenticate": 'ApiKey header="X-API-Key"' },
  });

export const deviceUnauthorized = () =>
  new Problem(
    401,
    "unauthorized",
    "Unauthorized",
    "Send a valid device token in the Authorization header: Bearer <device token>.",
    { headers: { "WWW-Authenticate": 'Bearer realm="encrypxon-device"' } },
  );

export const notFound = (what: string) =>
  new Problem(404, "not-found", "Not found", `No ${what} with that id exists for this caller.`);

export const conflict = (slug: string, title: string, detail: string, extra?: Record<string, unknown>) =>
  new Problem(409, slug, title, detail, extra ? { extra } : {});

export const unavailable = () =>
  new Problem(
    503,
    "unavailable",
    "Service unavailable",
    "The request could not be completed right now; retry it after the Retry-After seconds.",
    { headers: { "Retry-After": "1" } },
  );

export function problemResponse(problem: Problem): Response {
  return new Response(JSON.stringify(problem.body()), {
    status: problem.status,
    headers: { "content-type": "application/problem+json", ...problem.headers },
  });
}

/**
 * Whether an error is the platform saying "not now" rather than a fault of the request or of this code:
 * a Durable Object overloaded, or reset or refused for memory (its SQLite storage out of memory: a
 * workerd process caps the memory of all its objects' databases together, which one machine running
 * everything locally reaches after some thousands of live challenges). Cloudflare marks such errors
 * `overloaded` or `retryable`; the storage one is known by its message, or reaches JavaScript only as
 * the runtime's own "internal error; reference = …" (a failure inside workerd, never one of this
 * code's errors, which all carry their own words). The call did not complete and the same call a
 * moment later may, so it is a 503 with Retry-After, not a 500.
 */
export function isTransientPlatformError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const flags = err as Error & { overloaded?: unknown; retryable?: unknown };
  if (flags.overloaded === true || flags.retryable === true) return true;
  return (
    /SQLITE_NOMEM|exceeded its memory limit|Durable Object is overloaded/i.test(err.message) ||
    /^internal error; reference = \w+$/.test(err.message)
  );
}

/** The one place an unexpected error becomes a response: logged with its stack, answered blandly. */
export function toErrorResponse(err: unknown, request?: Request): Response {
  if (err instanceof Problem) return problemResponse(err);
  const where = request ? `${request.method} ${new URL(request.url).pathname}` : "request";
  if (isTransientPlatformError(err)) {
    console.error(`platform busy in ${where}:`, err instanceof Error ? err.message : err);
    return problemResponse(unavailable());
  }
  console.error(`unhandled error in ${where}:`, err instanceof Error ? (err.stack ?? err.message) : err);
  return problemResponse(
    new Problem(500, "internal", "Internal error", "Something went wrong on our side; it has been logged."),
  );
}
