// The request paths the benchmarks time: what their fewer round trips and concurrent steps must not change.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEVICE_KEY_CACHE_SIZE, deviceKey, deviceKeyCacheSize } from "../src/crypto/deviceKeys";
import { answer, call, createApp, enrollDevice, entropyFor, expectProblem } from "./helpers";

const NO_SUCH_CHALLENGE = `chl_${"0".repeat(26)}`;

async function ecJwk(): Promise<string> {
  const pair = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, [
    "deriveBits",
  ])) as CryptoKeyPair;
  const { crv, kty, x, y } = (await crypto.subtle.exportKey("jwk", pair.publicKey)) as JsonWebKey;
  return JSON.stringify({ crv, kty, x, y });
}

describe("authentication read alongside the body", () => {
  it("a bad API key is a 401 whatever the body, and a good key with a bad body a 400", async () => {
    const app = await createApp();
    for (const body of [{ user_id: "" }, [1], { surprise: 1 }]) {
      expectProblem(await call("POST", "/v1/challenges", { key: `ek_test_${"A".repeat(43)}`, body }), 401);
      expectProblem(await call("POST", "/v1/challenges", { body }), 401);
      expectProblem(await call("POST", "/v1/challenges", { key: app.apiKey, body }), 400);
    }
    expectProblem(await call("POST", "/v1/challenges", { key: "x", rawBody: "{not json", headers: {} }), 401);
  });

  it("a bad device token is a 401 whatever the path or body; a good one gets 404 or 400", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "gina");
    const bad = `edt_${"A".repeat(43)}`;
    for (const [path, body] of [
      [`/v1/device/challenges/${NO_SUCH_CHALLENGE}/response`, { entropy: "x" }],
      ["/v1/device/challenges/chl_nope/response", { entropy: "A".repeat(43), decision: "approve" }],
    ] as const) {
      expectProblem(await call("POST", path, { token: bad, body }), 401);
      expectProblem(await call("POST", path, { body }), 401);
    }
    expectProblem(
      await call("POST", "/v1/device/challenges/chl_nope/response", { token: device.token, body: {} }),
      404,
    );
    expectProblem(
      await call("POST", `/v1/device/challenges/${NO_SUCH_CHALLENGE}/response`, {
        token: device.token,
        body: { entropy: "x" },
      }),
      400,
    );
  });
});

describe("GET /v1/device/challenges in one round trip", () => {
  it("tells an unknown or revoked token (401) from a device with nothing pending (empty list)", async () => {
    const app = await createApp();
    const device = await enrollDevice(app, "hank");
    const empty = await call("GET", "/v1/device/challenges", { token: device.token });
    expect(empty.status).toBe(200);
    expect(empty.body.data).toEqual([]);
    await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: "hank" } });
    const one = await call("GET", "/v1/device/challenges", { token: device.token });
    expect(one.body.data).toHaveLength(1);
    expect(one.body.data[0].key_format).toBe("ecies-p256");
    await call("DELETE", `/v1/devices/${device.deviceId}`, { key: app.apiKey });
    expectProblem(await call("GET", "/v1/device/challenges", { token: device.token }), 401);
  });

  it("lists only the calling device's own pending, unexpired challenges, oldest first", async () => {
    const app = await createApp();
    const other = await createApp("Other App");
    const mine = await enrollDevice(app, "ivy");
    const sibling = await enrollDevice(app, "ivy");
    // The same user id in another application is another person.
    const foreign = await enrollDevice(other, "ivy");
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: "ivy" } });
      ids.push(c.body.id);
    }
    await call("POST", "/v1/challenges", { key: other.apiKey, body: { user_id: "ivy" } });
    // One answered, one past its expiry in D1 (the object's alarm has not run yet): neither is listed.
    expect((await answer(sibling, ids[0] as string, "approve")).status).toBe(200);
    await env.DB.prepare("UPDATE challenges SET expires_at = ?1 WHERE id = ?2")
      .bind(Date.now() - 1, ids[1])
      .run();
    const list = await call("GET", "/v1/device/challenges", { token: mine.token });
    expect(list.body.data.map((c: { id: string }) => c.id)).toEqual([ids[2]]);
    // Each device gets the ciphertext made for its own key.
    expect(await entropyFor(mine, ids[2] as string)).toBe(await entropyFor(sibling, ids[2] as string));
    const theirs = await call("GET", "/v1/device/challenges", { token: foreign.token });
    expect(theirs.body.data).toHaveLength(1);
    expect(theirs.body.data[0].id).not.toBe(ids[2]);
  });
});

describe("device key cache", () => {
  it("imports a stored key once and keys entries by the exact stored JWK", async () => {
    const a = { id: "dev_a", key_format: "ecies-p256" as const, public_key: await ecJwk() };
    const first = await deviceKey(a);
    expect(await deviceKey({ ...a })).toBe(first);
    // A different key under the same device id (or the same key under another id) is another entry.
    const rotated = await deviceKey({ ...a, public_key: await ecJwk() });
    expect(rotated).not.toBe(first);
    const raw = (k: CryptoKey) => crypto.subtle.exportKey("jwk", k) as Promise<JsonWebKey>;
    expect((await raw(rotated)).x).not.toBe((await raw(first)).x);
    expect(await deviceKey({ ...a, id: "dev_b" })).not.toBe(first);
  });

  it("does not remember a failed import and stays within its bound", async () => {
    const broken = { id: "dev_broken", key_format: "ecies-p256" as const, public_key: '{"kty":"EC"}' };
    const before = deviceKeyCacheSize();
    await expect(deviceKey(broken)).rejects.toThrow();
    expect(deviceKeyCacheSize()).toBe(before);
    const jwk = await ecJwk();
    for (let i = 0; i < DEVICE_KEY_CACHE_SIZE + 10; i++) {
      await deviceKey({ id: `dev_${i}`, key_format: "ecies-p256", public_key: jwk });
    }
    expect(deviceKeyCacheSize()).toBe(DEVICE_KEY_CACHE_SIZE);
  });
});
