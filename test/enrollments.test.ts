import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  decryptForDevice,
  fromBase64Url,
  generateDeviceKey,
  parseTokenPlaintext,
} from "../packages/device/src/crypto";
import { BASE, call, codeOf, createApp, enrollDevice, expectProblem } from "./helpers";

async function newEnrollment(userId = "alice", extra: Record<string, unknown> = {}) {
  const app = await createApp("Acme Shop");
  const res = await call("POST", "/v1/enrollments", { key: app.apiKey, body: { user_id: userId, ...extra } });
  expect(res.status).toBe(201);
  return { app, enrollment: res.body, code: codeOf(res.body.enrollment_uri) };
}

async function claim(code: string, format: "ecies-p256" | "rsa-oaep-sha256" = "ecies-p256") {
  const key = await generateDeviceKey(format);
  const res = await call("POST", "/v1/device/enroll", {
    body: { code, key_format: format, public_key: key.publicKey },
  });
  return { res, key };
}

describe("POST /v1/enrollments", () => {
  it("returns the enrollment with a QR payload whose code is stored only as a hash", async () => {
    const { enrollment, code } = await newEnrollment("alice@example.com", { user_label: "Alice" });
    expect(enrollment).toMatchObject({
      object: "enrollment",
      status: "pending",
      user_id: "alice@example.com",
      device_id: null,
    });
    expect(enrollment.id).toMatch(/^enr_[0-9a-z]{26}$/);
    expect(Date.parse(enrollment.expires_at) - Date.parse(enrollment.created_at)).toBe(600_000);
    const uri = new URL(enrollment.enrollment_uri.replace(/^encrypxon:/, "https:"));
    expect(enrollment.enrollment_uri.startsWith("encrypxon://enroll?")).toBe(true);
    expect(Object.fromEntries(uri.searchParams)).toMatchObject({
      v: "1",
      url: BASE,
      app: "Acme Shop",
      user: "Alice",
    });
    expect(code).toMatch(/^enc_[A-Za-z0-9_-]{43}$/);
    const stored = await env.DB.prepare("SELECT code_hash FROM enrollments WHERE id = ?1")
      .bind(enrollment.id)
      .first();
    expect(JSON.stringify(stored)).not.toContain(code);
    const again = await call("GET", `/v1/enrollments/${enrollment.id}`, {
      key: (await createApp()).apiKey,
    });
    expectProblem(again, 404);
  });

  it("serves the QR as SVG while the code is usable, and not after", async () => {
    const { enrollment, code } = await newEnrollment();
    const svg = await call(
      "GET",
      new URL(enrollment.qr_svg_url).pathname + new URL(enrollment.qr_svg_url).search,
    );
    expect(svg.status).toBe(200);
    expect(svg.headers.get("content-type")).toBe("image/svg+xml");
    expect(svg.body).toMatch(/^<svg[\s\S]*<\/svg>$/);
    // Whatever does not match (no code, another code, another id, a used code), one answer that says so.
    const other = await newEnrollment("bob");
    const refused = [
      `/v1/enrollments/${enrollment.id}/qr.svg`,
      `/v1/enrollments/${enrollment.id}/qr.svg?code=enc_${"A".repeat(43)}`,
      `/v1/enrollments/${enrollment.id}/qr.png?code=${other.code}`,
      `/v1/enrollments/${other.enrollment.id}/qr.svg?code=${code}`,
      `/v1/enrollments/enr_nope/qr.png?code=${code}`,
    ];
    await claim(code);
    refused.push(`/v1/enrollments/${enrollment.id}/qr.svg?code=${code}`);
    const bodies = new Set<string>();
    for (const path of refused) {
      const p = expectProblem(await call("GET", path), 404);
      expect(p.detail, path).toBe("The id and code do not match a pending enrollment.");
      bodies.add(JSON.stringify(p));
    }
    expect(bodies.size).toBe(1);
  });

  it("validates input", async () => {
    const app = await createApp();
    for (const body of [
      {},
      { user_id: 5 },
      { user_id: "x", ttl_seconds: 30 },
      { user_id: "x", ttl_seconds: 3601 },
    ]) {
      expectProblem(await call("POST", "/v1/enrollments", { key: app.apiKey, body }), 400);
    }
  });
});

