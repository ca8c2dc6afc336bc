// encrypxon-device: the reference device on the command line, for people and for tests. Output is
// human-readable by default and JSON with --json; any failure is one line on stderr and exit status 1.
import os from "node:os";
import readline from "node:readline/promises";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { type ChallengeContext, DeviceApiError, DeviceClient, normalizeMatchNumber } from "./client.js";
import { isKeyFormat, KEY_FORMATS } from "./formats.js";
import { DeviceStore, type DeviceSummary, defaultStoreDir, summarize } from "./store.js";
import { isInsecureBaseUrl, parseEnrollmentUri } from "./uri.js";
import { type WatchEvent, watch as watchChannel } from "./watch.js";

export const HELP = `encrypxon-device: the Encrypxon reference device (a phone, on the command line)

Usage:
  encrypxon-device enroll '<encrypxon://enroll?…>' [--format F] [--name N] [--platform P]
  encrypxon-device list [--device ID]
  encrypxon-device approve <challenge-id> [--number NN] [--device ID]
  encrypxon-device deny <challenge-id> [--reason R] [--device ID]
  encrypxon-device watch [--device ID] [--approve-all [--number NN] | --deny-all]
  encrypxon-device devices
  encrypxon-device remove [--device ID]

Options:
  --format F    key format to enroll with: ${KEY_FORMATS.join(", ")} (default ${KEY_FORMATS[0]})
  --name N      device name the application sees (enroll)
  --platform P  platform reported at enrollment (default node/<os>)
  --device ID   which enrolled device to use; optional when the store holds exactly one
  --reason R    why the request is denied (deny); "not_me" reports it as fraud ("this wasn't me")
  --number NN   the 2 digits the login page shows, for challenges marked "type the number" (approve;
                watch --approve-all, which otherwise asks on a terminal for each one)
  --approve-all, --deny-all
                answer every arriving challenge automatically (watch; for scripts and tests)
  --store DIR   key store (default $ENCRYPXON_DEVICE_STORE, else ~/.encrypxon-device)
  --json        machine-readable JSON on stdout
  -h, --help    show this help

watch keeps the live channel open (reconnecting with backoff) and shows each challenge as it arrives,
and when another device answered one; with --json each event is one JSON line. Ctrl-C stops it.

Quote the enrollment URI: it contains '&'. Keys live in DIR/<device-id>.json (mode 0600, directory
0700) and are never printed. Exit status: 0 on success, 1 on any error (one line on stderr).
`;

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  /** For tests: a fake server. */
  fetch?: typeof fetch;
  /** Ends `watch`; without it, SIGINT and SIGTERM do. */
  signal?: AbortSignal;
  /** Asks the person at the terminal (the number of a number-matching challenge); absent: no terminal. */
  prompt?: (question: string) => Promise<string>;
}

/** A mistake on the command line, reported with a pointer to --help. */
class UsageError extends Error {}

type Options = Record<string, string | boolean | undefined>;
type OptionSpec = NonNullable<ParseArgsConfig["options"]>;

const COMMON: OptionSpec = {
  store: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
};
const DEVICE: OptionSpec = { device: { type: "string" } };

interface Command {
  options: OptionSpec;
  /** Names of the positional arguments, all required. */
  positionals: string[];
  run: (ctx: Context, args: string[], opts: Options) => Promise<void>;
}

interface Context {
  io: CliIo;
  store: DeviceStore;
  json: boolean;
  out: (value: unknown, human: string) => void;
}

const COMMANDS: Record<string, Command> = {
  enroll: {
    options: { format: { type: "string" }, name: { type: "string" }, platform: { type: "string" } },
    positionals: ["enrollment URI"],
    run: enroll,
  },
  list: { options: DEVICE, positionals: [], run: list },
  approve: {
    options: { ...DEVICE, number: { type: "string" } },
    positionals: ["challenge id"],
    run: (c, a, o) => respond(c, a, o, "approve"),
  },
  deny: {
    options: { ...DEVICE, reason: { type: "string" } },
    positionals: ["challenge id"],
    run: (c, a, o) => respond(c, a, o, "deny"),
  },
  watch: {
    options: {
      ...DEVICE,
      "approve-all": { type: "boolean" },
      "deny-all": { type: "boolean" },
      number: { type: "string" },
    },
    positionals: [],
    run: watchCommand,
  },
  devices: { options: {}, positionals: [], run: devices },
  remove: { options: DEVICE, positionals: [], run: remove },
};

