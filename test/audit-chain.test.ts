// The tamper-evident audit trail: every application's events form a hash chain sealed by its
// AuditSealer object; GET /v1/audit/verify and the SDK's offline verifier name the first broken link
// when rows are edited, deleted, reordered, unsealed or recomputed directly in D1.
import { runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  AUDIT_GENESIS_HASH,
  AuditChainVerifier,
  auditEventHash,
  type ChainEvent,
  verifyAuditEvents,
} from "../packages/client/src/auditChain";
import { Encrypxon2FaClient } from "../packages/client/src/client";
import { verifyChain } from "../src/db/auditChain";
import { MAX_ROWS_PER_RUN, SEAL_DELAY_MS } from "../src/durable/auditSealer";
import { answer, BASE, call, createApp, enrollDevice, type Json, type TestApp } from "./helpers";

async function activity(app: TestApp, users = 2): Promise<void> {
  for (let i = 0; i < users; i++) {
    const device = await enrollDevice(app, `user-${i}`);
    const chl = await call("POST", "/v1/challenges", { key: app.apiKey, body: { user_id: `user-${i}` } });
    expect(chl.status).toBe(201);
    expect((await answer(device, chl.body.id, i % 2 ? "deny" : "approve")).status).toBe(200);
  }
}

const verify = (app: TestApp, query = "") => call("GET", `/v1/audit/verify${query}`, { key: app.apiKey });

/** Every event of the application, oldest first, as D1 holds it. */
async function rows(appId: string) {
  const { results } = await env.DB.prepare(
    "SELECT seq, id, detail, prev_hash, hash FROM audit_events WHERE app_id = ?1 ORDER BY seq",
  )
    .bind(appId)
    .all<{ seq: number; id: string; detail: string | null; prev_hash: string | null; hash: string | null }>();
  return results;
}

/** The whole trail through GET /v1/audit, newest first, following cursors. */
async function exported(app: TestApp, query = ""): Promise<ChainEvent[]> {
  const out: ChainEvent[] = [];
  let cursor = "";
  for (;;) {
    const res = await call("GET", `/v1/audit?limit=7${query}${cursor ? `&cursor=${cursor}` : ""}`, {
      key: app.apiKey,
    });
    expect(res.status).toBe(200);
    out.push(...res.body.data);
    if (!res.body.has_more) return out;
    cursor = res.body.next_cursor;
  }
}

async function sealed(app: TestApp) {
  const res = await verify(app);
  expect(res.status).toBe(200);
  expect(res.body, JSON.stringify(res.body.broken)).toMatchObject({ ok: true, broken: null, unsealed: 0 });
  return rows(app.appId);
}

