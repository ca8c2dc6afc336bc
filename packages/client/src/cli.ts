// encrypxon: the integrator's side of the API on the command line. Enroll a user (the QR code is drawn
// in the terminal), challenge a user and wait for the answer, tail the audit trail, and the small calls
// around them. Human-readable output by default, JSON with --json; errors are one line on stderr.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { renderUnicodeCompact } from "uqr";
import { Encrypxon2FaClient } from "./client.js";
import { EncrypxonClientError, EncrypxonError } from "./errors.js";
import type { AuditEvent, Challenge, ChallengeContext, CreatedEnrollment, Enrollment } from "./types.js";

export const HELP = `encrypxon: call the Encrypxon 2FA API as an application

Usage:
  encrypxon enroll <user-id> [--label L] [--ttl S] [--no-wait] [--keep]
  encrypxon challenge <user-id> [--title T] [--message M] [--ip IP] [--timeout S] [--keep]
                      [--number-matching | --no-number-matching]
  encrypxon status <enr_…|chl_…>
  encrypxon cancel <enr_…|chl_…>
  encrypxon devices <user-id>
  encrypxon revoke <dev_…>
  encrypxon audit [--user U] [--type T] [--outcome O] [--limit N] [--follow]
  encrypxon audit verify [--offline] [--limit N]

Options:
  --url URL     the service (default $ENCRYPXON_URL, else http://127.0.0.1:8787)
  --key KEY     the API key (default $ENCRYPXON_API_KEY, else the demo key npm run dev saved in
                .wrangler/demo-api-key.json)
  --json        machine-readable JSON on stdout
  -h, --help    show this help

enroll draws the QR code in the terminal and waits (up to the enrollment's lifetime) for the phone;
interrupted (Ctrl-C), it cancels the enrollment so its code no longer enrolls a phone (--keep: not).
challenge shows the number to type on the phone when number matching is on (the app's setting, or
--number-matching), waits for the answer and exits 0 only if it was approved (2 if denied, expired,
...). A challenge still pending when --timeout runs out or the wait is interrupted (Ctrl-C) is
cancelled, so the phone can no longer approve it; --keep leaves it open.
With --json, enroll and challenge print two JSON lines: what was created (the enrollment_uri and QR
URLs, or the challenge with match_number) at once, then the final state when the wait ends.
audit --follow keeps printing new events until interrupted. audit verify has the service check the
audit hash chain (--limit events per call), or with --offline downloads the trail and checks it here;
it exits 0 if the chain is intact, 2 if a link is broken (naming the event).
A command-line mistake exits 2 with the usage; an error from the service or the network exits 1.
`;

/** The usage lines of HELP, printed after a command-line mistake. */
const USAGE = HELP.slice(HELP.indexOf("Usage:"), HELP.indexOf("\nOptions:"));

const OPTIONS = {
  url: { type: "string" },
  key: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  label: { type: "string" },
  ttl: { type: "string" },
  "no-wait": { type: "boolean" },
  title: { type: "string" },
  message: { type: "string" },
  ip: { type: "string" },
  timeout: { type: "string" },
  "number-matching": { type: "boolean" },
  "no-number-matching": { type: "boolean" },
  keep: { type: "boolean" },
  user: { type: "string" },
  type: { type: "string" },
  outcome: { type: "string" },
  limit: { type: "string" },
  follow: { type: "boolean", short: "f" },
  offline: { type: "boolean" },
} as const;
type OptionName = keyof typeof OPTIONS;

const GLOBAL_OPTIONS: OptionName[] = ["url", "key", "json", "help"];
/** The options each command takes, besides the global ones; anything else is a mistake. */
const COMMAND_OPTIONS: Record<string, OptionName[]> = {
  enroll: ["label", "ttl", "no-wait", "keep"],
  challenge: ["title", "message", "ip", "timeout", "number-matching", "no-number-matching", "keep"],
  status: [],
  cancel: [],
  devices: [],
  revoke: [],
  audit: ["user", "type", "outcome", "limit", "follow", "offline"],
};

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  cwd: string;
  fetch?: typeof fetch;
  /** For tests of --follow: stop after this many polls. */
  maxPolls?: number;
  /** Interrupts a challenge's wait (then it is cancelled); without it, SIGINT and SIGTERM do. */
  signal?: AbortSignal;
}

/** A mistake on the command line: exit 2, with the usage. */
class UsageError extends Error {}
/** Anything else the CLI refuses before calling the service (no API key): exit 1. */
class CliError extends Error {}

