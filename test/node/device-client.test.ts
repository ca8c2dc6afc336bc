// DeviceClient against an in-process fake of the device API (real ciphertexts from src/crypto): the
// protocol steps, the refusals a phone must make, and that secrets never surface.
import { chmod, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { inspect } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  DeviceApiError,
  DeviceClient,
  DeviceError,
  DeviceStore,
  KEY_FORMATS,
} from "../../packages/device/src/index";
import { FakeServer, json, problem, URI } from "./device-fake-server";

let root: string;
let store: DeviceStore;
let server: FakeServer;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "encrypxon-client-"));
  store = new DeviceStore(root);
  server = new FakeServer();
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const enroll = (format: (typeof KEY_FORMATS)[number] = "ecies-p256") =>
  DeviceClient.enroll(URI, { format, store, name: "test phone", fetch: server.fetch });

describe.each(KEY_FORMATS)("%s", (format) => {
  it("enrolls, lists, approves and denies", async () => {
    const client = await enroll(format);
    expect(client.deviceId).toBe(server.deviceId);
    expect(client.keyFormat).toBe(format);
    expect((await store.load(client.deviceId)).device_token).toBe(server.token);
    expect(server.seen.map((s) => `${s.method} ${s.path}`)).toEqual([
      "POST /v1/device/enroll",
      "POST /v1/device/activate",
    ]);
    expect(server.seen[0]?.body).toMatchObject({
      code: expect.stringMatching(/^enc_/),
      key_format: format,
      name: "test phone",
    });

    const a = await server.addChallenge({ context: { title: "Sign in", ip: "203.0.113.7", extra: 1 } });
    const b = await server.addChallenge();
    const listed = await client.listChallenges();
    expect(listed.refused).toEqual([]);
    expect(listed.challenges.map((c) => c.id)).toEqual([a, b]);
    expect(listed.challenges[0]?.context).toEqual({ title: "Sign in", ip: "203.0.113.7" });
    expect(JSON.stringify(listed)).not.toContain(server.entropy.get(a));

    expect(await client.respond(a, "approve")).toMatchObject({ id: a, status: "approved" });
    expect(await client.respond(b, "deny", { reason: "not me" })).toMatchObject({ id: b, status: "denied" });
    const posts = server.seen.filter((s) => s.path.endsWith("/response"));
    expect(posts.map((p) => p.body)).toEqual([
      { entropy: server.entropy.get(a), decision: "approve" },
      { entropy: server.entropy.get(b), decision: "deny", reason: "not me" },
    ]);
    expect(posts.every((p) => p.auth === `Bearer ${server.token}`)).toBe(true);
  });
});

describe("answering after a listing", () => {
  it("reuses the listed ciphertext once, then lists again", async () => {
    const client = await enroll();
    const a = await server.addChallenge();
    await client.listChallenges();
    const before = server.seen.length;
    expect(await client.respond(a, "approve")).toMatchObject({ id: a, status: "approved" });
    // One request: the answer, decrypted again from the listed ciphertext (no plaintext was kept).
    expect(server.seen.slice(before).map((s) => `${s.method} ${s.path}`)).toEqual([
      `POST /v1/device/challenges/${a}/response`,
    ]);
    expect(server.seen.at(-1)?.body).toEqual({ entropy: server.entropy.get(a), decision: "approve" });
    // The entry was used up: a second answer lists again and finds the challenge gone.
    await expect(client.respond(a, "deny")).rejects.toThrow(/is not pending/);
    expect(server.seen.at(-1)?.path).toBe("/v1/device/challenges");
  });

  it("still refuses a listed entry that was refused, and one that expired since the listing", async () => {
    const enrolled = await enroll();
    let clock = Date.now();
    const client = await DeviceClient.load(store, enrolled.deviceId, {
      fetch: server.fetch,
      now: () => clock,
    });
    const tampered = await server.addChallenge({ tamper: true });
    const soon = await server.addChallenge({ exp: Math.floor(clock / 1000) + 60 });
    expect((await client.listChallenges()).challenges.map((c) => c.id)).toEqual([soon]);
    await expect(client.respond(tampered, "approve")).rejects.toThrow(new RegExp(`refusing ${tampered}`));
    clock += 61_000;
    const before = server.seen.length;
    await expect(client.respond(soon, "approve")).rejects.toThrow(/expired/);
    expect(server.seen.length).toBe(before); // refused from the listed entry, on the device's clock
    expect(server.seen.some((s) => s.path.endsWith("/response"))).toBe(false);
  });
});

