import { DurableObject } from "cloudflare:workers";
import { auditIfChanged } from "../db/audit";
import type { Env } from "../env";
import { openSecret } from "../webhooks/secret";
import { SIGNATURE_HEADER, signatureHeader } from "../webhooks/signature";
import { sealMarked } from "./auditSealer";

/** Attempts per delivery before it is marked failed (about 8.5 hours with the default base). */
export const MAX_ATTEMPTS = 10;
const DEFAULT_RETRY_BASE_MS = 30_000;
const MAX_RETRY_DELAY_MS = 6 * 60 * 60 * 1000;
/** A receiver gets this long to answer; anything slower counts as a failed attempt. */
export const DELIVERY_TIMEOUT_MS = 10_000;
/** Deliveries sent at once per pass; a backlog is worked through pass after pass. */
const BATCH = 20;
// If this object dies mid-pass, the alarm set before sending brings it back after this long.
const LEASE_MS = DELIVERY_TIMEOUT_MS * 3;

interface DueDelivery {
  id: string;
  event_id: string;
  endpoint_id: string;
  attempts: number;
  type: string;
  payload: string;
  url: string;
  secret_ciphertext: string;
  previous_secret_ciphertext: string | null;
  previous_secret_expires_at: number | null;
  endpoint_status: string;
}

interface Outcome {
  ok: boolean;
  status: number | null;
  error: string | null;
}

/**
 * One object per application (`idFromName(<app id>)`): the only sender of its webhooks. D1 holds every
 * delivery and when it is next due; this object sends what is due, records each outcome, and sets its
 * alarm for the next due one, so retries survive eviction and restarts. Passes never overlap, so a
 * delivery is not sent twice at once; a pass cut short by a crash may repeat a send (at least once:
 * receivers de-duplicate on `Encrypxon-Event-Id`).
 */
export class WebhookDispatcher extends DurableObject<Env> {
  #running: Promise<void> | null = null;
  #again = false;

  /** New deliveries may be due: run a pass now (or right after the current one). */
  async kick(appId: string): Promise<void> {
    await this.ctx.storage.put("app_id", appId);
    await this.#pass(appId);
  }

  override async alarm(): Promise<void> {
    const appId = await this.ctx.storage.get<string>("app_id");
    if (appId) await this.#pass(appId);
    sealMarked(this.env, this.ctx);
  }

