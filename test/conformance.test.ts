// The SDK (packages/client) running inside workerd against the Worker, and every answer it gets checked
// against the OpenAPI response schemas (src/openapi/): right shape, no undocumented fields. This also
// shows the SDK works in the Workers runtime, with `fetch` being the Worker's own.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { Encrypxon2FaClient, EncrypxonError } from "../packages/client/src/index";
import { OPERATIONS } from "../src/openapi/operations";
import { problem as problemSchema } from "../src/openapi/responses";
import { BASE, createApp, enrollDevice, entropyFor } from "./helpers";

interface Seen {
  method: string;
  path: string;
  status: number;
  text: string;
}

function recorder(seen: Seen[]): typeof fetch {
  return async (input, init) => {
    const req = new Request(input, init);
    const res = await SELF.fetch(req);
    seen.push({
      method: req.method,
      path: new URL(req.url).pathname,
      status: res.status,
      text: await res.clone().text(),
    });
    return res;
  };
}

/** Fields the value has that the schema does not describe. */
function undocumented(schema: z.ZodType, value: unknown, at = "$"): string[] {
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable) {
    return value === null || value === undefined ? [] : undocumented(schema.unwrap() as z.ZodType, value, at);
  }
  if (schema instanceof z.ZodArray && Array.isArray(value)) {
    return value.flatMap((v, i) => undocumented(schema.element as z.ZodType, v, `${at}[${i}]`));
  }
  if (schema instanceof z.ZodObject && value && typeof value === "object") {
    const shape = schema.shape as Record<string, z.ZodType>;
    const loose = !(schema.def.catchall === undefined || schema.def.catchall instanceof z.ZodNever);
    return Object.entries(value).flatMap(([k, v]) => {
      const field = shape[k];
      if (!field) return loose ? [] : [`${at}.${k}`];
      return undocumented(field, v, `${at}.${k}`);
    });
  }
  return [];
}

const routes = Object.entries(OPERATIONS).map(([key, op]) => {
  const [method, template] = key.split(" ") as [string, string];
  return { method, re: new RegExp(`^${template.replace(/:[a-z_]+/g, "[^/]+")}$`), op };
});

describe("SDK in workerd, answers conform to the OpenAPI description", () => {
  it("the undocumented-field check finds extra fields, also nested", () => {
    const s = z.object({ a: z.string(), list: z.array(z.object({ x: z.number() })).nullable() });
    expect(undocumented(s, { a: "", list: [{ x: 1, y: 2 }], b: 1 })).toEqual(["$.list[0].y", "$.b"]);
    expect(
      undocumented(problemSchema, { type: "t", title: "t", status: 409, detail: "d", extra: 1 }),
    ).toEqual([]);
  });

  it("every call of the flow", async () => {
    const app = await createApp("Conformance");
    const seen: Seen[] = [];
    const fetchRec = recorder(seen);
    const client = new Encrypxon2FaClient({ apiKey: app.apiKey, baseUrl: BASE, fetch: fetchRec });

    const pending = await client.createEnrollment({ user_id: "bob" });
    await client.getEnrollment(pending.id);
    await client.cancelEnrollment(pending.id);
    const device = await enrollDevice(app, "alice");
    await client.listDevices("alice");

    const c = await client.createChallenge({ user_id: "alice", context: { title: "Sign in" } });
    const entropy = await entropyFor(device, c.id);
    await fetchRec(`${BASE}/v1/device/challenges`, { headers: { authorization: `Bearer ${device.token}` } });
    await fetchRec(`${BASE}/v1/device/challenges/${c.id}/response`, {
      method: "POST",
      headers: { authorization: `Bearer ${device.token}`, "content-type": "application/json" },
      body: JSON.stringify({ entropy, decision: "approve" }),
    });
    await expect(client.waitForResult(c.id, { timeoutMs: 5_000 })).resolves.toMatchObject({
      status: "approved",
    });
    const second = await client.createChallenge({ user_id: "alice", supersede: true });
    await client.cancelChallenge(second.id);
    await expect(client.cancelChallenge(second.id)).rejects.toBeInstanceOf(EncrypxonError);
    await expect(client.createChallenge({ user_id: "" })).rejects.toMatchObject({ status: 400 });

    const events = [];
    for await (const e of client.auditEvents({ limit: 3 })) events.push(e);
    expect(events.length).toBeGreaterThan(6);
    await client.revokeDevice(device.deviceId);
    await fetchRec(`${BASE}/`);

    expect(seen.length).toBeGreaterThan(15);
    for (const r of seen) {
      const route = routes.find((x) => x.method === r.method && x.re.test(r.path));
      expect(route, `${r.method} ${r.path} is not described`).toBeDefined();
      const schema = r.status >= 400 ? problemSchema : route?.op.responses[r.status]?.[1];
      expect(schema, `${r.method} ${r.path} ${r.status} is not in the description`).toBeInstanceOf(z.ZodType);
      if (!(schema instanceof z.ZodType)) continue;
      const body: unknown = JSON.parse(r.text);
      const parsed = schema.safeParse(body);
      expect(parsed.success, `${r.method} ${r.path} ${r.status}: ${parsed.error?.message}`).toBe(true);
      expect(undocumented(schema, body), `${r.method} ${r.path} ${r.status}`).toEqual([]);
    }
  });
});
