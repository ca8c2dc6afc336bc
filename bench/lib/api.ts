// The integrator's side of the API, and a population of users with real devices enrolled through it.
import { readFile } from "node:fs/promises";
import { DeviceClient, DeviceStore, type KeyFormat } from "../../packages/device/src/index";

export type Json = Record<string, unknown>;

export interface Answer {
  status: number;
  body: Json;
}

export class Api {
  constructor(
    readonly baseUrl: string,
    readonly apiKey: string,
  ) {}

  async call(method: string, path: string, body?: unknown): Promise<Answer> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        "x-api-key": this.apiKey,
        ...(body !== undefined && { "content-type": "application/json" }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(40_000),
    });
    const text = await res.text();
    let parsed: Json = {};
    try {
      parsed = text ? (JSON.parse(text) as Json) : {};
    } catch {
      parsed = { raw: text };
    }
    return { status: res.status, body: parsed };
  }

  async must(method: string, path: string, body?: unknown): Promise<Json> {
    const a = await this.call(method, path, body);
    if (a.status >= 300) throw new Error(`${method} ${path}: HTTP ${a.status} ${JSON.stringify(a.body)}`);
    return a.body;
  }
}

export interface User {
  userId: string;
  device: DeviceClient;
  token: string;
}

/** Enrolls `count` users, each with one active device made by the reference device library. */
export async function enrollUsers(
  api: Api,
  storeDir: string,
  prefix: string,
  count: number,
  format: KeyFormat = "ecies-p256",
  parallel = 6,
): Promise<User[]> {
  const store = new DeviceStore(storeDir);
  const users: User[] = [];
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      users.push(await enrollOne(api, store, `${prefix}-${i}`, format));
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
  return users.sort((a, b) => a.userId.localeCompare(b.userId, "en", { numeric: true }));
}

export async function enrollOne(
  api: Api,
  store: DeviceStore,
  userId: string,
  format: KeyFormat,
): Promise<User> {
  const enr = await api.must("POST", "/v1/enrollments", { user_id: userId });
  const device = await DeviceClient.enroll(String(enr.enrollment_uri), { store, format, name: "bench" });
  const saved = JSON.parse(await readFile(device.storeFile, "utf8")) as { device_token: string };
  return { userId, device, token: saved.device_token };
}

export const TERMINAL = new Set(["approved", "denied", "expired", "cancelled", "failed"]);
