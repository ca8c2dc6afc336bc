// The local D1 database's SQLite file under wrangler's --persist-to directory: read for the checks,
// written for the scale section's seed (only while nothing else runs on it).
import { readdirSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";

export function d1File(stateDir: string): string {
  const dir = path.join(stateDir, "v3", "d1", "miniflare-D1DatabaseObject");
  const files = readdirSync(dir).filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite");
  if (files.length !== 1) throw new Error(`expected one D1 database in ${dir}, found ${files.join(", ")}`);
  return path.join(dir, files[0] ?? "");
}

export function openD1(stateDir: string, readonly: boolean): Database.Database {
  const db = new Database(d1File(stateDir), { readonly, fileMustExist: true });
  db.pragma("busy_timeout = 5000");
  return db;
}
