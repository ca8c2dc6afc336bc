// The device side of the protocol (DESIGN §2): enroll → activate, then list → decrypt → verify → respond.
// Every server answer is checked before use; nothing secret (private key, device token, entropy) is
// returned to callers or put in an error message.

import { WebSocket } from "undici";
import {
  type ChallengePlaintext,
  decryptForDevice,
  fromBase64Url,
  generateDeviceKey,
  type KeyFormat,
  parseChallengePlaintext,
  parseTokenPlaintext,
} from "./crypto.js";
import {
  type DeviceStore,
  type DeviceSummary,
  STORE_VERSION,
  type StoredDevice,
  summarize,
} from "./store.js";
import { type EnrollmentUri, parseEnrollmentUri } from "./uri.js";
import type { SocketLike } from "./watch.js";

export type Decision = "approve" | "deny";

export interface ChallengeContext {
  title?: string;
  message?: string;
  ip?: string;
  location?: string;
  user_agent?: string;
}

/** A challenge that decrypted and passed the checks: safe to show the user. */
export interface PendingChallenge {
  id: string;
  context: ChallengeContext;
  created_at: string;
  /**
   * The listing's `expires_at` (exact to the millisecond) when it falls within the encrypted plaintext's
   * `exp` second (the value that was verified, whole seconds); the earlier of the two if they disagree,
   * so the listing can never extend what was verified.
   */
  expires_at: string;
  /**
   * Number matching: ask the user to type the 2 digits the login page shows and send them with an
   * approval. The device is never told the number; that is the point.
   */
  number_matching: boolean;
}

/** A listed challenge this device will not answer, and why. */
export interface RefusedChallenge {
  id: string;
  reason: string;
}

export interface ChallengeList {
  challenges: PendingChallenge[];
  refused: RefusedChallenge[];
}

/** The challenge as the server reports it after a response (see the API's challenge object). */
export interface ChallengeResult {
  id: string;
  status: string;
  [field: string]: unknown;
}

export interface ClientOptions {
  /** Defaults to the global fetch; tests pass a fake server. */
  fetch?: typeof fetch;
  /** Per request; a phone would rather fail than hang on a dead network. */
  timeoutMs?: number;
  /** Milliseconds since the epoch; for tests of expiry. */
  now?: () => number;
}

export interface EnrollOptions extends ClientOptions {
  store: DeviceStore;
  format?: KeyFormat;
  name?: string;
  platform?: string;
}

export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: { field: string; message: string }[];
  [extra: string]: unknown;
}

/** A failure on the device side: bad input, unreachable server, a reply that does not check out. */
export class DeviceError extends Error {
  override name = "DeviceError";
}

/** The server refused a call; carries its RFC 9457 problem details and the HTTP status. */
export class DeviceApiError extends DeviceError {
  override name = "DeviceApiError";
  readonly status: number;
  readonly type: string;
  readonly title: string;
  readonly detail: string;
  readonly errors: { field: string; message: string }[] | undefined;
  /** The whole problem body, including extensions such as `attempts_left`. */
  readonly problem: ProblemDetails;

  constructor(problem: ProblemDetails) {
    super(`HTTP ${problem.status} ${problem.title}: ${problem.detail}`);
    this.problem = problem;
    this.status = problem.status;
    this.type = problem.type;
    this.title = problem.title;
    this.detail = problem.detail;
    this.errors = problem.errors;
  }
}

const USER_AGENT = "encrypxon-device/0.1.0";
const DEFAULT_TIMEOUT_MS = 30_000;
const CONTEXT_FIELDS = ["title", "message", "ip", "location", "user_agent"] as const;

type Json = Record<string, unknown>;

interface Http {
  fetch: typeof fetch;
  timeoutMs: number;
}

interface WireChallenge {
  id: string;
  key_format: string;
  ciphertext: string;
  context: ChallengeContext;
  created_at: string;
  /** The listing's, unverified; "" when absent. */
  expires_at: string;
  number_matching: boolean;
}

/** The typed number as the server expects it ("7" → "07"), or an error a person can act on. */
export function normalizeMatchNumber(typed: string): string {
  const digits = typed.trim();
  if (!/^[0-9]{1,2}$/.test(digits)) {
    throw new DeviceError(`the number must be the 2 digits shown on the login page, not "${typed}"`);
  }
  return digits.padStart(2, "0");
}

