#!/usr/bin/env node
// Operator command for applications and API keys: `npm run admin -- <command> [options]`.
// Writes go through wrangler to local state (the same SQLite files `wrangler dev` uses, whether or not
// it is running) or, with --remote, to the deployed D1 database and KV namespace; with --url, through a
// running Worker's admin API instead (no wrangler credentials, only the operator secret).
import { parseArgs } from "node:util";
import * as http from "./lib/adminHttp.mjs";
import * as local from "./lib/apps.mjs";
import { APP_ID, checkId, UsageError } from "./lib/sql.mjs";
import { makeTarget, WranglerError } from "./lib/wrangler.mjs";

const USAGE = `Usage: npm run admin -- <command> [options]

Commands:
  app create --name NAME [--test] [--key-name K]
                                    Create an application and its first API key (shown once)
  app list                          List applications with their key counts
  key create --app APP_ID [--test] [--name K]
                                    Add an API key to an application (shown once)
  key list --app APP_ID             List an application's keys: prefix, last characters, created,
                                    expires, revoked (never the key or its hash)
  key rotate --key KEY_ID [--grace SECONDS] [--name K]
                                    Issue a new key in its place; the old one keeps working for
                                    --grace seconds (default 86400; 0 stops it now), then stops
  key revoke --key KEY_ID           Revoke a key in D1 and delete its KV cache entry

Options:
  --json             Print one line of JSON on stdout (and nothing else there)
  --test             Make an ek_test_ key instead of ek_live_
  --local            Act on local state (the default): what \`npm run dev\` / \`wrangler dev\` serve
  --persist-to DIR   Local state directory (default: .wrangler/state, as \`wrangler dev\` uses)
  --remote           Act on the deployed Worker's D1 and KV instead of local state. Needs
                     \`wrangler login\` (or CLOUDFLARE_API_TOKEN), the real database_id and KV id in
                     wrangler.toml, and migrations applied with \`wrangler d1 migrations apply DB --remote\`
  --config PATH      Another wrangler configuration file (default: wrangler.toml in the repository)
  --url URL          Act through a running Worker's admin API (/v1/admin) instead of wrangler, with
                     the operator secret in $ENCRYPXON_ADMIN_TOKEN (key rotate/revoke then need --app)
  -h, --help         Show this help

Local commands apply pending D1 migrations first. Errors go to stderr with exit status 1;
set ENCRYPXON_DEBUG=1 to see wrangler's full output when one of its calls fails.

Examples:
  npm run admin -- app create --name "Acme Web" --json
  npm run admin -- key revoke --key key_0abc...
`;

const OPTIONS = /** @type {const} */ ({
  name: { type: "string" },
  app: { type: "string" },
  key: { type: "string" },
  json: { type: "boolean" },
  test: { type: "boolean" },
  url: { type: "string" },
  grace: { type: "string" },
  "key-name": { type: "string" },
  remote: { type: "boolean" },
  local: { type: "boolean" },
  "persist-to": { type: "string" },
  config: { type: "string" },
  help: { type: "boolean", short: "h" },
});

const COMMON = ["json", "remote", "local", "persist-to", "config", "url", "help"];

/** @type {Record<string, string[]>} Which options each command takes, beyond the common ones. */
const COMMANDS = {
  "app create": ["name", "test", "key-name"],
  "app list": [],
  "key create": ["app", "test", "name"],
  "key list": ["app"],
  "key rotate": ["key", "grace", "name", "app"],
  "key revoke": ["key", "app"],
};

/**
 * Prints one line of JSON.
 * @param {unknown} value
 * @returns {void}
 */
const line = (value) => {
  process.stdout.write(`${JSON.stringify(value)}\n`);
};

/**
 * Pads columns for a small human-readable table.
 * @param {string[][]} rows  the first row is the header
 */
function table(rows) {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => [...(r[i] ?? "")].length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => c + " ".repeat((widths[i] ?? 0) - [...c].length))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/**
 * @param {string[]} argv
 * @returns {Promise<void>}
 */
