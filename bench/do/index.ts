// The cost floor of one Durable Object per challenge, piece by piece, with nothing else of the service
// (no routing, auth, crypto or reads). Each path is one request:
//   /none       nothing (the floor)
//   /d1         one 3-statement D1 write batch from the Worker (the rows a challenge writes), no object
//   /new        storage.put + setAlarm on a NEW object (what ChallengeObject.create does to its storage)
//   /new-d1     the same, then the object's D1 batch: the least POST /v1/challenges can cost in this design
//   /reuse      put + setAlarm on one of 50 objects that already exist
//   /reuse-d1   the same, then the D1 batch
import { DurableObject } from "cloudflare:workers";

interface Env {
  PROBE: DurableObjectNamespace<Probe>;
  DB: D1Database;
}

let schema: Promise<unknown> | null = null;

/** Three inserts in one batch, shaped like a challenge row, one delivery and one audit row. */
async function writeBatch(db: D1Database, id: string, at: number): Promise<void> {
  schema ??= db.batch([
    db.prepare("CREATE TABLE IF NOT EXISTS probe_challenges (id TEXT PRIMARY KEY, at INTEGER, body TEXT)"),
    db.prepare("CREATE TABLE IF NOT EXISTS probe_deliveries (challenge_id TEXT, device TEXT, body TEXT)"),
    db.prepare(
      "CREATE TABLE IF NOT EXISTS probe_audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT, at INTEGER, body TEXT)",
    ),
  ]);
  await schema;
  const body = "x".repeat(200);
  await db.batch([
    db.prepare("INSERT INTO probe_challenges VALUES (?1, ?2, ?3)").bind(id, at, body),
    db.prepare("INSERT INTO probe_deliveries VALUES (?1, ?2, ?3)").bind(id, "dev", body),
    db.prepare("INSERT INTO probe_audit (id, at, body) VALUES (?1, ?2, ?3)").bind(id, at, body),
  ]);
}

export class Probe extends DurableObject<Env> {
  async touch(at: number, withD1: boolean): Promise<number> {
    await this.ctx.storage.put(`state-${at}`, { at, status: "pending" });
    await this.ctx.storage.setAlarm(at + 600_000);
    if (withD1) await writeBatch(this.env.DB, crypto.randomUUID(), at);
    return at;
  }

  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }
}

export default {
  async fetch(request, env): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname === "/none") return new Response("ok");
    if (pathname === "/d1") {
      await writeBatch(env.DB, crypto.randomUUID(), Date.now());
      return new Response("ok");
    }
    const withD1 = pathname.endsWith("-d1");
    const name = pathname.startsWith("/new")
      ? crypto.randomUUID()
      : `shard-${Math.floor(Math.random() * 50)}`;
    try {
      await env.PROBE.get(env.PROBE.idFromName(name)).touch(Date.now(), withD1);
    } catch (err) {
      // A bench Worker: the runtime's own words are what the report needs.
      return new Response(err instanceof Error ? err.message : String(err), { status: 503 });
    }
    return new Response("ok");
  },
} satisfies ExportedHandler<Env>;
