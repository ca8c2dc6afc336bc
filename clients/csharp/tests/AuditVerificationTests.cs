// VerifyAuditChainAsync and VerifyAuditOfflineAsync against scripted answers: the cursor followed, every
// page read, a tampered page named. (Against the Worker's real events: ServerTests.)
using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;

namespace Encrypxon.Tests
{
    [Suite("client")]
    public sealed class AuditVerificationTests
    {
        private static string VerifyJson(bool ok, int checkedEvents, bool more, string next, string broken = null) =>
            "{\"object\":\"audit_verification\",\"ok\":" + (ok ? "true" : "false") + ",\"checked\":" + checkedEvents + ",\"unsealed\":0,"
            + "\"first_event_id\":\"evt_a\",\"last_event_id\":\"evt_b\",\"head\":{\"event_id\":\"evt_z\",\"hash\":\"" + new string('a', 64) + "\",\"sealed_events\":9},"
            + "\"broken\":" + (broken == null ? "null" : "{\"event_id\":\"" + broken + "\",\"reason\":\"hash_mismatch\",\"after_event_id\":\"evt_a\"}")
            + ",\"has_more\":" + (more ? "true" : "false") + ",\"next_cursor\":" + (next == null ? "null" : "\"" + next + "\"") + "}";

        [Test]
        public async Task VerifyAuditChainFollowsTheCursor()
        {
            var s = new StubbedClient((r, i) => StubHandler.Json(200, i < 2 ? VerifyJson(true, 4, true, "evt_c" + i) : VerifyJson(true, 1, false, null)));
            var v = await s.Client.VerifyAuditChainAsync(4);
            Assert.True(v.Ok && !v.HasMore, "the last stretch");
            Assert.Equal(9, v.Checked, "summed over the stretches");
            Assert.Equal(new string('a', 64), v.Head.Hash);
            Assert.SequenceEqual(new[]
            {
                "GET http://api.test/base/v1/audit/verify?limit=4",
                "GET http://api.test/base/v1/audit/verify?cursor=evt_c0&limit=4",
                "GET http://api.test/base/v1/audit/verify?cursor=evt_c1&limit=4",
            }, s.Handler.Requests);

            var b = new StubbedClient((r, i) => StubHandler.Json(200, i == 0 ? VerifyJson(true, 4, true, "evt_c") : VerifyJson(false, 2, true, "evt_d", "evt_bad")));
            var broken = await b.Client.VerifyAuditChainAsync();
            Assert.True(!broken.Ok && broken.Broken.EventId == "evt_bad", "the broken stretch");
            Assert.Equal(6, broken.Checked);
            Assert.Equal(2, b.Handler.Requests.Count, "no call after the break");
            Assert.Equal("GET http://api.test/base/v1/audit/verify", b.Handler.Requests[0], "no limit: the service's default");
        }

        private static string Page(IEnumerable<AuditEvent> events, string next)
        {
            var data = events.Select(e => new Dictionary<string, object>
            {
                { "id", e.Id }, { "object", "audit_event" }, { "app_id", e.AppId }, { "type", e.Type }, { "outcome", e.Outcome }, { "user_id", e.UserId },
                { "enrollment_id", e.EnrollmentId }, { "device_id", e.DeviceId }, { "challenge_id", e.ChallengeId }, { "ip", e.Ip },
                { "detail", e.Detail }, { "created_at", e.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'") },
                { "prev_hash", e.PrevHash }, { "hash", e.Hash },
            }).Cast<object>().ToList();
            return Json.Serialize(new Dictionary<string, object> { { "object", "list" }, { "data", data }, { "has_more", next != null }, { "next_cursor", next } });
        }

        [Test]
        public async Task VerifyAuditOfflineReadsEveryPage()
        {
            var newestFirst = Enumerable.Reverse(AuditChainTests.JsEvents()).ToList();
            Func<List<AuditEvent>, StubbedClient> serving = events => new StubbedClient((r, i) =>
            {
                var query = r.RequestUri.Query;
                var from = query.Contains("cursor=") ? events.FindIndex(e => query.Contains("cursor=" + e.Id)) + 1 : 0;
                var page = events.Skip(from).Take(2).ToList();
                return StubHandler.Json(200, Page(page, from + 2 < events.Count ? page.Last().Id : null));
            });

            var s = serving(newestFirst);
            var ok = await s.Client.VerifyAuditOfflineAsync(2, newestFirst[3].Hash);
            Assert.True(ok.Ok && ok.Checked == 5, "ok, every event: " + ok.Reason);
            Assert.Equal(AuditChain.GenesisHash, ok.OldestPrevHash);
            Assert.Equal(3, s.Handler.Requests.Count, "three pages of two");
            Assert.Equal("GET http://api.test/base/v1/audit?limit=2", s.Handler.Requests[0]);
            var whole = serving(newestFirst);
            Assert.True((await whole.Client.VerifyAuditOfflineAsync()).Ok, "the default page size");
            Assert.Equal("GET http://api.test/base/v1/audit?limit=200", whole.Handler.Requests[0]);

            var missing = await serving(newestFirst).Client.VerifyAuditOfflineAsync(2, new string('f', 64));
            Assert.True(!missing.Ok, "a kept hash that is gone");
            Assert.Equal("known_hash_missing", missing.Reason);
            Assert.Equal("", missing.EventId);
            Assert.Equal(5, missing.Checked);

            var tampered = newestFirst.Select((e, i) => i != 1 ? e : new AuditEvent
            {
                Id = e.Id, AppId = e.AppId, Type = e.Type, Outcome = e.Outcome, UserId = "mallory", DeviceId = e.DeviceId, ChallengeId = e.ChallengeId,
                Ip = e.Ip, Detail = e.Detail, CreatedAt = e.CreatedAt, PrevHash = e.PrevHash, Hash = e.Hash,
            }).ToList();
            var t = serving(tampered);
            var r2 = await t.Client.VerifyAuditOfflineAsync(2);
            Assert.True(!r2.Ok && r2.Reason == "hash_mismatch" && r2.EventId == newestFirst[1].Id, "the edited event is named: " + r2.Reason);
            Assert.Equal(1, t.Handler.Requests.Count, "no page fetched after the break");
        }
    }
}
