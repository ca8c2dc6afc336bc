// The integrator CLI (`npx encrypxon`) in-process against a fake API: what it prints before it waits
// (the enrollment URI, the number to type), JSON lines, cancelling a challenge nobody waits for any
// more, and command-line mistakes.
import { afterEach, describe, expect, it } from "vitest";
import { main } from "../../packages/client/src/cli";

type Json = Record<string, unknown>;
const BASE = "http://api.test";

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const problem = (status: number, slug: string, detail: string) =>
  new Response(
    JSON.stringify({ type: `https://encrypxon.dev/problems/${slug}`, title: slug, status, detail }),
    { status, headers: { "content-type": "application/problem+json" } },
  );

/** The application API, as far as enroll and challenge use it. Long-polls park until `settle`. */
class FakeApi {
  readonly calls: { method: string; path: string; wait: string | null; body: Json | null }[] = [];
  /** The application's number-matching setting. */
  numberMatching = false;
  enrollment: Json | null = null;
  challenge: Json | null = null;
  /** When set, DELETE answers 409 after the challenge took this status (an answer that raced it). */
  raceTo: string | null = null;
  #parked: (() => void)[] = [];

  /** Ends every parked long-poll with the current state. */
  settle(): void {
    for (const wake of this.#parked.splice(0)) wake();
  }

  get polls(): number {
    return this.calls.filter((c) => c.method === "GET" && c.wait !== null).length;
  }

  readonly fetch: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const method = init?.method ?? "GET";
    const body = typeof init?.body === "string" ? (JSON.parse(init.body) as Json) : null;
    const wait = url.searchParams.get("wait");
    this.calls.push({ method, path: url.pathname, wait, body });
    const now = Date.now();
    if (method === "POST" && url.pathname === "/v1/enrollments") {
      this.enrollment = {
        id: "enr_1",
        object: "enrollment",
        user_id: body?.user_id,
        user_label: body?.user_id,
        status: "pending",
        device_id: null,
        created_at: new Date(now).toISOString(),
        expires_at: new Date(now + 600_000).toISOString(),
        completed_at: null,
        enrollment_uri: `encrypxon://enroll?v=1&url=${encodeURIComponent(BASE)}&code=enc_x&app=Shop&user=erin`,
        qr_svg_url: `${BASE}/v1/enrollments/enr_1/qr.svg?code=enc_x`,
      };
      return json(this.enrollment, 201);
    }
    if (method === "POST" && url.pathname === "/v1/challenges") {
      const nm = typeof body?.number_matching === "boolean" ? body.number_matching : this.numberMatching;
      this.challenge = {
        id: "chl_1",
        object: "challenge",
        user_id: body?.user_id,
        status: "pending",
        context: body?.context ?? {},
        created_at: new Date(now).toISOString(),
        expires_at: new Date(now + 120_000).toISOString(),
        resolved_at: null,
        device_id: null,
        reason: null,
        number_matching: nm,
        match_number: nm ? "07" : null,
        fraud_reported: false,
        devices: 1,
      };
      return json(this.challenge, 201);
    }
    const state = url.pathname === "/v1/enrollments/enr_1" ? this.enrollment : this.challenge;
    if (method === "GET" && state && url.pathname.endsWith(String(state.id))) {
      if (wait !== null && Number(wait) > 0 && state.status === "pending") {
        // Like the server: hold the request until something changes or `wait` seconds pass.
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, Number(wait) * 1000);
          this.#parked.push(() => {
            clearTimeout(timer);
            resolve();
          });
          init?.signal?.addEventListener("abort", () => reject(init.signal?.reason), { once: true });
        });
      }
      return json(state);
    }
    if (method === "DELETE" && this.enrollment && url.pathname === "/v1/enrollments/enr_1") {
      if (this.enrollment.status !== "pending") {
        return problem(409, "enrollment-closed", "The enrollment is no longer pending.");
      }
      this.enrollment = { ...this.enrollment, status: "cancelled" };
      this.settle();
      return json(this.enrollment);
    }
    if (method === "DELETE" && this.challenge && url.pathname === "/v1/challenges/chl_1") {
      if (this.raceTo) this.challenge = { ...this.challenge, status: this.raceTo };
      if (this.challenge.status !== "pending") {
        return problem(409, "challenge-closed", "The challenge is no longer pending.");
      }
      this.challenge = { ...this.challenge, status: "cancelled", reason: "cancelled" };
      this.settle();
      return json(this.challenge);
    }
    return problem(404, "not-found", "No route.");
  };
}

let api: FakeApi;
afterEach(() => {
  api?.settle();
});

