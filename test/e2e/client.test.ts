// @encrypxon/client against the real Worker under `wrangler dev`: every SDK method, the error mapping
// and the audit pagination. The reference device library plays the phone.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type AuditEvent, Encrypxon2FaClient, EncrypxonError } from "../../packages/client/src/index";
import { DeviceClient, DeviceStore } from "../../packages/device/src/index";
import { type E2eServer, startServer } from "./harness";

const id = (prefix: string) => new RegExp(`^${prefix}_[0-9a-hjkmnp-tv-z]{26}$`);

let server: E2eServer;
let client: Encrypxon2FaClient;
let storeDir: string;
let phone: DeviceClient;

beforeAll(async () => {
  server = await startServer({ appName: "SDK Shop" });
  client = new Encrypxon2FaClient({ apiKey: server.apiKey, baseUrl: server.baseUrl });
  storeDir = await mkdtemp(path.join(os.tmpdir(), "encrypxon-sdk-device-"));
}, 120_000);

afterAll(async () => {
  await server?.cleanup();
  if (storeDir) await rm(storeDir, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<EncrypxonError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EncrypxonError);
  return err as EncrypxonError;
}

/** The phone answers the first pending challenge it sees (polling briefly until it is listed). */
async function answer(challengeId: string, decision: "approve" | "deny", reason?: string) {
  for (let i = 0; i < 50; i++) {
    const list = await phone.listChallenges();
    if (list.challenges.some((c) => c.id === challengeId)) {
      return phone.respond(challengeId, decision, reason === undefined ? {} : { reason });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`challenge ${challengeId} never reached the phone`);
}

describe("enrollments", () => {
  test("create, QR URL, get, and waitForEnrollment while the phone enrolls", async () => {
    const e = await client.createEnrollment({ user_id: "alice", user_label: "alice@example.com" });
    expect(e).toMatchObject({ object: "enrollment", user_id: "alice", status: "pending", device_id: null });
    expect(e.id).toMatch(id("enr"));
    const code = new URL(e.enrollment_uri.replace("encrypxon://", "https://x/")).searchParams.get("code");
    expect(code).toMatch(/^enc_/);
    expect(client.enrollmentQrUrl(e.id, code ?? "")).toBe(e.qr_svg_url);
    const svg = await fetch(e.qr_svg_url);
    expect(svg.status).toBe(200);
    expect(svg.headers.get("content-type")).toBe("image/svg+xml");
    expect(await svg.text()).toContain("<svg");

    await expect(client.getEnrollment(e.id)).resolves.toMatchObject({ id: e.id, status: "pending" });
    const waiting = client.waitForEnrollment(e.id, { timeoutMs: 30_000 });
    phone = await DeviceClient.enroll(e.enrollment_uri, {
      store: new DeviceStore(storeDir),
      name: "Alice's phone",
    });
    const done = await waiting;
    expect(done).toMatchObject({ id: e.id, status: "completed", device_id: phone.deviceId });
  });

  test("cancel, then cancel again is a 409 with enrollment_status", async () => {
    const e = await client.createEnrollment({ user_id: "bob", ttl_seconds: 60 });
    await expect(client.cancelEnrollment(e.id)).resolves.toMatchObject({ status: "cancelled" });
    const err = await rejection(client.cancelEnrollment(e.id));
    expect(err).toMatchObject({
      status: 409,
      slug: "enrollment-closed",
      type: "https://encrypxon.dev/problems/enrollment-closed",
      title: "Enrollment closed",
      extensions: { enrollment_status: "cancelled" },
      request: `DELETE /v1/enrollments/${e.id}`,
    });
    expect((await fetch(e.qr_svg_url)).status).toBe(404);
  });

  test("unknown enrollment is a 404 problem", async () => {
    const err = await rejection(client.getEnrollment("enr_00000000000000000000000000"));
    expect(err).toMatchObject({ status: 404, slug: "not-found", errors: [] });
  });
});

describe("devices", () => {
  test("listDevices shows the phone without key material", async () => {
    const devices = await client.listDevices("alice");
    expect(devices).toHaveLength(1);
    expect(devices[0]).toMatchObject({
      id: phone.deviceId,
      object: "device",
      status: "active",
      name: "Alice's phone",
      key_format: "ecies-p256",
    });
    expect(JSON.stringify(devices)).not.toMatch(/public_key|"x"|token/);
    await expect(client.listDevices("nobody/with slash")).resolves.toEqual([]);
  });
});

describe("challenges", () => {
  test("create + waitForResult while the phone approves", async () => {
    const c = await client.createChallenge({
      user_id: "alice",
      context: { title: "Sign in to SDK Shop", ip: "203.0.113.7" },
    });
    expect(c).toMatchObject({ object: "challenge", status: "pending", devices: 1 });
    expect(c.id).toMatch(id("chl"));
    const result = client.waitForResult(c.id, { timeoutMs: 30_000 });
    await answer(c.id, "approve");
    await expect(result).resolves.toMatchObject({ id: c.id, status: "approved", device_id: phone.deviceId });
    await expect(client.getChallenge(c.id)).resolves.toMatchObject({ status: "approved" });
  });

  test("create with wait_seconds returns the deny and its reason", async () => {
    const created = await client.createChallenge({ user_id: "alice" });
    // A second challenge made with wait_seconds: the phone denies it while the POST is held.
    const held = client.createChallenge({ user_id: "alice", wait_seconds: 20, context: { title: "held" } });
    await answer(created.id, "approve");
    const list = async () =>
      (await phone.listChallenges()).challenges.find((x) => x.context.title === "held");
    let pending = await list();
    for (let i = 0; !pending && i < 50; i++) {
      await new Promise((r) => setTimeout(r, 100));
      pending = await list();
    }
    expect(pending).toBeDefined();
    await phone.respond(pending?.id ?? "", "deny", { reason: "not me" });
    await expect(held).resolves.toMatchObject({ status: "denied", reason: "not me", devices: 1 });
  });

  test("waitForResult gives back the pending challenge when its time is up", async () => {
    const c = await client.createChallenge({ user_id: "alice" });
    const r = await client.waitForResult(c.id, { timeoutMs: 1_500 });
    expect(r.status).toBe("pending");
    await expect(client.cancelChallenge(c.id)).resolves.toMatchObject({ status: "cancelled" });
    const again = await rejection(client.cancelChallenge(c.id));
    expect(again).toMatchObject({
      status: 409,
      slug: "challenge-closed",
      extensions: { challenge_status: "cancelled" },
    });
  });

  test("validation errors carry the field list", async () => {
    const err = await rejection(client.createChallenge({ user_id: "" }));
    expect(err.status).toBe(400);
    expect(err.slug).toBe("invalid-request");
    expect(err.errors).toEqual([{ field: "user_id", message: "must not be empty" }]);
    expect(err.detail).toBe("user_id: must not be empty");
  });

  test("a user without a device is a 422", async () => {
    const err = await rejection(client.createChallenge({ user_id: "carol" }));
    expect(err).toMatchObject({ status: 422, slug: "no-active-device" });
  });

  test("a wrong API key is a 401 with the same body either way", async () => {
    const bad = new Encrypxon2FaClient({ apiKey: "ek_test_nope", baseUrl: server.baseUrl });
    const err = await rejection(bad.listDevices("alice"));
    expect(err).toMatchObject({ status: 401, slug: "unauthorized" });
  });
});

describe("audit", () => {
  test("pages, the async iterators and filters agree with one big page", async () => {
    const all = await client.listAudit({ user_id: "alice", limit: 200 });
    expect(all.has_more).toBe(false);
    expect(all.data.length).toBeGreaterThan(5);

    const first = await client.listAudit({ user_id: "alice", limit: 2 });
    expect(first).toMatchObject({ object: "list", has_more: true });
    expect(first.next_cursor).toMatch(id("evt"));
    expect(first.data.map((e) => e.id)).toEqual(all.data.slice(0, 2).map((e) => e.id));

    const seen: AuditEvent[] = [];
    for await (const e of client.auditEvents({ user_id: "alice", limit: 2 })) seen.push(e);
    expect(seen.map((e) => e.id)).toEqual(all.data.map((e) => e.id));

    let pages = 0;
    for await (const page of client.auditPages({ user_id: "alice", limit: 3 })) {
      pages++;
      expect(page.data.length).toBeLessThanOrEqual(3);
    }
    expect(pages).toBe(Math.ceil(all.data.length / 3));

    const resolved = await client.listAudit({ type: "challenge.resolved", outcome: "approved" });
    expect(resolved.data.length).toBeGreaterThanOrEqual(2);
    expect(resolved.data.every((e) => e.type === "challenge.resolved" && e.outcome === "approved")).toBe(
      true,
    );
    const future = await client.listAudit({ since: new Date(Date.now() + 3_600_000) });
    expect(future.data).toEqual([]);
  });

  test("a forged cursor is a 400", async () => {
    const err = await rejection(client.listAudit({ cursor: "12" }));
    expect(err).toMatchObject({ status: 400, slug: "invalid-request" });
  });
});

describe("revocation", () => {
  test("revokeDevice, then again is a 409, and the user can no longer be challenged", async () => {
    await expect(client.revokeDevice(phone.deviceId)).resolves.toMatchObject({
      id: phone.deviceId,
      status: "revoked",
    });
    const again = await rejection(client.revokeDevice(phone.deviceId));
    expect(again).toMatchObject({ status: 409, slug: "device-revoked" });
    const none = await rejection(client.createChallenge({ user_id: "alice" }));
    expect(none.slug).toBe("no-active-device");
  });

  test("the server logged no errors and no secret", () => {
    server.secret(server.apiKey);
    expect(server.logProblems()).toEqual([]);
  });
});
