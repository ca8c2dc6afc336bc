// Property-based fuzzing of every route in the table (src/index.ts) with fast-check: random and adversarial
// methods, path ids, query strings, headers and bodies, sent by one application against a world where a
// second application exists. For every request:
//   - never a 5xx; every 4xx is problem+json whose status matches, with nothing internal in it;
//   - the security headers are there, CORS headers are not (but on /openapi.json);
//   - nothing of the other application, and no secret the caller did not send, appears in the answer;
//   - a rejected request leaves every D1 table exactly as it was (a row-by-row comparison), except for
//     the writes a refusal is documented to make (ALLOWED_WRITES).
// Runs per route: FUZZ_RUNS (default below); the seed is fixed for a reproducible CI and printed:
// FUZZ_SEED=<n> replays a run, FUZZ_SEED=random explores. A failure prints the seed, the shrunk request
// and the path to replay it.
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { generateDeviceKey } from "../packages/device/src/crypto";
import { CORS_READABLE_PATHS, SECURITY_HEADERS } from "../src/http/headers";
import { BASE, callDirectly, dispatch, enrollDevice } from "./helpers";
import {
  answerWebhooks,
  collectionOf,
  ownId,
  type RouteInfo,
  routeTable,
  type Tenant,
  tenant,
} from "./routeTable";
import { type DbSnapshot, diffDb, snapshotDb, type TableDiff, wipeDb } from "./snapshot";

const DEFAULT_RUNS = 40;
const RUNS = Number(env.FUZZ_RUNS) > 0 ? Number(env.FUZZ_RUNS) : DEFAULT_RUNS;
const SEED =
  env.FUZZ_SEED === "random"
    ? Math.floor(Math.random() * 2 ** 31)
    : Number.isInteger(Number(env.FUZZ_SEED)) && env.FUZZ_SEED
      ? Number(env.FUZZ_SEED)
      : 20261203;
console.log(`fuzz: seed ${SEED} (FUZZ_SEED), ${RUNS} runs per route (FUZZ_RUNS)`);