describe("a challenge pushed on the live channel", () => {
  it("is verified like a listed one and answered with one request, no listing", async () => {
    const client = await enroll();
    const id = await server.addChallenge({ context: { title: "Sign in", ip: "203.0.113.7" } });
    const entry = server.challenges.find((c) => c.id === id);
    const before = server.seen.length;
    const got = await client.accept(entry);
    expect(got.refused).toEqual([]);
    expect(got.challenges).toEqual([
      expect.objectContaining({ id, context: { title: "Sign in", ip: "203.0.113.7" } }),
    ]);
    expect(await client.respond(id, "approve")).toMatchObject({ id, status: "approved" });
    expect(server.seen.slice(before).map((s) => `${s.method} ${s.path}`)).toEqual([
      `POST /v1/device/challenges/${id}/response`,
    ]);
    expect(server.seen.at(-1)?.body).toEqual({ entropy: server.entropy.get(id), decision: "approve" });
  });

  it("refuses what the listing would refuse, and keeps nothing to answer with", async () => {
    const client = await enroll();
    const good = await server.addChallenge();
    const moved = await server.addChallenge({ cid: good });
    const expired = await server.addChallenge({ exp: Math.floor(Date.now() / 1000) - 1 });
    const tampered = await server.addChallenge({ tamper: true });
    const entry = (id: string) => server.challenges.find((c) => c.id === id);
    expect((await client.accept(entry(moved))).refused).toEqual([
      { id: moved, reason: expect.stringMatching(/cid does not match/) },
    ]);
    expect((await client.accept(entry(expired))).refused).toEqual([
      { id: expired, reason: expect.stringMatching(/expired/) },
    ]);
    expect((await client.accept(entry(tampered))).refused).toEqual([
      { id: tampered, reason: expect.stringMatching(/does not decrypt/) },
    ]);
    expect((await client.accept({ id: "chl_x", ciphertext: 5 })).refused).toEqual([
      { id: "chl_x", reason: "malformed entry in the server's listing" },
    ]);
    expect((await client.accept("not an object")).refused).toEqual([
      { id: "(no id)", reason: "malformed entry in the server's listing" },
    ]);
    // A refused push left nothing behind: answering it means listing, which refuses it again.
    const before = server.seen.length;
    await expect(client.respond(tampered, "approve")).rejects.toThrow(new RegExp(`refusing ${tampered}`));
    expect(server.seen.slice(before).map((s) => s.path)).toEqual(["/v1/device/challenges"]);
    expect(server.seen.some((s) => s.path.endsWith("/response"))).toBe(false);
  });
});

describe("refusals", () => {
  it("refuses a ciphertext made for another challenge, an expired one and a tampered one", async () => {
    const client = await enroll();
    const good = await server.addChallenge();
    const moved = await server.addChallenge({ cid: good }); // a replay of another challenge's plaintext
    const expired = await server.addChallenge({ exp: Math.floor(Date.now() / 1000) - 1 });
    const tampered = await server.addChallenge({ tamper: true });
    const { challenges, refused } = await client.listChallenges();
    expect(challenges.map((c) => c.id)).toEqual([good]);
    expect(refused).toEqual([
      { id: moved, reason: expect.stringMatching(/cid does not match/) },
      { id: expired, reason: expect.stringMatching(/expired/) },
      { id: tampered, reason: expect.stringMatching(/does not decrypt/) },
    ]);
    for (const id of [moved, expired, tampered]) {
      await expect(client.respond(id, "approve")).rejects.toThrow(new RegExp(`refusing ${id}`));
    }
    expect(server.seen.some((s) => s.path.endsWith("/response"))).toBe(false);
  });

  it("checks expiry against the device clock", async () => {
    const client = await enroll();
    await server.addChallenge({ exp: Math.floor(Date.now() / 1000) + 60 });
    const later = await DeviceClient.load(store, client.deviceId, {
      fetch: server.fetch,
      now: () => Date.now() + 61_000,
    });
    expect((await later.listChallenges()).refused).toEqual([
      { id: expect.any(String), reason: "challenge: expired" },
    ]);
  });

  it("shows the listing's exact expires_at, unless it is later than the verified exp", async () => {
    const client = await enroll();
    const exp = Math.floor(Date.now() / 1000) + 100;
    const iso = (ms: number) => new Date(ms).toISOString();
    const exact = await server.addChallenge({ exp, expiresAt: iso(exp * 1000 + 697) });
    const later = await server.addChallenge({ exp, expiresAt: iso(exp * 1000 + 30_000) });
    const earlier = await server.addChallenge({ exp, expiresAt: iso(exp * 1000 - 30_000) });
    const missing = await server.addChallenge({ exp, expiresAt: null });
    const junk = await server.addChallenge({ exp, expiresAt: "soon" });
    const shown = new Map(
      (await client.listChallenges()).challenges.map((c) => [c.id, c.expires_at] as const),
    );
    expect(shown.get(exact)).toBe(iso(exp * 1000 + 697)); // the same instant; exp is its whole second
    expect(shown.get(later)).toBe(iso(exp * 1000)); // the listing cannot extend what was verified
    expect(shown.get(earlier)).toBe(iso(exp * 1000 - 30_000));
    expect(shown.get(missing)).toBe(iso(exp * 1000));
    expect(shown.get(junk)).toBe(iso(exp * 1000));
  });

  it("refuses an entry for another key format and a malformed entry", async () => {
    const client = await enroll("ecies-p256");
    const id = await server.addChallenge();
    const first = server.challenges[0];
    if (first) first.key_format = "rsa-oaep-sha1";
    server.challenges.push({ id: "chl_x" });
    expect((await client.listChallenges()).refused).toEqual([
      { id, reason: expect.stringMatching(/encrypted for rsa-oaep-sha1/) },
      { id: "chl_x", reason: "malformed entry in the server's listing" },
    ]);
  });

  it("does not answer a challenge that is no longer listed", async () => {
    const client = await enroll();
    await expect(client.respond("chl_00000000000000000000000000", "approve")).rejects.toThrow(
      /is not pending/,
    );
  });
});

