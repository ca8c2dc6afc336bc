import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { answer, call, createApp, enrollDevice, entropyFor, expectProblem } from "./helpers";

afterEach(() => {
  vi.useRealTimers();
});

describe("challenge expiry", () => {
  it("is enforced by the object's alarm, audited, and a late answer does not resurrect it", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "carol");
    const created = await call("POST", "/v1/challenges", {
      key: app.apiKey,
      body: { user_id: "carol", ttl_seconds: 30 },
    });
    const id = created.body.id as string;
    const entropy = await entropyFor(device, id);

    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 31_000);
    const stub = env.CHALLENGES.get(env.CHALLENGES.idFromName(id));
    expect(await runDurableObjectAlarm(stub)).toBe(true);

    const row = await env.DB.prepare("SELECT status FROM challenges WHERE id = ?1")
      .bind(id)
      .first<{ status: string }>();
    expect(row?.status).toBe("expired");
    const got = await call("GET", `/v1/challenges/${id}`, { key: app.apiKey });
    expect(got.body.status).toBe("expired");

    const late = await answer(device, id, "approve", entropy);
    expect(expectProblem(late, 409).challenge_status).toBe("expired");
    const audit = await call("GET", `/v1/audit?type=challenge.resolved`, { key: app.apiKey });
    expect(audit.body.data.map((e: { outcome: string }) => e.outcome)).toEqual(["expired"]);
  });
});