describe("audit chain: sealing", () => {
  it("seals every event in order: genesis first, each prev_hash the hash before it", async () => {
    const app = await createApp();
    await activity(app);
    const all = await sealed(app);
    expect(all.length).toBeGreaterThan(8);
    expect(all[0]?.prev_hash).toBe(AUDIT_GENESIS_HASH);
    for (let i = 1; i < all.length; i++) expect(all[i]?.prev_hash).toBe(all[i - 1]?.hash);
    const res = await verify(app);
    expect(res.body).toMatchObject({
      object: "audit_verification",
      checked: all.length,
      first_event_id: all[0]?.id,
      last_event_id: all.at(-1)?.id,
      head: { event_id: all.at(-1)?.id, hash: all.at(-1)?.hash, sealed_events: all.length },
      has_more: false,
      next_cursor: null,
    });
  });

  it("exported pages carry what offline verification needs, and verify offline", async () => {
    const app = await createApp();
    await activity(app, 3);
    const events = await exported(app);
    expect(events.every((e) => e.hash !== null && e.app_id === app.appId)).toBe(true);
    expect(await verifyAuditEvents(events, { complete: true })).toMatchObject({
      ok: true,
      checked: events.length,
      unsealed: 0,
      oldest_prev_hash: AUDIT_GENESIS_HASH,
    });
    // Page by page, as a stream.
    const v = new AuditChainVerifier();
    for (let i = 0; i < events.length; i += 3) await v.add(events.slice(i, i + 3));
    expect(v.result({ complete: true }).ok).toBe(true);
    // A filtered export checks each event's own seal.
    const mine = await exported(app, "&type=challenge.created");
    expect(mine.length).toBeGreaterThan(2);
    expect((await verifyAuditEvents(mine, { contiguous: false })).ok).toBe(true);
    expect((await verifyAuditEvents(mine)).ok).toBe(false);
  });

  it("concurrent writers from many requests still make one unbroken chain", async () => {
    const app = await createApp();
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        call("POST", "/v1/enrollments", { key: app.apiKey, body: { user_id: `u${i}` } }),
      ),
    );
    expect(results.every((r) => r.status === 201)).toBe(true);
    const all = await sealed(app);
    expect(all).toHaveLength(30);
    expect(all.every((r) => r.hash !== null)).toBe(true);
  });

  it("events are sealed by the run a request's kick schedules, with no read; the sweep stops once quiet", async () => {
    const app = await createApp();
    await activity(app, 1);
    const deadline = Date.now() + 10_000 + SEAL_DELAY_MS;
    while ((await rows(app.appId)).some((r) => r.hash === null) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const all = await rows(app.appId);
    expect(all.length).toBeGreaterThan(3);
    expect(all.filter((r) => r.hash === null)).toEqual([]);
    const stub = env.AUDIT_SEALERS.get(env.AUDIT_SEALERS.idFromName(app.appId));
    const alarmAt = () => runInDurableObject(stub, (_instance, state) => state.storage.getAlarm());
    // Sealing happened, so a backstop sweep is armed; a sweep that finds nothing new lets it lapse
    // (the sweep after the run that sealed, then one that finds nothing).
    expect(await alarmAt()).not.toBeNull();
    let sweeps = 0;
    while (sweeps < 5 && (await runDurableObjectAlarm(stub))) sweeps++;
    expect(sweeps).toBeLessThanOrEqual(2);
    expect(await alarmAt()).toBeNull();
    expect((await verify(app)).body).toMatchObject({ ok: true, unsealed: 0, checked: all.length });
  });

  it("a row written behind the service's back (as npm run admin does) is sealed by the sweep alarm", async () => {
    const app = await createApp();
    await activity(app, 1);
    await sealed(app);
    await env.DB.prepare(
      "INSERT INTO audit_events (id, app_id, type, detail, created_at) VALUES ('evt_0000000000000000000000zzzz', ?1, 'api_key.created', '{\"by\":\"admin_cli\"}', ?2)",
    )
      .bind(app.appId, Date.now())
      .run();
    const stub = env.AUDIT_SEALERS.get(env.AUDIT_SEALERS.idFromName(app.appId));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const last = (await rows(app.appId)).at(-1);
    expect(last?.id).toBe("evt_0000000000000000000000zzzz");
    expect(last?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect((await verify(app)).body.ok).toBe(true);
  });

  it("a backlog is sealed in bounded runs: reads stay quick and the alarm works off the rest", async () => {
    const app = await createApp();
    await activity(app, 1);
    const before = (await sealed(app)).length;
    const backlog = MAX_ROWS_PER_RUN + 500;
    // Rows written while sealing was down: one statement, ids evt_ + 26 characters.
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
       INSERT INTO audit_events (id, app_id, type, detail, created_at)
       SELECT 'evt_' || printf('%026d', i), ?1, 'api_key.created', NULL, ?3 FROM n`,
    )
      .bind(app.appId, backlog, Date.now())
      .run();
    // One call seals at most MAX_ROWS_PER_RUN and says the rest is unsealed (not broken).
    const first = await verify(app, "?limit=10000");
    expect(first.body).toMatchObject({
      ok: true,
      broken: null,
      unsealed: backlog + before - first.body.head.sealed_events,
    });
    expect(first.body.head.sealed_events).toBeLessThanOrEqual(before + MAX_ROWS_PER_RUN);
    expect(first.body.unsealed).toBeGreaterThanOrEqual(500);
    // The alarm goes on at once with the backlog, in runs of the same bound, until none is left.
    const stub = env.AUDIT_SEALERS.get(env.AUDIT_SEALERS.idFromName(app.appId));
    // (It may also fire on its own meanwhile: BACKLOG_MS is short.)
    const deadline = Date.now() + 10_000;
    while ((await rows(app.appId)).some((r) => r.hash === null) && Date.now() < deadline) {
      await runDurableObjectAlarm(stub);
    }
    expect((await rows(app.appId)).filter((r) => r.hash === null)).toEqual([]);
    const done = await verify(app, "?limit=10000");
    expect(done.body).toMatchObject({ ok: true, unsealed: 0, checked: before + backlog });
  });

  it("verifies in bounded steps with a cursor", async () => {
    const app = await createApp();
    await activity(app);
    const all = await sealed(app);
    let cursor = "";
    let checked = 0;
    let calls = 0;
    for (;;) {
      const res = await verify(app, `?limit=4${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.body.ok).toBe(true);
      expect(res.body.checked).toBeLessThanOrEqual(4);
      checked += res.body.checked;
      calls++;
      if (!res.body.has_more) break;
      cursor = res.body.next_cursor;
    }
    expect(checked).toBe(all.length);
    expect(calls).toBe(Math.ceil(all.length / 4));
    expect((await verify(app, "?cursor=evt_00000000000000000000000000")).status).toBe(400);
  });
});

