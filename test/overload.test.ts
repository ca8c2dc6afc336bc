// The platform saying "not now" (an overloaded object, storage out of memory) is a 503 with
// Retry-After that leaves nothing behind, not a 500.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { isTransientPlatformError, Problem } from "../src/http/problem";
import { call, createApp, enrollDevice, expectProblem } from "./helpers";

describe("isTransientPlatformError", () => {
  it("knows the platform's busy signals and nothing else", () => {
    const flagged = (flag: "overloaded" | "retryable") =>
      Object.assign(new Error("Durable Object request failed"), { [flag]: true });
    expect(isTransientPlatformError(flagged("overloaded"))).toBe(true);
    expect(isTransientPlatformError(flagged("retryable"))).toBe(true);
    expect(isTransientPlatformError(new Error("out of memory: SQLITE_NOMEM"))).toBe(true);
    expect(
      isTransientPlatformError(
        new Error("Durable Object's isolate exceeded its memory limit and was reset."),
      ),
    ).toBe(true);
    expect(
      isTransientPlatformError(new Error("Durable Object is overloaded. Too many requests queued.")),
    ).toBe(true);
    // How workerd shows JavaScript a failure inside the runtime (here: opening an object's database).
    expect(isTransientPlatformError(new Error("internal error; reference = vsk3g75ifio214rvc9rmtur4"))).toBe(
      true,
    );
    expect(isTransientPlatformError(new Error("D1_ERROR: UNIQUE constraint failed"))).toBe(false);
    expect(isTransientPlatformError(new Error("my internal error; reference = x y"))).toBe(false);
    expect(isTransientPlatformError(Object.assign(new Error("x"), { retryable: "yes" }))).toBe(false);
    expect(isTransientPlatformError(new Problem(400, "invalid-request", "Invalid", "no"))).toBe(false);
    expect(isTransientPlatformError("out of memory: SQLITE_NOMEM")).toBe(false);
  });
});

describe("storage out of memory while a challenge is created", () => {
  it("answers 503 with Retry-After, writes nothing, and frees the user's pending slot", async () => {
    const app = await createApp();
    await enrollDevice(app, "omar");
    const limits = { user_pending_challenges: 1 };
    expect((await call("PATCH", "/v1/settings", { key: app.apiKey, body: { limits } })).status).toBe(200);
    const count = async () =>
      (
        await env.DB.prepare("SELECT COUNT(*) AS n FROM challenges WHERE app_id = ?1")
          .bind(app.appId)
          .first<{ n: number }>()
      )?.n;
    const before = await count();
    // What the storage layer says when the process's SQLite memory is exhausted.
    await env.DB.prepare(
      "CREATE TRIGGER nomem BEFORE INSERT ON challenges BEGIN SELECT RAISE(ABORT, 'out of memory: SQLITE_NOMEM'); END",
    ).run();
    try {
      const res = await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: "omar" } });
      const problem = expectProblem(res, 503);
      expect(problem.type).toMatch(/\/unavailable$/);
      expect(res.headers.get("retry-after")).toBe("1");
      expect(JSON.stringify(res.body)).not.toMatch(/SQLITE|memory|D1|trigger/i);
    } finally {
      await env.DB.prepare("DROP TRIGGER nomem").run();
    }
    expect(await count()).toBe(before);
    // The one pending slot was given back, so the retry the 503 asks for goes through.
    let retried = await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: "omar" } });
    for (let i = 0; i < 50 && retried.status === 429; i++) {
      await new Promise((r) => setTimeout(r, 20));
      retried = await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: "omar" } });
    }
    expect(retried.status).toBe(201);
  });
});
