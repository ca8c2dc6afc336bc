// The C# binding (clients/csharp) built with Mono's mcs and its tests run on Mono against the real
// Worker under `wrangler dev`, the reference device CLI (packages/device) playing the phone: enroll from
// the enrollment URI, approve, deny, plus the error model, cancel, webhooks delivered to a receiver in
// the C# process, the audit chain verified there, audit paging and retries. The build also compiles
// every C# example of the docs against the library. The canonical-JSON vectors the C# tests use are
// checked here against the TypeScript implementation. Skipped where Mono is not installed, except in
// CI, where it must run.
import { spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { vectorsText } from "../../clients/csharp/tools/canonical-vectors";
import { type E2eServer, REPO_ROOT, run, startServer } from "./harness";

const has = (cmd: string) => spawnSync(cmd, ["--version"], { stdio: "ignore" }).status === 0;
const available = has("mcs") && has("mono");

interface CsharpResult {
  name: string;
  outcome: "passed" | "failed" | "skipped";
  message: string | null;
}

let server: E2eServer;
let out: string;

beforeAll(async () => {
  if (!available && !process.env.CI) return;
  server = await startServer({ appName: "C# Shop" });
  out = path.join(server.tmp, "csharp");
}, 120_000);

afterAll(async () => {
  await server?.cleanup();
});

test("the C# canonical-JSON vectors are what the TypeScript canonicalJson writes today", async () => {
  // Regenerate: npx tsx clients/csharp/tools/canonical-vectors.ts > clients/csharp/tests/canonical-vectors.json
  const committed = await readFile(
    path.join(REPO_ROOT, "clients/csharp/tests/canonical-vectors.json"),
    "utf8",
  );
  expect(committed === vectorsText(), "clients/csharp/tests/canonical-vectors.json is out of date").toBe(
    true,
  );
});

describe.skipIf(!available && !process.env.CI)("C# binding on Mono", () => {
  test("the library, its tests and the docs' C# examples compile", async () => {
    const build = await run("bash", [path.join(REPO_ROOT, "clients/csharp/build.sh")], {
      env: { ...process.env, ENCRYPXON_CSHARP_OUT: out },
      timeoutMs: 240_000,
    });
    expect(build.code, `${build.stdout}\n${build.stderr}`).toBe(0);
    const examples = Number(/(\d+) C# examples from docs\/reference\.md/.exec(build.stdout)?.[1]);
    expect(examples).toBeGreaterThanOrEqual(14);
  }, 300_000);

  test("every C# test passes against the Worker, the reference device approving and denying", async () => {
    const resultsFile = path.join(out, "results.json");
    const r = await run(
      "mono",
      ["--debug", path.join(out, "Encrypxon.Client.Tests.exe"), "--results", resultsFile],
      {
        env: {
          ...process.env,
          // Here the server suite must run: a missing variable fails instead of skipping.
          CI: "true",
          ENCRYPXON_URL: server.baseUrl,
          ENCRYPXON_API_KEY: server.apiKey,
          ENCRYPXON_NODE: process.execPath,
          ENCRYPXON_DEVICE_BIN: path.join(REPO_ROOT, "packages/device/bin/encrypxon-device.mjs"),
          ENCRYPXON_DEVICE_STORE: path.join(server.tmp, "csharp-device"),
        },
        timeoutMs: 240_000,
      },
    );
    const results = JSON.parse(await readFile(resultsFile, "utf8")) as { tests: CsharpResult[] };
    const notPassed = results.tests.filter((t) => t.outcome !== "passed");
    expect(notPassed, r.stdout).toEqual([]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/C# tests: \d+ passed, 0 failed, 0 skipped/);

    const names = results.tests.map((t) => t.name);
    for (const name of [
      "server: WaitForEnrollmentWhileTheDeviceEnrolls",
      "server: ChallengeApprovedOnThePhone",
      "server: ChallengeDeniedWithAReason",
      "server: NumberMatchingNeedsTheNumberFromTheLoginPage",
      "server: SettingsReadAndPatched",
      "server: UnansweredWaitReturnsPendingThenCancel",
      "server: WrongApiKeyIs401",
      "server: UnknownIdsAre404",
      "server: ValidationErrorsCarryTheFields",
      "server: UserWithoutADeviceIs422",
      "server: AuditPagesAgreeWithOneBigPage",
      "server: GetIsRetriedPostIsNot",
      "server: WebhooksDeliveredHereVerify",
      "server: AuditChainCheckedHereAgreesWithTheService",
      "webhook: KnownAnswerVector",
      "webhook: SeveralV1EntriesAnyOneMatches",
      "webhook: SeveralSecretsDuringARotation",
      "webhook: EventDataReadAsTheModels",
      "audit-chain: NumbersAsJavaScriptWritesThem",
      "audit-chain: TheJavaScriptTestsEventsHashTheSame",
      "client: PostIsNeverRetried",
      "client: InfiniteTimeoutMeansNoDeadline",
      "client: ALiveKeyNeedsABaseUrl",
      "docs: AnUnknownSpellingFailsTheBuild",
      "surface: EveryListedMemberExists",
    ]) {
      expect(names).toContain(name);
    }
    expect(results.tests.length).toBeGreaterThanOrEqual(60);
  }, 300_000);

  test("the server logged no errors and no secret", () => {
    server.secret(server.apiKey);
    expect(server.logProblems()).toEqual([]);
  });
});