/** Pushed entries kept for `respond` at most (a listing replaces them all). */
const MAX_KEPT_ENTRIES = 256;

export class DeviceClient {
  // Private fields: console.log(client) or JSON.stringify(client) cannot reveal the key or the token.
  readonly #device: StoredDevice;
  readonly #store: DeviceStore;
  readonly #http: Http;
  readonly #now: () => number;
  /**
   * The well-formed entries of the last listing (ciphertexts, never plaintexts), so an answer right after
   * `listChallenges` (what `watch` does) needs no second listing. The server still decides.
   */
  #listed = new Map<string, WireChallenge>();

  private constructor(device: StoredDevice, store: DeviceStore, opts: ClientOptions) {
    this.#device = device;
    this.#store = store;
    this.#http = { fetch: opts.fetch ?? globalThis.fetch, timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS };
    this.#now = opts.now ?? Date.now;
  }

  get deviceId(): string {
    return this.#device.device_id;
  }

  get keyFormat(): KeyFormat {
    return this.#device.key_format;
  }

  get storeFile(): string {
    return this.#store.fileFor(this.#device.device_id);
  }

  /** Everything about this device except its secrets. */
  get info(): DeviceSummary {
    return summarize(this.#device);
  }

  /**
   * Enrollment steps 3–4: make a key pair, claim the code with the public key, decrypt the device token
   * (only the private key can), then prove possession by activating. The record is saved before
   * activation so an activated device can never exist without its key; a failed activation removes it.
   */
  static async enroll(uri: string | EnrollmentUri, opts: EnrollOptions): Promise<DeviceClient> {
    const parsed = typeof uri === "string" ? parseEnrollmentUri(uri) : uri;
    const format = opts.format ?? "ecies-p256";
    const http: Http = {
      fetch: opts.fetch ?? globalThis.fetch,
      timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    };
    // Before the code is claimed: a store refused after the claim would leave the code spent.
    await opts.store.prepare();
    const key = await generateDeviceKey(format);

    const enrolled = await call(http, parsed.baseUrl, "POST", "/v1/device/enroll", {
      body: {
        code: parsed.code,
        key_format: format,
        public_key: key.publicKey,
        ...(opts.name !== undefined && { name: opts.name }),
        ...(opts.platform !== undefined && { platform: opts.platform }),
      },
    });
    const deviceId = str(enrolled, "device_id", "enroll");
    if (enrolled.key_format !== format) {
      throw new DeviceError(`enroll: server answered for key format ${String(enrolled.key_format)}`);
    }

    let token: string;
    try {
      const ciphertext = fromBase64Url(str(enrolled, "encrypted_device_token", "enroll"));
      token = parseTokenPlaintext(await decryptForDevice(format, key.privateJwk, ciphertext), deviceId);
    } catch (err) {
      throw new DeviceError(`enroll: cannot use the encrypted device token (${message(err)})`);
    }

    const device: StoredDevice = {
      version: STORE_VERSION,
      base_url: parsed.baseUrl,
      app_name: optStr(enrolled, "app_name") ?? parsed.appName ?? "",
      user_label: optStr(enrolled, "user_label") ?? parsed.userLabel ?? "",
      device_id: deviceId,
      key_format: format,
      private_jwk: key.privateJwk,
      device_token: token,
      created_at: new Date((opts.now ?? Date.now)()).toISOString(),
    };
    await opts.store.save(device);
    try {
      const activated = await call(http, parsed.baseUrl, "POST", "/v1/device/activate", {
        body: { device_id: deviceId, device_token: token },
      });
      if (activated.device_id !== deviceId || activated.status !== "active") {
        throw new DeviceError(`activate: unexpected answer (status ${String(activated.status)})`);
      }
    } catch (err) {
      await opts.store.remove(deviceId);
      throw err;
    }
    return new DeviceClient(device, opts.store, opts);
  }

  /** The named device from the store, or its only device when none is named. */
  static async load(store: DeviceStore, deviceId?: string, opts: ClientOptions = {}): Promise<DeviceClient> {
    return new DeviceClient(await store.resolve(deviceId), store, opts);
  }

  /** Authentication steps 3–4: fetch, decrypt and verify pending challenges; refused ones say why. */
  async listChallenges(): Promise<ChallengeList> {
    const list: ChallengeList = { challenges: [], refused: [] };
    const listed = new Map<string, WireChallenge>();
    for (const item of await this.#pending()) {
      if ("reason" in item) {
        list.refused.push(item);
        continue;
      }
      listed.set(item.id, item);
      await this.#verifyInto(item, list);
    }
    this.#listed = listed;
    return list;
  }

  /**
   * A challenge pushed on the live channel: `challenge.created` carries the entry the listing would
   * show. It is decrypted and checked exactly like a listed one (so the socket is trusted no more than
   * the listing), and kept so that `respond` right after needs no request but the answer.
   */
  async accept(raw: unknown): Promise<ChallengeList> {
    const list: ChallengeList = { challenges: [], refused: [] };
    const item = wireChallenge(raw);
    if ("reason" in item) {
      list.refused.push(item);
      return list;
    }
    if (await this.#verifyInto(item, list)) {
      // Bounded: entries leave when answered or at the next listing; a device left unanswered for long
      // must not grow this without end.
      if (this.#listed.size >= MAX_KEPT_ENTRIES) this.#listed.clear();
      this.#listed.set(item.id, item);
    }
    return list;
  }

  /** Decrypts and checks one entry into `list`; whether it passed. */
  async #verifyInto(item: WireChallenge, list: ChallengeList): Promise<boolean> {
    try {
      const plain = await this.#open(item);
      list.challenges.push({
        id: item.id,
        context: item.context,
        created_at: item.created_at,
        expires_at: shownExpiry(item.expires_at, plain.exp),
        number_matching: item.number_matching,
      });
      return true;
    } catch (err) {
      list.refused.push({ id: item.id, reason: message(err) });
      return false;
    }
  }

  /**
   * Answers a pending challenge. The entropy is recovered by decrypting the challenge again (it is never
   * kept or handed out); a denial carries it too, so only a holder of the key can deny. An approval of a
   * number-matching challenge needs `number`, what the user typed from the login page; without it the
   * call fails here rather than spend one of the challenge's few attempts. Right after `listChallenges`
   * the entry it fetched is used (one request instead of two); otherwise the challenge is listed first.
   */
  async respond(
    challengeId: string,
    decision: Decision,
    opts: { reason?: string; number?: string } = {},
  ): Promise<ChallengeResult> {
    // Taken once: a second answer to the same challenge lists again and finds it gone.
    const cached = this.#listed.get(challengeId);
    this.#listed.delete(challengeId);
    const item = cached ?? (await this.#pending()).find((c) => c.id === challengeId);
    if (!item) {
      throw new DeviceError(
        `${challengeId} is not pending for this device (answered, expired, cancelled or unknown)`,
      );
    }
    if ("reason" in item) throw new DeviceError(`refusing ${challengeId}: ${item.reason}`);
    let plain: ChallengePlaintext;
    try {
      plain = await this.#open(item);
    } catch (err) {
      throw new DeviceError(`refusing ${challengeId}: ${message(err)}`);
    }
    let number: string | undefined;
    if (decision === "approve" && item.number_matching) {
      if (opts.number === undefined) {
        throw new DeviceError(`${challengeId} needs the number shown on the login page to approve it`);
      }
      number = normalizeMatchNumber(opts.number);
    }
    const result = await call(
      this.#http,
      this.#device.base_url,
      "POST",
      `/v1/device/challenges/${encodeURIComponent(challengeId)}/response`,
      {
        token: this.#device.device_token,
        body: {
          entropy: plain.entropy,
          decision,
          ...(opts.reason !== undefined && { reason: opts.reason }),
          ...(number !== undefined && { number }),
        },
      },
    );
    if (result.id !== challengeId || typeof result.status !== "string") {
      throw new DeviceError("respond: unexpected answer from the server");
    }
    return result as ChallengeResult;
  }

  /**
   * Opens the live channel, `GET /v1/device/connect` as a WebSocket (ws:// or wss:// after the base
   * URL's scheme), authenticated with the device token in the Authorization header. The token stays
   * inside this object. `watch` (watch.ts) drives the socket.
   */
  openChannel(): SocketLike {
    const url = new URL(`${this.#device.base_url}/v1/device/connect`);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(url, {
      protocols: ["encrypxon.v1"],
      headers: { authorization: `Bearer ${this.#device.device_token}`, "user-agent": USER_AGENT },
    });
    // undici's WebSocket is the WHATWG one; SocketLike names the part of it that watch uses.
    return socket as unknown as SocketLike;
  }

  /**
   * Unregisters this device on the server, then deletes its key. A 401 means the server no longer knows
   * the token (already revoked or removed), so the key is useless and is deleted as well.
   */
  async remove(): Promise<{ server: "revoked" | "already-gone" }> {
    let server: "revoked" | "already-gone" = "revoked";
    try {
      await call(this.#http, this.#device.base_url, "DELETE", "/v1/device", {
        token: this.#device.device_token,
      });
    } catch (err) {
      if (!(err instanceof DeviceApiError && err.status === 401)) throw err;
      server = "already-gone";
    }
    await this.#store.remove(this.#device.device_id);
    return { server };
  }

  /** The listing, each entry either well-formed or already refused with a reason. */
  async #pending(): Promise<(WireChallenge | RefusedChallenge)[]> {
    const answer = await call(this.#http, this.#device.base_url, "GET", "/v1/device/challenges", {
      token: this.#device.device_token,
    });
    if (!Array.isArray(answer.data)) throw new DeviceError("list: unexpected answer from the server");
    return answer.data.map((raw: unknown) => wireChallenge(raw));
  }

  async #open(item: WireChallenge): Promise<ChallengePlaintext> {
    if (item.key_format !== this.#device.key_format) {
      throw new DeviceError(
        `encrypted for ${item.key_format}, but this device holds a ${this.#device.key_format} key`,
      );
    }
    let bytes: Uint8Array;
    try {
      bytes = await decryptForDevice(
        this.#device.key_format,
        this.#device.private_jwk,
        fromBase64Url(item.ciphertext),
      );
    } catch {
      // Not this key's ciphertext, or tampered with; the crypto library's message adds nothing useful.
      throw new DeviceError("ciphertext does not decrypt with this device's key");
    }
    // Binds the ciphertext to the id we were shown (no replay onto another challenge) and enforces exp.
    return parseChallengePlaintext(bytes, item.id, Math.floor(this.#now() / 1000));
  }
}

