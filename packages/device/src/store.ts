// The device's key store: one JSON file per enrollment, readable by its owner only. On a phone this is
// the Secure Enclave / Keystore plus the app's private storage; here it is a 0700 directory of 0600 files.
import { randomBytes } from "node:crypto";
import { constants, type Stats } from "node:fs";
import fs, { type FileHandle } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { KeyFormat } from "./crypto.js";
import { isKeyFormat } from "./formats.js";

export const STORE_VERSION = 1;
export const STORE_ENV = "ENCRYPXON_DEVICE_STORE";

export interface StoredDevice {
  version: typeof STORE_VERSION;
  base_url: string;
  app_name: string;
  user_label: string;
  device_id: string;
  key_format: KeyFormat;
  /** The device's private key. It never leaves this file: never printed, logged or sent. */
  private_jwk: JsonWebKey;
  /** Bearer credential for /v1/device/* calls; as secret as the key. */
  device_token: string;
  created_at: string;
}

/** What may be shown about a stored device: everything but the secrets. */
export type DeviceSummary = Omit<StoredDevice, "private_jwk" | "device_token" | "version">;

export class StoreError extends Error {
  override name = "StoreError";
}

// Ids become file names, so only the server's id alphabet is accepted: no separators, no dots.
const DEVICE_ID = /^dev_[0-9A-Za-z]{1,64}$/;
const FILE_SUFFIX = ".json";
// POSIX permission bits mean nothing on Windows; there the checks would refuse every file.
const CHECK_MODES = process.platform !== "win32";

export function defaultStoreDir(env: Record<string, string | undefined> = process.env): string {
  return env[STORE_ENV] || path.join(os.homedir(), ".encrypxon-device");
}

export function summarize(d: StoredDevice): DeviceSummary {
  const { private_jwk: _key, device_token: _token, version: _version, ...rest } = d;
  return rest;
}

