// Input checks and SQL literals for statements that go to `wrangler d1 execute --command`, which takes
// no bound parameters: every value is validated first, then written as a literal here and nowhere else.

/** Ids made by src/crypto/random.ts newId(): prefix + 26 lowercase Crockford base32 chars (128 bits). */
const ID_BODY = "[0-7][0-9a-hjkmnp-tv-z]{25}";
export const APP_ID = new RegExp(`^app_${ID_BODY}$`);
export const KEY_ID = new RegExp(`^key_${ID_BODY}$`);

/** The API key shapes accepted by src/auth/apiKey.ts: with the 6-character checksum, or older keys without. */
export const API_KEY = /^ek_(live|test)_[A-Za-z0-9_-]{43}([0-9A-Za-z]{6})?$/;

/** A hex SHA-256 digest, as stored in api_keys.key_hash. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

export const MAX_NAME_LENGTH = 100;

/** A user error: the message is shown as is, and the command exits with status 1. */
export class UsageError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * Checks an id against its shape; throws a UsageError naming the option otherwise.
 * @param {RegExp} shape
 * @param {unknown} value
 * @param {string} what  e.g. "--app"
 * @returns {string}
 */
export function checkId(shape, value, what) {
  if (value === undefined || value === "") throw new UsageError(`${what} is required`);
  if (typeof value !== "string" || !shape.test(value)) {
    throw new UsageError(`${what} must be an id like ${shape === APP_ID ? "app_" : "key_"}<26 characters>`);
  }
  return value;
}

// Control characters (C0, DEL, C1) and line/paragraph separators would garble listings and logs.
const FORBIDDEN_IN_NAME = /[\p{Cc}\p{Zl}\p{Zp}]/u;

/**
 * Validates an application name: 1–100 characters, not only spaces, no control characters.
 * @param {unknown} value
 * @returns {string}
 */
export function checkName(value) {
  if (typeof value !== "string" || value.trim() === "") throw new UsageError("--name NAME is required");
  if ([...value].length > MAX_NAME_LENGTH) {
    throw new UsageError(`--name is too long (at most ${MAX_NAME_LENGTH} characters)`);
  }
  if (FORBIDDEN_IN_NAME.test(value)) throw new UsageError("--name must not contain control characters");
  if (!value.isWellFormed()) throw new UsageError("--name is not valid Unicode");
  return value;
}

/**
 * A SQL string literal: single quotes doubled, nothing else needs escaping in SQLite. For values of a
 * known safe shape (ids, hashes, key prefixes); free text goes through sqlText.
 * @param {string} s
 */
export function sqlString(s) {
  if (s.includes("\0")) throw new UsageError("text must not contain NUL characters");
  return `'${s.replaceAll("'", "''")}'`;
}

/**
 * Free text (user input such as names) as `CAST(X'<utf-8 hex>' AS TEXT)`. A quoted literal is not
 * enough here: before running `--command`, wrangler edits the SQL text itself, quotes or not: it deletes
 * the first "BEGIN TRANSACTION;" and "COMMIT;" it finds (so a name containing them would be silently
 * changed) and splits statements with its own scanner. Hex digits give it nothing to act on.
 * @param {string} s
 */
export function sqlText(s) {
  if (s.includes("\0")) throw new UsageError("text must not contain NUL characters");
  if (!s.isWellFormed()) throw new UsageError("text is not valid Unicode");
  return `CAST(X'${Buffer.from(s, "utf8").toString("hex")}' AS TEXT)`;
}

/**
 * A SQL integer literal from a safe integer.
 * @param {number} n
 */
export function sqlInt(n) {
  if (!Number.isSafeInteger(n)) throw new TypeError(`not a safe integer: ${n}`);
  return String(n);
}