function wireChallenge(raw: unknown): WireChallenge | RefusedChallenge {
  const o = isObject(raw) ? raw : {};
  const id = typeof o.id === "string" ? o.id : "(no id)";
  if (typeof o.ciphertext !== "string" || typeof o.key_format !== "string" || !isObject(o.context)) {
    return { id, reason: "malformed entry in the server's listing" };
  }
  const context: ChallengeContext = {};
  for (const field of CONTEXT_FIELDS) {
    const value = o.context[field];
    if (typeof value === "string") context[field] = value;
  }
  const created = typeof o.created_at === "string" ? o.created_at : "";
  return {
    id,
    key_format: o.key_format,
    ciphertext: o.ciphertext,
    context,
    created_at: created,
    expires_at: typeof o.expires_at === "string" ? o.expires_at : "",
    number_matching: o.number_matching === true,
  };
}

/**
 * What to show as a challenge's expiry. The plaintext's `exp` is the server's instant cut to whole
 * seconds, so a listing within that second is the same instant, exactly; a listing later than that
 * cannot extend the verified `exp`, and an earlier one wins. A missing or unreadable listing: `exp`.
 */
function shownExpiry(listed: string, exp: number): string {
  const verified = exp * 1000;
  const ms = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(listed) ? Date.parse(listed) : Number.NaN;
  return new Date(Number.isFinite(ms) && ms < verified + 1000 ? ms : verified).toISOString();
}

