// The encrypxon-device CLI: argument errors are one clear line and exit 1; JSON mode is parseable; the
// bin shim runs the TypeScript through tsx. Server calls go to the in-process fake.
import { spawnSync } from "node:child_process";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { clean, HELP, main } from "../../packages/device/src/cli";
import { FakeServer, problem, URI } from "./device-fake-server";

const BIN = path.resolve(import.meta.dirname, "../../packages/device/bin/encrypxon-device.mjs");

let root: string;
let server: FakeServer;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "encrypxon-cli-"));
  server = new FakeServer();
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function run(...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    env: { ENCRYPXON_DEVICE_STORE: root },
    fetch: server.fetch,
  });
  return { code, stdout, stderr };
}

describe("argument errors: exit 1, one line on stderr, nothing on stdout", () => {
  it.each([
    [["bogus"], /unknown command "bogus" \(see encrypxon-device --help\)/],
    [["list", "--bogus"], /Unknown option '--bogus'/],
    [["list", "extra"], /list takes no arguments, got 1 argument/],
    [["enroll"], /enroll takes <enrollment URI>, got 0/],
    [
      ["enroll", URI, "--format", "rsa-pkcs1"],
      /--format must be one of ecies-p256, rsa-oaep-sha1, rsa-oaep-sha256/,
    ],
    [["enroll", URI, "--format"], /--format <value>' argument missing/],
    [["enroll", URI, "--name", " "], /--name must not be empty/],
    [["enroll", "https://example.com"], /wrong scheme "https"/],
    [["enroll", "encrypxon://enroll?v=1&url=http://x"], /missing parameter "code"/],
    [["approve"], /approve takes <challenge id>, got 0/],
    [["approve", "dev_123"], /not a challenge id: dev_123/],
    [["deny", "chl_123", "--reason", ""], /--reason must not be empty/],
    [["deny", "chl_123", "--device", "../etc"], /not a device id/],
    [["list"], /no devices in .*; enroll one first/],
    [["devices", "--device", "dev_1"], /Unknown option '--device'/],
  ])("%j", async (argv, message) => {
    const r = await run(...argv);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(message);
    expect(r.stderr.startsWith("encrypxon-device: ")).toBe(true);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  });

  it("also writes the error as JSON on stdout with --json", async () => {
    const r = await run("approve", "nope", "--json");
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({ error: { message: "not a challenge id: nope" } });
  });
});

describe("help", () => {
  it.each([[[]], [["--help"]], [["help"]], [["list", "-h"]]])("%j prints the help", async (argv) => {
    const r = await run(...argv);
    expect(r).toEqual({ code: 0, stdout: HELP, stderr: "" });
  });
});

describe("a session", () => {
  it("enrolls, lists, approves and shows devices; the key never appears in output", async () => {
    const enrolled = await run("enroll", URI, "--format", "rsa-oaep-sha256", "--name", "cli", "--json");
    expect(enrolled.code).toBe(0);
    const info = JSON.parse(enrolled.stdout) as Record<string, string>;
    expect(info).toMatchObject({
      device_id: server.deviceId,
      key_format: "rsa-oaep-sha256",
      app_name: "Acme",
    });
    expect(server.seen[0]?.body).toMatchObject({ name: "cli", platform: `node/${process.platform}` });

    const id = await server.addChallenge({
      context: { title: "Sign in\u001b[2J", location: "Lisbon \u202eTP" },
    });
    const listed = await run("list");
    expect(listed.code).toBe(0);
    // The listing's exact expiry (milliseconds and all), not the plaintext's whole second.
    expect(listed.stdout).toContain(`${id}  expires ${server.challenges[0]?.expires_at} (in `);
    expect(String(server.challenges[0]?.expires_at)).toMatch(/\.\d{3}Z$/);
    expect(listed.stdout).toContain("title:      Sign in\\u{1b}[2J");
    expect(listed.stdout).toContain("location:   Lisbon \\u{202e}TP");

    const approved = await run("approve", id);
    expect(approved).toMatchObject({ code: 0, stdout: `Approved ${id} (status: approved)\n` });

    const devices = await run("devices", "--json");
    const all = [enrolled, listed, approved, devices].map((r) => r.stdout + r.stderr).join("");
    const { readFile } = await import("node:fs/promises");
    const record = JSON.parse(await readFile(path.join(root, `${server.deviceId}.json`), "utf8")) as {
      private_jwk: { d: string };
      device_token: string;
    };
    expect(all).not.toContain(record.private_jwk.d);
    expect(all).not.toContain(record.device_token);
    expect(JSON.parse(devices.stdout).devices).toHaveLength(1);
  });

  it("approves a number-matching challenge only with the number, padded as shown at login", async () => {
    await run("enroll", URI);
    const id = await server.addChallenge({ number: "07" });
    const listed = await run("list");
    expect(listed.stdout).toContain("approve with --number NN");
    const before = server.seen.length;
    const without = await run("approve", id);
    expect(without.code).toBe(1);
    expect(without.stderr).toMatch(/needs the number shown on the login page/);
    // Refused on the device: no answer was sent, so no attempt was spent.
    expect(server.seen.slice(before).filter((r) => r.method === "POST")).toEqual([]);
    expect((await run("approve", id, "--number", "x7")).stderr).toMatch(/must be the 2 digits/);
    const wrong = await run("approve", id, "--number", "08");
    expect(wrong.stderr).toMatch(/Wrong number/);
    const right = await run("approve", id, "--number", "7");
    expect(right).toMatchObject({ code: 0, stdout: `Approved ${id} (status: approved)\n` });
    expect(server.seen.at(-1)?.body).toMatchObject({ decision: "approve", number: "07" });
    expect((await run("watch", "--number", "07")).stderr).toMatch(/--number goes with --approve-all/);
  });

  it("reports a server problem as one line and exits 1", async () => {
    await run("enroll", URI);
    const id = await server.addChallenge();
    server.overrides.set(`POST /v1/device/challenges/${id}/response`, () =>
      problem(409, "challenge-closed", "Challenge closed", "The challenge is no longer pending."),
    );
    expect(await run("approve", id)).toEqual({
      code: 1,
      stdout: "",
      stderr: "encrypxon-device: HTTP 409 Challenge closed: The challenge is no longer pending.\n",
    });
  });

  it("after a 401 (a revoked or removed device) says so and how to start over", async () => {
    await run("enroll", URI);
    server.token = "revoked";
    const hint =
      "The device may have been revoked or removed by the application: enroll it again " +
      "(npm run device -- remove deletes the local key)";
    expect(await run("list")).toEqual({
      code: 1,
      stdout: "",
      stderr: `encrypxon-device: HTTP 401 Unauthorized: Token required. ${hint}\n`,
    });
    const named = await run("deny", "chl_123", "--device", server.deviceId, "--json");
    expect(named.stderr).toContain(`(npm run device -- remove --device ${server.deviceId} deletes`);
    expect(JSON.parse(named.stdout)).toMatchObject({
      error: { message: expect.stringContaining("revoked or removed"), status: 401 },
    });
    // watch cannot see the upgrade's 401 (a WebSocket reports 1006), yet ends with the same advice.
    const watched = await run("watch", "--json");
    expect(watched.code).toBe(1);
    expect(watched.stderr).toMatch(/was revoked or removed by the application.*npm run device -- remove/);
    expect(
      watched.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).event),
    ).toEqual(["revoked", undefined]); // then the error line
    // remove itself expects the 401: the key is deleted, no hint needed.
    expect(await run("remove")).toMatchObject({ code: 0, stderr: "" });
  });

  it.runIf(process.platform !== "win32")(
    "enroll refuses a store others can write before it claims the code",
    async () => {
      await chmod(root, 0o777);
      const r = await run("enroll", URI);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/\nencrypxon-device: .* is writable by others \(mode 777\)/);
      expect(server.seen).toEqual([]);
    },
  );

  it.runIf(process.platform !== "win32")("refuses to use a store others can write", async () => {
    await run("enroll", URI);
    const id = await server.addChallenge();
    await chmod(root, 0o775);
    for (const argv of [["list"], ["approve", id]]) {
      const r = await run(...argv);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^encrypxon-device: .* is writable by others \(mode 775\); refusing/);
    }
    expect((await run("devices")).stdout).toMatch(/unusable: .* is writable by others/);
    expect(server.seen.filter((s) => s.path.startsWith("/v1/device/challenges"))).toEqual([]);
  });

  it.runIf(process.platform !== "win32")("lists a world-readable key file as unusable", async () => {
    await run("enroll", URI);
    await chmod(path.join(root, `${server.deviceId}.json`), 0o644);
    const r = await run("devices");
    expect(r.stdout).toMatch(/unusable: .*readable or writable by others/);
    expect((await run("list")).code).toBe(1);
  });
});

describe("clean", () => {
  it("escapes control and bidi characters, keeps the rest", () => {
    expect(clean("a\nb\u0007c\u202ed é ✓")).toBe("a\\u{a}b\\u{7}c\\u{202e}d é ✓");
  });
});

describe("bin/encrypxon-device.mjs", () => {
  it("runs the TypeScript CLI under plain node", () => {
    const ok = spawnSync(process.execPath, [BIN, "--help"], { encoding: "utf8" });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe(HELP);
    const bad = spawnSync(process.execPath, [BIN, "approve"], { encoding: "utf8" });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^encrypxon-device: approve takes <challenge id>/);
  });
});