describe("enrollment failures", () => {
  it("reports the server's problem details and saves nothing", async () => {
    const err = await DeviceClient.enroll(URI.replace(/code=[^&]+/, `code=enc_${"z".repeat(43)}`), {
      store,
      fetch: server.fetch,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceApiError);
    expect(err).toMatchObject({ status: 410, title: "Enrollment code not usable", detail: "Bad code." });
    expect(await readdir(root)).toEqual([]);
  });

  it("refuses a device token addressed to another device", async () => {
    server.overrides.set("POST /v1/device/enroll", async (req) => {
      server.overrides.delete("POST /v1/device/enroll");
      const real = await server.fetch(`http://fake.test${req.path}`, {
        method: "POST",
        body: JSON.stringify(req.body),
      });
      const body = (await real.json()) as Record<string, unknown>;
      return json({ ...body, device_id: "dev_00000000000000000000000000" }, 201);
    });
    await expect(enroll()).rejects.toThrow(/cannot use the encrypted device token.*did does not match/);
    expect(await readdir(root)).toEqual([]);
  });

  it.runIf(process.platform !== "win32")(
    "checks the store before claiming the code, so a refused store does not spend it",
    async () => {
      await chmod(root, 0o777);
      await expect(enroll()).rejects.toThrow(/writable by others \(mode 777\)/);
      await chmod(root, 0o700);
      const file = path.join(root, "not-a-dir");
      await writeFile(file, "");
      await expect(
        DeviceClient.enroll(URI, { store: new DeviceStore(file), fetch: server.fetch }),
      ).rejects.toThrow(/not-a-dir is not a directory/);
      // No call reached the server: the single-use code is still good.
      expect(server.seen).toEqual([]);
      expect((await enroll()).deviceId).toBe(server.deviceId);
    },
  );

  it("removes the saved key when activation fails", async () => {
    server.overrides.set("POST /v1/device/activate", () =>
      problem(401, "activation-refused", "Activation refused", "No."),
    );
    await expect(enroll()).rejects.toMatchObject({ status: 401 });
    expect(await store.ids()).toEqual([]);
  });
});

describe("errors and removal", () => {
  it("carries problem+json extensions such as attempts_left", async () => {
    const client = await enroll();
    const id = await server.addChallenge();
    server.entropy.set(id, "something else");
    const err = await client.respond(id, "approve").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceApiError);
    expect(err).toMatchObject({ status: 422, type: "https://encrypxon.dev/problems/wrong-entropy" });
    expect((err as DeviceApiError).problem.attempts_left).toBe(2);
    expect((err as Error).message).toBe("HTTP 422 Wrong entropy: Does not match.");
  });

  it("turns a non-JSON error and an unreachable server into one-line errors", async () => {
    const client = await enroll();
    server.overrides.set(
      "GET /v1/device/challenges",
      () => new Response("<html>bad gateway</html>", { status: 502 }),
    );
    await expect(client.listChallenges()).rejects.toMatchObject({ status: 502, detail: "Error" });
    const offline = await DeviceClient.load(store, undefined, {
      fetch: () =>
        Promise.reject(new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED") })),
    });
    const err = await offline.listChallenges().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceError);
    expect((err as Error).message).toBe("cannot reach http://fake.test: fetch failed: connect ECONNREFUSED");
  });

  it("sends an answer once more after a 503 from in front of the service, but not after the service's own", async () => {
    const client = await enroll();
    const id = await server.addChallenge();
    const path = `/v1/device/challenges/${id}/response`;
    let plain = 1;
    server.overrides.set(`POST ${path}`, () =>
      plain-- > 0 ? new Response("Service Unavailable", { status: 503 }) : undefined,
    );
    expect(await client.respond(id, "approve")).toMatchObject({ id, status: "approved" });
    expect(server.seen.filter((r) => r.path === path)).toHaveLength(2);

    // The service's own 503 (problem+json) is its answer: reported, not resent.
    const other = await server.addChallenge();
    const otherPath = `/v1/device/challenges/${other}/response`;
    server.overrides.set(`POST ${otherPath}`, () => problem(503, "unavailable", "Unavailable", "Try later."));
    await expect(client.respond(other, "approve")).rejects.toMatchObject({ status: 503 });
    expect(server.seen.filter((r) => r.path === otherPath)).toHaveLength(1);

    // Only once: a second plain 503 is reported.
    const third = await server.addChallenge();
    const thirdPath = `/v1/device/challenges/${third}/response`;
    server.overrides.set(`POST ${thirdPath}`, () => new Response("busy", { status: 503 }));
    await expect(client.respond(third, "deny")).rejects.toMatchObject({ status: 503 });
    expect(server.seen.filter((r) => r.path === thirdPath)).toHaveLength(2);
  });

  it("resends a POST only when the connection was refused; a GET after any connection failure", async () => {
    await enroll();
    const id = await server.addChallenge();
    const fail = (code: string) =>
      Promise.reject(new TypeError("fetch failed", { cause: Object.assign(new Error(code), { code }) }));
    // The next request fails with this code, once; the ones after it reach the fake server.
    let next: string | null = null;
    const flaky: typeof fetch = (input, init) => {
      const code = next;
      next = null;
      return code ? fail(code) : server.fetch(input, init);
    };
    const client = await DeviceClient.load(store, undefined, { fetch: flaky });
    next = "UND_ERR_SOCKET";
    expect((await client.listChallenges()).challenges.map((c) => c.id)).toEqual([id]);
    // Refused: nothing was sent, so it is resent and answered.
    next = "ECONNREFUSED";
    expect(await client.respond(id, "approve")).toMatchObject({ status: "approved" });
    // Reset after it was sent: it may have landed, so it is reported, not resent.
    const other = await server.addChallenge();
    await client.listChallenges();
    next = "UND_ERR_SOCKET";
    await expect(client.respond(other, "approve")).rejects.toThrow(/cannot reach .*UND_ERR_SOCKET/);
    expect(server.seen.filter((r) => r.path === `/v1/device/challenges/${other}/response`)).toHaveLength(0);
  });

  it("removes itself on the server, then deletes the key; a 401 means it was already gone", async () => {
    let client = await enroll();
    expect(await client.remove()).toEqual({ server: "revoked" });
    expect(server.seen.at(-1)).toMatchObject({ method: "DELETE", path: "/v1/device" });
    expect(await store.ids()).toEqual([]);

    client = await enroll();
    server.token = "revoked";
    expect(await client.remove()).toEqual({ server: "already-gone" });
    expect(await store.ids()).toEqual([]);
  });

  it("keeps the key when the server fails to remove the device", async () => {
    const client = await enroll();
    server.overrides.set("DELETE /v1/device", () =>
      problem(503, "unavailable", "Service unavailable", "Retry."),
    );
    await expect(client.remove()).rejects.toMatchObject({ status: 503 });
    expect(await store.ids()).toEqual([client.deviceId]);
  });

  it("never shows the private key or token when logged or serialized", async () => {
    const client = await enroll();
    const record = await store.load(client.deviceId);
    for (const shown of [
      inspect(client, { depth: 5 }),
      JSON.stringify(client),
      JSON.stringify(client.info),
    ]) {
      expect(shown).not.toContain(record.private_jwk.d);
      expect(shown).not.toContain(record.device_token);
    }
  });
});
