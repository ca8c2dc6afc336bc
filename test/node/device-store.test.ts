// The device key store: owner-only files in an owner-only directory, atomic writes, and refusal of
// anything others could read or swap.
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { generateDeviceKey } from "../../packages/device/src/crypto";
import {
  DeviceStore,
  defaultStoreDir,
  STORE_VERSION,
  type StoredDevice,
  StoreError,
} from "../../packages/device/src/store";

const posix = process.platform !== "win32";
const mode = async (p: string) => (await stat(p)).mode & 0o777;

async function device(id: string): Promise<StoredDevice> {
  const key = await generateDeviceKey("ecies-p256");
  return {
    version: STORE_VERSION,
    base_url: "http://127.0.0.1:8787",
    app_name: "Acme",
    user_label: "alice",
    device_id: id,
    key_format: "ecies-p256",
    private_jwk: key.privateJwk,
    device_token: `edt_${"t".repeat(43)}`,
    created_at: new Date(0).toISOString(),
  };
}

let root: string;
let store: DeviceStore;
const ID = "dev_0000000000000000000000000a";
const ID2 = "dev_0000000000000000000000000b";

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "encrypxon-store-"));
  store = new DeviceStore(path.join(root, "keys"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("DeviceStore", () => {
  it.runIf(posix)("creates the directory 0700 and the file 0600, even under a permissive umask", async () => {
    const old = process.umask(0);
    try {
      await store.save(await device(ID));
    } finally {
      process.umask(old);
    }
    expect(await mode(store.dir)).toBe(0o700);
    expect(await mode(store.fileFor(ID))).toBe(0o600);
  });

  it("round-trips a record and leaves no temp files behind", async () => {
    const d = await device(ID);
    await store.save(d);
    await store.save({ ...d, app_name: "Acme 2" }); // replace in place
    expect(await store.load(ID)).toEqual({ ...d, app_name: "Acme 2" });
    expect(await readdir(store.dir)).toEqual([`${ID}.json`]);
  });

  it("lists devices without their secrets", async () => {
    await store.save(await device(ID));
    const [summary] = await store.list();
    expect(summary).toMatchObject({ device_id: ID, key_format: "ecies-p256" });
    expect(JSON.stringify(summary)).not.toMatch(/private_jwk|device_token|edt_/);
  });

  it("resolves the only device, and asks for --device when there are several or none", async () => {
    await expect(store.resolve()).rejects.toThrow(/no devices in .*enroll one first/);
    await store.save(await device(ID));
    expect((await store.resolve()).device_id).toBe(ID);
    await store.save(await device(ID2));
    await expect(store.resolve()).rejects.toThrow(/2 devices .*choose one with --device/);
    expect((await store.resolve(ID2)).device_id).toBe(ID2);
    await expect(store.resolve("dev_0000000000000000000000000c")).rejects.toThrow(/no device dev_0+c in/);
  });

  it.runIf(posix).each([0o644, 0o640, 0o604, 0o660, 0o602])("refuses a key file with mode %o", async (m) => {
    await store.save(await device(ID));
    await chmod(store.fileFor(ID), m);
    await expect(store.load(ID)).rejects.toThrow(StoreError);
    await expect(store.load(ID)).rejects.toThrow(/readable or writable by others.*chmod 600/);
    await chmod(store.fileFor(ID), 0o600);
    expect((await store.load(ID)).device_id).toBe(ID);
  });

  it.runIf(posix)("refuses a symlink in place of a key file", async () => {
    const elsewhere = path.join(root, "elsewhere.json");
    await writeFile(elsewhere, JSON.stringify(await device(ID)), { mode: 0o600 });
    await mkdir(store.dir, { mode: 0o700 });
    await symlink(elsewhere, store.fileFor(ID));
    await expect(store.load(ID)).rejects.toThrow(/symlink/);
  });

  it.runIf(posix)("refuses to write into a directory others can write", async () => {
    await mkdir(store.dir, { mode: 0o700 });
    await chmod(store.dir, 0o777);
    await expect(store.save(await device(ID))).rejects.toThrow(/writable by others/);
    expect(await readdir(store.dir)).toEqual([]);
  });

  it.runIf(posix).each([0o777, 0o775, 0o770, 0o702])(
    "refuses to read from a directory with mode %o (a key file there could be swapped)",
    async (m) => {
      await store.save(await device(ID));
      await chmod(store.dir, m);
      const message = new RegExp(`writable by others \\(mode ${m.toString(8)}\\).*chmod 700`);
      await expect(store.load(ID)).rejects.toThrow(StoreError);
      await expect(store.load(ID)).rejects.toThrow(message);
      await expect(store.resolve()).rejects.toThrow(message);
      await chmod(store.dir, 0o700);
      expect((await store.load(ID)).device_id).toBe(ID);
    },
  );

  it("refuses ids that are not device ids (no path tricks)", async () => {
    for (const bad of ["../dev_x", "dev_a/b", "dev_.", "chl_0000", ""]) {
      expect(() => store.fileFor(bad)).toThrow(/not a device id/);
    }
    await expect(store.save({ ...(await device(ID)), device_id: "../../etc/x" })).rejects.toThrow(
      /device_id/,
    );
  });

  it("refuses a corrupt, incomplete or misnamed file", async () => {
    await mkdir(store.dir, { mode: 0o700 });
    await writeFile(store.fileFor(ID), "{not json", { mode: 0o600 });
    await expect(store.load(ID)).rejects.toThrow(/not valid JSON/);
    const { private_jwk: _drop, ...noKey } = await device(ID);
    await writeFile(store.fileFor(ID), JSON.stringify(noKey), { mode: 0o600 });
    await expect(store.load(ID)).rejects.toThrow(/"private_jwk"/);
    await writeFile(store.fileFor(ID), JSON.stringify({ ...(await device(ID)), version: 2 }), {
      mode: 0o600,
    });
    await expect(store.load(ID)).rejects.toThrow(/unsupported store version 2/);
    await writeFile(store.fileFor(ID), JSON.stringify(await device(ID2)), { mode: 0o600 });
    await expect(store.load(ID)).rejects.toThrow(/holds dev_0+b, not dev_0+a/);
  });

  it("removes a device's file", async () => {
    await store.save(await device(ID));
    await store.remove(ID);
    expect(await store.ids()).toEqual([]);
    await store.remove(ID); // idempotent
  });

  it("writes the record as plain JSON a person can inspect", async () => {
    await store.save(await device(ID));
    const text = await readFile(store.fileFor(ID), "utf8");
    expect(JSON.parse(text)).toMatchObject({
      version: 1,
      device_id: ID,
      private_jwk: { kty: "EC", crv: "P-256" },
    });
  });
});

describe("defaultStoreDir", () => {
  it("honours ENCRYPXON_DEVICE_STORE, else ~/.encrypxon-device", () => {
    expect(defaultStoreDir({ ENCRYPXON_DEVICE_STORE: "/x/y" })).toBe("/x/y");
    expect(defaultStoreDir({})).toBe(path.join(os.homedir(), ".encrypxon-device"));
  });
});