/** The pause before the one retry of a call that did not reach the service (or Retry-After, ≤ 2 s). */
const RETRY_MS = 300;
const MAX_RETRY_AFTER_MS = 2_000;

/**
 * Whether a failed attempt can be sent again: a connection refused (nothing was sent), any connection
 * failure of a GET or DELETE, or a 502/503/504 that is not the service's own problem+json (a proxy or
 * the platform answered in its place). Even an answer that did land is safe to resend: a challenge
 * takes its first answer only, and a second gets 409 challenge-closed.
 */
function retryable(method: string, failure: { error: unknown } | { response: Response }): boolean {
  if ("error" in failure) {
    const cause = failure.error instanceof Error ? failure.error.cause : undefined;
    const code = cause instanceof Error ? (cause as Error & { code?: unknown }).code : undefined;
    if (failure.error instanceof Error && failure.error.name === "TimeoutError") return false;
    return method !== "POST" || code === "ECONNREFUSED";
  }
  const { status, headers } = failure.response;
  return (
    (status === 502 || status === 503 || status === 504) &&
    !(headers.get("content-type") ?? "").startsWith("application/problem+json")
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function retryDelay(response: Response | null): number {
  const after = Number(response?.headers.get("retry-after"));
  return Number.isFinite(after) && after > 0 ? Math.min(after * 1000, MAX_RETRY_AFTER_MS) : RETRY_MS;
}

/**
 * One JSON call, sent again once if it did not reach the service (see `retryable`). Non-2xx answers
 * become DeviceApiError; 204 becomes an empty object.
 */
async function call(
  http: Http,
  baseUrl: string,
  method: "GET" | "POST" | "DELETE",
  path: string,
  opts: { token?: string; body?: Json },
): Promise<Json> {
  const headers: Record<string, string> = {
    accept: "application/json, application/problem+json",
    "user-agent": USER_AGENT,
  };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body) headers["content-type"] = "application/json";
  let response: Response;
  for (let attempt = 1; ; attempt++) {
    try {
      response = await http.fetch(`${baseUrl}${path}`, {
        method,
        headers,
        ...(opts.body && { body: JSON.stringify(opts.body) }),
        signal: AbortSignal.timeout(http.timeoutMs),
        redirect: "error", // a redirect would resend the bearer token somewhere we did not choose
      });
    } catch (err) {
      if (attempt === 1 && retryable(method, { error: err })) {
        await sleep(RETRY_MS);
        continue;
      }
      // undici says only "fetch failed"; the cause (ECONNREFUSED, ENOTFOUND, …) is what a user needs.
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : "";
      throw new DeviceError(`cannot reach ${baseUrl}: ${message(err)}${cause}`);
    }
    if (attempt === 1 && retryable(method, { response })) {
      await response.body?.cancel();
      await sleep(retryDelay(response));
      continue;
    }
    break;
  }
  const text = await response.text();
  if (!response.ok) throw new DeviceApiError(problemFrom(response, text));
  if (response.status === 204 || text === "") return {};
  try {
    const value: unknown = JSON.parse(text);
    if (isObject(value)) return value;
  } catch {}
  throw new DeviceError(`${method} ${path}: the server's answer is not a JSON object`);
}

function problemFrom(response: Response, text: string): ProblemDetails {
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {}
  const fallback = response.statusText || "Error";
  if (!isObject(body)) {
    return { type: "about:blank", title: fallback, status: response.status, detail: fallback };
  }
  const { errors: rawErrors, ...rest } = body;
  const errors = Array.isArray(rawErrors) ? rawErrors.filter(isFieldError) : undefined;
  return {
    ...rest,
    ...(errors && { errors }),
    type: typeof body.type === "string" ? body.type : "about:blank",
    title: typeof body.title === "string" ? body.title : fallback,
    status: response.status, // the HTTP status is the truth; a body could claim anything
    detail: typeof body.detail === "string" ? body.detail : fallback,
  };
}

function isFieldError(v: unknown): v is { field: string; message: string } {
  return isObject(v) && typeof v.field === "string" && typeof v.message === "string";
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(o: Json, field: string, what: string): string {
  const v = o[field];
  if (typeof v !== "string" || v === "") {
    throw new DeviceError(`${what}: the server's answer lacks "${field}"`);
  }
  return v;
}

function optStr(o: Json, field: string): string | undefined {
  const v = o[field];
  return typeof v === "string" ? v : undefined;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