describe("audit chain: tampering in D1 is named", () => {
  async function tampered(sql: (all: Awaited<ReturnType<typeof rows>>) => Promise<unknown>) {
    const app = await createApp();
    await activity(app);
    const other = await createApp("bystander");
    await activity(other, 1);
    const all = await sealed(app);
    await sealed(other);
    await sql(all);
    const res = await verify(app);
    expect(res.status).toBe(200);
    expect(res.body.ok).toBe(false);
    // Another application's chain is untouched by it.
    expect((await verify(other)).body.ok).toBe(true);
    return { app, all, res: res.body as Json };
  }

  it("an edited detail: hash_mismatch at that event, online and offline", async () => {
    const { app, all, res } = await tampered(async (all) => {
      const victim = all[4];
      await env.DB.prepare("UPDATE audit_events SET detail = ?1 WHERE id = ?2")
        .bind(JSON.stringify({ wrong_answers: 0, note: "edited" }), victim?.id)
        .run();
    });
    expect(res.broken).toEqual({ event_id: all[4]?.id, reason: "hash_mismatch", after_event_id: all[3]?.id });
    expect(await verifyAuditEvents(await exported(app))).toMatchObject({
      ok: false,
      event_id: all[4]?.id,
      reason: "hash_mismatch",
    });
  });

  it("an edited outcome or time, even with a freshly computed hash for that row: named", async () => {
    const { all, res } = await tampered(async (all) => {
      const victim = all[5];
      if (!victim) throw new Error("no row");
      const full = await env.DB.prepare("SELECT * FROM audit_events WHERE id = ?1")
        .bind(victim.id)
        .first<Json>();
      const forged: ChainEvent = {
        ...full,
        outcome: "forged",
        detail: full.detail ? JSON.parse(full.detail) : null,
        created_at: new Date(full.created_at).toISOString(),
      };
      const hash = await auditEventHash(forged, String(full.prev_hash));
      await env.DB.prepare("UPDATE audit_events SET outcome = 'forged', hash = ?1 WHERE id = ?2")
        .bind(hash, victim.id)
        .run();
    });
    // Its own seal now matches, so the link from the next event is what breaks.
    expect(res.broken).toEqual({
      event_id: all[6]?.id,
      reason: "prev_hash_mismatch",
      after_event_id: all[5]?.id,
    });
  });

  it("a deleted row: the event after the gap, and the last good one before it", async () => {
    const { app, all, res } = await tampered(async (all) => {
      await env.DB.prepare("DELETE FROM audit_events WHERE id = ?1").bind(all[3]?.id).run();
    });
    expect(res.broken).toEqual({
      event_id: all[4]?.id,
      reason: "prev_hash_mismatch",
      after_event_id: all[2]?.id,
    });
    expect(await verifyAuditEvents(await exported(app))).toMatchObject({
      ok: false,
      event_id: all[4]?.id,
      reason: "prev_hash_mismatch",
    });
  });

  it("two rows swapped in order: the first one out of place", async () => {
    const { all, res } = await tampered(async (all) => {
      const [a, b] = [all[2], all[6]];
      if (!a || !b) throw new Error("no rows");
      await env.DB.batch([
        env.DB.prepare("UPDATE audit_events SET seq = -1 WHERE seq = ?1").bind(a.seq),
        env.DB.prepare("UPDATE audit_events SET seq = ?1 WHERE seq = ?2").bind(a.seq, b.seq),
        env.DB.prepare("UPDATE audit_events SET seq = ?1 WHERE seq = -1").bind(b.seq),
      ]);
    });
    expect(res.broken).toEqual({
      event_id: all[6]?.id,
      reason: "prev_hash_mismatch",
      after_event_id: all[1]?.id,
    });
  });

  it("a removed seal: unsealed_in_chain, and the sealer does not reseal it", async () => {
    const { app, all, res } = await tampered(async (all) => {
      await env.DB.prepare(
        "UPDATE audit_events SET detail = '{}', prev_hash = NULL, hash = NULL WHERE id = ?1",
      )
        .bind(all[2]?.id)
        .run();
    });
    expect(res.broken).toMatchObject({ event_id: all[2]?.id, reason: "unsealed_in_chain" });
    expect((await rows(app.appId))[2]?.hash).toBeNull();
  });

  it("a forged seal past the head: named, and what follows it is not passed off as unsealed", async () => {
    const forged = "evt_00000000000000000000000000";
    const { app, all, res } = await tampered(async (all) => {
      await env.DB.prepare(
        `INSERT INTO audit_events (id, app_id, type, created_at, prev_hash, hash)
         SELECT ?1, app_id, 'forged', 0, ?2, ?2 FROM audit_events WHERE id = ?3`,
      )
        .bind(forged, "f".repeat(64), all[0]?.id)
        .run();
    });
    expect(res.broken).toEqual({
      event_id: forged,
      reason: "prev_hash_mismatch",
      after_event_id: all.at(-1)?.id,
    });
    // The sealer will not chain through it; events written after it stay unsealed, and verify keeps
    // naming the forged row instead of reporting an ever-growing unsealed tail as fine.
    await activity(app, 1);
    const again = await verify(app);
    expect(again.body).toMatchObject({
      ok: false,
      broken: { event_id: forged, reason: "prev_hash_mismatch" },
    });
  });

  it("past a head read before later seals: a sealed event after an unsealed one names the hole", async () => {
    const app = await createApp();
    await activity(app);
    const all = await sealed(app);
    const [older, hole, last] = [all.at(-3), all.at(-2), all.at(-1)];
    if (!older?.hash || !hole || !last) throw new Error("too few rows");
    await env.DB.prepare("UPDATE audit_events SET prev_hash = NULL, hash = NULL WHERE id = ?1")
      .bind(hole.id)
      .run();
    // As if the sealer's head were read while it was still two events behind.
    const head = { seq: older.seq, event_id: older.id, hash: older.hash, count: all.length - 2 };
    expect(await verifyChain(env.DB, app.appId, head, null, 2000)).toMatchObject({
      ok: false,
      broken: { event_id: hole.id, reason: "unsealed_in_chain", after_event_id: older.id },
    });
    // Without the later seal the same tail is simply unsealed.
    await env.DB.prepare("UPDATE audit_events SET prev_hash = NULL, hash = NULL WHERE id = ?1")
      .bind(last.id)
      .run();
    expect(await verifyChain(env.DB, app.appId, head, null, 2000)).toMatchObject({
      ok: true,
      unsealed: 2,
      last_event_id: older.id,
    });
  });

  it("the newest rows deleted: head_missing names the last sealed event", async () => {
    const { all, res } = await tampered(async (all) => {
      await env.DB.prepare(
        "DELETE FROM audit_events WHERE seq >= ?1 AND app_id = (SELECT app_id FROM audit_events WHERE seq = ?1)",
      )
        .bind(all.at(-2)?.seq)
        .run();
    });
    expect(res.broken).toEqual({
      event_id: all.at(-1)?.id,
      reason: "head_missing",
      after_event_id: all.at(-3)?.id,
    });
  });

  it("an edit with every later hash recomputed: the head recorded outside D1 gives it away", async () => {
    const { all, res } = await tampered(async (all) => {
      const { results } = await env.DB.prepare(
        "SELECT * FROM audit_events WHERE app_id = (SELECT app_id FROM audit_events WHERE id = ?1) ORDER BY seq",
      )
        .bind(all[0]?.id)
        .all<Json>();
      let prev = AUDIT_GENESIS_HASH;
      for (const [i, r] of results.entries()) {
        const detail = i === 3 ? { forged: true } : r.detail ? JSON.parse(r.detail) : null;
        const e: ChainEvent = { ...r, detail, created_at: new Date(r.created_at).toISOString() };
        const hash = await auditEventHash(e, prev);
        await env.DB.prepare("UPDATE audit_events SET detail = ?1, prev_hash = ?2, hash = ?3 WHERE seq = ?4")
          .bind(detail ? JSON.stringify(detail) : null, prev, hash, r.seq)
          .run();
        prev = hash;
      }
    });
    expect(res.broken).toMatchObject({ event_id: all.at(-1)?.id, reason: "head_mismatch" });
    expect(res.head.hash).toBe(all.at(-1)?.hash);
  });
});

