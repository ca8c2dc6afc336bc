// Every row of every D1 table, to prove a request wrote nothing (or only what it was allowed to).
import { env } from "cloudflare:workers";

/** Table name → its rows as JSON strings, sorted (a multiset: order in D1 carries no meaning here). */
export type DbSnapshot = Map<string, string[]>;

async function tables(): Promise<string[]> {
  const { results } = await env.DB.prepare(
    `SELECT name FROM sqlite_master WHERE type = 'table'
       AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name != 'd1_migrations'
     ORDER BY name`,
  ).all<{ name: string }>();
  return results.map((r) => r.name);
}

/** Empties every table, for a test that wants a fresh world (retried until foreign keys allow it). */
export async function wipeDb(): Promise<void> {
  let left = await tables();
  for (let pass = 0; left.length > 0 && pass < 10; pass++) {
    const failed: string[] = [];
    for (const name of left) {
      try {
        await env.DB.prepare(`DELETE FROM "${name}"`).run();
      } catch {
        failed.push(name);
      }
    }
    left = failed;
  }
  if (left.length > 0) throw new Error(`could not empty ${left.join(", ")}`);
}

export async function snapshotDb(): Promise<DbSnapshot> {
  const out: DbSnapshot = new Map();
  const names = await tables();
  const reads = await env.DB.batch(names.map((n) => env.DB.prepare(`SELECT * FROM "${n}"`)));
  names.forEach((name, i) => {
    out.set(name, (reads[i]?.results ?? []).map((r) => JSON.stringify(r)).sort());
  });
  return out;
}

export interface TableDiff {
  added: Record<string, unknown>[];
  removed: Record<string, unknown>[];
}

/** What changed between two snapshots, per table (an updated row is one removed and one added). */
export function diffDb(before: DbSnapshot, after: DbSnapshot): Map<string, TableDiff> {
  const out = new Map<string, TableDiff>();
  for (const name of new Set([...before.keys(), ...after.keys()])) {
    const was = before.get(name) ?? [];
    const now = after.get(name) ?? [];
    const count = new Map<string, number>();
    for (const r of was) count.set(r, (count.get(r) ?? 0) + 1);
    const added: string[] = [];
    for (const r of now) {
      const n = count.get(r) ?? 0;
      if (n > 0) count.set(r, n - 1);
      else added.push(r);
    }
    const removed = [...count].flatMap(([r, n]) => Array<string>(n).fill(r));
    if (added.length || removed.length) {
      out.set(name, {
        added: added.map((r) => JSON.parse(r) as Record<string, unknown>),
        removed: removed.map((r) => JSON.parse(r) as Record<string, unknown>),
      });
    }
  }
  return out;
}
