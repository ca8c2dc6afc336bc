import type { IRequest } from "itty-router";
import type { Env } from "../env";
import { badRequest, notFound } from "./problem";

export type Handler = (request: IRequest, env: Env, ctx: ExecutionContext) => Promise<Response>;

/** Long-polls never outlive a client's or a proxy's patience. */
export const MAX_WAIT_SECONDS = 25;

/**
 * The client's address as Cloudflare reports it; absent locally unless a proxy sets it. It goes into
 * audit rows, so anything that is not shaped like an IPv4 or IPv6 address (a client or a proxy other than
 * Cloudflare's can send any text) is dropped rather than stored.
 */
export const clientIp = (request: Request): string | null => {
  const ip = request.headers.get("cf-connecting-ip");
  return ip !== null && /^[0-9A-Fa-f.:]{2,45}$/.test(ip) ? ip : null;
};

/**
 * A header value without the spaces and tabs around it (HTTP's optional whitespace, RFC 9110 §5.5): the
 * runtime strips them only in front, so a key pasted with a trailing space would otherwise be refused.
 * A loop rather than a regex: `/[ \t]+$/` is quadratic on a long run of spaces followed by anything else.
 */
export function trimOws(value: string | null): string | null {
  if (value === null) return null;
  const ows = (c: string | undefined) => c === " " || c === "\t";
  let start = 0;
  let end = value.length;
  while (start < end && ows(value[start])) start++;
  while (end > start && ows(value[end - 1])) end--;
  return value.slice(start, end);
}

const ID_SHAPE = /^[0-9a-hjkmnp-tv-z]{26}$/;

/** A path id of the expected type, or a 404: a malformed id names nothing, just like an unknown one. */
export function pathId(request: IRequest, name: string, prefix: string, what: string): string {
  const raw = request.params[name] ?? "";
  const [p, rest] = raw.split("_", 2);
  if (p !== prefix || rest === undefined || !ID_SHAPE.test(rest) || raw.length !== prefix.length + 27) {
    throw notFound(what);
  }
  return raw;
}

/** A percent-decoded path segment (user ids may hold characters that must be escaped in a URL). */
export function pathText(request: IRequest, name: string): string {
  try {
    return decodeURIComponent(request.params[name] ?? "");
  } catch {
    throw badRequest(`The path segment for ${name} is not valid percent-encoding.`);
  }
}

/** The origin written into QR codes: configured, or else the one the request arrived on. */
export function publicOrigin(request: Request, env: Env): string {
  return env.PUBLIC_URL ? env.PUBLIC_URL.replace(/\/+$/, "") : new URL(request.url).origin;
}

/**
 * Runs two independent steps at once (authentication and reading the body) and answers as if they had
 * run in order: when both fail, the first one's error is the one thrown (a bad credential is a 401
 * whatever the body).
 */
export async function concurrently<A, B>(first: Promise<A>, second: Promise<B>): Promise<[A, B]> {
  const [a, b] = await Promise.allSettled([first, second]);
  if (a.status === "rejected") throw a.reason;
  if (b.status === "rejected") throw b.reason;
  return [a.value, b.value];
}