describe("audit chain: the SDK", () => {
  it("verifyAuditChain (the service's check) and verifyAuditOffline (its own) agree, before and after an edit", async () => {
    const app = await createApp();
    await activity(app, 3);
    const client = new Encrypxon2FaClient({
      apiKey: app.apiKey,
      baseUrl: BASE,
      fetch: (input, init) => SELF.fetch(new Request(input, init)),
    });
    const online = await client.verifyAuditChain({ limit: 5 });
    expect(online).toMatchObject({ ok: true, has_more: false });
    const total = (await rows(app.appId)).length;
    expect(online.checked).toBe(total);
    const head = online.head?.hash ?? "";
    expect(await client.verifyAuditOffline({ pageSize: 4, knownHash: head })).toMatchObject({
      ok: true,
      checked: total,
    });
    const victim = (await rows(app.appId))[7];
    await env.DB.prepare("UPDATE audit_events SET user_id = 'mallory' WHERE id = ?1").bind(victim?.id).run();
    expect((await client.verifyAuditChain()).broken).toMatchObject({
      event_id: victim?.id,
      reason: "hash_mismatch",
    });
    expect(await client.verifyAuditOffline()).toMatchObject({
      ok: false,
      event_id: victim?.id,
      reason: "hash_mismatch",
    });
    expect(await client.verifyAuditOffline({ knownHash: "f".repeat(64) })).toMatchObject({
      ok: false,
      reason: "hash_mismatch",
    });
  });
});