/** Runs one command; returns the exit status (never throws, never calls process.exit). */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    io.stdout(HELP);
    return 0;
  }
  const json = rest.includes("--json");
  let device: string | undefined;
  try {
    const command = COMMANDS[name];
    if (!command) throw new UsageError(`unknown command "${name}"`);
    const { values, positionals } = parse(command, rest);
    device = str(values.device);
    if (values.help) {
      io.stdout(HELP);
      return 0;
    }
    if (positionals.length !== command.positionals.length) {
      const expected = command.positionals.length ? `<${command.positionals.join("> <")}>` : "no arguments";
      throw new UsageError(`${name} takes ${expected}, got ${positionals.length} argument(s)`);
    }
    const store = new DeviceStore(str(values.store) ?? defaultStoreDir(io.env));
    const out = (value: unknown, human: string) =>
      io.stdout(json ? `${JSON.stringify(value, null, 2)}\n` : human);
    await command.run({ io, store, json, out }, positionals, values);
    return 0;
  } catch (err) {
    // watch --json writes JSON lines, so its final error is one line too.
    report(io, withHint(err, name, device), json, name === "watch");
    return 1;
  }
}

function parse(command: Command, args: string[]): { values: Options; positionals: string[] } {
  try {
    const parsed = parseArgs({
      args,
      options: { ...COMMON, ...command.options },
      allowPositionals: true,
      strict: true,
    });
    const values: Options = {};
    // No option is declared `multiple`, so arrays never occur; the filter is for the type checker.
    for (const [key, value] of Object.entries(parsed.values)) if (!Array.isArray(value)) values[key] = value;
    return { values, positionals: parsed.positionals };
  } catch (err) {
    // Node's messages go on to explain `--`; the first sentence is the useful part.
    const text = err instanceof Error ? (err.message.split(/\.\s/)[0] ?? err.message) : String(err);
    throw new UsageError(text.replace(/\.$/, ""));
  }
}

async function enroll(ctx: Context, [uriText]: string[], opts: Options): Promise<void> {
  const format = str(opts.format) ?? KEY_FORMATS[0];
  if (!isKeyFormat(format)) throw new UsageError(`--format must be one of ${KEY_FORMATS.join(", ")}`);
  const name = nonEmpty(opts.name, "--name");
  const platform = nonEmpty(opts.platform, "--platform") ?? `node/${os.platform()}`;
  const uri = parseEnrollmentUri(uriText ?? "");
  if (isInsecureBaseUrl(uri.baseUrl)) {
    ctx.io.stderr(
      `warning: ${clean(uri.baseUrl)} is plain http: the code and device token travel unencrypted\n`,
    );
  }
  const client = await DeviceClient.enroll(uri, {
    store: ctx.store,
    format,
    name,
    platform,
    ...clientOptions(ctx),
  });
  const info = client.info;
  ctx.out(
    { ...info, store_file: client.storeFile },
    `Enrolled ${info.device_id} for ${clean(info.user_label)} at ${clean(info.app_name)} (${clean(info.base_url)})\n` +
      `  key format: ${info.key_format}\n  key stored: ${client.storeFile}\n`,
  );
}

async function list(ctx: Context, _args: string[], opts: Options): Promise<void> {
  const client = await DeviceClient.load(ctx.store, str(opts.device), clientOptions(ctx));
  const { challenges, refused } = await client.listChallenges();
  // Refusals are reported, never silently dropped: a refused challenge may be an attack in progress.
  if (!ctx.json) {
    for (const r of refused) ctx.io.stderr(`warning: refused ${clean(r.id)}: ${clean(r.reason)}\n`);
  }
  const now = Date.now();
  const lines = challenges.map(
    (c) =>
      `${c.id}  expires ${c.expires_at} (${remaining(Date.parse(c.expires_at) - now)})${numberHint(c)}\n${contextLines(c.context)}`,
  );
  ctx.out(
    { device_id: client.deviceId, challenges, refused },
    lines.length ? lines.join("") : `No pending challenges for ${client.deviceId}.\n`,
  );
}

