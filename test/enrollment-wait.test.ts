import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  decryptForDevice,
  fromBase64Url,
  generateDeviceKey,
  parseTokenPlaintext,
} from "../packages/device/src/crypto";
import { call, codeOf, createApp } from "./helpers";

const waiterOf = (id: string) => env.ENROLLMENT_WAITERS.get(env.ENROLLMENT_WAITERS.idFromName(id));

describe("enrollment long-poll", () => {
  it("returns the moment the device activates", async () => {
    const app = await createApp();
    const enr = await call("POST", "/v1/enrollments", { key: app.apiKey, body: { user_id: "alice" } });
    const poll = call("GET", `/v1/enrollments/${enr.body.id}?wait=20`, { key: app.apiKey });

    const key = await generateDeviceKey("ecies-p256");
    const claimed = await call("POST", "/v1/device/enroll", {
      body: { code: codeOf(enr.body.enrollment_uri), key_format: "ecies-p256", public_key: key.publicKey },
    });
    const plain = await decryptForDevice(
      "ecies-p256",
      key.privateJwk,
      fromBase64Url(claimed.body.encrypted_device_token),
    );
    const token = parseTokenPlaintext(plain, claimed.body.device_id);
    const activated = await call("POST", "/v1/device/activate", {
      body: { device_id: claimed.body.device_id, device_token: token },
    });
    expect(activated.status).toBe(200);
    expect((await poll).body).toMatchObject({ status: "completed", device_id: claimed.body.device_id });
  });

  it("returns the moment the application cancels", async () => {
    const app = await createApp();
    const enr = await call("POST", "/v1/enrollments", { key: app.apiKey, body: { user_id: "alice" } });
    const poll = call("GET", `/v1/enrollments/${enr.body.id}?wait=20`, { key: app.apiKey });
    await new Promise((r) => setTimeout(r, 50));
    expect((await call("DELETE", `/v1/enrollments/${enr.body.id}`, { key: app.apiKey })).status).toBe(200);
    expect((await poll).body.status).toBe("cancelled");
  });

  it("waits on its object instead of polling D1", async () => {
    const app = await createApp();
    const enr = await call("POST", "/v1/enrollments", { key: app.apiKey, body: { user_id: "alice" } });
    const original = env.DB.prepare.bind(env.DB);
    let enrollmentReads = 0;
    env.DB.prepare = (sql: string) => {
      if (/FROM enrollments/i.test(sql) && /^\s*SELECT/i.test(sql)) enrollmentReads++;
      return original(sql);
    };
    try {
      const res = await call("GET", `/v1/enrollments/${enr.body.id}?wait=2`, { key: app.apiKey });
      expect(res.body.status).toBe("pending");
    } finally {
      env.DB.prepare = original;
    }
    // One read before waiting and one after: no polling in between.
    expect(enrollmentReads).toBe(2);
  });

  it("a wake that comes before the wait is not lost", async () => {
    const stub = waiterOf("enr_test_wake_first");
    await stub.wake();
    expect(await stub.wait(20_000)).toBe(true);
    expect(await waiterOf("enr_test_never_woken").wait(10)).toBe(false);
  });
});
