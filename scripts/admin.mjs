#!/usr/bin/env node
// Operator command for applications and API keys: `npm run admin -- <command> [options]`.
// Writes go through wrangler to local state (the same SQLite files `wrangler dev` uses, whether or not
// it is running) or, with --remote, to the deployed D1 database and KV namespace.
import { parseArgs } from "node:util";
import { createApp, createKey, listApps, listKeys, revokeKey } from "./lib/apps.mjs";
import { UsageError } from "./lib/sql.mjs";
import { makeTarget, WranglerError } from "./lib/wrangler.mjs";

const USAGE = `Usage: npm run admin -- <command> [options]

Commands:
  app create --name NAME [--test]   Create an application and its first API key (shown once)
  app list                          List applications with their key counts
  key create --app APP_ID [--test]  Add an API key to an application (shown once)
  key list --app APP_ID             List an application's keys: prefix, created, revoked (never hashes)
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
  remote: { type: "boolean" },
  local: { type: "boolean" },
  "persist-to": { type: "string" },
  config: { type: "string" },
  help: { type: "boolean", short: "h" },
});

const COMMON = ["json", "remote", "local", "persist-to", "config", "help"];

/** @type {Record<string, string[]>} Which options each command takes, beyond the common ones. */
const COMMANDS = {
  "app create": ["name", "test"],
  "app list": [],
  "key create": ["app", "test"],
  "key list": ["app"],
  "key revoke": ["key"],
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

  let target;
  try {
    target = makeTarget({
      remote: v.remote === true,
      config: v.config,
      persistTo: v["persist-to"],
    });
  } catch (e) {
    throw new UsageError(/** @type {Error} */ (e).message);
  }
  const json = v.json === true;
  const mode = v.test ? "test" : "live";
  const where = target.remote
    ? "the deployed database"
    : `local state${target.persistTo ? ` in ${target.persistTo}` : ""}`;

  switch (command) {
    case "app create": {
      const created = await createApp(target, { name: v.name ?? "", mode });
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
      const created = await createKey(target, { appId: v.app ?? "", mode });
      if (json) return line({ app_id: created.app_id, api_key: created.api_key, key_id: created.key_id });
      process.stdout.write(
        `Created a new API key for ${created.app_id} in ${where}.\n\n` +
          `  API key: ${created.api_key}\n  key id:  ${created.key_id}\n\n` +
          "This key is shown only once: store it now. Only its SHA-256 hash is kept, so it can't be shown again.\n",
      );
      return;
    }
    case "app list": {
      const apps = await listApps(target);
      if (json) return line({ apps });
      if (apps.length === 0) {
        process.stdout.write(
          `No applications in ${where}. Create one with: npm run admin -- app create --name NAME\n`,
        );
        return;
      }
      process.stdout.write(
        `${table([
          ["APP ID", "NAME", "CREATED", "ACTIVE KEYS", "REVOKED KEYS"],
          ...apps.map((a) => [a.app_id, a.name, a.created_at, String(a.active_keys), String(a.revoked_keys)]),
        ])}\n`,
      );
      return;
    }
    case "key list": {
      const app = await listKeys(target, { appId: v.app ?? "" });
      if (json) return line(app);
      process.stdout.write(`Keys of "${app.name}" (${app.app_id}):\n`);
      if (app.keys.length === 0) {
        process.stdout.write("  (none)\n");
        return;
      }
      process.stdout.write(
        `${table([
          ["KEY ID", "PREFIX", "CREATED", "REVOKED"],
          ...app.keys.map((k) => [k.key_id, `${k.prefix}…`, k.created_at, k.revoked_at ?? "-"]),
        ])}\n`,
      );
      return;
    }
    case "key revoke": {
      const key = await revokeKey(target, { keyId: v.key ?? "" });
      if (json) return line(key);
      process.stdout.write(
        `Revoked ${key.key_id} (${key.prefix}…) of ${key.app_id} at ${key.revoked_at}.\n` +
          (target.remote
            ? "Its KV cache entry is deleted; other Cloudflare locations may still accept it for up to a minute.\n"
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
