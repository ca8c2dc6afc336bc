// Secrets are compared in constant time: no `===`, `switch` or string comparison on a secret anywhere in
// the Worker (src/) or the SDKs that verify things (packages/*/src), and the places that must compare
// secrets do it through timingSafeEqual. The finder itself is tested on seeded bad snippets and on the
// real files with timingSafeEqual swapped for `===`.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { constantTimeCallers, findSecretCompares, functionLines, withPlainEquality } from "./secretCompares";

const ROOT = path.resolve(import.meta.dirname, "../..");

function tsFiles(dir: string): string[] {
  const abs = path.join(ROOT, dir);
  try {
    statSync(abs);
  } catch {
    return [];
  }
  return readdirSync(abs, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
    .map((f) => path.join(dir, f));
}

const SCANNED = [
  ...tsFiles("src"),
  ...readdirSync(path.join(ROOT, "packages")).flatMap((p) => tsFiles(path.join("packages", p, "src"))),
];
const read = (file: string) => readFileSync(path.join(ROOT, file), "utf8");

/**
 * Where secrets are compared, and the function that must do it through timingSafeEqual. A place that
 * moves or is renamed fails here: update this list in the same change, never drop an entry silently.
 */
const COMPARE_POINTS: [file: string, fn: string, what: string, compare: string][] = [
  ["src/routes/deviceEnrollment.ts", "activate", "device token digest at activation", "timingSafeEqual"],
  ["src/durable/challenge.ts", "respond", "challenge entropy digest", "timingSafeEqual"],
  ["src/durable/challenge.ts", "sameNumber", "number matching", "timingSafeEqual"],
  ["src/auth/adminToken.ts", "authenticateAdmin", "operator token digest", "timingSafeEqual"],
  ["packages/client/src/webhooks.ts", "verifyWebhook", "webhook signature (SDK)", "constantTimeEqual"],
];

/** Comparisons the finder flags that are not secret comparisons, each with its reason. */
const NOT_SECRET: { file: string; text: string; why: string }[] = [
  { file: "packages/device/src/store.ts", text: "err.code === code", why: "a Node error code (ENOENT)" },
  { file: "src/http/issues.ts", text: ".includes(issue.code)", why: "a zod issue code (invalid_type)" },
  {
    file: "src/webhooks/address.ts",
    text: "((octets[i] ?? 0) & mask) !== (p & mask)",
    why: "bits of a webhook URL's address (`.map(Number)` reads as number matching to the finder)",
  },
  // The audit chain's hashes are published in every export (GET /v1/audit): links, not secrets.
  ...[
    ["src/db/auditChain.ts", "row.prev_hash !== prev"],
    ["src/db/auditChain.ts", "(await rowHash(row, prev)) !== row.hash"],
    ["src/db/auditChain.ts", "row.hash !== head.hash"],
    ["src/durable/auditSealer.ts", "row.hash !== hash"],
    ["src/durable/auditSealer.ts", "row.prev_hash !== prev"],
    ["packages/client/src/auditChain.ts", "e.hash !== this.#expected"],
    ["packages/client/src/auditChain.ts", "(await auditEventHash(e, e.prev_hash)) !== e.hash"],
    ["packages/client/src/auditChain.ts", "this.#expected !== AUDIT_GENESIS_HASH"],
    ["packages/client/src/client.ts", "e.hash === options.knownHash"],
  ].map(([file = "", text = ""]) => ({
    file,
    text,
    why: "an audit chain hash: public, exported with every event",
  })),
];

describe("constant-time comparison of secrets", () => {
  it("scans the Worker and the packages", () => {
    expect(SCANNED.filter((f) => f.startsWith("src/")).length).toBeGreaterThan(20);
  });

  it("no secret is compared with ===, switch or a string method", () => {
    const findings = SCANNED.flatMap((file) => findSecretCompares(file, read(file))).filter(
      (f) => !NOT_SECRET.some((n) => n.file === f.file && f.text.includes(n.text)),
    );
    expect(findings.map((f) => `${f.file}:${f.line} ${f.why}: ${f.text}`)).toEqual([]);
  });

  it.each(COMPARE_POINTS)("%s: %s compares in constant time (%s, with %s)", (file, fn, _what, compare) => {
    expect(constantTimeCallers(file, read(file), compare)).toContain(fn);
  });

  it.each(COMPARE_POINTS)("%s: %s with === instead is caught there", (file, fn, _what, compare) => {
    const broken = withPlainEquality(file, read(file), compare);
    expect(broken).not.toBe(read(file));
    const spans = functionLines(file, broken, fn);
    const inside = findSecretCompares(file, broken).filter((f) =>
      spans.some(([a, b]) => f.line >= a && f.line <= b),
    );
    expect(inside.length).toBeGreaterThan(0);
  });
});

describe("the finder", () => {
  const finds = (src: string) => findSecretCompares("snippet.ts", src).map((f) => f.why);

  it.each([
    ["digest with ===", "if (tokenHash === row.token_hash) ok();"],
    ["digest with !=", "if (body.entropyHash != stored) fail();"],
    ["env secret", "if (request.headers.get('authorization') === 'Bearer ' + env.ADMIN_TOKEN) ok();"],
    ["tainted local", "const h = await sha256Hex(key); const s = row.x; if (h !== s) fail();"],
    ["tainted twice", "const a = body.code; const b = a; if (b === other) ok();"],
    ["destructured", "const { token } = body; if (token == row.value) ok();"],
    ["array-destructured", "const [a, b] = await Promise.all([sha256(x), sha256(y)]); if (a === b) ok();"],
    ["number matching", "if (input.number !== expected) wrong();"],
    ["api key", "if (apiKey === presented) ok();"],
    ["signature method", "if (sig.localeCompare(expected) === 0) ok();"],
    ["startsWith", "if (storedSignature.startsWith(given)) ok();"],
    ["buffer equals", "if (Buffer.from(mac).equals(other)) ok();"],
    ["switch", "switch (input.number) { case expectedNumber: ok(); }"],
  ])("catches %s", (_name, src) => {
    expect(finds(src).length).toBeGreaterThan(0);
  });

  it.each([
    ["constant-time", "if (timingSafeEqual(await sha256(token), fromHex(row.token_hash))) ok();"],
    ["a literal", 'if (issue.code === "invalid_type") x();'],
    ["typeof", 'if (typeof input.number === "number") x();'],
    ["null", "if (tokenHash === null) x();"],
    ["a length", "if (token.length !== 43) x();"],
    ["unrelated names", "if (row.id !== id) x();"],
    ["switch on literals", 'switch (result.code) { case "a": break; }'],
    ["a constant list", "if (PREFIXES.includes(token)) x();"],
  ])("leaves %s alone", (_name, src) => {
    expect(finds(src)).toEqual([]);
  });
});
