// The integrator SDK: one method per application call of docs/api.md. Only web-platform APIs (fetch,
// URL, AbortSignal, setTimeout), so it runs in Node 18+, browsers and Workers alike.
import { type AuditChainResult, AuditChainVerifier } from "./auditChain.js";
import { EncrypxonClientError, EncrypxonConnectionError, EncrypxonError } from "./errors.js";
import type {
  AuditEvent,
  AuditPage,
  AuditQuery,
  AuditVerification,
  Challenge,
  CreateChallengeRequest,
  CreatedChallenge,
  CreatedEnrollment,
  CreateEnrollmentRequest,
  CreateWebhookRequest,
  Device,
  Enrollment,
  List,
  ProblemDetails,
  Settings,
  SettingsUpdate,
  UserPause,
  WebhookDelivery,
  WebhookDeliveryPage,
  WebhookDeliveryQuery,
  WebhookEndpoint,
  WebhookEndpointWithSecret,
} from "./types.js";

export const VERSION = "0.1.0";
/** The server caps every long-poll at 25 s. */
export const MAX_WAIT_SECONDS = 25;

export interface EncrypxonClientOptions {
  /** `ek_live_…` / `ek_test_…`. Keep it on your server: it must never reach a browser. */
  apiKey: string;
  /** e.g. `https://2fa.example.com` or `http://127.0.0.1:8787`. */
  baseUrl: string;
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** Extra attempts for idempotent calls (GET, DELETE) after a 429, a 5xx or a network error. Default 2. */
  retries?: number;
  /** First backoff delay; doubled each attempt, with full jitter, capped at `maxRetryDelayMs`. Default 250. */
  retryDelayMs?: number;
  /** Default 5000; also caps a server's `Retry-After`. */
  maxRetryDelayMs?: number;
  /** Per attempt, on top of any long-poll wait. Default 30 000. */
  timeoutMs?: number;
}

interface CallOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  /** Seconds the server may hold the request (long-poll). */
  waitSeconds?: number;
  /** POSTs are retried only when this is set (e.g. the failure happened before the request was sent). */
  idempotent?: boolean;
  /** Aborts the call (and any retry); it then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** How long a wait may take, and a signal that stops it early (it then rejects with the signal's reason). */
export interface WaitOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const seg = (value: string) => encodeURIComponent(value);

function isoOf(value: string | Date | undefined): string | undefined {
  return value instanceof Date ? value.toISOString() : value;
}

export class Encrypxon2FaClient {
  readonly baseUrl: string;
  // Private: console.log(client) or JSON.stringify(client) must not reveal the key.
  readonly #apiKey: string;
  readonly #fetch: typeof fetch;
  readonly #retries: number;
  readonly #retryDelayMs: number;
  readonly #maxRetryDelayMs: number;
  readonly #timeoutMs: number;

