// Local Worker secrets for `wrangler dev`: the .dev.vars file beside the configuration (git ignores it).
// A secret that is missing gets a fresh random value once and keeps it, so stored data stays readable
// across restarts.
import { randomBytes } from "node:crypto";
import { chmod, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

/**
 * Makes sure .dev.vars next to `config` defines each of `names`; returns the file's path.
 * @param {string} config  path of wrangler.toml
 * @param {string[]} names
 */
export async function ensureDevSecrets(config, names) {
  const file = path.join(path.dirname(config), ".dev.vars");
  let text = "";
  try {
    text = await readFile(file, "utf8");
  } catch {
    // no file yet
  }
  const defined = new Set(
    text
      .split("\n")
      .map((line) => /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(line)?.[1])
      .filter(Boolean),
  );
  const missing = names.filter((n) => !defined.has(n));
  if (missing.length > 0) {
    const lines = missing.map((n) => `${n}="${randomBytes(32).toString("base64url")}"`);
    const sep = text === "" || text.endsWith("\n") ? "" : "\n";
    await writeFile(file, `${text}${sep}${lines.join("\n")}\n`, { mode: 0o600 });
  }
  await chmod(file, 0o600);
  return file;
}

/**
 * The value of one secret in a .dev.vars file (quotes removed), or "" when it is not there.
 * @param {string} file
 * @param {string} name
 */
export async function readDevVar(file, name) {
  const text = await readFile(file, "utf8").catch(() => "");
  const line = text.split("\n").find((l) => new RegExp(`^\\s*${name}\\s*=`).test(l)) ?? "";
  return line
    .replace(/^[^=]*=\s*/, "")
    .replace(/^"(.*)"\s*$/, "$1")
    .trim();
}