async function respond(
  ctx: Context,
  [id]: string[],
  opts: Options,
  decision: "approve" | "deny",
): Promise<void> {
  const challengeId = id ?? "";
  if (!/^chl_[0-9A-Za-z]+$/.test(challengeId)) throw new UsageError(`not a challenge id: ${challengeId}`);
  const reason = nonEmpty(opts.reason, "--reason");
  const number = nonEmpty(opts.number, "--number");
  const client = await DeviceClient.load(ctx.store, str(opts.device), clientOptions(ctx));
  const result = await client.respond(challengeId, decision, {
    ...(reason !== undefined && { reason }),
    ...(number !== undefined && { number: normalizeMatchNumber(number) }),
  });
  const verb = decision === "approve" ? "Approved" : "Denied";
  ctx.out(result, `${verb} ${challengeId} (status: ${clean(result.status)})\n`);
}

async function watchCommand(ctx: Context, _args: string[], opts: Options): Promise<void> {
  if (opts["approve-all"] && opts["deny-all"])
    throw new UsageError("--approve-all and --deny-all exclude each other");
  const auto = opts["approve-all"] ? "approve" : opts["deny-all"] ? "deny" : null;
  const fixed = nonEmpty(opts.number, "--number");
  if (fixed !== undefined && auto !== "approve") throw new UsageError("--number goes with --approve-all");
  const number = fixed === undefined ? undefined : normalizeMatchNumber(fixed);
  const prompt = ctx.io.prompt;
  const numberFor = async (c: { id: string }): Promise<string | null> => {
    if (number !== undefined) return number;
    if (!prompt) return null;
    return (await prompt(`Type the number shown on the login page for ${c.id}: `)).trim();
  };
  const client = await DeviceClient.load(ctx.store, str(opts.device), clientOptions(ctx));
  let signal = ctx.io.signal;
  const controller = new AbortController();
  const stop = () => controller.abort();
  if (!signal) {
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    signal = controller.signal;
  }
  const print = (e: WatchEvent) => {
    if (ctx.json) ctx.io.stdout(`${JSON.stringify(e)}\n`);
    else ctx.io.stdout(humanEvent(e));
  };
  if (!ctx.json) ctx.io.stdout(`Watching ${client.deviceId} (Ctrl-C to stop)\n`);
  try {
    const end = await watchChannel(client, {
      onEvent: print,
      signal,
      ...(auto && { decide: () => auto, numberFor }),
    });
    if (end === "revoked") {
      const remove = `npm run device -- remove${opts.device ? ` --device ${client.deviceId}` : ""}`;
      throw new Error(
        `${client.deviceId} was revoked or removed by the application; the server no longer accepts it. ` +
          `Enroll again (${remove} deletes the local key)`,
      );
    }
  } finally {
    process.removeListener("SIGINT", stop);
    process.removeListener("SIGTERM", stop);
  }
}

const numberHint = (c: { number_matching: boolean }) =>
  c.number_matching ? "  [approve with --number NN: the number shown at login]" : "";

function humanEvent(e: WatchEvent): string {
  switch (e.event) {
    case "connected":
      return `connected (${e.pending} pending)\n`;
    case "challenge": {
      const c = e.challenge;
      return `${c.id}  expires ${c.expires_at}${numberHint(c)}\n${contextLines(c.context)}`;
    }
    case "refused":
      return `warning: refused ${clean(e.id)}: ${clean(e.reason)}\n`;
    case "answered":
      return `${e.decision === "approve" ? "Approved" : "Denied"} ${e.id} (status: ${clean(e.status)})\n`;
    case "answer_failed":
      return `could not answer ${e.id}: ${clean(e.error)}\n`;
    case "closed": {
      const by =
        e.answered_by === "another_device"
          ? " on another device"
          : e.answered_by === "this_device"
            ? " on this device"
            : "";
      return `${clean(e.id)} closed: ${clean(e.status)}${by}\n`;
    }
    case "disconnected":
      return `disconnected (${e.code}${e.reason ? ` ${clean(e.reason)}` : ""}); retrying in ${Math.round(e.retry_in_ms / 100) / 10}s\n`;
    case "revoked":
      return "this device was revoked\n";
    case "stopped":
      return "stopped\n";
  }
}