const PROBLEM_BASE = "https://encrypxon.dev/problems/";
// Internals that must never reach the wire: stack frames, error class names, file paths, SQL, D1.
const INTERNAL =
  /\bat (async )?[\w.<>]+ \(|\n\s+at |Error: |TypeError|RangeError|SyntaxError|node_modules|\/src\/|\.ts:\d|D1_|SQLITE|sqlite_|\bSELECT\b.*\bFROM\b|\bINSERT INTO\b|\bUPDATE \w+ SET\b|workerd|itty|zod/;

// ---------------------------------------------------------------------------------------------------------
// The world: two applications, each with a user, two active devices, a pending enrollment and a pending
// challenge. Requests are sent as application/devices of `own`; `foreign` is the other tenant.

interface World {
  own: Tenant;
  foreign: Tenant;
  revokedToken: string;
  publicKey: JsonWebKey;
}

// Thousands of requests: SELF's per-request cost would grow with each one (see dispatch in helpers.ts).
callDirectly();

let world: World;
let publicKey: JsonWebKey;

beforeAll(async () => {
  publicKey = (await generateDeviceKey("ecies-p256")).publicKey as JsonWebKey;
});

afterEach(() => {
  vi.restoreAllMocks();
});
beforeEach(async () => {
  answerWebhooks();
  // A fresh world per route: what one route's fuzzing did (revoked, cancelled, enrolled) does not leak
  // into the next, and the tables stay small enough to compare whole after every request.
  await wipeDb();
  const own = await tenant("own");
  const foreign = await tenant("foreign");
  // A device of `own` that was revoked: its token must be as good as none.
  const gone = await enrollDevice(own.app, "gone-user");
  await dispatch(`${BASE}/v1/device`, {
    method: "DELETE",
    headers: { authorization: `Bearer ${gone.token}` },
  });
  world = { own, foreign, revokedToken: gone.token, publicKey };
});

/** Values a generated request names symbolically, filled in from the world when it is sent. */
function placeholders(w: World): Record<string, string> {
  return {
    $ownKey: w.own.app.apiKey,
    $foreignKey: w.foreign.app.apiKey,
    $ownToken: w.own.device.token,
    $foreignToken: w.foreign.device.token,
    $revokedToken: w.revokedToken,
    $ownCode: w.own.code,
    $foreignCode: w.foreign.code,
    $ownDevice: w.own.device.deviceId,
    $foreignDevice: w.foreign.device.deviceId,
    $ownUser: w.own.userId,
    $foreignUser: w.foreign.userId,
    $ownChallenge: w.own.challengeId,
    $foreignChallenge: w.foreign.challengeId,
    $ownEnrollment: w.own.enrollmentId,
    $foreignEnrollment: w.foreign.enrollmentId,
    $publicKey: JSON.stringify(w.publicKey),
    $adminToken: env.ADMIN_TOKEN ?? "",
  };
}

const fill = (text: string, values: Record<string, string>) =>
  text.replace(/\$[a-zA-Z]+/g, (m) => values[m] ?? m);

// ---------------------------------------------------------------------------------------------------------
// Arbitraries

const CHARS_HOSTILE = [
  "\u202Ebank.com",
  "a\u0000b",
  "\u200B",
  "\uFEFF",
  "\uD800",
  "\uDFFF",
  "\r\n\t",
  "\u061C",
  "\u2066x\u2069",
  "e\u0301",
  "👩‍👩‍👧",
  "𝕒",
  "%00",
  "%",
  "../../etc/passwd",
  "'; DROP TABLE audit_events; --",
  '" OR 1=1 --',
  "<script>alert(1)</script>",
  // A template-injection probe, meant literally.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the text is the payload
  "${7*7}",
  "__proto__",
  "constructor",
  "prototype",
  "NaN",
  "Infinity",
  "-0",
  "1e309",
  "null",
  "undefined",
  "true",
  "[]",
  "{}",
  ".",
  "..",
  " ",
  "",
];

const hostileString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...CHARS_HOSTILE) },
  { weight: 2, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
  { weight: 1, arbitrary: fc.integer({ min: 40, max: 20_000 }).map((n) => "x".repeat(n)) },
  { weight: 1, arbitrary: fc.constantFrom(...CHARS_HOSTILE).map((c) => `ok${c}ok`) },
);

function nested(depth: number, leaf: unknown, kind: "array" | "object"): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = kind === "array" ? [v] : { a: v };
  return v;
}

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 2, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      true,
      false,
      null,
      [],
      {},
      0,
      -1,
      1.5,
      2 ** 53 + 2,
      Number.MAX_VALUE,
      -Number.MAX_VALUE,
      Number.MIN_VALUE,
    ),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 1, max: 3000 }), fc.constantFrom("array" as const, "object" as const))
      .map(([d, k]) => nested(d, "x", k)),
  },
);

