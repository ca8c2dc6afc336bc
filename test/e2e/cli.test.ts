// The integrator CLI (packages/client/bin/encrypxon.mjs) as a person runs it, against the real Worker;
// the reference device library plays the phone.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Encrypxon2FaClient } from "../../packages/client/src/index";
import { DeviceClient, DeviceStore } from "../../packages/device/src/index";
import { type E2eServer, REPO_ROOT, run, startServer } from "./harness";

const BIN = path.join(REPO_ROOT, "packages", "client", "bin", "encrypxon.mjs");

let server: E2eServer;
let tmp: string;
let phone: DeviceClient;

beforeAll(async () => {
  server = await startServer({ appName: "CLI Shop" });
  tmp = await mkdtemp(path.join(os.tmpdir(), "encrypxon-cli-"));
}, 120_000);

afterAll(async () => {
  await server?.cleanup();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const lines = (text: string) =>
  text
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);

const env = () => ({ ...process.env, ENCRYPXON_URL: server.baseUrl, ENCRYPXON_API_KEY: server.apiKey });

/** Starts the CLI; `until(re)` resolves with the output so far once it matches. */
function start(...args: string[]) {
  const child: ChildProcess = spawn(process.execPath, [BIN, ...args], {
    cwd: tmp,
    env: env(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const waiters: (() => void)[] = [];
  child.stdout?.setEncoding("utf8").on("data", (s: string) => {
    stdout += s;
    for (const w of waiters.splice(0)) w();
  });
  child.stderr?.setEncoding("utf8").on("data", (s: string) => {
    stderr += s;
  });
  const exit = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const until = async (re: RegExp, ms = 20_000): Promise<RegExpExecArray> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = re.exec(stdout);
      if (m) return m;
      if (Date.now() > deadline) throw new Error(`no ${re} in output:\n${stdout}\n${stderr}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 200);
      });
    }
  };
  return { child, exit, until, out: () => stdout, err: () => stderr };
}

describe("encrypxon CLI", () => {
  test("enroll draws the QR code, prints the URI and waits for the phone", async () => {
    const cli = start("enroll", "alice", "--label", "alice@example.com");
    const [uri] = await cli.until(/encrypxon:\/\/enroll\?\S+(?=')/);
    expect(cli.out()).toMatch(/[▀▄█]/);
    phone = await DeviceClient.enroll(uri, { store: new DeviceStore(path.join(tmp, "phone")) });
    expect(await cli.exit).toBe(0);
    expect(cli.out()).toContain(`enrollment completed: device ${phone.deviceId}`);
  });

  test("challenge waits for the approval (exit 0) and a denial (exit 2)", async () => {
    for (const [decision, code, word] of [
      ["approve", 0, "approved"],
      ["deny", 2, "denied"],
    ] as const) {
      const cli = start("challenge", "alice", "--title", "Sign in", "--json");
      let pending: string | undefined;
      for (let i = 0; !pending && i < 100; i++) {
        pending = (await phone.listChallenges()).challenges[0]?.id;
        if (!pending) await new Promise((r) => setTimeout(r, 100));
      }
      await phone.respond(pending ?? "", decision);
      expect(await cli.exit, cli.err()).toBe(code);
      // JSON lines: the challenge as created, then its outcome.
      const [created, outcome, ...rest] = lines(cli.out());
      expect(created).toMatchObject({ id: pending, status: "pending", devices: 1, match_number: null });
      expect(outcome).toMatchObject({ id: pending, status: word });
      expect(rest).toEqual([]);
    }
  });

  test("devices, status, audit and the error path", async () => {
    const devices = await run(process.execPath, [BIN, "devices", "alice", "--json"], { env: env() });
    expect(devices.code, devices.stderr).toBe(0);
    expect(JSON.parse(devices.stdout)).toMatchObject([{ id: phone.deviceId, status: "active" }]);

    const audit = await run(process.execPath, [BIN, "audit", "--user", "alice"], { env: env() });
    expect(audit.code, audit.stderr).toBe(0);
    const lines = audit.stdout.trim().split("\n");
    expect(lines[0]).toContain("enrollment.created");
    expect(lines.at(-1)).toContain("challenge.resolved");

    // The audit hash chain, checked by the service (in stretches of 2) and offline.
    for (const args of [["--limit", "2"], ["--offline"]]) {
      const verify = await run(process.execPath, [BIN, "audit", "verify", ...args, "--json"], { env: env() });
      expect(verify.code, verify.stderr).toBe(0);
      const result = JSON.parse(verify.stdout);
      expect(result.ok).toBe(true);
      expect(result.checked).toBeGreaterThan(3);
    }

    const bad = await run(process.execPath, [BIN, "status", "chl_00000000000000000000000000"], {
      env: env(),
    });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe("encrypxon: 404 not-found: No challenge with that id exists for this caller.\n");
    expect(bad.stdout).toBe("");
  });

  test("audit --follow prints new events as they happen", async () => {
    const cli = start("audit", "--follow", "--limit", "1");
    await cli.until(/challenge\.resolved/);
    const client = new Encrypxon2FaClient({ apiKey: server.apiKey, baseUrl: server.baseUrl });
    const e = await client.createEnrollment({ user_id: "zed" });
    await cli.until(new RegExp(`enrollment\\.created\\s+pending\\s+zed\\s+${e.id}`));
    cli.child.kill("SIGTERM");
    await cli.exit;
  });

  test("enroll --json prints the enrollment before it waits, the outcome when the phone is done", async () => {
    const cli = start("enroll", "erin", "--json");
    await cli.until(/\n/);
    const [created] = lines(cli.out());
    expect(created).toMatchObject({ status: "pending", user_id: "erin", expires_at: expect.any(String) });
    const png = await fetch(String(created?.qr_png_url));
    expect(png.headers.get("content-type")).toBe("image/png");
    const svg = await fetch(String(created?.qr_svg_url));
    expect(svg.status).toBe(200);
    const erin = await DeviceClient.enroll(String(created?.enrollment_uri), {
      store: new DeviceStore(path.join(tmp, "erin")),
    });
    expect(await cli.exit, cli.err()).toBe(0);
    expect(lines(cli.out())).toEqual([
      created,
      expect.objectContaining({ id: created?.id, status: "completed", device_id: erin.deviceId }),
    ]);
  });

  test("challenge --number-matching shows the number before it waits; the phone types it", async () => {
    const cli = start("challenge", "alice", "--number-matching");
    const [, number] = await cli.until(/Type (\d\d) on the phone to approve this login\./);
    await cli.until(/waiting for alice…/);
    const [listed] = (await phone.listChallenges()).challenges;
    expect(listed?.number_matching).toBe(true);
    await phone.respond(listed?.id ?? "", "approve", { number: number ?? "" });
    expect(await cli.exit, cli.err()).toBe(0);
    expect(cli.out()).toMatch(/\napproved\n$/);
  });

  test("a challenge nobody waits for any more is cancelled: --timeout and Ctrl-C", async () => {
    const client = new Encrypxon2FaClient({ apiKey: server.apiKey, baseUrl: server.baseUrl });
    const timedOut = start("challenge", "alice", "--timeout", "1", "--json");
    expect(await timedOut.exit, timedOut.err()).toBe(2);
    const [created, cancelled] = lines(timedOut.out());
    expect(cancelled).toMatchObject({ id: created?.id, status: "cancelled" });
    expect(timedOut.err()).toMatch(/timed out after 1 s; the phone can no longer approve/);
    expect((await client.getChallenge(String(created?.id))).status).toBe("cancelled");

    const interrupted = start("challenge", "alice");
    const [, id] = await interrupted.until(/challenge (chl_\w+) sent/);
    await interrupted.until(/waiting for alice…/);
    interrupted.child.kill("SIGINT");
    expect(await interrupted.exit, interrupted.err()).toBe(2);
    expect(interrupted.out()).toContain(`cancelled: interrupted; the phone can no longer approve ${id}`);
    expect((await client.getChallenge(id ?? "")).status).toBe("cancelled");
    expect((await phone.listChallenges()).challenges).toEqual([]);

    const kept = start("challenge", "alice", "--timeout", "1", "--keep");
    const [, keptId] = await kept.until(/challenge (chl_\w+) sent/);
    expect(await kept.exit).toBe(2);
    expect((await client.getChallenge(keptId ?? "")).status).toBe("pending");
    await client.cancelChallenge(keptId ?? "");
  });

  test("an unknown option is one clear line, the usage, exit 2", async () => {
    for (const args of [["--bogus"], ["challenge", "alice", "--bogus"]]) {
      const r = await run(process.execPath, [BIN, ...args], { env: env() });
      expect(r.code).toBe(2);
      expect(r.stderr.split("\n").slice(0, 2)).toEqual(["encrypxon: unknown option --bogus", "Usage:"]);
      expect(r.stdout).toBe("");
    }
  });
});