async function main(argv) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(/** @type {Error} */ (e).message.split("\n")[0] ?? "invalid arguments");
  }
  const { values: v, positionals } = parsed;
  if (v.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (positionals.length === 0) throw new UsageError("no command given (try --help)");
  const command = positionals.slice(0, 2).join(" ");
  const allowed = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!allowed || positionals.length > 2) {
    throw new UsageError(`unknown command: ${positionals.join(" ")} (try --help)`);
  }
  for (const opt of Object.keys(v)) {
    if (!allowed.includes(opt) && !COMMON.includes(opt)) {
      throw new UsageError(`${command} does not take --${opt}`);
    }
  }
  if (v.local && v.remote) throw new UsageError("--local and --remote can't be used together");
  if (v.url && (v.local || v.remote || v["persist-to"] || v.config)) {
    throw new UsageError(
      "--url talks to a Worker: it can't be combined with --local, --remote, --persist-to or --config",
    );
  }
  if (!v.url && v.app && (command === "key rotate" || command === "key revoke")) {
    throw new UsageError(`${command} takes --app only with --url`);
  }

  /** @type {{ kind: "http", t: import("./lib/adminHttp.mjs").HttpTarget } | { kind: "local", t: import("./lib/wrangler.mjs").Target }} */
  let target;
  try {
    target = v.url
      ? { kind: "http", t: http.makeHttpTarget(v.url, process.env.ENCRYPXON_ADMIN_TOKEN) }
      : {
          kind: "local",
          t: makeTarget({ remote: v.remote === true, config: v.config, persistTo: v["persist-to"] }),
        };
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(/** @type {Error} */ (e).message);
  }
  const json = v.json === true;
  const mode = /** @type {"live" | "test"} */ (v.test ? "test" : "live");
  const remote = target.kind === "http" || target.t.remote;
  const where =
    target.kind === "http"
      ? target.t.url
      : target.t.remote
        ? "the deployed database"
        : `local state${target.t.persistTo ? ` in ${target.t.persistTo}` : ""}`;
  // Through the admin API a key is addressed under its application (the local commands find it alone).
  const appOf = () => checkId(APP_ID, v.app, "--app (with --url)");
  const grace = v.grace === undefined ? undefined : Number(v.grace);
  if (grace !== undefined && !/^\d+$/.test(v.grace ?? ""))
    throw new UsageError("--grace must be a whole number of seconds");

  switch (command) {
    case "app create": {
      const opts = { name: v.name ?? "", mode, keyName: v["key-name"] };
      const created =
        target.kind === "http" ? await http.createApp(target.t, opts) : await local.createApp(target.t, opts);
      if (json) return line({ app_id: created.app_id, api_key: created.api_key, key_id: created.key_id });
      process.stdout.write(
        `Created application "${created.name}" (${created.app_id}) in ${where}.\n\n` +
          `  API key: ${created.api_key}\n  key id:  ${created.key_id}\n\n` +
          "This key is shown only once: store it now. Only its SHA-256 hash is kept, so it can't be shown again.\n" +
          "Send it in the X-API-Key header.\n",
      );
      return;
    }
    case "key create": {
      const opts = { appId: v.app ?? "", mode, name: v.name };
      const created =
        target.kind === "http" ? await http.createKey(target.t, opts) : await local.createKey(target.t, opts);
      if (json) return line({ app_id: created.app_id, api_key: created.api_key, key_id: created.key_id });
      process.stdout.write(
        `Created a new API key for ${created.app_id} in ${where}.\n\n` +
          `  API key: ${created.api_key}\n  key id:  ${created.key_id}\n\n` +
          "This key is shown only once: store it now. Only its SHA-256 hash is kept, so it can't be shown again.\n",
      );
      return;
    }
    case "app list": {
      const apps = target.kind === "http" ? await http.listApps(target.t) : await local.listApps(target.t);
      if (json) return line({ apps });
      if (apps.length === 0) {
        process.stdout.write(
          `No applications in ${where}. Create one with: npm run admin -- app create --name NAME\n`,
        );
        return;
      }
      process.stdout.write(
        `${table([
          ["APP ID", "NAME", "CREATED", "ACTIVE KEYS"],
          ...apps.map(
            (/** @type {{ app_id: string, name: string, created_at: string, active_keys: number }} */ a) => [
              a.app_id,
              a.name,
              a.created_at,
              String(a.active_keys),
            ],
          ),
        ])}\n`,
      );
      return;
    }
    case "key list": {
      const app =
        target.kind === "http"
          ? await http.listKeys(target.t, { appId: appOf() })
          : await local.listKeys(target.t, { appId: v.app ?? "" });
      if (json) return line(app);
      process.stdout.write(`Keys of "${app.name}" (${app.app_id}):\n`);
      if (app.keys.length === 0) {
        process.stdout.write("  (none)\n");
        return;
      }
      process.stdout.write(
        `${table([
          ["KEY ID", "NAME", "KEY", "CREATED", "EXPIRES", "REVOKED"],
          ...app.keys.map((/** @type {import("./lib/apps.mjs").KeyInfo} */ k) => [
            k.key_id,
            k.name ?? "-",
            `${k.prefix}…${k.last_chars ?? ""}`,
            k.created_at,
            k.expires_at ?? "-",
            k.revoked_at ?? "-",
          ]),
        ])}\n`,
      );
      return;
    }
    case "key rotate": {
      const opts = { keyId: v.key ?? "", graceSeconds: grace, name: v.name };
      const created =
        target.kind === "http"
          ? await http.rotateKey(target.t, { ...opts, appId: appOf() })
          : await local.rotateKey(target.t, opts);
      if (json) return line(created);
      process.stdout.write(
        `Rotated ${created.replaces} of ${created.app_id} in ${where}.\n\n` +
          `  New API key: ${created.api_key}\n  key id:      ${created.key_id}\n\n` +
          `The old key keeps working until ${created.old_key_expires_at} (or until revoked).\n` +
          "This key is shown only once: store it now.\n",
      );
      return;
    }
    case "key revoke": {
      const key =
        target.kind === "http"
          ? await http.revokeKey(target.t, { appId: appOf(), keyId: v.key ?? "" })
          : await local.revokeKey(target.t, { keyId: v.key ?? "" });
      if (json) return line(key);
      process.stdout.write(
        `Revoked ${key.key_id} (${key.prefix}…) of ${key.app_id} at ${key.revoked_at}.\n` +
          (remote
            ? "Its KV cache entry is deleted; other Cloudflare locations may still accept it until their cached copy expires (at most 300 s plus KV's propagation; docs/storage.md).\n"
            : "Its KV cache entry is deleted: the local Worker rejects it from now on.\n"),
      );
      return;
    }
  }
}

try {
  await main(process.argv.slice(2));
} catch (e) {
  const err = /** @type {Error} */ (e);
  process.stderr.write(`admin: ${err.message}\n`);
  if (process.env.ENCRYPXON_DEBUG) {
    // wrangler's full output for a failed call; the stack for anything unexpected.
    if (err instanceof WranglerError) process.stderr.write(`${JSON.stringify(err.details, null, 2)}\n`);
    else if (!(err instanceof UsageError)) process.stderr.write(`${err.stack}\n`);
  }
  process.exitCode = 1;
}