/** Starts the CLI; the output is read while it runs. */
function start(argv: string[], signal?: AbortSignal) {
  api ??= new FakeApi();
  const run = { stdout: "", stderr: "", code: undefined as number | undefined };
  const done = main(argv, {
    stdout: (t) => {
      run.stdout += t;
    },
    stderr: (t) => {
      run.stderr += t;
    },
    env: { ENCRYPXON_API_KEY: "ek_test_x", ENCRYPXON_URL: BASE },
    cwd: "/nonexistent",
    fetch: api.fetch,
    ...(signal && { signal }),
  }).then((code) => {
    run.code = code;
    return code;
  });
  return {
    run,
    done,
    lines: () =>
      run.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Json),
  };
}

/** Until the CLI sits in its long-poll (or has finished). */
async function parked(run: { code: number | undefined }) {
  for (let i = 0; i < 200 && run.code === undefined && api.polls === 0; i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("enroll", () => {
  it("cancels the enrollment when the wait is interrupted, so its code no longer enrolls a phone", async () => {
    api = new FakeApi();
    const stop = new AbortController();
    const cli = start(["enroll", "erin"], stop.signal);
    await parked(cli.run);
    expect(cli.run.code).toBeUndefined();
    stop.abort();
    expect(await cli.done).toBe(2);
    expect(api.enrollment?.status).toBe("cancelled");
    expect(cli.run.stdout).toMatch(/cancelled: interrupted; the code of enr_1 no longer enrolls a phone\n$/);
  });

  it("--keep leaves an interrupted enrollment open", async () => {
    api = new FakeApi();
    const stop = new AbortController();
    const cli = start(["enroll", "erin", "--keep"], stop.signal);
    await parked(cli.run);
    stop.abort();
    expect(await cli.done).toBe(2);
    expect(api.calls.some((c) => c.method === "DELETE")).toBe(false);
    expect(api.enrollment?.status).toBe("pending");
    expect(cli.run.stdout).toMatch(/pending: interrupted; enr_1 left open \(--keep\)/);
  });

  it("--json prints the enrollment before it waits, then the outcome as a second JSON line", async () => {
    api = new FakeApi();
    const cli = start(["enroll", "erin", "--json"]);
    await parked(cli.run);
    expect(cli.run.code).toBeUndefined();
    const [first, ...rest] = cli.lines();
    expect(rest).toEqual([]);
    expect(first).toMatchObject({
      id: "enr_1",
      status: "pending",
      enrollment_uri: expect.stringMatching(/^encrypxon:\/\/enroll\?/),
      qr_svg_url: `${BASE}/v1/enrollments/enr_1/qr.svg?code=enc_x`,
      qr_png_url: `${BASE}/v1/enrollments/enr_1/qr.png?code=enc_x`,
      expires_at: expect.any(String),
    });

    api.enrollment = { ...api.enrollment, status: "completed", device_id: "dev_1" };
    api.settle();
    expect(await cli.done).toBe(0);
    const lines = cli.lines();
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ id: "enr_1", status: "completed", device_id: "dev_1" });
    expect(cli.run.stderr).toBe("");
  });

  it("--json --no-wait prints the one enrollment line and exits", async () => {
    api = new FakeApi();
    const cli = start(["enroll", "erin", "--json", "--no-wait"]);
    expect(await cli.done).toBe(0);
    expect(cli.lines()).toEqual([expect.objectContaining({ id: "enr_1", qr_png_url: expect.any(String) })]);
    expect(api.polls).toBe(0);
  });

  it("draws the QR code and prints the URI before it waits", async () => {
    api = new FakeApi();
    const cli = start(["enroll", "erin"]);
    await parked(cli.run);
    expect(cli.run.stdout).toMatch(/[▀▄█]/);
    expect(cli.run.stdout).toContain("npm run device -- enroll 'encrypxon://enroll?");
    expect(cli.run.stdout).toMatch(/waiting for the phone…\n$/);
    api.enrollment = { ...api.enrollment, status: "expired" };
    api.settle();
    expect(await cli.done).toBe(2);
    expect(cli.run.stdout).toMatch(/enrollment expired\n$/);
  });
});

