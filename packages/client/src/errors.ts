import type { ProblemDetails } from "./types.js";

/** Base of every error this SDK throws. */
export class EncrypxonClientError extends Error {
  override name = "EncrypxonClientError";
}

/**
 * The API answered with an error. Carries the RFC 9457 problem details: `type` (a URL; `slug` is its
 * last segment, e.g. `challenge-closed`), `title`, `status`, `detail`, `errors` (one per invalid field)
 * and the extension members (`challenge_status`, `attempts_left`, …) in `extensions`.
 */
export class EncrypxonError extends EncrypxonClientError {
  override name = "EncrypxonError";
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly errors: { field: string; message: string }[];
  readonly extensions: Record<string, unknown>;
  /** The whole body as received. */
  readonly problem: ProblemDetails;
  /** e.g. `POST /v1/challenges`. */
  readonly request: string;

  constructor(problem: ProblemDetails, request: string) {
    super(
      `${request}: HTTP ${problem.status} ${problem.title}${problem.detail ? `: ${problem.detail}` : ""}`,
    );
    const { type, title, status, detail, errors, ...extensions } = problem;
    this.problem = problem;
    this.request = request;
    this.type = type;
    this.title = title;
    this.status = status;
    this.detail = detail ?? "";
    this.errors = Array.isArray(errors) ? errors : [];
    this.extensions = extensions;
  }

  /** The last segment of `type`: `invalid-request`, `not-found`, `challenge-closed`, … */
  get slug(): string {
    return this.type.slice(this.type.lastIndexOf("/") + 1);
  }
}

/** The API could not be reached (after any retries), or the call timed out. */
export class EncrypxonConnectionError extends EncrypxonClientError {
  override name = "EncrypxonConnectionError";
  readonly request: string;
  /** The base URL that could not be reached: a wrong port or host shows here. */
  readonly baseUrl: string | undefined;

  constructor(request: string, cause: unknown, baseUrl?: string) {
    const where = baseUrl ? ` (${baseUrl})` : "";
    super(`${request}${where}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.request = request;
    this.baseUrl = baseUrl;
  }
}