/** Plausible-to-hostile values for the body fields the schemas know, by name. */
function fieldValue(key: string): fc.Arbitrary<unknown> {
  const ph = (...names: string[]) => fc.constantFrom(...names);
  const byName: Record<string, fc.Arbitrary<unknown>> = {
    user_id: fc.oneof(ph("$ownUser", "$foreignUser"), hostileString),
    user_label: hostileString,
    context: fc.oneof(
      fc.record(
        {
          title: hostileString,
          message: hostileString,
          ip: hostileString,
          location: hostileString,
          user_agent: hostileString,
        },
        { requiredKeys: [] },
      ),
      fc.dictionary(hostileString, hostileValue, { maxKeys: 4 }),
    ),
    // Long waits are valid but slow the suite: only 0 and 1 among the valid ones.
    wait_seconds: fc.constantFrom(0, 1, -1, 26, 1.5, 1e6),
    ttl_seconds: fc.constantFrom(10, 60, 600, 9, 59, 601, 3601, -0, 0.5, 2 ** 31),
    supersede: fc.boolean(),
    code: fc.oneof(ph("$ownCode", "$foreignCode"), hostileString),
    key_format: fc.oneof(fc.constantFrom("ecies-p256", "rsa-oaep-sha1", "rsa-oaep-sha256", "ECIES-P256")),
    public_key: fc.oneof(
      ph("$publicKey"),
      fc.constantFrom(
        { kty: "EC", crv: "P-256", x: "AAAA", y: "AAAA" },
        { kty: "RSA", n: "AQAB", e: "AQAB" },
        { kty: "EC", crv: "P-256", x: "", y: "", d: "AAAA" },
        { kty: "oct", k: "AAAA" },
        "BAAAAA",
      ),
      hostileValue,
    ),
    name: hostileString,
    platform: hostileString,
    device_id: fc.oneof(ph("$ownDevice", "$foreignDevice"), hostileString),
    device_token: fc.oneof(ph("$ownToken", "$foreignToken", "$revokedToken"), hostileString),
    entropy: fc.oneof(
      fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => btoa(String.fromCharCode(...b))),
      hostileString,
    ),
    decision: fc.oneof(fc.constantFrom("approve", "deny", "APPROVE", "maybe"), hostileString),
    reason: hostileString,
    url: fc.oneof(
      fc.constantFrom(
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "https://user:pass@hooks.example/x",
        "https://hooks.example/#frag",
        "http://hooks.example/x",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "http://[::1]:9/x",
        "https://127.0.0.1:9/x",
      ),
      hostileString,
    ),
    events: fc.oneof(fc.array(hostileString, { maxLength: 3 }), hostileValue),
  };
  return fc.oneof(
    { weight: 4, arbitrary: byName[key] ?? hostileValue },
    { weight: 1, arbitrary: hostileValue },
  );
}

function shapeKeys(schema: RouteInfo["body"]): string[] {
  const shape = (schema as { shape?: Record<string, unknown> } | undefined)?.shape;
  return shape ? Object.keys(shape) : [];
}

/** A body as raw text or bytes; JSON-looking most of the time, shaped like the route's schema often. */
function bodyArb(route: RouteInfo): fc.Arbitrary<string | number[] | undefined> {
  const keys = shapeKeys(route.body);
  const shaped = fc
    .tuple(
      fc.record(Object.fromEntries(keys.map((k) => [k, fieldValue(k)])), { requiredKeys: [] }),
      fc.dictionary(fc.oneof(hostileString, fc.constantFrom(...keys, "extra")), hostileValue, {
        maxKeys: 2,
      }),
    )
    .map(([known, extra]) => JSON.stringify({ ...known, ...extra }));
  const key = fc.constantFrom(...(keys.length ? keys : ["user_id"]));
  // What JSON.stringify cannot write: odd numbers, prototype keys, duplicates, depth, broken text.
  const raw = fc.oneof(
    fc.constantFrom(
      "",
      " ",
      "null",
      "[]",
      '"text"',
      "1e309",
      "-0",
      "NaN",
      "{",
      '{"a":1} trailing',
      "\uFEFF{}",
      '{"__proto__":{"polluted":true}}',
      '{"constructor":{"prototype":{"polluted":true}}}',
      "1".repeat(10_000),
    ),
    fc
      .tuple(key, fc.constantFrom("1e309", "-0", "1E400", "123456789012345678901234567890", "-1e-400"))
      .map(([k, n]) => `{"${k}": ${n}}`),
    fc
      .tuple(key, hostileString, fc.integer())
      .map(([k, s, n]) => `{"${k}": ${JSON.stringify(s)}, "${k}": ${n}}`),
    fc
      .tuple(shaped, fc.constantFrom('"__proto__":{"admin":true}', '"constructor":{"prototype":{"x":1}}'))
      .map(([json, inject]) => json.replace(/^\{/, `{${inject}${json === "{}" ? "" : ","}`)),
    fc.integer({ min: 100, max: 8000 }).map((n) => `${"[".repeat(n)}${"]".repeat(n)}`),
    fc.integer({ min: 100, max: 3000 }).map((n) => `${'{"a":'.repeat(n)}1${"}".repeat(n)}`),
    fc.integer({ min: 16 * 1024 - 8, max: 40_000 }).map((n) => JSON.stringify({ user_id: "x".repeat(n) })),
  );
  // Not UTF-8: overlong "/", a surrogate encoded in UTF-8, a lone continuation byte, random bytes.
  const bytes = fc.oneof(
    fc.constantFrom<number[]>(
      [0xc0, 0xaf],
      [0xed, 0xa0, 0x80],
      [0x7b, 0x80, 0x7d],
      [0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00],
    ),
    fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 64 }),
  );
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 5, arbitrary: shaped },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    { weight: 3, arbitrary: raw },
    { weight: 1, arbitrary: bytes },
  );
}

