import { describe, expect, it } from "vitest";
import { answer, call, codeOf, createApp, enrollDevice, expectProblem } from "./helpers";

describe("tenant isolation", () => {
  it("application B sees none of application A's resources", async () => {
    const a = await createApp("A");
    const b = await createApp("B");
    const device = await enrollDevice(a, "shared-user-id");
    const enr = await call("POST", "/v1/enrollments", { key: a.apiKey, body: { user_id: "shared-user-id" } });
    const chl = await call("POST", "/v1/challenges", { key: a.apiKey, body: { user_id: "shared-user-id" } });

    expectProblem(await call("GET", `/v1/enrollments/${enr.body.id}`, { key: b.apiKey }), 404);
    expectProblem(await call("DELETE", `/v1/enrollments/${enr.body.id}`, { key: b.apiKey }), 404);
    expectProblem(await call("GET", `/v1/challenges/${chl.body.id}`, { key: b.apiKey }), 404);
    expectProblem(await call("GET", `/v1/challenges/${chl.body.id}?wait=1`, { key: b.apiKey }), 404);
    expectProblem(await call("DELETE", `/v1/challenges/${chl.body.id}`, { key: b.apiKey }), 404);
    expectProblem(await call("DELETE", `/v1/devices/${device.deviceId}`, { key: b.apiKey }), 404);
    const devices = await call("GET", "/v1/users/shared-user-id/devices", { key: b.apiKey });
    expect(devices.body.data).toEqual([]);
    const audit = await call("GET", "/v1/audit", { key: b.apiKey });
    expect(audit.body.data).toEqual([]);
    // B cannot challenge A's user either: to B that user has no device.
    expectProblem(
      await call("POST", "/v1/challenges", { key: b.apiKey, body: { user_id: "shared-user-id" } }),
      422,
    );

    // A's resources are untouched by B's attempts.
    expect((await call("GET", `/v1/challenges/${chl.body.id}`, { key: a.apiKey })).body.status).toBe(
      "pending",
    );
    expect((await answer(device, chl.body.id, "approve")).body.status).toBe("approved");
    expect(codeOf(enr.body.enrollment_uri)).toMatch(/^enc_/);
    expect((await call("GET", `/v1/enrollments/${enr.body.id}`, { key: a.apiKey })).body.status).toBe(
      "pending",
    );
  });

  it("a device of application B cannot answer application A's challenge", async () => {
    const a = await createApp("A");
    const b = await createApp("B");
    await enrollDevice(a, "u");
    const intruder = await enrollDevice(b, "u");
    const chl = await call("POST", "/v1/challenges", { key: a.apiKey, body: { user_id: "u" } });
    expectProblem(await answer(intruder, chl.body.id, "approve", "A".repeat(43)), 404);
    const listed = await call("GET", "/v1/device/challenges", { token: intruder.token });
    expect(listed.body.data).toEqual([]);
  });
});
