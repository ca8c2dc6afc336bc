// The SDK's retry policy against a fake fetch: which calls are retried, how often, and how long it waits.
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  Encrypxon2FaClient,
  EncrypxonConnectionError,
  EncrypxonError,
} from "../../packages/client/src/index";

type Step = Response | Error;

const problem = (status: number, slug: string, extra: Record<string, unknown> = {}, headers = {}) =>
  new Response(
    JSON.stringify({
      type: `https://encrypxon.dev/problems/${slug}`,
      title: slug,
      status,
      detail: slug,
      ...extra,
    }),
    { status, headers: { "content-type": "application/problem+json", ...headers } },
  );
const ok = (body: unknown) =>
  new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json" } });

/** A fetch that plays the given answers in order and records what it was asked. */
function fakeFetch(steps: Step[]) {
  const calls: { url: string; method: string; headers: Headers; body: string | null }[] = [];
  const fn: typeof fetch = async (input, init) => {
    calls.push({
      url: String(input),
      method: init?.method ?? "GET",
      headers: new Headers(init?.headers),
      body: typeof init?.body === "string" ? init.body : null,
    });
    // A long-poll takes its time: with a faked clock, let it pass.
    const wait = new URL(String(input)).searchParams.get("wait");
    if (wait !== null && vi.isFakeTimers()) vi.setSystemTime(Date.now() + Number(wait) * 1000);
    const step = steps.shift();
    if (!step) throw new Error("fake fetch: no more answers");
    if (step instanceof Error) throw step;
    return step;
  };
  return { fn, calls };
}

const BASE_URL = "http://api.test";

const client = (f: typeof fetch, extra: Partial<ConstructorParameters<typeof Encrypxon2FaClient>[0]> = {}) =>
  new Encrypxon2FaClient({
    apiKey: "ek_test_x",
    baseUrl: `${BASE_URL}/`,
    fetch: f,
    retryDelayMs: 1,
    ...extra,
  });

const CHALLENGE = { id: "chl_1", object: "challenge", status: "pending" };

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("retries", () => {
  it("retries a GET after 503, 429 and a network error, then succeeds", async () => {
    const { fn, calls } = fakeFetch([
      problem(503, "unavailable"),
      problem(429, "rate-limited"),
      new TypeError("fetch failed"),
      ok(CHALLENGE),
    ]);
    const got = await client(fn, { retries: 3 }).getChallenge("chl_1");
    expect(got).toEqual(CHALLENGE);
    expect(calls).toHaveLength(4);
    expect(calls.every((c) => c.url === "http://api.test/v1/challenges/chl_1")).toBe(true);
    expect(calls[0]?.headers.get("x-api-key")).toBe("ek_test_x");
  });

  it("gives up after `retries` extra attempts with the last problem", async () => {
    const { fn, calls } = fakeFetch([problem(502, "a"), problem(502, "b"), problem(502, "c")]);
    const err = await client(fn, { retries: 2 })
      .listDevices("alice")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EncrypxonError);
    expect((err as EncrypxonError).slug).toBe("c");
    expect(calls).toHaveLength(3);
  });

  it("turns a network failure into EncrypxonConnectionError once retries are spent", async () => {
    const { fn, calls } = fakeFetch([new TypeError("down"), new TypeError("still down")]);
    const err = await client(fn, { retries: 1 })
      .getEnrollment("enr_1")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EncrypxonConnectionError);
    expect((err as Error).message).toContain("GET /v1/enrollments/enr_1");
    // Which server it could not reach: a wrong port shows at once.
    expect((err as EncrypxonConnectionError).baseUrl).toBe(BASE_URL);
    expect((err as Error).message).toContain(BASE_URL);
    expect((err as Error).cause).toBeInstanceOf(TypeError);
    expect(calls).toHaveLength(2);
  });

  it("retries DELETE (idempotent) but never POST", async () => {
    const del = fakeFetch([problem(500, "internal"), ok({ ...CHALLENGE, status: "cancelled" })]);
    await expect(client(del.fn).cancelChallenge("chl_1")).resolves.toMatchObject({ status: "cancelled" });
    expect(del.calls.map((c) => c.method)).toEqual(["DELETE", "DELETE"]);

    const post = fakeFetch([problem(503, "unavailable"), ok(CHALLENGE)]);
    const err = await client(post.fn)
      .createChallenge({ user_id: "alice" })
      .catch((e: unknown) => e);
    expect((err as EncrypxonError).status).toBe(503);
    expect(post.calls).toHaveLength(1);

    const net = fakeFetch([new TypeError("reset"), ok(CHALLENGE)]);
    await expect(client(net.fn).createEnrollment({ user_id: "alice" })).rejects.toBeInstanceOf(
      EncrypxonConnectionError,
    );
    expect(net.calls).toHaveLength(1);
  });

  it("does not retry 4xx answers other than 408/425/429", async () => {
    const { fn, calls } = fakeFetch([problem(404, "not-found"), ok(CHALLENGE)]);
    await expect(client(fn).getChallenge("chl_1")).rejects.toMatchObject({ status: 404, slug: "not-found" });
    expect(calls).toHaveLength(1);
  });

  it("retries: 0 turns retrying off", async () => {
    const { fn, calls } = fakeFetch([problem(503, "unavailable"), ok(CHALLENGE)]);
    await expect(client(fn, { retries: 0 }).getChallenge("chl_1")).rejects.toMatchObject({ status: 503 });
    expect(calls).toHaveLength(1);
  });
});