/** A path parameter, as URL text (already encoded). */
function idArb(route: RouteInfo, param: string): fc.Arbitrary<string> {
  const collection = collectionOf(route.path, param);
  const others = ["enrollments", "devices", "challenges", "users"].filter((c) => c !== collection);
  const prefix =
    ({ enrollments: "enr", devices: "dev", challenges: "chl" } as Record<string, string>)[collection] ??
    "xyz";
  const base32 = fc.string({
    unit: fc.constantFrom(..."0123456789abcdefghjkmnpqrstvwxyz"),
    minLength: 26,
    maxLength: 26,
  });
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant(`@own:${collection}`) },
    { weight: 3, arbitrary: fc.constant(`@foreign:${collection}`) },
    { weight: 2, arbitrary: fc.constantFrom(...others).map((c) => `@own:${c}`) },
    { weight: 2, arbitrary: base32.map((r) => `${prefix}_${r}`) },
    { weight: 1, arbitrary: fc.integer({ min: 27, max: 6000 }).map((n) => `${prefix}_${"a".repeat(n)}`) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        "..",
        ".",
        "%2e%2e",
        "..%2f..%2fetc%2fpasswd",
        "%2F",
        "%00",
        "%ZZ",
        "%E0%A4%A",
        "%C0%AF",
        "%F0%9F%98%80",
        "%ED%A0%80",
        "chl_%30000000000000000000000000",
        "CHL_0000000000000000000000000A",
        "%20",
        "a%0Ab",
        "%u202E",
      ),
    },
    { weight: 2, arbitrary: hostileString.filter(isWellFormed).map(encodeURIComponent) },
  );
}

function isWellFormed(s: string): boolean {
  try {
    encodeURIComponent(s);
    return true;
  } catch {
    return false;
  }
}

// Header values: printable ASCII (fetch refuses CR, LF and NUL, and re-encodes anything above 0x7F).
const headerText = fc.oneof(
  fc.string({ unit: "binary-ascii", maxLength: 60 }).map((s) => s.replace(/[^\x20-\x7e]/g, "")),
  fc.integer({ min: 1000, max: 12_000 }).map((n) => "A".repeat(n)),
  fc.constantFrom(
    `ek_live_${"A".repeat(43)}`,
    `ek_test_${"-".repeat(43)}`,
    `edt_${"A".repeat(43)}`,
    `enc_${"A".repeat(43)}`,
    "Bearer",
    "Bearer ",
    "null",
  ),
);

const contentType = fc.constantFrom(
  "application/json",
  "application/json; charset=utf-8",
  "application/json; charset=utf-16",
  "application/json; charset=latin1",
  "APPLICATION/JSON",
  "application/problem+json",
  "application/merge-patch+json",
  "application/jsonx",
  "text/plain",
  "text/json",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/octet-stream",
  "*/*",
  "",
  "a".repeat(3000),
);

type HeaderEntry = [string, string];