async function devices(ctx: Context): Promise<void> {
  const found: DeviceSummary[] = [];
  const broken: { device_id: string; error: string }[] = [];
  // One bad file (wrong mode, corrupt) is reported without hiding the others.
  for (const id of await ctx.store.ids()) {
    try {
      found.push(summarize(await ctx.store.load(id)));
    } catch (err) {
      broken.push({ device_id: id, error: err instanceof Error ? err.message : String(err) });
    }
  }
  const lines = [
    ...found.map(
      (d) =>
        `${d.device_id}  ${d.key_format.padEnd(15)}  ${clean(d.app_name)} / ${clean(d.user_label)}  ` +
        `${clean(d.base_url)}  enrolled ${d.created_at}\n`,
    ),
    ...broken.map((b) => `${b.device_id}  unusable: ${clean(b.error)}\n`),
  ];
  ctx.out(
    { store: ctx.store.dir, devices: found, unusable: broken },
    lines.length ? lines.join("") : `No devices in ${ctx.store.dir}.\n`,
  );
}

async function remove(ctx: Context, _args: string[], opts: Options): Promise<void> {
  const client = await DeviceClient.load(ctx.store, str(opts.device), clientOptions(ctx));
  const { server } = await client.remove();
  const how = server === "revoked" ? "revoked on the server" : "the server no longer knew it";
  ctx.out(
    { device_id: client.deviceId, server, removed: true },
    `Removed ${client.deviceId}: ${how}; key deleted.\n`,
  );
}

function clientOptions(ctx: Context): { fetch?: typeof fetch } {
  return ctx.io.fetch ? { fetch: ctx.io.fetch } : {};
}

function contextLines(context: ChallengeContext): string {
  const labels: [keyof ChallengeContext, string][] = [
    ["title", "title"],
    ["message", "message"],
    ["ip", "ip"],
    ["location", "location"],
    ["user_agent", "user agent"],
  ];
  return labels
    .filter(([field]) => context[field] !== undefined)
    .map(([field, label]) => `  ${`${label}:`.padEnd(12)}${clean(context[field] ?? "")}\n`)
    .join("");
}

function remaining(ms: number): string {
  if (ms <= 0) return "expired";
  const s = Math.ceil(ms / 1000);
  return s >= 60 ? `in ${Math.floor(s / 60)}m ${s % 60}s` : `in ${s}s`;
}

/**
 * Server-supplied text goes to a terminal: control characters (escape sequences) and bidi overrides
 * could repaint or reorder an approval prompt, so they are shown escaped instead.
 */
export function clean(text: string): string {
  return text.replace(/[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu, (c) => {
    return `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`;
  });
}

/** Commands that call the server with a stored device's token (enroll has none yet; remove expects a 401). */
const WITH_TOKEN = new Set(["list", "approve", "deny", "watch"]);

/**
 * A 401 to a device call means the token is no longer accepted; the server deliberately does not say
 * why, but the likely reason is that the application revoked or removed the device.
 */
function withHint(err: unknown, command: string, device: string | undefined): unknown {
  if (!(err instanceof DeviceApiError && err.status === 401 && WITH_TOKEN.has(command))) return err;
  const remove = `npm run device -- remove${device ? ` --device ${device}` : ""}`;
  const hinted = new DeviceApiError(err.problem);
  hinted.message =
    `${err.message.replace(/\.?$/, ".")} The device may have been revoked or removed by the application: ` +
    `enroll it again (${remove} deletes the local key)`;
  return hinted;
}

function report(io: CliIo, err: unknown, json: boolean, oneLine = false): void {
  const text = err instanceof Error ? err.message : String(err);
  const hint = err instanceof UsageError ? " (see encrypxon-device --help)" : "";
  io.stderr(`encrypxon-device: ${clean(text).replace(/\s*\n\s*/g, " ")}${hint}\n`);
  if (json) {
    const problem = err instanceof DeviceApiError ? { status: err.status, problem: err.problem } : {};
    io.stdout(`${JSON.stringify({ error: { message: text, ...problem } }, null, oneLine ? 0 : 2)}\n`);
  }
}

function str(v: string | boolean | undefined): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function nonEmpty(v: string | boolean | undefined, flag: string): string | undefined {
  const s = str(v);
  if (s !== undefined && s.trim() === "") throw new UsageError(`${flag} must not be empty`);
  return s;
}

function processIo(): CliIo {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
    ...(process.stdin.isTTY && { prompt: askTerminal }),
  };
}

async function askTerminal(question: string): Promise<string> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}