describe("device enrollment", () => {
  it("completes only after proof of possession, then the app sees completed with the device id", async () => {
    const { app, enrollment, code } = await newEnrollment();
    const { res, key } = await claim(code);
    expect(res.status).toBe(201);
    const deviceId = res.body.device_id as string;
    expect(res.body).toMatchObject({ key_format: "ecies-p256", app_name: "Acme Shop", user_label: "alice" });
    const mid = await call("GET", `/v1/enrollments/${enrollment.id}`, { key: app.apiKey });
    expect(mid.body).toMatchObject({ status: "pending", device_id: null });

    const plain = await decryptForDevice(
      "ecies-p256",
      key.privateJwk,
      fromBase64Url(res.body.encrypted_device_token),
    );
    const token = parseTokenPlaintext(plain, deviceId);
    expectProblem(
      await call("POST", "/v1/device/activate", {
        body: { device_id: deviceId, device_token: `edt_${"B".repeat(43)}` },
      }),
      401,
    );
    // Not active yet: the token does not work for device calls.
    expectProblem(await call("GET", "/v1/device/challenges", { token }), 401);

    const act = await call("POST", "/v1/device/activate", {
      body: { device_id: deviceId, device_token: token },
    });
    expect(act.body).toMatchObject({ device_id: deviceId, status: "active" });
    expectProblem(
      await call("POST", "/v1/device/activate", { body: { device_id: deviceId, device_token: token } }),
      409,
    );
    const done = await call("GET", `/v1/enrollments/${enrollment.id}`, { key: app.apiKey });
    expect(done.body).toMatchObject({ status: "completed", device_id: deviceId });
    expect((await call("GET", "/v1/device/challenges", { token })).status).toBe(200);
  });

  it("a used code fails cleanly on a second scan", async () => {
    const { code } = await newEnrollment();
    expect((await claim(code)).res.status).toBe(201);
    const second = await claim(code);
    expect(expectProblem(second.res, 410).type).toMatch(/enrollment-code-invalid$/);
  });

  it("two devices racing on one code: exactly one wins, and only one device row exists", async () => {
    const { enrollment, code } = await newEnrollment();
    const results = await Promise.all(Array.from({ length: 6 }, () => claim(code)));
    const winners = results.filter((r) => r.res.status === 201);
    expect(winners).toHaveLength(1);
    for (const r of results.filter((r) => r.res.status !== 201)) expectProblem(r.res, 410);
    const rows = await env.DB.prepare("SELECT id FROM devices WHERE enrollment_id = ?1")
      .bind(enrollment.id)
      .all();
    expect(rows.results).toEqual([{ id: winners[0]!.res.body.device_id }]);
    const audits = await env.DB.prepare(
      "SELECT COUNT(*) AS n FROM audit_events WHERE type = 'device.enrolled' AND enrollment_id = ?1",
    )
      .bind(enrollment.id)
      .first<{ n: number }>();
    expect(audits?.n).toBe(1);
  });

  it("refuses an expired code", async () => {
    const { enrollment, code } = await newEnrollment();
    await env.DB.prepare("UPDATE enrollments SET expires_at = ?2 WHERE id = ?1")
      .bind(enrollment.id, Date.now() - 1)
      .run();
    expectProblem((await claim(code)).res, 410);
    const app = await env.DB.prepare("SELECT app_id FROM enrollments WHERE id = ?1")
      .bind(enrollment.id)
      .first();
    expect(app).not.toBeNull();
  });

  it("refuses public keys that are not what they claim, with a clear reason", async () => {
    const { code } = await newEnrollment();
    const rsa = await generateDeviceKey("rsa-oaep-sha256");
    const ec = await generateDeviceKey("ecies-p256");
    const bad: [string, unknown][] = [
      ["ecies-p256", "AAAA"],
      ["ecies-p256", rsa.publicKey],
      ["rsa-oaep-sha1", ec.publicKey],
      ["ecies-p256", { ...(ec.privateJwk as object) }],
      ["rsa-oaep-sha256", { kty: "RSA", n: "AQAB", e: "AQAB" }],
    ];
    for (const [key_format, public_key] of bad) {
      const res = await call("POST", "/v1/device/enroll", { body: { code, key_format, public_key } });
      const p = expectProblem(res, 400);
      expect(p.detail).toMatch(/public_key/);
    }
    expectProblem(
      await call("POST", "/v1/device/enroll", { body: { code, key_format: "dsa", public_key: "x" } }),
      400,
    );
    // None of the refusals used up the code.
    expect((await claim(code)).res.status).toBe(201);
  });

  it("activation must happen before the deadline", async () => {
    const { code } = await newEnrollment();
    const { res, key } = await claim(code);
    const deviceId = res.body.device_id as string;
    const token = parseTokenPlaintext(
      await decryptForDevice("ecies-p256", key.privateJwk, fromBase64Url(res.body.encrypted_device_token)),
      deviceId,
    );
    await env.DB.prepare("UPDATE devices SET activate_by = ?2 WHERE id = ?1")
      .bind(deviceId, Date.now() - 1)
      .run();
    expectProblem(
      await call("POST", "/v1/device/activate", { body: { device_id: deviceId, device_token: token } }),
      401,
    );
  });
});