function headersArb(route: RouteInfo): fc.Arbitrary<HeaderEntry[]> {
  const right: HeaderEntry[] =
    route.auth === "app"
      ? [["x-api-key", "$ownKey"]]
      : route.auth === "device"
        ? [["authorization", "Bearer $ownToken"]]
        : route.auth === "admin"
          ? [["authorization", "Bearer $adminToken"]]
          : [];
  const entry: fc.Arbitrary<HeaderEntry> = fc.oneof(
    fc.constantFrom<HeaderEntry>(
      ["x-api-key", "$ownKey"],
      ["x-api-key", "$foreignKey"],
      ["X_API_Key", "$ownKey"],
      ["X_API_Key", "$foreignKey"],
      ["x-api-key", "$ownToken"],
      ["authorization", "Bearer $ownToken"],
      ["authorization", "Bearer $foreignToken"],
      ["authorization", "Bearer $revokedToken"],
      ["authorization", "bearer   $ownToken"],
      ["authorization", "Bearer $ownKey"],
      ["authorization", "Basic $ownKey"],
      ["authorization", "Bearer $ownToken, Bearer $foreignToken"],
      ["authorization", "Bearer $adminToken"],
      ["authorization", "Bearer  $adminToken "],
      ["x-api-key", "$adminToken"],
      ["upgrade", "websocket"],
      ["sec-websocket-protocol", "encrypxon.v1, encrypxon.bearer.$ownToken"],
      ["sec-websocket-protocol", "encrypxon.bearer.$foreignToken"],
      ["cf-connecting-ip", "203.0.113.9"],
      ["content-length", "0"],
      ["transfer-encoding", "chunked"],
      ["origin", "https://evil.example"],
    ),
    fc.tuple(
      fc.constantFrom(
        "x-api-key",
        "X_API_Key",
        "authorization",
        "content-type",
        "cf-connecting-ip",
        "sec-websocket-protocol",
        "accept",
        "x-forwarded-for",
      ),
      headerText,
    ),
    fc.tuple(fc.constant("content-type"), contentType),
  );
  return fc
    .tuple(fc.boolean(), fc.array(entry, { maxLength: 4 }))
    .map(([withRight, extra]) => [...(withRight ? right : []), ...extra]);
}

function queryArb(route: RouteInfo): fc.Arbitrary<string> {
  const known = route.query ? Object.keys(route.query.shape) : [];
  const name = fc.constantFrom(...known, "code", "wait", "__proto__", "constructor", "x");
  const value = fc.oneof(
    // Long waits are valid but slow: only 0 and 1 among the valid ones.
    fc.constantFrom("0", "1", "", "-1", "26", "1e1", "0x10", "1.5", "NaN", " 1", "१", "99999999999"),
    fc.constantFrom("$ownCode", "$foreignCode", "$ownUser", "$foreignUser"),
    fc.constantFrom(
      "2026-01-01T00:00:00Z",
      "0000-01-01T00:00:00Z",
      "2026-02-30T00:00:00Z",
      "evt_00000000000000000000000000",
    ),
    hostileString.filter(isWellFormed),
  );
  const encoded = fc
    .array(fc.tuple(name, value), { maxLength: 4 })
    .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&"));
  const broken = fc.constantFrom(
    "code=%",
    "wait=%ZZ",
    "%E0%A4%A=1",
    "&&&",
    "=",
    "limit=1&limit=2",
    "a".repeat(4000),
  );
  // The QR routes mostly get their code, or they never get past it.
  const code = route.path.includes("/qr.")
    ? fc.constantFrom("code=$ownCode&", "code=$foreignCode&", "")
    : fc.constant("");
  return fc
    .tuple(code, fc.oneof({ weight: 4, arbitrary: encoded }, { weight: 1, arbitrary: broken }))
    .map(([c, q]) => (c + q ? `?${c}${q}` : ""));
}

interface FuzzRequest {
  method: string;
  params: Record<string, string>;
  query: string;
  headers: HeaderEntry[];
  body: string | number[] | undefined;
}