describe("challenge", () => {
  it("shows the number to type before it waits when the application uses number matching", async () => {
    api = new FakeApi();
    api.numberMatching = true;
    const cli = start(["challenge", "frank"]);
    await parked(cli.run);
    expect(cli.run.code).toBeUndefined();
    expect(cli.run.stdout).toContain("Type 07 on the phone to approve this login.");
    expect(cli.run.stdout).toMatch(/waiting for frank…\n$/);
    api.challenge = { ...api.challenge, status: "approved", match_number: null };
    api.settle();
    expect(await cli.done).toBe(0);
    expect(cli.run.stdout).toMatch(/\napproved\n$/);
  });

  it("--json prints the created challenge (with match_number) first, the result second", async () => {
    api = new FakeApi();
    const cli = start(["challenge", "frank", "--number-matching", "--json"]);
    await parked(cli.run);
    expect(cli.lines()).toEqual([
      expect.objectContaining({ id: "chl_1", status: "pending", match_number: "07", devices: 1 }),
    ]);
    api.challenge = { ...api.challenge, status: "denied", reason: "not_me" };
    api.settle();
    expect(await cli.done).toBe(2);
    expect(cli.lines()[1]).toMatchObject({ id: "chl_1", status: "denied", reason: "not_me" });
  });

  it.each([
    [["--number-matching"], true],
    [["--no-number-matching"], false],
    [[], undefined],
  ])("%j sets number_matching on the POST to %s", async (flags, expected) => {
    api = new FakeApi();
    api.numberMatching = true;
    const cli = start(["challenge", "frank", ...flags, "--timeout", "0"]);
    await cli.done;
    const post = api.calls.find((c) => c.method === "POST");
    expect(post?.body?.number_matching).toBe(expected);
    expect(cli.run.stdout.includes("Type 07")).toBe(expected !== false);
  });

  it("cancels the challenge when --timeout runs out, says so and exits 2", async () => {
    api = new FakeApi();
    const cli = start(["challenge", "frank", "--timeout", "1"]);
    expect(await cli.done).toBe(2);
    expect(api.calls.map((c) => c.method).at(-1)).toBe("DELETE");
    expect(api.challenge?.status).toBe("cancelled");
    expect(cli.run.stdout).toMatch(
      /\ncancelled: timed out after 1 s; the phone can no longer approve chl_1\n$/,
    );
  });

  it("--json: the cancelled challenge is the second line, the reason on stderr", async () => {
    api = new FakeApi();
    const cli = start(["challenge", "frank", "--timeout", "0", "--json"]);
    expect(await cli.done).toBe(2);
    expect(cli.lines().map((l) => l.status)).toEqual(["pending", "cancelled"]);
    expect(cli.run.stderr).toMatch(/^encrypxon: cancelled: timed out after 0 s/);
  });

  it("--keep leaves a timed-out challenge open", async () => {
    api = new FakeApi();
    const cli = start(["challenge", "frank", "--timeout", "0", "--keep"]);
    expect(await cli.done).toBe(2);
    expect(api.calls.some((c) => c.method === "DELETE")).toBe(false);
    expect(api.challenge?.status).toBe("pending");
    expect(cli.run.stdout).toMatch(/pending: timed out after 0 s; chl_1 left open \(--keep\)/);
  });

  it("cancels the challenge when the wait is interrupted (SIGINT/SIGTERM)", async () => {
    api = new FakeApi();
    const stop = new AbortController();
    const cli = start(["challenge", "frank"], stop.signal);
    await parked(cli.run);
    expect(cli.run.code).toBeUndefined();
    stop.abort();
    expect(await cli.done).toBe(2);
    expect(api.challenge?.status).toBe("cancelled");
    expect(cli.run.stdout).toMatch(/cancelled: interrupted; the phone can no longer approve chl_1\n$/);
    expect(cli.run.stderr).toBe("");
  });

  it("reports an answer that beat the cancellation (409) as that answer", async () => {
    api = new FakeApi();
    api.raceTo = "approved";
    const cli = start(["challenge", "frank", "--timeout", "0"]);
    expect(await cli.done).toBe(0);
    expect(cli.run.stdout).toMatch(/\napproved\n$/);
  });
});

describe("command-line mistakes: one clear line, the usage, exit 2, no call", () => {
  it.each([
    [["--bogus"], "unknown option --bogus"],
    [["challenge", "frank", "--bogus"], "unknown option --bogus"],
    [["enroll", "erin", "--follow"], "enroll takes no --follow option"],
    [["devices", "alice", "--timeout", "3"], "devices takes no --timeout option"],
    [["challenge", "frank", "--title"], "--title needs a value"],
    [["enroll", "erin", "--json=yes"], "--json takes no value"],
    [
      ["challenge", "frank", "--number-matching", "--no-number-matching"],
      "--number-matching and --no-number-matching exclude each other",
    ],
    [["challenge", "frank", "--timeout", "soon"], "--timeout must be a whole number"],
    [["frobnicate"], 'unknown command "frobnicate"'],
  ])("%j", async (argv, message) => {
    api = new FakeApi();
    const cli = start(argv);
    expect(await cli.done).toBe(2);
    const [first, second] = cli.run.stderr.split("\n");
    expect(first).toBe(`encrypxon: ${message}`);
    expect(second).toBe("Usage:");
    expect(cli.run.stderr).toContain("encrypxon challenge <user-id>");
    expect(cli.run.stdout).toBe("");
    expect(api.calls).toEqual([]);
  });
});