describe("DELETE /v1/enrollments/{id}", () => {
  it("cancels a pending enrollment; its code stops working", async () => {
    const { app, enrollment, code } = await newEnrollment();
    const res = await call("DELETE", `/v1/enrollments/${enrollment.id}`, { key: app.apiKey });
    expect(res.body.status).toBe("cancelled");
    expectProblem((await claim(code)).res, 410);
    expectProblem(await call("DELETE", `/v1/enrollments/${enrollment.id}`, { key: app.apiKey }), 409);
  });

  it("refuses to cancel a completed enrollment", async () => {
    const app = await createApp();
    await enrollDevice(app, "zed");
    const row = await env.DB.prepare("SELECT id FROM enrollments WHERE app_id = ?1")
      .bind(app.appId)
      .first<{ id: string }>();
    expectProblem(await call("DELETE", `/v1/enrollments/${row!.id}`, { key: app.apiKey }), 409);
  });
});

describe("GET /v1/enrollments/{id}?wait", () => {
  it("returns when the enrollment completes", async () => {
    const app = await createApp();
    const res = await call("POST", "/v1/enrollments", { key: app.apiKey, body: { user_id: "w" } });
    const waiting = call("GET", `/v1/enrollments/${res.body.id}?wait=10`, { key: app.apiKey });
    const code = codeOf(res.body.enrollment_uri);
    const { res: enrolled, key } = await claim(code);
    const token = parseTokenPlaintext(
      await decryptForDevice(
        "ecies-p256",
        key.privateJwk,
        fromBase64Url(enrolled.body.encrypted_device_token),
      ),
      enrolled.body.device_id,
    );
    await call("POST", "/v1/device/activate", {
      body: { device_id: enrolled.body.device_id, device_token: token },
    });
    expect((await waiting).body.status).toBe("completed");
  });
});

describe("devices", () => {
  it("the app revokes a device; its token stops working at once and it leaves the active list", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "kim");
    const res = await call("DELETE", `/v1/devices/${device.deviceId}`, { key: app.apiKey });
    expect(res.body).toMatchObject({ id: device.deviceId, status: "revoked" });
    expectProblem(await call("GET", "/v1/device/challenges", { token: device.token }), 401);
    expectProblem(await call("DELETE", `/v1/devices/${device.deviceId}`, { key: app.apiKey }), 409);
    expectProblem(await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: "kim" } }), 422);
    const list = await call("GET", "/v1/users/kim/devices", { key: app.apiKey });
    expect(list.body.data[0].status).toBe("revoked");
  });

  it("a device removes itself", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "lee");
    expect((await call("DELETE", "/v1/device", { token: device.token })).status).toBe(204);
    expectProblem(await call("DELETE", "/v1/device", { token: device.token }), 401);
  });

  it("user ids with reserved URL characters round-trip through the path", async () => {
    const app = await createApp();
    await enrollDevice(app, "ann+2fa@example.com/x");
    const list = await call("GET", `/v1/users/${encodeURIComponent("ann+2fa@example.com/x")}/devices`, {
      key: app.apiKey,
    });
    expect(list.body.data).toHaveLength(1);
    expectProblem(await call("GET", "/v1/users/%E0%A4%A/devices", { key: app.apiKey }), 400);
  });
});