function requestArb(route: RouteInfo): fc.Arbitrary<FuzzRequest> {
  const method = fc.oneof(
    { weight: 9, arbitrary: fc.constant(route.method) },
    { weight: 1, arbitrary: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD") },
  );
  const params = fc.record(Object.fromEntries(route.params.map((p) => [p, idArb(route, p)])));
  return fc.record({
    method,
    params,
    query: queryArb(route),
    headers: headersArb(route),
    body: bodyArb(route),
  });
}

// ---------------------------------------------------------------------------------------------------------
// Sending and judging

function resolveId(w: World, param: string, text: string): string {
  const m = /^@(own|foreign):(.*)$/.exec(text);
  if (!m) return text;
  return ownId(m[1] === "own" ? w.own : w.foreign, param, m[2] ?? "");
}

/** Whether two versions of a row differ only in `columns`. */
const changedOnly = (columns: string[]) => (before: Row, after: Row) =>
  Object.keys({ ...before, ...after }).every((k) => columns.includes(k) || before[k] === after[k]);

type Row = Record<string, unknown>;

/**
 * Writes that background work (not the request under test) may make while it runs, to rows earlier
 * requests wrote: the webhook dispatcher records delivery attempts, and the audit sealer fills in the
 * hash chain of rows that have none yet (it never rewrites a sealed row).
 */
const BACKGROUND_UPDATES: Record<string, (before: Row, after: Row) => boolean> = {
  webhook_deliveries: changedOnly([
    "status",
    "attempts",
    "next_attempt_at",
    "last_attempt_at",
    "last_status_code",
    "last_error",
    "delivered_at",
  ]),
  audit_events: (before, after) =>
    changedOnly(["prev_hash", "hash"])(before, after) && before.hash == null && before.prev_hash == null,
};

/** The diff without the background updates above (the same row, by id, changed only as allowed). */
function withoutBackground(diff: Map<string, TableDiff>): Map<string, TableDiff> {
  const out = new Map(diff);
  for (const [table, allowed] of Object.entries(BACKGROUND_UPDATES)) {
    const d = diff.get(table);
    if (!d) continue;
    const added = d.added.filter((a) => !d.removed.some((r) => r.id === a.id && allowed(r, a)));
    const removed = d.removed.filter((r) => !d.added.some((a) => a.id === r.id && allowed(r, a)));
    if (added.length || removed.length) out.set(table, { added, removed });
    else out.delete(table);
  }
  return out;
}

/** Refusals that are documented to write: a third wrong answer fails the challenge, refused creations. */
const onlyAudit = (types: string[]) => (diff: Map<string, TableDiff>) =>
  [...diff.keys()].every((t) => t === "audit_events") &&
  (diff.get("audit_events")?.removed ?? []).length === 0 &&
  (diff.get("audit_events")?.added ?? []).every((r) => types.includes(String(r.type)));

const ALLOWED_WRITES: Record<string, (diff: Map<string, TableDiff>) => boolean> = {
  // A refused challenge creation (over a limit, or for a paused user) is audited, within a budget.
  "rate-limited": onlyAudit(["challenge.refused"]),
  "user-paused": onlyAudit(["challenge.refused"]),
  "challenge-closed": (diff) =>
    [...diff.keys()].every((t) => t === "challenges" || t === "audit_events") &&
    (diff.get("audit_events")?.added ?? []).every(
      (r) => r.type === "challenge.resolved" && r.outcome === "failed",
    ) &&
    (diff.get("challenges")?.added ?? []).every((r) => r.status === "failed"),
};

function describeDiff(diff: Map<string, TableDiff>): string {
  return [...diff]
    .map(([t, d]) => `${t}: +${JSON.stringify(d.added)} -${JSON.stringify(d.removed)}`)
    .join("\n");
}

async function judge(route: RouteInfo, req: FuzzRequest): Promise<void> {
  const w = world;
  const values = placeholders(w);
  let path = route.path;
  for (const p of route.params) path = path.replace(`:${p}`, resolveId(w, p, req.params[p] ?? ""));
  const url = `${BASE}${path}${fill(req.query, values)}`;
  const headers = new Headers();
  for (const [k, v] of req.headers) headers.append(k, fill(v, values));
  const canHaveBody = req.method !== "GET" && req.method !== "HEAD";
  const body =
    !canHaveBody || req.body === undefined
      ? undefined
      : typeof req.body === "string"
        ? fill(req.body, values)
        : new Uint8Array(req.body);
  const sent = [url, ...headers.values(), typeof body === "string" ? body : ""].join("\n");

  const before: DbSnapshot = await snapshotDb();
  const res = await dispatch(url, { method: req.method, headers, body });
  let text = "";
  if (res.webSocket) {
    res.webSocket.accept();
    res.webSocket.close(1000, "fuzz");
  } else text = new TextDecoder().decode(await res.arrayBuffer());
  const what = `${req.method} ${url.slice(0, 300)} → ${res.status} ${text.slice(0, 300)}`;

  expect(res.status, what).toBeLessThan(500);
  if (res.status === 101) expect(headers.get("upgrade")?.toLowerCase(), what).toBe("websocket");
  for (const name of Object.keys(SECURITY_HEADERS))
    expect(res.headers.get(name), `${what}: ${name}`).not.toBeNull();
  const pathname = new URL(url).pathname;
  if (!CORS_READABLE_PATHS.has(pathname)) {
    expect(
      [...res.headers.keys()].filter((k) => k.startsWith("access-control-")),
      what,
    ).toEqual([]);
  }

  // No secret the request did not carry itself, and nothing of a tenant whose credential it did not carry
  // (a request holding the other tenant's key or token rightly acts as that tenant).
  const secretsOf = (t: Tenant) => [t.app.apiKey, t.device.token, t.spare.token, t.code];
  const idsOf = (t: Tenant) => [
    t.app.appId,
    t.device.deviceId,
    t.spare.deviceId,
    t.challengeId,
    t.enrollmentId,
  ];
  // The operator sees every application.
  const operator = !!env.ADMIN_TOKEN && sent.includes(env.ADMIN_TOKEN);
  const holds = (t: Tenant) => operator || secretsOf(t).some((s) => sent.includes(s));
  const forbidden = [...secretsOf(w.own), ...secretsOf(w.foreign), w.revokedToken];
  if (env.ADMIN_TOKEN) forbidden.push(env.ADMIN_TOKEN);
  for (const t of [w.own, w.foreign]) if (!holds(t)) forbidden.push(...idsOf(t));
  for (const s of forbidden) {
    if (!sent.includes(s)) expect(text.includes(s), `${what}: the answer holds ${s}`).toBe(false);
  }

  if (res.status >= 400) {
    expect(res.headers.get("content-type"), what).toMatch(/^application\/problem\+json/);
    if (req.method !== "HEAD") {
      const problem = JSON.parse(text) as Record<string, unknown>;
      expect(problem.status, what).toBe(res.status);
      expect(String(problem.type).startsWith(PROBLEM_BASE), what).toBe(true);
      expect(typeof problem.title, what).toBe("string");
      expect(typeof problem.detail, what).toBe("string");
      // Scan only what the server wrote: whatever the request carried may be echoed (a path, a field name).
      let own = text;
      for (const piece of sent.split(/[\n/?&=]/)) if (piece.length > 3) own = own.split(piece).join("");
      expect(own, what).not.toMatch(INTERNAL);
    }
    const diff = withoutBackground(diffDb(before, await snapshotDb()));
    if (diff.size > 0) {
      const slug = String((JSON.parse(text || "{}") as { type?: string }).type ?? "").replace(
        PROBLEM_BASE,
        "",
      );
      const allowed = ALLOWED_WRITES[slug]?.(diff) ?? false;
      expect(allowed, `${what}\nwrote on a refusal:\n${describeDiff(diff)}`).toBe(true);
    }
  }
}

describe("fuzz: every route in the table", () => {
  for (const route of routeTable()) {
    it(`${route.method} ${route.path}`, async () => {
      await fc.assert(
        fc.asyncProperty(requestArb(route), (req) => judge(route, req)),
        { seed: SEED, numRuns: RUNS, endOnFailure: false },
      );
    });
  }
});
