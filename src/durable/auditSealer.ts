import { DurableObject } from "cloudflare:workers";
import { AUDIT_GENESIS_HASH } from "../../packages/client/src/auditChain";
import { type ChainHead, chainRows, rowHash } from "../db/auditChain";
import type { Env } from "../env";

/** Rows sealed per D1 batch. */
const BATCH = 100;
/**
 * A kick (an event was written) asks for a run this much later rather than at once: every event of
 * the application written meanwhile is sealed by that one run, so a busy application pays one D1 read
 * and one write batch per second for its chain, not one per request. It bounds the unsealed window.
 */
export const SEAL_DELAY_MS = 1_000;
/** The backstop: while events keep being sealed, the sealer looks again this much later. */
const SWEEP_MS = 30_000;
/**
 * Rows one run seals at most, so a call that seals before it reads (GET /v1/audit, verify) stays
 * bounded. Normally a run finds a handful; a backlog (rows written while sealing was down, or written
 * behind the service's back) is worked off by the alarm, BACKLOG_MS apart, and reads in the meantime
 * see the rest as unsealed.
 */
export const MAX_ROWS_PER_RUN = 2_000;
const BACKLOG_MS = 50;

/**
 * One object per application (`idFromName(<app id>)`) that seals its audit events into a hash chain.
 * Audit rows are inserted unsealed by whichever Worker or object records an event; seq (AUTOINCREMENT,
 * D1 commits one transaction at a time) orders them, and a row with a lower seq is always committed
 * before one with a higher seq is visible. This object alone computes hashes, in seq order, one run at
 * a time, and records the head of the chain in its own storage: so there is no race between writers,
 * and an edit of D1 alone cannot move the head without the verifier noticing.
 */
export class AuditSealer extends DurableObject<Env> {
  /** Runs are serialised: calls during a run share the next one (rows may land after a run has read). */
  #tail: Promise<unknown> = Promise.resolve();
  #queued: Promise<ChainHead | null> | null = null;
  /** Whether any run sealed events since the last alarm: if so, the sweep goes on. */
  #sealedSinceSweep = false;

  /** Events were written: seal them within SEAL_DELAY_MS, together with whatever else comes meanwhile. */
  async kick(appId: string): Promise<void> {
    await this.#own(appId);
    await this.#alarmWithin(SEAL_DELAY_MS);
  }

  /** Seals every event of the application committed before the run starts; returns the new head. */
  seal(appId: string): Promise<ChainHead | null> {
    if (this.#queued) return this.#queued;
    const run = this.#tail.then(() => {
      this.#queued = null;
      return this.#sealAll(appId);
    });
    this.#queued = run;
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** The head as recorded, without sealing. */
  async head(): Promise<ChainHead | null> {
    return (await this.ctx.storage.get<ChainHead>("head")) ?? null;
  }

  override async alarm(): Promise<void> {
    const appId = await this.ctx.storage.get<string>("app_id");
    if (!appId) return;
    await this.seal(appId);
    // Keep sweeping while events are being sealed (a row whose commit raced a run, a kick that was
    // lost); stop after a sweep period in which none was. A backlog run re-arms itself sooner.
    const busy = this.#sealedSinceSweep;
    this.#sealedSinceSweep = false;
    if (busy) await this.#alarmWithin(SWEEP_MS);
  }