/** Node's parseArgs messages, as one short sentence ("unknown option --bogus"). */
function parseProblem(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  const flag = /'(-{1,2}[^' <]+)/.exec(text)?.[1];
  if (flag && code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `unknown option ${flag}`;
  if (flag && code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    return /does not take an argument/.test(text) ? `${flag} takes no value` : `${flag} needs a value`;
  }
  return (text.split(/\.\s/)[0] ?? text).replace(/\.$/, "").replace(/'/g, "");
}

const processIo = (): CliIo => ({
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  env: process.env,
  cwd: process.env.INIT_CWD ?? process.cwd(),
});

async function apiKeyFrom(opt: string | undefined, io: CliIo): Promise<string> {
  if (opt) return opt;
  if (io.env.ENCRYPXON_API_KEY) return io.env.ENCRYPXON_API_KEY;
  try {
    const saved = JSON.parse(await readFile(path.join(io.cwd, ".wrangler", "demo-api-key.json"), "utf8")) as {
      api_key?: unknown;
    };
    if (typeof saved.api_key === "string") return saved.api_key;
  } catch {
    // no demo key here
  }
  throw new CliError("no API key: pass --key or set ENCRYPXON_API_KEY");
}

/** Control characters from the server (user ids, labels) must not drive the terminal. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point
const clean = (s: unknown) => String(s ?? "").replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");

function eventLine(e: AuditEvent): string {
  const ids = [e.enrollment_id, e.challenge_id, e.device_id].filter(Boolean).join(" ");
  return `${e.created_at}  ${e.type.padEnd(22)} ${clean(e.outcome ?? "").padEnd(10)} ${clean(e.user_id ?? "-")}  ${ids}\n`;
}

export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const usage = (message: string) => {
    io.stderr(`encrypxon: ${message}\n${USAGE}(encrypxon --help for the options)\n`);
    return 2;
  };
  let parsed: ReturnType<typeof parse>;
  const parse = () => parseArgs({ args: argv, allowPositionals: true, tokens: true, options: OPTIONS });
  try {
    parsed = parse();
  } catch (err) {
    return usage(parseProblem(err));
  }
  const { values: o, positionals, tokens } = parsed;
  const [command, arg] = positionals;
  if (o.help || !command) {
    io.stdout(HELP);
    return o.help ? 0 : 1;
  }
  const allowed = COMMAND_OPTIONS[command];
  if (!allowed) return usage(`unknown command ${JSON.stringify(command)}`);
  for (const t of tokens) {
    if (t.kind !== "option") continue;
    const name = t.name as OptionName;
    if (!GLOBAL_OPTIONS.includes(name) && !allowed.includes(name)) {
      return usage(`${command} takes no ${t.rawName} option`);
    }
  }
  if (positionals.length > 2) return usage(`too many arguments for ${command}`);
  const out = (human: string, data: unknown) => io.stdout(o.json ? `${JSON.stringify(data)}\n` : human);
  const num = (v: string | undefined, name: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a whole number`);
    return n;
  };
  /** The last word of a wait that ran out: a line for a person (also on stderr beside --json's). */
  const ended = (text: string, data: unknown) => {
    if (o.json) io.stderr(`encrypxon: ${text}\n`);
    out(`${text}\n`, data);
  };
  const need = (what: string): string => {
    if (!arg) throw new UsageError(`${command} needs ${what}`);
    return arg;
  };

  try {
    const client = new Encrypxon2FaClient({
      apiKey: await apiKeyFrom(o.key, io),
      baseUrl: o.url ?? io.env.ENCRYPXON_URL ?? "http://127.0.0.1:8787",
      ...(io.fetch && { fetch: io.fetch }),
    });
    switch (command) {
      case "enroll": {
        const userId = need("a user id");
        const ttl = num(o.ttl, "ttl");
        const e = withPngUrl(
          await client.createEnrollment({
            user_id: userId,
            ...(o.label !== undefined && { user_label: o.label }),
            ...(ttl !== undefined && { ttl_seconds: ttl }),
          }),
        );
        // First, whatever the mode: the user needs the code now, not when the wait is over.
        out(
          `${renderUnicodeCompact(e.enrollment_uri, { ecc: "M", border: 2 })}\n` +
            `Scan with the Encrypxon app (or: npm run device -- enroll '${e.enrollment_uri}')\n` +
            `enrollment ${e.id} for ${clean(userId)}, expires ${e.expires_at}\n` +
            `QR image: ${e.qr_svg_url}\n          ${e.qr_png_url}\n`,
          e,
        );
        if (o["no-wait"]) return 0;
        if (!o.json) io.stdout("waiting for the phone…\n");
        return await interruptible(io, async (signal) => {
          let done: Enrollment | null = null;
          try {
            done = await client.waitForEnrollment(e.id, {
              timeoutMs: Date.parse(e.expires_at) - Date.now() + 1000,
              signal,
            });
          } catch (err) {
            if (!signal.aborted) throw err;
          }
          // Interrupted: nobody shows the QR code any more, so its code should not stay usable.
          if (done === null || (signal.aborted && done.status === "pending")) {
            if (o.keep) {
              ended(
                `pending: interrupted; ${e.id} left open (--keep), its code still enrolls a phone`,
                done ?? e,
              );
              return 2;
            }
            done = await cancelEnrollmentOrFinal(client, e.id);
            if (done.status === "cancelled") {
              ended(`cancelled: interrupted; the code of ${e.id} no longer enrolls a phone`, done);
              return 2;
            }
          }
          out(`enrollment ${done.status}${done.device_id ? `: device ${done.device_id}` : ""}\n`, done);
          return done.status === "completed" ? 0 : 2;
        });
      }
      case "challenge": {
        const userId = need("a user id");
        const context: ChallengeContext = {};
        if (o.title !== undefined) context.title = o.title;
        if (o.message !== undefined) context.message = o.message;
        if (o.ip !== undefined) context.ip = o.ip;
        const timeout = num(o.timeout, "timeout");
        if (o["number-matching"] && o["no-number-matching"]) {
          throw new UsageError("--number-matching and --no-number-matching exclude each other");
        }
        const numberMatching = o["number-matching"] ? true : o["no-number-matching"] ? false : undefined;
        return await interruptible(io, async (signal) => {
          const c = await client.createChallenge({
            user_id: userId,
            context,
            ...(numberMatching !== undefined && { number_matching: numberMatching }),
          });
          // First, whatever the mode: with number matching the user cannot approve without the number.
          out(
            `challenge ${c.id} sent to ${c.devices} device(s)\n${c.match_number ? matchBanner(c.match_number) : ""}` +
              `waiting for ${clean(userId)}…\n`,
            c,
          );
          let r: Challenge = c;
          try {
            r = await client.waitForResult(c.id, {
              timeoutMs:
                timeout !== undefined ? timeout * 1000 : Date.parse(c.expires_at) - Date.now() + 1000,
              signal,
            });
          } catch (err) {
            if (!signal.aborted) throw err;
          }
          if (r.status === "pending") {
            const why = `${signal.aborted ? "interrupted" : "timed out"}${timeout !== undefined && !signal.aborted ? ` after ${timeout} s` : ""}`;
            if (o.keep) {
              ended(`pending: ${why}; ${c.id} left open (--keep), the phone can still approve it`, r);
              return 2;
            }
            r = await cancelOrFinal(client, c.id);
            if (r.status === "cancelled") {
              ended(`cancelled: ${why}; the phone can no longer approve ${c.id}`, r);
              return 2;
            }
            // Answered in the meantime: that answer stands, reported as usual.
          }
          out(`${r.status}${r.reason ? ` (${clean(r.reason)})` : ""}\n`, r);
          return r.status === "approved" ? 0 : 2;
        });
      }
      case "status": {
        const id = need("an enr_… or chl_… id");
        const r = id.startsWith("enr_") ? await client.getEnrollment(id) : await client.getChallenge(id);
        out(`${r.id} ${r.status}\n`, r);
        return 0;
      }
      case "cancel": {
        const id = need("an enr_… or chl_… id");
        const r = id.startsWith("enr_")
          ? await client.cancelEnrollment(id)
          : await client.cancelChallenge(id);
        out(`${r.id} ${r.status}\n`, r);
        return 0;
      }
      case "devices": {
        const list = await client.listDevices(need("a user id"));
        out(
          list
            .map((d) => `${d.id}  ${d.status.padEnd(8)} ${d.key_format.padEnd(16)} ${clean(d.name ?? "")}\n`)
            .join("") || "no devices\n",
          list,
        );
        return 0;
      }
      case "revoke": {
        const d = await client.revokeDevice(need("a dev_… id"));
        out(`${d.id} ${d.status}\n`, d);
        return 0;
      }
      case "audit": {
        if (arg === "verify") {
          const limit = num(o.limit, "limit");
          if (o.offline) {
            const r = await client.verifyAuditOffline(limit ? { pageSize: Math.min(limit, 200) } : {});
            out(
              r.ok
                ? `audit chain intact: ${r.checked} events verified offline${r.unsealed ? ` (${r.unsealed} newest not sealed yet)` : ""}\n`
                : `audit chain BROKEN at ${r.event_id || "(the kept hash)"}: ${r.reason}\n`,
              r,
            );
            return r.ok ? 0 : 2;
          }
          const v = await client.verifyAuditChain(limit ? { limit } : {});
          out(
            v.ok
              ? `audit chain intact: ${v.checked} events verified${v.head ? `; head ${v.head.event_id} ${v.head.hash}` : ""}\n`
              : `audit chain BROKEN at ${v.broken?.event_id}: ${v.broken?.reason}${v.broken?.after_event_id ? ` (last intact: ${v.broken.after_event_id})` : ""}\n`,
            v,
          );
          return v.ok ? 0 : 2;
        }
        if (arg !== undefined) throw new UsageError(`unknown audit command ${JSON.stringify(arg)}`);
        const limit = num(o.limit, "limit") ?? 20;
        const query = {
          ...(o.user !== undefined && { user_id: o.user }),
          ...(o.type !== undefined && { type: o.type }),
          ...(o.outcome !== undefined && { outcome: o.outcome }),
        };
        const print = (events: AuditEvent[]) => {
          for (const e of events) out(eventLine(e), e);
        };
        const first = await client.listAudit({ ...query, limit });
        // Newest first on the wire; a tail reads oldest first.
        print([...first.data].reverse());
        if (!o.follow) return 0;
        let newest = first.data[0]?.id;
        for (let polls = 0; io.maxPolls === undefined || polls < io.maxPolls; polls++) {
          await new Promise((r) => setTimeout(r, 1000));
          const fresh: AuditEvent[] = [];
          for await (const e of client.auditEvents({ ...query, limit: 50 })) {
            if (e.id === newest) break;
            fresh.push(e);
            if (!newest && fresh.length >= 50) break;
          }
          if (fresh[0]) newest = fresh[0].id;
          print(fresh.reverse());
        }
        return 0;
      }
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (err) {
    if (err instanceof UsageError) return usage(err.message);
    if (err instanceof CliError) io.stderr(`encrypxon: ${err.message}\n`);
    else if (err instanceof EncrypxonError)
      io.stderr(`encrypxon: ${err.status} ${err.slug}: ${err.detail}\n`);
    else if (err instanceof EncrypxonClientError) io.stderr(`encrypxon: ${err.message}\n`);
    else throw err;
    return 1;
  }
}

/** The PNG twin of the enrollment's SVG QR URL (same code, same lifetime). */
function withPngUrl(e: CreatedEnrollment): CreatedEnrollment & { qr_png_url: string } {
  const png = new URL(e.qr_svg_url);
  png.pathname = png.pathname.replace(/\.svg$/, ".png");
  return { qr_png_url: png.toString(), ...e };
}

/** The number matching digits, where a person looking at the terminal cannot miss them. */
function matchBanner(matchNumber: string): string {
  const text = `  Type ${clean(matchNumber)} on the phone to approve this login.  `;
  const rule = "─".repeat(text.length);
  return `\n  ┌${rule}┐\n  │${text}│\n  └${rule}┘\n\n`;
}

/** Cancels a challenge; if it was decided meanwhile (409), its final state instead. */
async function cancelOrFinal(client: Encrypxon2FaClient, id: string): Promise<Challenge> {
  try {
    return await client.cancelChallenge(id);
  } catch (err) {
    if (err instanceof EncrypxonError && err.status === 409) return client.getChallenge(id);
    throw err;
  }
}

/** Cancels an enrollment; if it completed or ended meanwhile (409), its final state instead. */
async function cancelEnrollmentOrFinal(client: Encrypxon2FaClient, id: string): Promise<Enrollment> {
  try {
    return await client.cancelEnrollment(id);
  } catch (err) {
    if (err instanceof EncrypxonError && err.status === 409) return client.getEnrollment(id);
    throw err;
  }
}

/** Runs `body` with a signal that io.signal, or else SIGINT/SIGTERM, aborts. A second Ctrl-C kills. */
async function interruptible<T>(io: CliIo, body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  if (io.signal) return body(io.signal);
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    return await body(controller.signal);
  } finally {
    process.removeListener("SIGINT", stop);
    process.removeListener("SIGTERM", stop);
  }
}
