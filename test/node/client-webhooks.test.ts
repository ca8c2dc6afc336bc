// The SDK's webhook verifier against signatures made by node:crypto (OpenSSL), not by our own code,
// and against the known-answer vector in docs/api.md.
import { createHmac, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { EncrypxonWebhookError, verifyWebhook } from "../../packages/client/src/index";

const VECTOR = {
  secret: "whsec_3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  t: 1796342400,
  body: '{"id":"wev_01JF0000000000000000000000","type":"challenge.approved","created_at":"2026-12-03T00:00:00.000Z","data":{}}',
  v1: "7888707564005369402052bebb5c409fac6c48ab0fa74101b175f636349e0e68",
};
const AT_VECTOR = new Date(VECTOR.t * 1000);

const sign = (secret: string, t: number, body: string | Buffer) =>
  createHmac("sha256", secret)
    .update(Buffer.concat([Buffer.from(`${t}.`), Buffer.from(body)]))
    .digest("hex");

const newSecret = () => `whsec_${randomBytes(32).toString("base64url")}`;

async function rejects(options: Parameters<typeof verifyWebhook>[0], message: RegExp) {
  const err = await verifyWebhook(options).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(EncrypxonWebhookError);
  expect((err as Error).message).toMatch(message);
}

describe("verifyWebhook", () => {
  it("accepts the known-answer vector and returns the event", async () => {
    expect(sign(VECTOR.secret, VECTOR.t, VECTOR.body)).toBe(VECTOR.v1);
    const event = await verifyWebhook({
      payload: VECTOR.body,
      signature: `t=${VECTOR.t},v1=${VECTOR.v1}`,
      secret: VECTOR.secret,
      now: AT_VECTOR,
    });
    expect(event).toMatchObject({ id: "wev_01JF0000000000000000000000", type: "challenge.approved" });
  });

  it("accepts signatures made by node:crypto for random secrets and bodies, as text or bytes", async () => {
    for (let i = 0; i < 50; i++) {
      const secret = newSecret();
      const body = JSON.stringify({
        id: `wev_${i}`,
        type: "challenge.denied",
        n: randomBytes(40).toString("hex"),
        s: "é✓",
      });
      const t = Math.floor(Date.now() / 1000) - i;
      const header = `t=${t},v1=${sign(secret, t, body)}`;
      await expect(verifyWebhook({ payload: body, signature: header, secret })).resolves.toMatchObject({
        id: `wev_${i}`,
      });
      await expect(
        verifyWebhook({
          payload: new TextEncoder().encode(body),
          signature: ` ${header.replace(",", " , ")} `,
          secret,
        }),
      ).resolves.toMatchObject({ id: `wev_${i}` });
    }
  });

  it("refuses a changed body, another secret, a missing or malformed header", async () => {
    const base = { signature: `t=${VECTOR.t},v1=${VECTOR.v1}`, secret: VECTOR.secret, now: AT_VECTOR };
    await rejects({ ...base, payload: VECTOR.body.replace("approved", "denied") }, /does not match/);
    await rejects({ ...base, payload: `${VECTOR.body} ` }, /does not match/);
    await rejects({ ...base, payload: VECTOR.body, secret: newSecret() }, /does not match/);
    await rejects({ ...base, payload: VECTOR.body, secret: VECTOR.secret.slice(6) }, /does not match/);
    await rejects({ ...base, payload: VECTOR.body, signature: undefined }, /no Encrypxon-Signature/);
    await rejects({ ...base, payload: VECTOR.body, signature: `v1=${VECTOR.v1}` }, /no timestamp/);
    await rejects({ ...base, payload: VECTOR.body, signature: `t=${VECTOR.t}` }, /no v1=/);
    await rejects(
      { ...base, payload: VECTOR.body, signature: `t=${VECTOR.t},v1=${VECTOR.v1.slice(2)}` },
      /no v1=/,
    );
    await rejects({ ...base, payload: VECTOR.body, signature: `t=${VECTOR.t},v0=${VECTOR.v1}` }, /no v1=/);
    // The timestamp is signed: moving it breaks the signature.
    await rejects(
      { ...base, payload: VECTOR.body, signature: `t=${VECTOR.t + 1},v1=${VECTOR.v1}` },
      /does not match/,
    );
    await rejects({ ...base, payload: VECTOR.body, secret: [] }, /no secret/);
  });

  it("refuses timestamps outside the tolerance, both ways", async () => {
    const base = { payload: VECTOR.body, signature: `t=${VECTOR.t},v1=${VECTOR.v1}`, secret: VECTOR.secret };
    await rejects({ ...base, now: new Date((VECTOR.t + 301) * 1000) }, /more than 300 s/);
    await rejects({ ...base, now: new Date((VECTOR.t - 301) * 1000) }, /more than 300 s/);
    await expect(verifyWebhook({ ...base, now: new Date((VECTOR.t + 300) * 1000) })).resolves.toBeTruthy();
    await rejects({ ...base, now: new Date((VECTOR.t + 61) * 1000), toleranceSeconds: 60 }, /more than 60 s/);
  });

  it("accepts any v1 entry and any of several secrets, for rotations", async () => {
    const [oldSecret, newOne] = [newSecret(), newSecret()];
    const t = Math.floor(Date.now() / 1000);
    const body = '{"id":"wev_x","type":"challenge.expired"}';
    const header = `t=${t},v1=${sign(newOne, t, body)},v1=${sign(oldSecret, t, body)}`;
    for (const secret of [oldSecret, newOne, [newSecret(), oldSecret]]) {
      await expect(verifyWebhook({ payload: body, signature: header, secret })).resolves.toMatchObject({
        id: "wev_x",
      });
    }
    await rejects({ payload: body, signature: header, secret: newSecret() }, /does not match/);
  });

  it("refuses a correctly signed body that is not JSON", async () => {
    const secret = newSecret();
    const t = Math.floor(Date.now() / 1000);
    await rejects(
      { payload: "not json", signature: `t=${t},v1=${sign(secret, t, "not json")}`, secret },
      /not JSON/,
    );
  });
});
