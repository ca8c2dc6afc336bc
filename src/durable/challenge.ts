import { DurableObject } from "cloudflare:workers";
import { releasePending } from "../abuse/limits";
import { fromB64url, fromHex, utf8 } from "../crypto/encoding";
import { sha256, timingSafeEqual } from "../crypto/hash";
import { auditIfChanged, auditInsert } from "../db/audit";
import { type ChallengeStatus, pendingOfUser } from "../db/challenges";
import { FRAUD_REASON, pauseOf, pauseStatements, USER_PAUSED_REASON } from "../db/pauses";
import type { Env } from "../env";
import { challengeJson, deviceChallengeJson } from "../routes/views";
import { kickWebhooks, queueWebhookEvent } from "../webhooks/events";
import { sealMarked } from "./auditSealer";
import { notifyDevices } from "./notify";

/** Wrong answers a challenge tolerates before it fails for good. */
export const MAX_WRONG_ANSWERS = 3;
/** How long a finished challenge's state stays in its object before the D1 row alone answers for it. */
export const RETAIN_AFTER_RESOLUTION_MS = 24 * 60 * 60 * 1000;

export interface ChallengeInit {
  id: string;
  appId: string;
  userId: string;
  context: Record<string, string>;
  createdAt: number;
  expiresAt: number;
  /** SHA-256 of the 32 entropy bytes: the object never needs the entropy itself. */
  entropyHash: string;
  deliveries: { deviceId: string; keyFormat: string; ciphertext: string }[];
  ip: string | null;
  /** The 2 digits shown on the login page that an approval must carry; null without number matching. */
  matchNumber: string | null;
  /** The application's setting when the challenge was made: a "not_me" deny pauses the user. */
  fraudAutoPause: boolean;
}

export interface ChallengeView {
  id: string;
  userId: string;
  status: ChallengeStatus;
  context: Record<string, string>;
  createdAt: number;
  expiresAt: number;
  resolvedAt: number | null;
  deviceId: string | null;
  reason: string | null;
  numberMatching: boolean;
  /** Only while pending: the application shows it, nobody needs it afterwards. */
  matchNumber: string | null;
}

interface Stored extends Omit<ChallengeView, "matchNumber"> {
  matchNumber: string | null;
  fraudAutoPause?: boolean;
  appId: string;
  entropyHash: string;
  deviceIds: string[];
  wrongAnswers: number;
}

// Flat shapes rather than unions: RPC's type mapping collapses discriminated unions.
export interface RespondResult {
  kind:
    | "resolved"
    | "not_found"
    | "closed"
    | "wrong_entropy"
    | "wrong_number"
    | "device_inactive"
    /** An approval while the user is paused after a fraud report: it did not count. */
    | "user_paused";
  view: ChallengeView | null;
  attemptsLeft: number;
}

export interface CancelResult {
  kind: "cancelled" | "not_found" | "closed";
  view: ChallengeView | null;
}

export interface RespondInput {
  appId: string;
  deviceId: string;
  entropy: string;
  decision: "approve" | "deny";
  reason: string | null;
  /** The number the user typed on the device (approvals of number-matching challenges). */
  number: string | null;
  ip: string | null;
}

const STATE_KEY = "state";

/**
 * One object per challenge: the single writer of its state. It holds the entropy hash, enforces expiry
 * with its alarm (not the clock of whoever reads later), serialises answers so exactly one wins, and
 * wakes long-polls the moment the state changes.
 */
export class ChallengeObject extends DurableObject<Env> {
  #state: Stored | null | undefined;
  #waiters = new Set<() => void>();
  // Answers, cancels and the alarm all await D1; this chain keeps them from interleaving.
  #queue: Promise<unknown> = Promise.resolve();

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #load(): Promise<Stored | null> {
    if (this.#state === undefined) this.#state = (await this.ctx.storage.get<Stored>(STATE_KEY)) ?? null;
    return this.#state;
  }