export class DeviceStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }

  fileFor(deviceId: string): string {
    if (!DEVICE_ID.test(deviceId)) throw new StoreError(`not a device id: ${JSON.stringify(deviceId)}`);
    return path.join(this.dir, `${deviceId}${FILE_SUFFIX}`);
  }

  /** Writes atomically (temp file + rename) so a crash never leaves a half-written key behind. */
  async save(device: StoredDevice): Promise<string> {
    validate(device, "record to save");
    await this.prepare();
    const target = this.fileFor(device.device_id);
    const temp = path.join(this.dir, `.${device.device_id}.${randomBytes(6).toString("hex")}.tmp`);
    // "wx": fail rather than follow a file (or symlink) someone planted at the temp name.
    const handle = await fs.open(temp, "wx", 0o600);
    try {
      await handle.chmod(0o600); // explicit: the open mode is filtered by umask, never widened, but be sure
      await handle.writeFile(`${JSON.stringify(device, null, 2)}\n`, "utf8");
      await handle.sync();
      await handle.close();
      await fs.rename(temp, target);
    } catch (err) {
      await handle.close().catch(() => {});
      await fs.rm(temp, { force: true });
      throw err;
    }
    await syncDir(this.dir);
    return target;
  }

  async load(deviceId: string): Promise<StoredDevice> {
    const file = this.fileFor(deviceId);
    // Whoever can write the directory can swap the key file for one of theirs, whatever its mode.
    await this.checkDir(`no device ${deviceId} in ${this.dir}`);
    let handle: FileHandle;
    try {
      // O_NOFOLLOW: a symlink here could point the check below at a different file than intended.
      handle = await fs.open(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
    } catch (err) {
      if (isCode(err, "ENOENT")) throw new StoreError(`no device ${deviceId} in ${this.dir}`);
      if (isCode(err, "ELOOP")) throw new StoreError(`${file} is a symlink; refusing to read it`);
      throw err;
    }
    try {
      // Check the opened file itself (fstat), not the path, so nothing can swap it in between.
      const st = await handle.stat();
      if (!st.isFile()) throw new StoreError(`${file} is not a regular file`);
      if (CHECK_MODES) {
        if ((st.mode & 0o077) !== 0) {
          throw new StoreError(
            `${file} is readable or writable by others (mode ${(st.mode & 0o777).toString(8)}); ` +
              "refusing to use it: chmod 600 it if it is yours, or re-enroll",
          );
        }
        const uid = process.getuid?.();
        if (uid !== undefined && st.uid !== uid) throw new StoreError(`${file} belongs to another user`);
      }
      const text = await handle.readFile("utf8");
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new StoreError(`${file} is not valid JSON`);
      }
      validate(parsed, file);
      if (parsed.device_id !== deviceId) {
        throw new StoreError(`${file} holds ${parsed.device_id}, not ${deviceId}`);
      }
      return parsed;
    } finally {
      await handle.close();
    }
  }

  /** Device ids present in the store (by file name; a file is only trusted once load() checks it). */
  async ids(): Promise<string[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (err) {
      if (isCode(err, "ENOENT")) return [];
      throw err;
    }
    return names
      .filter((n) => n.endsWith(FILE_SUFFIX))
      .map((n) => n.slice(0, -FILE_SUFFIX.length))
      .filter((id) => DEVICE_ID.test(id))
      .sort();
  }

  async list(): Promise<DeviceSummary[]> {
    return Promise.all((await this.ids()).map(async (id) => summarize(await this.load(id))));
  }

  /** The named device, or the only one when none is named (so a one-phone user never types ids). */
  async resolve(deviceId?: string): Promise<StoredDevice> {
    if (deviceId) return this.load(deviceId);
    const ids = await this.ids();
    const [only] = ids;
    if (only === undefined) throw new StoreError(`no devices in ${this.dir}; enroll one first`);
    if (ids.length > 1) {
      throw new StoreError(
        `${ids.length} devices in ${this.dir}; choose one with --device (${ids.join(", ")})`,
      );
    }
    return this.load(only);
  }

  async remove(deviceId: string): Promise<void> {
    await fs.rm(this.fileFor(deviceId), { force: true });
    await syncDir(this.dir);
  }

  /**
   * Creates the directory (0700) or checks an existing one, so that a save can succeed. Enrollment calls
   * it before claiming the code: a store refused afterwards would burn the single-use code.
   */
  async prepare(): Promise<void> {
    // mkdir's mode only applies to directories it creates; an existing one is checked instead.
    try {
      await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      // A file in the way: of the directory itself (EEXIST, reported below) or of a parent (ENOTDIR).
      if (isCode(err, "ENOTDIR"))
        throw new StoreError(`cannot create ${this.dir}: a parent is not a directory`);
      if (!isCode(err, "EEXIST")) throw err;
    }
    await this.checkDir(`${this.dir} does not exist`);
  }

  /** Refuses a directory others can write or another user owns: they could replace key files. */
  private async checkDir(missing: string): Promise<void> {
    let st: Stats;
    try {
      st = await fs.stat(this.dir);
    } catch (err) {
      if (isCode(err, "ENOENT")) throw new StoreError(missing);
      throw err;
    }
    if (!st.isDirectory()) throw new StoreError(`${this.dir} is not a directory`);
    if (!CHECK_MODES) return;
    if ((st.mode & 0o022) !== 0) {
      throw new StoreError(
        `${this.dir} is writable by others (mode ${(st.mode & 0o777).toString(8)}); ` +
          "refusing to use it: chmod 700 it if it is yours",
      );
    }
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) throw new StoreError(`${this.dir} belongs to another user`);
  }
}

function isCode(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && "code" in err && err.code === code;
}

async function syncDir(dir: string): Promise<void> {
  // Makes the rename durable; not every platform can fsync a directory, which is fine to ignore.
  try {
    const h = await fs.open(dir, "r");
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  } catch {}
}

function validate(value: unknown, where: string): asserts value is StoredDevice {
  const o = value as Partial<Record<keyof StoredDevice, unknown>> | null;
  const bad = (field: string) => new StoreError(`${where}: missing or invalid "${field}"`);
  if (typeof o !== "object" || o === null || Array.isArray(o)) {
    throw new StoreError(`${where}: not an object`);
  }
  if (o.version !== STORE_VERSION) {
    throw new StoreError(`${where}: unsupported store version ${String(o.version)}`);
  }
  for (const field of ["base_url", "app_name", "user_label", "device_token", "created_at"] as const) {
    if (typeof o[field] !== "string") throw bad(field);
  }
  if (typeof o.device_id !== "string" || !DEVICE_ID.test(o.device_id)) throw bad("device_id");
  if (!isKeyFormat(o.key_format)) throw bad("key_format");
  const jwk = o.private_jwk;
  if (typeof jwk !== "object" || jwk === null || typeof (jwk as JsonWebKey).d !== "string") {
    throw bad("private_jwk");
  }
}