  constructor(options: EncrypxonClientOptions) {
    if (!options.apiKey) throw new EncrypxonClientError("apiKey is required");
    if (!options.baseUrl) throw new EncrypxonClientError("baseUrl is required");
    const base = new URL(options.baseUrl);
    this.baseUrl = base.origin + base.pathname.replace(/\/+$/, "");
    this.#apiKey = options.apiKey;
    // Bound, so that a platform fetch is not called with the client as `this` ("Illegal invocation").
    const f = options.fetch ?? globalThis.fetch;
    this.#fetch = (input, init) => f(input, init);
    this.#retries = Math.max(0, options.retries ?? 2);
    this.#retryDelayMs = options.retryDelayMs ?? 250;
    this.#maxRetryDelayMs = options.maxRetryDelayMs ?? 5_000;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  // ── Enrollments ──────────────────────────────────────────────────────────────────────────────────

  /** `POST /v1/enrollments`: show `enrollment_uri` (or `qr_svg_url` as an `<img src>`) to the user. */
  createEnrollment(request: CreateEnrollmentRequest): Promise<CreatedEnrollment> {
    return this.#call("POST", "/v1/enrollments", { body: request });
  }

  /** `GET /v1/enrollments/{id}`, optionally waiting up to `wait` seconds (≤ 25) for it to leave `pending`. */
  getEnrollment(id: string, options: { wait?: number; signal?: AbortSignal } = {}): Promise<Enrollment> {
    return this.#call("GET", `/v1/enrollments/${seg(id)}`, {
      query: { wait: options.wait },
      waitSeconds: options.wait,
      signal: options.signal,
    });
  }

  /**
   * Long-polls until the enrollment is no longer `pending` or `timeoutMs` (default 10 minutes, an
   * enrollment's default lifetime) has passed; returns the last state seen. `signal` stops the wait.
   */
  waitForEnrollment(id: string, options: WaitOptions = {}): Promise<Enrollment> {
    const { signal } = options;
    return this.#waitLoop(
      (wait) => this.getEnrollment(id, { wait, signal }),
      options.timeoutMs ?? 600_000,
      signal,
    );
  }

  /** `DELETE /v1/enrollments/{id}`: the code stops working. */
  cancelEnrollment(id: string): Promise<Enrollment> {
    return this.#call("DELETE", `/v1/enrollments/${seg(id)}`);
  }

  /**
   * The QR image URL for an enrollment code (`enc_…`, from `enrollment_uri`). It needs no API key: the
   * code is the capability, so it can be an `<img src>` until the code is used or expires.
   */
  enrollmentQrUrl(id: string, code: string, format: "svg" | "png" = "svg"): string {
    return `${this.baseUrl}/v1/enrollments/${seg(id)}/qr.${format}?code=${seg(code)}`;
  }

  // ── Devices ──────────────────────────────────────────────────────────────────────────────────────

  /** `GET /v1/users/{user_id}/devices`: active and revoked devices, no key material. */
  async listDevices(userId: string): Promise<Device[]> {
    const list = await this.#call<List<Device>>("GET", `/v1/users/${seg(userId)}/devices`);
    return list.data;
  }

  /** `DELETE /v1/devices/{id}`: its token stops working at once. */
  revokeDevice(id: string): Promise<Device> {
    return this.#call("DELETE", `/v1/devices/${seg(id)}`);
  }

  /** `GET /v1/users/{user_id}/pause`: whether new challenges are paused after a "this wasn't me". */
  getUserPause(userId: string): Promise<UserPause> {
    return this.#call("GET", `/v1/users/${seg(userId)}/pause`);
  }

  /** `DELETE /v1/users/{user_id}/pause`: challenges for the user work again (once you checked with them). */
  clearUserPause(userId: string): Promise<UserPause> {
    return this.#call("DELETE", `/v1/users/${seg(userId)}/pause`);
  }

  // ── Challenges ───────────────────────────────────────────────────────────────────────────────────

  /** `POST /v1/challenges`. Never retried automatically: a retry would push a second prompt. */
  createChallenge(request: CreateChallengeRequest): Promise<CreatedChallenge> {
    return this.#call("POST", "/v1/challenges", { body: request, waitSeconds: request.wait_seconds });
  }

  /** `GET /v1/challenges/{id}`, optionally waiting up to `wait` seconds (≤ 25) for a change. */
  getChallenge(id: string, options: { wait?: number; signal?: AbortSignal } = {}): Promise<Challenge> {
    return this.#call("GET", `/v1/challenges/${seg(id)}`, {
      query: { wait: options.wait },
      waitSeconds: options.wait,
      signal: options.signal,
    });
  }

  /**
   * Long-polls (25 s at a time) until the challenge is decided or `timeoutMs` (default 130 s, just past
   * a challenge's default lifetime) has passed; returns the last state seen, so check `status`.
   * `signal` stops the wait (the challenge stays open: cancel it with `cancelChallenge`).
   */
  waitForResult(id: string, options: WaitOptions = {}): Promise<Challenge> {
    const { signal } = options;
    return this.#waitLoop(
      (wait) => this.getChallenge(id, { wait, signal }),
      options.timeoutMs ?? 130_000,
      signal,
    );
  }

  /** `DELETE /v1/challenges/{id}`. */
  cancelChallenge(id: string): Promise<Challenge> {
    return this.#call("DELETE", `/v1/challenges/${seg(id)}`);
  }

  // ── Settings ─────────────────────────────────────────────────────────────────────────────────────

  /** `GET /v1/settings`: number-matching default, fraud auto-pause and rate limits. */
  getSettings(): Promise<Settings> {
    return this.#call("GET", "/v1/settings");
  }

  /** `PATCH /v1/settings`: changes only what is named; returns the effective settings. */
  updateSettings(update: SettingsUpdate): Promise<Settings> {
    return this.#call("PATCH", "/v1/settings", { body: update, idempotent: true });
  }

  // ── Audit ────────────────────────────────────────────────────────────────────────────────────────

  /** `GET /v1/audit`: one page, newest first. */
  listAudit(query: AuditQuery = {}): Promise<AuditPage> {
    return this.#call("GET", "/v1/audit", {
      query: {
        user_id: query.user_id,
        type: query.type,
        outcome: query.outcome,
        since: isoOf(query.since),
        until: isoOf(query.until),
        limit: query.limit,
        cursor: query.cursor,
      },
    });
  }

  /**
   * `GET /v1/audit/verify`: the service recomputes one stretch of the hash chain (from the first event,
   * or after `cursor`; at most `limit` events, default 2000) and names the first broken link.
   */
  verifyAudit(query: { cursor?: string; limit?: number } = {}): Promise<AuditVerification> {
    return this.#call("GET", "/v1/audit/verify", { query: { cursor: query.cursor, limit: query.limit } });
  }

  /**
   * The whole chain verified by the service, stretch by stretch: the first broken stretch, or the last
   * one with `checked` summed over all of them.
   */
  async verifyAuditChain(options: { limit?: number } = {}): Promise<AuditVerification> {
    let cursor: string | undefined;
    let checked = 0;
    for (;;) {
      const v = await this.verifyAudit({ cursor, limit: options.limit });
      checked += v.checked;
      if (!v.ok || !v.has_more || !v.next_cursor) return { ...v, checked };
      cursor = v.next_cursor;
    }
  }

  /**
   * Verifies the exported trail here, without trusting the service's own check: every page of
   * `GET /v1/audit` through `AuditChainVerifier`, from the newest event back to the first. Pass the
   * `head.hash` you kept from an earlier verification as `knownHash` to check it is still in the chain.
   */
  async verifyAuditOffline(
    options: { pageSize?: number; knownHash?: string } = {},
  ): Promise<AuditChainResult> {
    const verifier = new AuditChainVerifier();
    let seen = options.knownHash === undefined;
    for await (const page of this.auditPages({ limit: options.pageSize ?? 200 })) {
      await verifier.add(page.data);
      if (!seen && page.data.some((e) => e.hash === options.knownHash)) seen = true;
    }
    const result = verifier.result({ complete: true });
    if (result.ok && !seen) {
      return { ok: false, event_id: "", reason: "known_hash_missing", checked: result.checked };
    }
    return result;
  }

  /** Every page from `query.cursor` on (`limit` is the page size). */
  async *auditPages(query: AuditQuery = {}): AsyncGenerator<AuditPage, void, undefined> {
    let cursor = query.cursor;
    for (;;) {
      const page = await this.listAudit({ ...query, cursor });
      yield page;
      if (!page.has_more || !page.next_cursor) return;
      cursor = page.next_cursor;
    }
  }

  /** Every matching event, newest first, fetching pages as the loop goes: `for await (const e of …)`. */
  async *auditEvents(query: AuditQuery = {}): AsyncGenerator<AuditEvent, void, undefined> {
    for await (const page of this.auditPages(query)) yield* page.data;
  }

  // ── Webhooks ─────────────────────────────────────────────────────────────────────────────────────

  /**
   * `POST /v1/webhooks`: keep the returned `secret` (shown only here) to verify deliveries with
   * `verifyWebhook`. Not retried automatically, like every POST.
   */
  createWebhook(request: CreateWebhookRequest): Promise<WebhookEndpointWithSecret> {
    return this.#call("POST", "/v1/webhooks", { body: request });
  }

  /** `GET /v1/webhooks`: the application's endpoints, without secrets. */
  async listWebhooks(): Promise<WebhookEndpoint[]> {
    const list = await this.#call<List<WebhookEndpoint>>("GET", "/v1/webhooks");
    return list.data;
  }

  /** `GET /v1/webhooks/{id}`. */
  getWebhook(id: string): Promise<WebhookEndpoint> {
    return this.#call("GET", `/v1/webhooks/${seg(id)}`);
  }

  /** `DELETE /v1/webhooks/{id}`: no more events; pending deliveries are cancelled. */
  deleteWebhook(id: string): Promise<WebhookEndpoint> {
    return this.#call("DELETE", `/v1/webhooks/${seg(id)}`);
  }

  /**
   * `POST /v1/webhooks/{id}/rotate-secret`: a new secret; the old one keeps signing alongside it for
   * `previousSecretExpiresInSeconds` (default 24 h; 0 stops it at once).
   */
  rotateWebhookSecret(
    id: string,
    options: { previousSecretExpiresInSeconds?: number } = {},
  ): Promise<WebhookEndpointWithSecret> {
    return this.#call("POST", `/v1/webhooks/${seg(id)}/rotate-secret`, {
      body: { previous_secret_expires_in_seconds: options.previousSecretExpiresInSeconds },
    });
  }

  /** `GET /v1/webhooks/deliveries`: one page of the delivery log, newest first. */
  listWebhookDeliveries(query: WebhookDeliveryQuery = {}): Promise<WebhookDeliveryPage> {
    return this.#call("GET", "/v1/webhooks/deliveries", {
      query: {
        endpoint_id: query.endpoint_id,
        event_id: query.event_id,
        status: query.status,
        limit: query.limit,
        cursor: query.cursor,
      },
    });
  }

  /** `POST /v1/webhooks/deliveries/{id}/resend`: the same event again, as a new delivery. */
  resendWebhookDelivery(id: string): Promise<WebhookDelivery> {
    return this.#call("POST", `/v1/webhooks/deliveries/${seg(id)}/resend`);
  }

  // ── Plumbing ─────────────────────────────────────────────────────────────────────────────────────

  async #waitLoop<T extends { status: string }>(
    poll: (waitSeconds: number) => Promise<T>,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      signal?.throwIfAborted();
      const left = deadline - Date.now();
      const wait = Math.max(0, Math.min(MAX_WAIT_SECONDS, Math.floor(left / 1000)));
      const state = await poll(wait);
      // Less than a second left: a poll that cannot wait would only add a request.
      if (state.status !== "pending" || deadline - Date.now() < 1000) return state;
    }
  }

  async #call<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(options.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const label = `${method} ${path}`;
    const headers: Record<string, string> = { "x-api-key": this.#apiKey, accept: "application/json" };
    let body: string | undefined;
    if (options.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    const idempotent = method === "GET" || method === "DELETE" || options.idempotent === true;
    const timeout = this.#timeoutMs + (options.waitSeconds ?? 0) * 1000;
    const stop = options.signal;

    for (let attempt = 0; ; attempt++) {
      stop?.throwIfAborted();
      const canRetry = idempotent && attempt < this.#retries;
      const perAttempt = AbortSignal.timeout(timeout);
      let response: Response;
      try {
        response = await this.#fetch(url.toString(), {
          method,
          headers,
          body,
          signal: stop ? AbortSignal.any([stop, perAttempt]) : perAttempt,
        });
      } catch (err) {
        // Stopped by the caller: not a connection problem, and not retried.
        stop?.throwIfAborted();
        if (!canRetry) throw new EncrypxonConnectionError(label, err, this.baseUrl);
        await sleep(this.#backoff(attempt, null));
        continue;
      }
      if (response.ok) {
        const text = await response.text();
        return (text === "" ? undefined : JSON.parse(text)) as T;
      }
      if (canRetry && RETRYABLE_STATUS.has(response.status)) {
        await response.body?.cancel();
        await sleep(this.#backoff(attempt, response.headers.get("retry-after")));
        continue;
      }
      throw new EncrypxonError(await problemOf(response), label);
    }
  }

  /** Full-jitter exponential backoff; a server's Retry-After (seconds) wins, within the cap. */
  #backoff(attempt: number, retryAfter: string | null): number {
    const seconds = retryAfter === null ? Number.NaN : Number(retryAfter);
    if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, this.#maxRetryDelayMs);
    const ceiling = Math.min(this.#maxRetryDelayMs, this.#retryDelayMs * 2 ** attempt);
    return Math.random() * ceiling;
  }
}

/** The problem details of an error response; a non-JSON answer (a proxy's HTML page) gets a stand-in. */
async function problemOf(response: Response): Promise<ProblemDetails> {
  const text = await response.text();
  try {
    const parsed: unknown = JSON.parse(text);
    if (
      parsed !== null &&
      typeof parsed === "object" &&
      typeof (parsed as ProblemDetails).type === "string" &&
      typeof (parsed as ProblemDetails).title === "string"
    ) {
      return { ...(parsed as ProblemDetails), status: response.status };
    }
  } catch {
    // not JSON
  }
  return {
    type: "about:blank",
    title: response.statusText || `HTTP ${response.status}`,
    status: response.status,
    detail: text.slice(0, 200),
  };
}