  async create(init: ChallengeInit): Promise<ChallengeView> {
    return this.#serial(async () => {
      if (await this.#load()) throw new Error("challenge object already initialised");
      const state: Stored = {
        id: init.id,
        appId: init.appId,
        userId: init.userId,
        status: "pending",
        context: init.context,
        createdAt: init.createdAt,
        expiresAt: init.expiresAt,
        resolvedAt: null,
        deviceId: null,
        reason: null,
        entropyHash: init.entropyHash,
        deviceIds: init.deliveries.map((d) => d.deviceId),
        wrongAnswers: 0,
        numberMatching: init.matchNumber !== null,
        matchNumber: init.matchNumber,
        fraudAutoPause: init.fraudAutoPause,
      };
      // Our own state and alarm first: if D1 then fails we roll back, and if we die in between the alarm
      // still expires whatever D1 holds.
      await this.ctx.storage.put(STATE_KEY, state);
      await this.ctx.storage.setAlarm(init.expiresAt);
      const db = this.env.DB;
      try {
        await db.batch([
          db
            .prepare(
              `INSERT INTO challenges (id, app_id, user_id, status, context, created_at, expires_at, number_matching)
               VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?7)`,
            )
            .bind(
              init.id,
              init.appId,
              init.userId,
              JSON.stringify(init.context),
              init.createdAt,
              init.expiresAt,
              state.numberMatching ? 1 : 0,
            ),
          ...init.deliveries.map((d) =>
            db
              .prepare(
                "INSERT INTO challenge_deliveries (challenge_id, device_id, ciphertext) VALUES (?1, ?2, ?3)",
              )
              .bind(init.id, d.deviceId, d.ciphertext),
          ),
          auditInsert(db, {
            appId: init.appId,
            type: "challenge.created",
            outcome: "pending",
            userId: init.userId,
            challengeId: init.id,
            ip: init.ip,
            detail: {
              devices: state.deviceIds.length,
              expires_at: new Date(init.expiresAt).toISOString(),
              number_matching: state.numberMatching,
            },
            at: init.createdAt,
          }),
        ]);
      } catch (err) {
        await this.ctx.storage.deleteAll();
        await this.ctx.storage.deleteAlarm();
        this.#state = null;
        throw err;
      }
      this.#state = state;
      // Stored first, announced second: the devices' channels are told without holding up the answer,
      // and a failed hand-off is audited, never fatal (the device still finds it by polling). Each device
      // gets its own entry, as its listing would show it, so it can answer without listing first.
      const expiresAt = new Date(state.expiresAt).toISOString();
      const byDevice = new Map(init.deliveries.map((d) => [d.deviceId, d]));
      this.ctx.waitUntil(
        notifyDevices(this.env, this.#target(state), state.deviceIds, (deviceId) => {
          const delivery = byDevice.get(deviceId);
          return {
            type: "challenge.created",
            id: state.id,
            expires_at: expiresAt,
            ...(delivery && {
              challenge: deviceChallengeJson({
                id: state.id,
                keyFormat: delivery.keyFormat,
                ciphertext: delivery.ciphertext,
                context: state.context,
                numberMatching: state.numberMatching,
                createdAt: state.createdAt,
                expiresAt: state.expiresAt,
              }),
            }),
          };
        }),
      );
      return view(state);
    });
  }

  #target(state: Stored) {
    return { appId: state.appId, userId: state.userId, challengeId: state.id };
  }

  /** The challenge as its application sees it; null when it does not exist or belongs to another app. */
  async get(appId: string): Promise<ChallengeView | null> {
    const state = await this.#expireIfDue();
    return state && state.appId === appId ? view(state) : null;
  }

  /** Like get, but while pending waits up to `ms` for the state to change. */
  async wait(appId: string, ms: number): Promise<ChallengeView | null> {
    const state = await this.#expireIfDue();
    if (!state || state.appId !== appId) return null;
    if (state.status !== "pending" || ms <= 0) return view(state);
    const deadline = Math.min(ms, state.expiresAt - Date.now() + 50);
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, deadline));
      this.#waiters.add(done);
    });
    const after = await this.#expireIfDue();
    return after ? view(after) : null;
  }

  async respond(input: RespondInput): Promise<RespondResult> {
    return this.#serial(async () => {
      const state = await this.#expireIfDueLocked();
      if (!state || state.appId !== input.appId || !state.deviceIds.includes(input.deviceId)) {
        return { kind: "not_found", view: null, attemptsLeft: 0 };
      }
      if (state.status !== "pending") return { kind: "closed", view: view(state), attemptsLeft: 0 };

      let submitted: Uint8Array;
      try {
        submitted = fromB64url(input.entropy);
      } catch {
        submitted = new Uint8Array(0);
      }
      const expected = fromHex(state.entropyHash);
      const entropyMatches = timingSafeEqual(await sha256(submitted), expected);
      // Only an approval needs the number: a user denying a login they did not start never saw it.
      // (`?? null`: objects stored before number matching existed have no such member.)
      const expectedNumber = state.matchNumber ?? null;
      const numberMatches =
        input.decision === "deny" || expectedNumber === null || sameNumber(input.number, expectedNumber);
      if (!entropyMatches || !numberMatches) {
        const wrong = state.wrongAnswers + 1;
        if (wrong >= MAX_WRONG_ANSWERS) {
          const landed = await this.#resolve(state, "failed", {
            deviceId: input.deviceId,
            reason: "too_many_wrong_answers",
            ip: input.ip,
          });
          if (landed !== "landed") return { kind: landed, view: null, attemptsLeft: 0 };
          // Still told *why* (wrong entropy or number), with no attempts left and the challenge failed.
          return {
            kind: entropyMatches ? "wrong_number" : "wrong_entropy",
            view: view(state),
            attemptsLeft: 0,
          };
        }
        state.wrongAnswers = wrong;
        await this.ctx.storage.put(STATE_KEY, state);
        return {
          kind: entropyMatches ? "wrong_number" : "wrong_entropy",
          attemptsLeft: MAX_WRONG_ANSWERS - wrong,
          view: view(state),
        };
      }
      const outcome = input.decision === "approve" ? "approved" : "denied";
      const landed = await this.#resolve(state, outcome, {
        deviceId: input.deviceId,
        reason: input.reason,
        ip: input.ip,
      });
      if (landed === "user_paused") return { kind: landed, view: view(state), attemptsLeft: 0 };
      if (landed !== "landed") return { kind: landed, view: null, attemptsLeft: 0 };
      return { kind: "resolved", view: view(state), attemptsLeft: MAX_WRONG_ANSWERS - state.wrongAnswers };
    });
  }

  /** Cancels a pending challenge; `reason` is recorded (e.g. `superseded` by a newer challenge). */
  async cancel(appId: string, ip: string | null, reason: string | null = null): Promise<CancelResult> {
    return this.#serial(async () => {
      const state = await this.#expireIfDueLocked();
      if (!state || state.appId !== appId) return { kind: "not_found", view: null };
      if (state.status !== "pending") return { kind: "closed", view: view(state) };
      if ((await this.#resolve(state, "cancelled", { deviceId: null, reason, ip })) !== "landed") {
        return { kind: "not_found", view: null };
      }
      return { kind: "cancelled", view: view(state) };
    });
  }

  override async alarm(): Promise<void> {
    await this.#serial(async () => {
      const state = await this.#load();
      if (!state) return;
      if (state.status === "pending") {
        if (Date.now() < state.expiresAt) {
          await this.ctx.storage.setAlarm(state.expiresAt);
          return;
        }
        await this.#resolve(state, "expired", { deviceId: null, reason: null, ip: null });
        return;
      }
      if (state.resolvedAt !== null && Date.now() >= state.resolvedAt + RETAIN_AFTER_RESOLUTION_MS) {
        await this.ctx.storage.deleteAll();
        this.#state = null;
      } else if (state.resolvedAt !== null) {
        await this.ctx.storage.setAlarm(state.resolvedAt + RETAIN_AFTER_RESOLUTION_MS);
      }
    });
  }

  async #expireIfDue(): Promise<Stored | null> {
    const state = await this.#load();
    if (state?.status === "pending" && Date.now() >= state.expiresAt) {
      return this.#serial(() => this.#expireIfDueLocked());
    }
    return state;
  }

  async #expireIfDueLocked(): Promise<Stored | null> {
    const state = await this.#load();
    if (state?.status === "pending" && Date.now() >= state.expiresAt) {
      await this.#resolve(state, "expired", { deviceId: null, reason: null, ip: null });
    }
    return this.#state ?? null;
  }

  /**
   * Moves a pending challenge to a final state: D1 (summary row + audit row, one transaction) first, then
   * our own storage. If D1 fails the call fails and nothing changes, so the answer can be retried.
   * An outcome decided by a device only lands while that device is still active in D1, so an answer
   * racing its device's revocation cannot count, and an approval only while the user is not paused
   * (a "this wasn't me" report on another of their challenges); then nothing changes and this says why.
   */
  async #resolve(
    state: Stored,
    status: Exclude<ChallengeStatus, "pending">,
    by: { deviceId: string | null; reason: string | null; ip: string | null },
  ): Promise<"landed" | "device_inactive" | "user_paused"> {
    let at = Date.now();
    const db = this.env.DB;
    // "This wasn't me": the deny is a fraud report, and (if the application wants it) pauses the user.
    const fraud = status === "denied" && by.reason === FRAUD_REASON && by.deviceId !== null;
    const event = queueWebhookEvent(
      db,
      state.appId,
      `challenge.${status}`,
      {
        challenge: challengeJson({
          ...view(state),
          status,
          resolvedAt: at,
          deviceId: by.deviceId,
          reason: by.reason,
          matchNumber: null,
        }),
      },
      at,
    );
    const [update, , stored] = await db.batch([
      db
        .prepare(
          `UPDATE challenges SET status = ?1, resolved_at = ?2, device_id = ?3, reason = ?4
           WHERE id = ?5 AND app_id = ?6 AND status = 'pending'
             AND (?3 IS NULL OR EXISTS (SELECT 1 FROM devices WHERE id = ?3 AND app_id = ?6 AND status = 'active'))
             AND (?1 <> 'approved' OR NOT EXISTS (SELECT 1 FROM user_pauses WHERE app_id = ?6 AND user_id = ?7))`,
        )
        .bind(status, at, by.deviceId, by.reason, state.id, state.appId, state.userId),
      auditIfChanged(db, {
        appId: state.appId,
        type: "challenge.resolved",
        outcome: status,
        userId: state.userId,
        challengeId: state.id,
        deviceId: by.deviceId,
        ip: by.ip,
        detail: by.reason
          ? { reason: by.reason, wrong_answers: state.wrongAnswers, ...(fraud && { fraud_reported: true }) }
          : { wrong_answers: state.wrongAnswers },
        at,
      }),
      ...event.statements,
      // After the webhook statements, which must follow the audit insert they are guarded by.
      ...(fraud && state.fraudAutoPause
        ? pauseStatements(db, {
            appId: state.appId,
            userId: state.userId,
            challengeId: state.id,
            deviceId: by.deviceId,
            ip: by.ip,
            at,
          })
        : []),
    ]);
    if (update?.meta.changes !== 1) {
      const row = await db
        .prepare(
          "SELECT status, resolved_at, device_id, reason FROM challenges WHERE id = ?1 AND app_id = ?2",
        )
        .bind(state.id, state.appId)
        .first<{
          status: ChallengeStatus;
          resolved_at: number;
          device_id: string | null;
          reason: string | null;
        }>();
      if (!row) {
        // No D1 row: creation never landed there, so this object is an orphan with nothing to answer for.
        await this.ctx.storage.deleteAll();
        await this.ctx.storage.deleteAlarm();
        this.#state = null;
        return "device_inactive";
      }
      if (row.status === "pending") {
        if (status === "approved" && (await pauseOf(db, state.appId, state.userId))) return "user_paused";
        return "device_inactive";
      }
      // D1 already holds an outcome (an earlier attempt landed there but not here): adopt it.
      status = row.status;
      at = row.resolved_at;
      by = { deviceId: row.device_id, reason: row.reason, ip: by.ip };
    }
    state.status = status;
    state.resolvedAt = at;
    state.deviceId = by.deviceId;
    state.reason = by.reason;
    await this.ctx.storage.put(STATE_KEY, state);
    await this.ctx.storage.setAlarm(at + RETAIN_AFTER_RESOLUTION_MS);
    for (const wake of [...this.#waiters]) wake();
    // A fraud report pauses the user: their other prompts close too, so none is approved by reflex.
    if (fraud && state.fraudAutoPause && status === "denied") {
      this.ctx.waitUntil(cancelOthersOfUser(this.env, state, by.ip));
    }
    if (stored?.meta.changes === 1) this.ctx.waitUntil(kickWebhooks(this.env, state.appId));
    sealMarked(this.env, this.ctx);
    this.ctx.waitUntil(releasePending(this.env, state.appId, state.userId, state.id));
    // Every device it was sent to learns it is closed: "answered on another device", cancelled, expired.
    const closed = { id: state.id, status, decidedBy: by.deviceId };
    this.ctx.waitUntil(
      notifyDevices(this.env, this.#target(state), state.deviceIds, (deviceId) => ({
        type: "challenge.closed",
        id: closed.id,
        status: closed.status,
        answered_by:
          closed.decidedBy === null ? null : closed.decidedBy === deviceId ? "this_device" : "another_device",
      })),
    );
    return "landed";
  }
}