  #pass(appId: string): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          await this.#sendDue(appId);
        } while (this.#again);
      } finally {
        this.#running = null;
      }
    })();
    return this.#running;
  }

  async #sendDue(appId: string): Promise<void> {
    const db = this.env.DB;
    for (;;) {
      const now = Date.now();
      const { results } = await db
        .prepare(
          `SELECT d.id, d.event_id, d.endpoint_id, d.attempts, e.type, e.payload, w.url, w.secret_ciphertext,
                  w.previous_secret_ciphertext, w.previous_secret_expires_at, w.status AS endpoint_status
           FROM webhook_deliveries d
           JOIN webhook_events e ON e.id = d.event_id AND e.app_id = d.app_id
           JOIN webhook_endpoints w ON w.id = d.endpoint_id AND w.app_id = d.app_id
           WHERE d.app_id = ?1 AND d.status = 'pending' AND d.next_attempt_at <= ?2
           ORDER BY d.next_attempt_at LIMIT ?3`,
        )
        .bind(appId, now, BATCH)
        .all<DueDelivery>();
      if (results.length === 0) break;
      await this.ctx.storage.setAlarm(now + LEASE_MS);
      const outcomes = await Promise.all(results.map((d) => this.#send(appId, d)));
      await this.#record(appId, results, outcomes);
      if (results.length < BATCH) break;
    }
    const next = await db
      .prepare(
        "SELECT MIN(next_attempt_at) AS at FROM webhook_deliveries WHERE app_id = ?1 AND status = 'pending'",
      )
      .bind(appId)
      .first<{ at: number | null }>();
    if (next?.at != null) await this.ctx.storage.setAlarm(Math.max(next.at, Date.now()));
    else await this.ctx.storage.deleteAlarm();
  }

  async #send(appId: string, d: DueDelivery): Promise<Outcome> {
    if (d.endpoint_status !== "active") return { ok: false, status: null, error: "endpoint disabled" };
    const master = this.env.WEBHOOK_KEY;
    const secret = master ? await openSecret(master, appId, d.endpoint_id, d.secret_ciphertext) : null;
    if (!master || secret === null) {
      console.error(`webhook ${d.endpoint_id}: signing secret does not open under WEBHOOK_KEY`);
      return { ok: false, status: null, error: "signing secret unavailable" };
    }
    const now = Date.now();
    // Within a rotation's overlap the previous secret signs too, as a second v1= entry.
    const previous =
      d.previous_secret_ciphertext && (d.previous_secret_expires_at ?? 0) > now
        ? await openSecret(master, appId, d.endpoint_id, d.previous_secret_ciphertext)
        : null;
    try {
      const res = await fetch(d.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "Encrypxon-Webhooks/1",
          [SIGNATURE_HEADER]: await signatureHeader(previous ? [secret, previous] : [secret], d.payload, now),
          "Encrypxon-Event-Id": d.event_id,
          "Encrypxon-Event-Type": d.type,
          "Encrypxon-Delivery-Id": d.id,
          "Encrypxon-Delivery-Attempt": String(d.attempts + 1),
        },
        body: d.payload,
        // A redirect is an answer we do not follow: the registered URL is the one that was agreed on.
        redirect: "manual",
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      await res.body?.cancel();
      return { ok: res.status >= 200 && res.status < 300, status: res.status, error: null };
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
      return {
        ok: false,
        status: null,
        error: timedOut ? `no answer within ${DELIVERY_TIMEOUT_MS / 1000} s` : "could not connect",
      };
    }
  }

  async #record(appId: string, due: DueDelivery[], outcomes: Outcome[]): Promise<void> {
    const db = this.env.DB;
    const now = Date.now();
    const base = Number(this.env.WEBHOOK_RETRY_BASE_MS) || DEFAULT_RETRY_BASE_MS;
    const statements: D1PreparedStatement[] = [];
    due.forEach((d, i) => {
      const o = outcomes[i] as Outcome;
      const attempts = d.attempts + 1;
      if (o.ok) {
        statements.push(
          db
            .prepare(
              `UPDATE webhook_deliveries SET status = 'succeeded', attempts = ?3, last_attempt_at = ?4,
                 last_status_code = ?5, last_error = NULL, delivered_at = ?4, next_attempt_at = NULL
               WHERE id = ?1 AND app_id = ?2 AND status = 'pending'`,
            )
            .bind(d.id, appId, attempts, now, o.status),
        );
        return;
      }
      const final = attempts >= MAX_ATTEMPTS || d.endpoint_status !== "active";
      const status = d.endpoint_status !== "active" ? "cancelled" : final ? "failed" : "pending";
      statements.push(
        db
          .prepare(
            `UPDATE webhook_deliveries SET status = ?3, attempts = ?4, last_attempt_at = ?5,
               last_status_code = ?6, last_error = ?7, next_attempt_at = ?8
             WHERE id = ?1 AND app_id = ?2 AND status = 'pending'`,
          )
          .bind(
            d.id,
            appId,
            status,
            attempts,
            now,
            o.status,
            o.error,
            final ? null : now + retryDelay(base, attempts),
          ),
      );
      if (status === "failed") {
        statements.push(
          auditIfChanged(db, {
            appId,
            type: "webhook.delivery_failed",
            outcome: "failed",
            detail: {
              delivery_id: d.id,
              endpoint_id: d.endpoint_id,
              event_id: d.event_id,
              event_type: d.type,
              attempts,
              last_status_code: o.status,
            },
            at: now,
          }),
        );
      }
    });
    await db.batch(statements);
  }
}

/** Exponential backoff with ±20 % jitter, so many failing deliveries do not retry in lockstep. */
export function retryDelay(baseMs: number, attempts: number): number {
  const exact = Math.min(baseMs * 2 ** (attempts - 1), MAX_RETRY_DELAY_MS);
  return Math.round(exact * (0.8 + 0.4 * Math.random()));
}
