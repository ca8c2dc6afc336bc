import { describe, expect, it } from "vitest";
import { answer, call, createApp, enrollDevice, entropyFor } from "./helpers";

describe("the whole flow", () => {
  for (const format of ["ecies-p256", "rsa-oaep-sha1", "rsa-oaep-sha256"] as const) {
    it(`enrolls a ${format} device, challenges it and gets the approval`, async () => {
      const app = await createApp();
      const device = await enrollDevice(app, "alice", format);

      const enrollments = await call("GET", "/v1/users/alice/devices", { key: app.apiKey });
      expect(enrollments.status).toBe(200);
      expect(enrollments.body.data).toHaveLength(1);
      expect(enrollments.body.data[0]).toMatchObject({
        id: device.deviceId,
        status: "active",
        key_format: format,
      });
      expect(JSON.stringify(enrollments.body)).not.toMatch(/public_key|token_hash/);

      const created = await call("POST", "/v1/challenges", {
        key: app.apiKey,
        body: { user_id: "alice", context: { title: "Sign in to Example", ip: "203.0.113.9" } },
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ status: "pending", user_id: "alice", devices: 1 });
      const id = created.body.id as string;

      const listed = await call("GET", "/v1/device/challenges", { token: device.token });
      expect(listed.body.data[0]).toMatchObject({ id, context: { title: "Sign in to Example" } });

      const res = await answer(device, id, "approve");
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id, status: "approved", device_id: device.deviceId });

      const after = await call("GET", `/v1/challenges/${id}`, { key: app.apiKey });
      expect(after.body.status).toBe("approved");
      const again = await call("GET", "/v1/device/challenges", { token: device.token });
      expect(again.body.data).toHaveLength(0);
    });
  }

  it("records a deny, which needs the entropy too", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "bob");
    const created = await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: "bob" } });
    const id = created.body.id as string;
    const entropy = await entropyFor(device, id);
    const res = await answer(device, id, "deny", entropy);
    expect(res.body.status).toBe("denied");
  });
});