/** Cancels the user's other pending challenges (reason `user_paused`); each object does its own. */
async function cancelOthersOfUser(env: Env, state: Stored, ip: string | null): Promise<void> {
  try {
    for (const id of await pendingOfUser(env.DB, state.appId, state.userId, state.id)) {
      await env.CHALLENGES.get(env.CHALLENGES.idFromName(id)).cancel(state.appId, ip, USER_PAUSED_REASON);
    }
  } catch (err) {
    // New approvals are refused by the pause anyway; these prompts then just expire.
    console.error(
      "fraud pause: closing the user's other challenges failed:",
      err instanceof Error ? err.message : err,
    );
  }
}

/** Constant-time comparison of the typed number with the stored one (both 2 ASCII digits when sent). */
function sameNumber(typed: string | null, expected: string): boolean {
  return typed !== null && timingSafeEqual(utf8(typed), utf8(expected));
}

function view(s: Stored): ChallengeView {
  return {
    id: s.id,
    userId: s.userId,
    status: s.status,
    context: s.context,
    createdAt: s.createdAt,
    expiresAt: s.expiresAt,
    resolvedAt: s.resolvedAt,
    deviceId: s.deviceId,
    reason: s.reason,
    numberMatching: s.numberMatching ?? false,
    matchNumber: s.status === "pending" ? (s.matchNumber ?? null) : null,
  };
}
