// The audit chain's cost, as ratios (these machines are noisy; absolute times mean little):
//  - sealing: sealing N unsealed rows (read, hash, guarded UPDATE, 100 per batch) / inserting them;
//  - verifying: GET /v1/audit/verify over N sealed rows / reading the same N rows with one SELECT;
//  - offline: the SDK's verifier over an exported page / parsing that page's JSON.
// Nothing is asserted about the figures; they are printed. Run:
//   npx vitest run --config bench/audit/vitest.config.ts
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { verifyAuditEvents } from "../../packages/client/src/auditChain";
import { newId } from "../../src/crypto/random";
import { createApp } from "../../test/helpers";

const N = Number(process.env.AUDIT_BENCH_N ?? 5000);

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await f();
  return [r, performance.now() - t];
}

it(`audit chain costs at ${N} events`, async () => {
  const app = await createApp("bench");
  const insert = env.DB.prepare(
    "INSERT INTO audit_events (id, app_id, type, outcome, user_id, challenge_id, detail, created_at) VALUES (?1, ?2, 'challenge.resolved', 'approved', ?3, ?4, ?5, ?6)",
  );
  const [, tInsert] = await timed(async () => {
    for (let i = 0; i < N; i += 100) {
      const batch = [];
      for (let j = i; j < Math.min(N, i + 100); j++) {
        batch.push(
          insert.bind(
            newId("evt"),
            app.appId,
            `user-${j % 50}`,
            newId("chl"),
            '{"wrong_answers":0}',
            Date.now(),
          ),
        );
      }
      await env.DB.batch(batch);
    }
  });
  const stub = env.AUDIT_SEALERS.get(env.AUDIT_SEALERS.idFromName(app.appId));
  const [head, tSeal] = await timed(() => stub.seal(app.appId));
  expect(head?.count).toBe(N);

  const [, tSelect] = await timed(() =>
    env.DB.prepare("SELECT * FROM audit_events WHERE app_id = ?1 ORDER BY seq LIMIT ?2")
      .bind(app.appId, N)
      .all(),
  );
  const [res, tVerify] = await timed(async () =>
    (
      await SELF.fetch(`https://bench/v1/audit/verify?limit=${Math.min(N, 10_000)}`, {
        headers: { "x-api-key": app.apiKey },
      })
    ).json<{
      ok: boolean;
      checked: number;
    }>(),
  );
  expect(res).toMatchObject({ ok: true, checked: N });

  // Offline: pages of 200 as exported, verified with the SDK, against parsing the same JSON.
  const pages: string[] = [];
  let cursor = "";
  for (;;) {
    const r = await SELF.fetch(`https://bench/v1/audit?limit=200${cursor ? `&cursor=${cursor}` : ""}`, {
      headers: { "x-api-key": app.apiKey },
    });
    const text = await r.text();
    pages.push(text);
    const body = JSON.parse(text) as { has_more: boolean; next_cursor: string };
    if (!body.has_more) break;
    cursor = body.next_cursor;
  }
  const events = pages.flatMap((p) => (JSON.parse(p) as { data: never[] }).data);
  const [offline, tOffline] = await timed(() => verifyAuditEvents(events, { complete: true }));
  expect(offline.ok).toBe(true);
  // A floor with I/O in it, so workerd's clock moves: one SHA-256 per event of its JSON text.
  const [, tFloor] = await timed(async () => {
    for (const e of events)
      await crypto.subtle.digest("SHA-256", new TextEncoder().encode(JSON.stringify(e)));
  });

  const per = (ms: number) => `${((ms / N) * 1000).toFixed(1)} µs/event`;
  console.log(
    [
      `audit chain at ${N} events (one application)`,
      `  insert unsealed (floor)   ${tInsert.toFixed(0)} ms  ${per(tInsert)}`,
      `  seal                      ${tSeal.toFixed(0)} ms  ${per(tSeal)}   ratio seal/insert ${(tSeal / tInsert).toFixed(2)}`,
      `  SELECT all rows (floor)   ${tSelect.toFixed(0)} ms  ${per(tSelect)}`,
      `  GET /v1/audit/verify      ${tVerify.toFixed(0)} ms  ${per(tVerify)}   ratio verify/select ${(tVerify / tSelect).toFixed(2)}`,
      `  SHA-256 per event (floor) ${tFloor.toFixed(0)} ms  ${per(tFloor)}`,
      `  SDK offline verifier      ${tOffline.toFixed(0)} ms  ${per(tOffline)}   ratio offline/sha256 ${(tOffline / Math.max(tFloor, 0.001)).toFixed(2)}`,
    ].join("\n"),
  );
});