describe("backoff", () => {
  it("doubles a jittered delay per attempt, capped, and honours Retry-After within the cap", async () => {
    vi.useFakeTimers();
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    const { fn, calls } = fakeFetch([
      problem(503, "a"),
      problem(503, "b"),
      problem(503, "c"),
      problem(429, "d", {}, { "retry-after": "2" }),
      problem(429, "e", {}, { "retry-after": "120" }),
      ok(CHALLENGE),
    ]);
    const c = client(fn, { retries: 5, retryDelayMs: 100, maxRetryDelayMs: 300 });
    const done = c.getChallenge("chl_1");
    const attemptsAfter = async (ms: number) => {
      await vi.advanceTimersByTimeAsync(ms);
      return calls.length;
    };
    expect(await attemptsAfter(0)).toBe(1);
    // jitter 0.5: attempt 0 → 50 ms, 1 → 100 ms, 2 → 150 ms (half of the 300 cap), then Retry-After 2 s
    // and 120 s, both cut to the 300 ms cap
    const plan: [number, number][] = [
      [40, 1],
      [20, 2],
      [80, 2],
      [30, 3],
      [120, 3],
      [40, 4],
      [260, 4],
      [30, 5],
      [270, 5],
      [30, 6],
    ];
    for (const [ms, n] of plan) expect(await attemptsAfter(ms)).toBe(n);
    await expect(done).resolves.toEqual(CHALLENGE);
  });
});

describe("errors and requests", () => {
  it("carries problem+json fields and extension members", async () => {
    const { fn } = fakeFetch([
      problem(422, "wrong-entropy", {
        attempts_left: 2,
        errors: [{ field: "entropy", message: "no" }],
      }),
    ]);
    const err = (await client(fn)
      .createChallenge({ user_id: "a" })
      .catch((e: unknown) => e)) as EncrypxonError;
    expect(err).toBeInstanceOf(EncrypxonError);
    expect(err).toMatchObject({
      type: "https://encrypxon.dev/problems/wrong-entropy",
      title: "wrong-entropy",
      status: 422,
      detail: "wrong-entropy",
      errors: [{ field: "entropy", message: "no" }],
      extensions: { attempts_left: 2 },
      request: "POST /v1/challenges",
    });
  });

  it("makes a stand-in problem of a non-JSON error page", async () => {
    const { fn } = fakeFetch([
      new Response("<html>Bad gateway</html>", { status: 502, statusText: "Bad Gateway" }),
    ]);
    const err = (await client(fn, { retries: 0 })
      .listAudit()
      .catch((e: unknown) => e)) as EncrypxonError;
    expect(err).toMatchObject({ status: 502, type: "about:blank", title: "Bad Gateway" });
    expect(err.detail).toContain("Bad gateway");
  });

  it("encodes path segments and query parameters, and keeps the key out of inspection", async () => {
    const { fn, calls } = fakeFetch([
      ok({ object: "list", data: [] }),
      ok({ object: "list", data: [], has_more: false, next_cursor: null }),
    ]);
    const c = client(fn);
    await c.listDevices("alice/../x y");
    await c.listAudit({ user_id: "a b", since: new Date("2026-01-02T03:04:05Z"), limit: 5 });
    expect(calls[0]?.url).toBe("http://api.test/v1/users/alice%2F..%2Fx%20y/devices");
    expect(calls[1]?.url).toBe(
      "http://api.test/v1/audit?user_id=a+b&since=2026-01-02T03%3A04%3A05.000Z&limit=5",
    );
    expect(JSON.stringify(c)).not.toContain("ek_test_x");
    expect(c.enrollmentQrUrl("enr_1", "enc_a+b", "png")).toBe(
      "http://api.test/v1/enrollments/enr_1/qr.png?code=enc_a%2Bb",
    );
  });

  it("waitForResult long-polls with wait ≤ 25 until the status changes", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const { fn, calls } = fakeFetch([ok(CHALLENGE), ok(CHALLENGE), ok({ ...CHALLENGE, status: "approved" })]);
    const got = await client(fn).waitForResult("chl_1", { timeoutMs: 120_000 });
    expect(got.status).toBe("approved");
    expect(calls.map((c) => new URL(c.url).searchParams.get("wait"))).toEqual(["25", "25", "25"]);
  });

  it("waitForResult returns the pending state when the time is up", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const { fn, calls } = fakeFetch([ok(CHALLENGE), ok(CHALLENGE), ok(CHALLENGE)]);
    const got = await client(fn).waitForResult("chl_1", { timeoutMs: 30_500 });
    expect(got.status).toBe("pending");
    expect(calls.map((c) => new URL(c.url).searchParams.get("wait"))).toEqual(["25", "5"]);
  });

  it("a signal stops waitForResult at once, mid-poll, without a retry", async () => {
    const calls: string[] = [];
    const hanging: typeof fetch = (input, init) => {
      calls.push(String(input));
      return new Promise((_, reject) => {
        init?.signal?.addEventListener("abort", () => reject(init.signal?.reason), { once: true });
      });
    };
    const stop = new AbortController();
    const waiting = client(hanging, { retries: 3 }).waitForResult("chl_1", { signal: stop.signal });
    await new Promise((r) => setTimeout(r, 5));
    stop.abort();
    const err = await waiting.catch((e: unknown) => e);
    expect((err as Error).name).toBe("AbortError");
    expect(err).not.toBeInstanceOf(EncrypxonConnectionError);
    expect(calls).toHaveLength(1);
    // Already aborted: no request at all.
    await expect(client(hanging).waitForEnrollment("enr_1", { signal: stop.signal })).rejects.toThrow();
    expect(calls).toHaveLength(1);
  });
});
