import type { z } from "zod";
import { badRequest, type FieldError, Problem } from "./problem";

/** Every JSON body the API accepts is small; anything larger is refused before it is parsed. */
export const MAX_BODY_BYTES = 16 * 1024;

const tooLarge = () =>
  new Problem(
    413,
    "body-too-large",
    "Body too large",
    `Request bodies are limited to ${MAX_BODY_BYTES} bytes.`,
  );

async function readLimited(request: Request): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  if (!request.body) return "";
  // Count bytes as they stream: content-length may be absent (chunked) or wrong.
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > MAX_BODY_BYTES) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw badRequest("The request body is not valid UTF-8.");
  }
}

/** One entry per problem; one about the whole body (or query string) names `whole` as its field. */
export function zodFieldErrors(error: z.ZodError, whole = "body"): FieldError[] {
  return error.issues.map((issue) => ({
    field: issue.path.length ? issue.path.join(".") : whole,
    message: issue.message,
  }));
}

/** A 400 listing every field error; its detail is the first one, and how many more there are. */
function invalid(where: "body" | "query", error: z.ZodError) {
  const errors = zodFieldErrors(error, where);
  const first = errors[0];
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : "";
  const detail = first ? `${first.field}: ${first.message}${more}` : `The ${where} is invalid.`;
  return badRequest(detail, errors);
}

/**
 * Whether a content type is JSON: `application/json` or a structured `application/…+json` type (RFC 6839:
 * `application/merge-patch+json`, `application/problem+json`), with any parameters. Look-alikes that
 * are not JSON documents (`application/json-seq`, `application/jsonl`) are not.
 */
export function isJsonContentType(type: string): boolean {
  const essence = (type.split(";")[0] ?? "").trim().toLowerCase();
  return essence === "application/json" || /^application\/[a-z0-9!#$&^_.+-]+\+json$/.test(essence);
}

/** Parses and validates a JSON body; an empty body is treated as `{}` so optional-only calls work. */
export async function readJson<S extends z.ZodType>(request: Request, schema: S): Promise<z.output<S>> {
  // No content type at all is read as JSON (only a declared non-JSON type is refused below).
  const type = request.headers.get("content-type");
  const text = await readLimited(request);
  if (type && !isJsonContentType(type) && text.trim() !== "") {
    throw new Problem(
      415,
      "unsupported-media-type",
      "Unsupported media type",
      `The body must be JSON sent with content-type: application/json (got ${(type.split(";")[0] ?? "").slice(0, 100)}; curl -d sends form data unless told -H 'content-type: application/json').`,
    );
  }
  let data: unknown = {};
  if (text.trim() !== "") {
    try {
      data = JSON.parse(text);
    } catch {
      throw badRequest("The request body is not valid JSON.");
    }
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) throw invalid("body", parsed.error);
  return parsed.data;
}

/** Validates query parameters against a schema; a repeated name keeps its last value. */
export function readQuery<S extends z.ZodType>(request: Request, schema: S): z.output<S> {
  const params = Object.fromEntries(new URL(request.url).searchParams);
  const parsed = schema.safeParse(params);
  if (!parsed.success) throw invalid("query", parsed.error);
  return parsed.data;
}

/** JSON response with the conventional headers. */
export function json(data: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(data), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers },
  });
}

export const iso = (ms: number | null | undefined): string | null =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString();

/**
 * A page of a keyset-paginated list, from one row more than `limit` (which tells whether another page
 * exists without a COUNT). The cursor is the public id of the page's last row.
 */
export function listPage<R extends { id: string }, T>(rows: R[], limit: number, render: (row: R) => T) {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  const more = rows.length > limit;
  return {
    object: "list",
    data: page.map(render),
    has_more: more,
    next_cursor: more && last ? last.id : null,
  };
}