  async #own(appId: string): Promise<void> {
    const owner = await this.ctx.storage.get<string>("app_id");
    if (owner === undefined) await this.ctx.storage.put("app_id", appId);
    else if (owner !== appId) throw new Error("an audit sealer serves one application");
  }

  /** Sets the alarm `ms` from now unless it is already due sooner. (Inside alarm() getAlarm() is null.) */
  async #alarmWithin(ms: number): Promise<void> {
    const at = await this.ctx.storage.getAlarm();
    const due = Date.now() + ms;
    if (at === null || at > due) await this.ctx.storage.setAlarm(due);
  }

  async #sealAll(appId: string): Promise<ChainHead | null> {
    await this.#own(appId);
    const db = this.env.DB;
    let head = await this.head();
    for (let sealed = 0; ; sealed += BATCH) {
      if (sealed >= MAX_ROWS_PER_RUN) {
        // The rest is a backlog: the alarm works it off in bounded runs.
        await this.#alarmWithin(BACKLOG_MS);
        return head;
      }
      const rows = await chainRows(db, appId, head?.seq ?? 0, BATCH);
      if (rows.length === 0) return head;
      const updates: D1PreparedStatement[] = [];
      let next = head;
      let stop = false;
      for (const row of rows) {
        const prev = next?.hash ?? AUDIT_GENESIS_HASH;
        const hash = await rowHash(row, prev);
        if (row.hash !== null) {
          // Sealed by an earlier run that stopped before recording its head: adopt it if it is what
          // this run would write; otherwise leave it for the verifier to report and seal no further.
          if (row.hash !== hash || row.prev_hash !== prev) {
            console.error(
              `audit chain of ${appId}: ${row.id} carries a seal that does not match; not sealing past it`,
            );
            stop = true;
            break;
          }
        } else {
          updates.push(
            db
              .prepare(
                "UPDATE audit_events SET prev_hash = ?3, hash = ?4 WHERE seq = ?1 AND app_id = ?2 AND hash IS NULL",
              )
              .bind(row.seq, appId, prev, hash),
          );
        }
        next = { seq: row.seq, event_id: row.id, hash, count: (next?.count ?? 0) + 1 };
      }
      const results = updates.length ? await db.batch(updates) : [];
      // Every guarded UPDATE must have hit its row; if not, something else wrote the chain: re-read.
      if (results.some((r) => r.meta.changes !== 1)) {
        console.error(`audit chain of ${appId}: a row was sealed meanwhile by someone else; re-reading`);
        continue;
      }
      if (next) await this.ctx.storage.put("head", next);
      if (next !== head) this.#sealedSinceSweep = true;
      head = next;
      if (stop || rows.length < BATCH) return head;
    }
  }
}

// Applications whose audit trail got rows during the current request, and so need a seal. Every audit
// insert goes through src/db/audit.ts, which marks the application here; src/index.ts (and the objects
// that write audit rows) then kick the sealers with waitUntil after the response. The rows are
// committed by then, and the run the kick schedules reads everything committed before it starts.
const pending = new Set<string>();
/**
 * When this isolate last kicked each application's sealer. Within half the seal delay the run that
 * kick scheduled has not started yet and will see this request's rows too, so the hop is skipped.
 */
const lastKick = new Map<string, number>();
const KICK_EVERY_MS = SEAL_DELAY_MS / 2;

export function markForSealing(appId: string): void {
  pending.add(appId);
}

/** Kicks the sealer of every marked application; never throws (the sweep and the next read retry). */
export function sealMarked(env: Env, ctx: { waitUntil(p: Promise<unknown>): void }): void {
  if (pending.size === 0) return;
  const apps = [...pending];
  pending.clear();
  const now = Date.now();
  for (const appId of apps) {
    if (now - (lastKick.get(appId) ?? 0) < KICK_EVERY_MS) continue;
    lastKick.set(appId, now);
    if (lastKick.size > 10_000) lastKick.clear(); // one entry per application; bounded all the same
    ctx.waitUntil(kick(env, appId));
  }
}

async function kick(env: Env, appId: string): Promise<void> {
  try {
    await env.AUDIT_SEALERS.get(env.AUDIT_SEALERS.idFromName(appId)).kick(appId);
  } catch (err) {
    lastKick.delete(appId); // the next request tries again
    console.error(`could not kick the audit sealer of ${appId}:`, err instanceof Error ? err.message : err);
  }
}

/** Seals the application's chain up to now; null (and a log line) if the sealer could not be reached. */
export async function sealNow(env: Env, appId: string): Promise<ChainHead | null> {
  try {
    return await env.AUDIT_SEALERS.get(env.AUDIT_SEALERS.idFromName(appId)).seal(appId);
  } catch (err) {
    console.error(`could not seal the audit chain of ${appId}:`, err instanceof Error ? err.message : err);
    return null;
  }
}
