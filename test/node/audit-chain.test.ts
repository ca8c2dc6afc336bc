// The audit chain's canonical form and hash (packages/client/src/auditChain.ts, used by the service to
// seal and by integrators to verify) against an independent implementation: Python's json.dumps with
// sorted keys and compact separators, and hashlib.sha256.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  AUDIT_GENESIS_HASH,
  auditEventHash,
  type ChainEvent,
  canonicalAuditEvent,
  verifyAuditEvents,
} from "../../packages/client/src/auditChain";
import { pythonWithCryptography } from "./refs";

const PY = `
import hashlib, json, sys
prev = "0" * 64
out = []
for e in json.load(sys.stdin):
    body = {k: e[k] for k in ("app_id", "challenge_id", "created_at", "detail", "device_id",
                              "enrollment_id", "id", "ip", "outcome", "type", "user_id")}
    body["prev_hash"] = prev
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    prev = hashlib.sha256(text.encode("utf-8")).hexdigest()
    out.append({"canonical": text, "hash": prev})
print(json.dumps(out))
`;

const base = (i: number): ChainEvent => ({
  id: `evt_${String(i).padStart(26, "0")}`,
  app_id: "app_0000000000000000000000000a",
  type: "challenge.resolved",
  outcome: i % 2 ? "approved" : null,
  user_id: "alice",
  enrollment_id: null,
  device_id: `dev_${String(i).padStart(26, "1")}`,
  challenge_id: `chl_${String(i).padStart(26, "2")}`,
  ip: "203.0.113.7",
  detail: null,
  created_at: new Date(1796342400000 + i).toISOString(),
  prev_hash: null,
  hash: null,
});

const events: ChainEvent[] = [
  base(0),
  { ...base(1), detail: { wrong_answers: 0, reason: "not_me" } },
  {
    ...base(2),
    user_id: 'Zoë 👩‍💻 \u05d0\u05d1 "quoted" back\\slash',
    detail: { z: 1, a: [1, "b", null, true], m: { y: -3, x: 2.5 } },
  },
  { ...base(3), detail: { control: "tab\tnewline\nbell\u0007del\u007fsep\u2028", empty: {}, list: [] } },
  { ...base(4), outcome: "denied", ip: null, user_id: null, detail: { big: 9007199254740991, neg: -12 } },
];

describe("audit chain canonical form and hash", () => {
  it("matches Python's json and hashlib, event by event", async () => {
    const r = spawnSync(pythonWithCryptography(), ["-c", PY], {
      input: JSON.stringify(events),
      encoding: "utf8",
    });
    expect(r.status, r.stderr).toBe(0);
    const py = JSON.parse(r.stdout) as { canonical: string; hash: string }[];
    let prev = AUDIT_GENESIS_HASH;
    for (const [i, e] of events.entries()) {
      expect(canonicalAuditEvent(e, prev), `event ${i}`).toBe(py[i]?.canonical);
      const hash = await auditEventHash(e, prev);
      expect(hash, `event ${i}`).toBe(py[i]?.hash);
      e.prev_hash = prev;
      e.hash = hash;
      prev = hash;
    }
    // Sealed that way, the chain verifies (newest first, as exported) and a change is named.
    const newestFirst = [...events].reverse();
    expect(await verifyAuditEvents(newestFirst, { complete: true })).toMatchObject({ ok: true, checked: 5 });
    const edited = newestFirst.map((e) => (e.id === events[2]?.id ? { ...e, user_id: "mallory" } : e));
    expect(await verifyAuditEvents(edited)).toMatchObject({
      ok: false,
      event_id: events[2]?.id,
      reason: "hash_mismatch",
    });
    const gap = newestFirst.filter((e) => e.id !== events[1]?.id);
    expect(await verifyAuditEvents(gap)).toMatchObject({
      ok: false,
      event_id: events[2]?.id,
      reason: "prev_hash_mismatch",
    });
    expect(await verifyAuditEvents(newestFirst.slice(0, 3), { complete: true })).toMatchObject({
      ok: false,
      reason: "not_genesis",
    });
  });
});
