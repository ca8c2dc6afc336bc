// The live route table (src/index.ts) as tests see it: each route with the credential it wants and the
// body and query schemas it validates with. Sweeps over every route read it from here, so a route added
// to the table is covered without touching the tests.

import { env } from "cloudflare:workers";
import { vi } from "vitest";
import type { z } from "zod";
import { adminRoutes, routes } from "../src/index";
import { OPERATIONS } from "../src/openapi/operations";
import { call, codeOf, createApp, enrollDevice, type TestApp, type TestDevice } from "./helpers";

export interface RouteInfo {
  method: string;
  path: string;
  /** "app" | "device" | "none", or whatever a newer kind of credential is called in operations.ts. */
  auth: string;
  body: z.ZodType | undefined;
  query: z.ZodObject | undefined;
  /** Path parameter names in order, e.g. ["id"]. */
  params: string[];
}

/** Both tables: the API's and the operator's (on in tests, where ADMIN_TOKEN is set). */
export function routeTable(): RouteInfo[] {
  return [...routes, ...adminRoutes].map(([method, path]) => {
    const op = OPERATIONS[`${method} ${path}`];
    return {
      method,
      path,
      auth: op?.auth ?? (path.startsWith("/v1/device") ? "device" : "app"),
      body: op?.body,
      query: op?.query,
      params: [...path.matchAll(/:([A-Za-z_]+)/g)].map((m) => m[1] ?? ""),
    };
  });
}

/** The collection a path parameter names a member of: `/v1/challenges/:id` → "challenges". */
export function collectionOf(path: string, param: string): string {
  const segments = path.split("/");
  const at = segments.indexOf(`:${param}`);
  return at > 0 ? (segments[at - 1] ?? "") : "";
}

/** Replaces each `:param` with `value(param, collection)`, already percent-encoded by the caller. */
export function fillPath(path: string, value: (param: string, collection: string) => string): string {
  return path.replace(/:([A-Za-z_]+)/g, (_, param: string) => value(param, collectionOf(path, param)));
}

/** One application's worth of live resources, for sweeps that need real ids. */
export interface Tenant {
  app: TestApp;
  userId: string;
  device: TestDevice;
  /** A second device, so revoking one in a sweep leaves the user challengeable. */
  spare: TestDevice;
  enrollmentId: string;
  code: string;
  challengeId: string;
  /** A webhook endpoint (its deliveries answered in this isolate), when the table has webhooks. */
  webhookId: string | null;
}

/** Where fixture webhooks point; `answerWebhooks` plays the receiver. */
export const FIXTURE_WEBHOOK_HOST = "hooks.example.test";
const FIXTURE_WEBHOOK_URL = `https://${FIXTURE_WEBHOOK_HOST}/fixture`;

/**
 * Answers every webhook delivery with 200 in this isolate (the dispatcher's fetch; Durable Objects share
 * the isolate in tests), so deliveries finish inside the request that caused them instead of retrying in
 * the background. Call it in a beforeEach; vi.restoreAllMocks undoes it.
 */
export function answerWebhooks(): void {
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    if (new URL(request.url).hostname !== FIXTURE_WEBHOOK_HOST) {
      throw new Error(`unexpected outbound fetch to ${request.url}`);
    }
    await request.arrayBuffer();
    return new Response(null, { status: 200 });
  });
}

export async function tenant(name: string): Promise<Tenant> {
  const app = await createApp(name);
  const userId = `user-of-${name}`;
  const device = await enrollDevice(app, userId);
  const spare = await enrollDevice(app, userId);
  const enr = await call("POST", "/v1/enrollments", { key: app.apiKey, body: { user_id: userId } });
  const chl = await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: userId } });
  if (enr.status !== 201 || chl.status !== 201) throw new Error("tenant fixture failed");
  // Last, so that no event of the setup above is delivered anywhere.
  let webhookId: string | null = null;
  if (routes.some(([method, path]) => method === "POST" && path === "/v1/webhooks")) {
    const hook = await call("POST", "/v1/webhooks", { key: app.apiKey, body: { url: FIXTURE_WEBHOOK_URL } });
    if (hook.status !== 201) throw new Error(`webhook fixture failed: ${JSON.stringify(hook.body)}`);
    webhookId = hook.body.id;
  }
  return {
    app,
    userId,
    device,
    spare,
    enrollmentId: enr.body.id,
    code: codeOf(enr.body.enrollment_uri),
    challengeId: chl.body.id,
    webhookId,
  };
}

/** The id of the tenant's resource a path parameter of `collection` names (user ids percent-encoded). */
export function ownId(t: Tenant, param: string, collection: string): string {
  if (param === "user_id" || collection === "users") return encodeURIComponent(t.userId);
  switch (collection) {
    case "enrollments":
      return t.enrollmentId;
    case "devices":
      return t.spare.deviceId;
    case "challenges":
      return t.challengeId;
    case "apps":
      return t.app.appId;
    case "keys":
      return t.app.keyId;
    case "webhooks":
      return t.webhookId ?? "whk_00000000000000000000000000";
    default:
      return `${collection.replace(/s$/, "").slice(0, 3)}_0000000000000000000000000`;
  }
}

/** Headers that carry the credential `auth` asks for, as the tenant holds it. */
export function credentials(t: Tenant, auth: string): Record<string, string> {
  if (auth === "app") return { "x-api-key": t.app.apiKey };
  if (auth === "device") return { authorization: `Bearer ${t.device.token}` };
  if (auth === "admin") return { authorization: `Bearer ${env.ADMIN_TOKEN}` };
  return {};
}
