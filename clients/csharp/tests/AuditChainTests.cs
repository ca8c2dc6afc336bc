// The audit chain checked offline: canonical JSON byte for byte as the TypeScript implementation writes it
// (tests/canonical-vectors.json, written by tools/canonical-vectors.ts from packages/client/src/auditChain.ts),
// the events of the JavaScript tests (test/node/audit-chain.test.ts, there checked against Python) with
// their hashes, and the verifier's verdicts. The same against the Worker's real events is in ServerTests.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;

namespace Encrypxon.Tests
{
    [Suite("audit-chain")]
    public sealed class AuditChainTests
    {
        private static Dictionary<string, object> Vectors()
        {
            var candidates = new[]
            {
                Path.Combine(Environment.CurrentDirectory, "clients", "csharp", "tests", "canonical-vectors.json"),
                Path.Combine(AppDomain.CurrentDomain.BaseDirectory, "..", "tests", "canonical-vectors.json"),
            };
            var file = candidates.FirstOrDefault(File.Exists);
            if (file == null) throw new FileNotFoundException("clients/csharp/tests/canonical-vectors.json (run from the repository root)");
            return (Dictionary<string, object>)Json.Parse(File.ReadAllText(file, Encoding.UTF8));
        }

        private static IEnumerable<KeyValuePair<string, string>> Rows(Dictionary<string, object> vectors, string name)
        {
            return ((List<object>)vectors[name]).Cast<List<object>>().Select(r => new KeyValuePair<string, string>((string)r[0], (string)r[1]));
        }

        private static void AllMatch(IEnumerable<KeyValuePair<string, string>> rows, Func<string, string> canonical, string what, int atLeast)
        {
            var failures = new List<string>();
            var n = 0;
            foreach (var row in rows)
            {
                n++;
                string actual;
                try
                {
                    actual = canonical(row.Key);
                }
                catch (Exception e)
                {
                    actual = e.GetType().Name + ": " + e.Message;
                }
                if (actual != row.Value) failures.Add(row.Key + ": expected " + row.Value + " but was " + actual);
            }
            Assert.True(n >= atLeast, what + ": only " + n + " vectors");
            Assert.True(failures.Count == 0, failures.Count + " of " + n + " " + what + " differ from TypeScript:\n" + string.Join("\n", failures.Take(20)));
        }

        [Test]
        public void NumbersAsJavaScriptWritesThem()
        {
            AllMatch(Rows(Vectors(), "numbers"),
                hex => AuditChain.CanonicalJson(BitConverter.Int64BitsToDouble(long.Parse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture))),
                "numbers", 2000);
            // RFC 8785's own examples, spelled out.
            Assert.Equal("1e+23", AuditChain.CanonicalJson(1e23));
            Assert.Equal("0.000001", AuditChain.CanonicalJson(0.000001));
            Assert.Equal("1e-7", AuditChain.CanonicalJson(1e-7));
            Assert.Equal("333333333.3333333", AuditChain.CanonicalJson(333333333.3333333));
            Assert.Equal("0", AuditChain.CanonicalJson(-0.0));
            // Integral types are the double JavaScript would hold: 2^53 + 1 is 2^53 there.
            Assert.Equal("9007199254740992", AuditChain.CanonicalJson(9007199254740993L));
            Assert.Equal("-12", AuditChain.CanonicalJson(-12));
            Assert.Equal("18446744073709552000", AuditChain.CanonicalJson(ulong.MaxValue));
            Assert.Equal("0.1", AuditChain.CanonicalJson(0.1m));
            Assert.Throws<ArgumentException>(() => AuditChain.CanonicalJson(double.NaN), "NaN");
            Assert.Throws<ArgumentException>(() => AuditChain.CanonicalJson(double.PositiveInfinity), "Infinity");
        }

        [Test]
        public void StringsAsJsonStringifyEscapesThem()
        {
            AllMatch(Rows(Vectors(), "strings"), hex =>
            {
                var sb = new StringBuilder();
                for (var i = 0; i < hex.Length; i += 4) sb.Append((char)int.Parse(hex.Substring(i, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture));
                return AuditChain.CanonicalJson(sb.ToString());
            }, "strings", 400);
            Assert.Equal("\"\\u0007\u007f\u2028\\ud800\\b\\f\"", AuditChain.CanonicalJson("\u0007\u007f\u2028\ud800\b\f"));
        }

        [Test]
        public void ValuesSortedByUtf16CodeUnits()
        {
            AllMatch(Rows(Vectors(), "values"), json => AuditChain.CanonicalJson(Json.Parse(json)), "values", 10);
            // Other .NET shapes of the same JSON.
            Assert.Equal("{\"a\":[1,2.5,\"x\"],\"b\":null}", AuditChain.CanonicalJson(new System.Collections.Hashtable { { "b", null }, { "a", new object[] { 1, 2.5f, "x" } } }));
            Assert.Equal("{\"A\":true,\"a\":false}", AuditChain.CanonicalJson(new SortedDictionary<string, object> { { "a", false }, { "A", true } }));
            Assert.Throws<ArgumentException>(() => AuditChain.CanonicalJson(new System.Collections.Hashtable { { 1, "x" } }), "a non-string key");
            Assert.Throws<ArgumentException>(() => AuditChain.CanonicalJson(new DateTime(2026, 1, 1)), "a DateTime");
            var cycle = new List<object>();
            cycle.Add(cycle);
            Assert.Throws<ArgumentException>(() => AuditChain.CanonicalJson(cycle), "a cycle");
        }

        // test/node/audit-chain.test.ts's events, and the hashes TypeScript (and Python there) gives them.
        private static readonly string[] JsHashes =
        {
            "ca31cb5b79ce78b8a7262c0870c4ad8f3295d3db09c9a8fe6958963238950ffc",
            "f406a85d05672ebdaf565b6dd9cc8298aa00999fea050cfa8a883cd60229aa44",
            "9d449c28da8a6721ea52d89bbc98459bd10e6038e6623232b45cfebbd4056ed2",
            "7a5db0871f23261b4581d10253bf27729bee648fa07be89c7df7592031a4c560",
            "b975acd79bc99f144f60742308d3c601ec03962ebb1e00b15ec55cb594a49e6c",
        };

        private static AuditEvent Base(int i)
        {
            return new AuditEvent
            {
                Id = "evt_" + i.ToString(CultureInfo.InvariantCulture).PadLeft(26, '0'),
                AppId = "app_0000000000000000000000000a",
                Type = "challenge.resolved",
                Outcome = i % 2 == 1 ? "approved" : null,
                UserId = "alice",
                DeviceId = "dev_" + i.ToString(CultureInfo.InvariantCulture).PadLeft(26, '1'),
                ChallengeId = "chl_" + i.ToString(CultureInfo.InvariantCulture).PadLeft(26, '2'),
                Ip = "203.0.113.7",
                CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(1796342400000 + i),
            };
        }

        private static Dictionary<string, object> Obj(params object[] kv)
        {
            var d = new Dictionary<string, object>();
            for (var i = 0; i < kv.Length; i += 2) d[(string)kv[i]] = kv[i + 1];
            return d;
        }

        /// <summary>The five events, sealed in order (oldest first).</summary>
        internal static List<AuditEvent> JsEvents()
        {
            var events = new List<AuditEvent> { Base(0), Base(1), Base(2), Base(3), Base(4) };
            events[1].Detail = Obj("wrong_answers", 0L, "reason", "not_me");
            events[2].UserId = "Zoë 👩‍💻 \u05d0\u05d1 \"quoted\" back\\slash";
            events[2].Detail = Obj("z", 1L, "a", new List<object> { 1L, "b", null, true }, "m", Obj("y", -3L, "x", 2.5));
            events[3].Detail = Obj("control", "tab\tnewline\nbell\u0007del\u007fsep\u2028", "empty", Obj(), "list", new List<object>());
            events[4].Outcome = "denied";
            events[4].Ip = null;
            events[4].UserId = null;
            events[4].Detail = Obj("big", 9007199254740991L, "neg", -12L);
            var prev = AuditChain.GenesisHash;
            foreach (var e in events)
            {
                e.PrevHash = prev;
                e.Hash = AuditChain.EventHash(e, prev);
                prev = e.Hash;
            }
            return events;
        }

        private static AuditEvent Copy(AuditEvent e)
        {
            return new AuditEvent
            {
                Id = e.Id, AppId = e.AppId, Type = e.Type, Outcome = e.Outcome, UserId = e.UserId, EnrollmentId = e.EnrollmentId,
                DeviceId = e.DeviceId, ChallengeId = e.ChallengeId, Ip = e.Ip, Detail = e.Detail, CreatedAt = e.CreatedAt,
                PrevHash = e.PrevHash, Hash = e.Hash,
            };
        }

        [Test]
        public void TheJavaScriptTestsEventsHashTheSame()
        {
            var events = JsEvents();
            Assert.SequenceEqual(JsHashes, events.Select(e => e.Hash), "hashes, event by event");
            Assert.Equal("{\"app_id\":\"app_0000000000000000000000000a\",\"challenge_id\":\"chl_22222222222222222222222224\","
                + "\"created_at\":\"2026-12-04T00:00:00.004Z\",\"detail\":{\"big\":9007199254740991,\"neg\":-12},"
                + "\"device_id\":\"dev_11111111111111111111111114\",\"enrollment_id\":null,\"id\":\"evt_00000000000000000000000004\",\"ip\":null,"
                + "\"outcome\":\"denied\",\"prev_hash\":\"" + JsHashes[3] + "\",\"type\":\"challenge.resolved\",\"user_id\":null}",
                AuditChain.CanonicalEvent(events[4], JsHashes[3]));
            // A created_at with an offset is the same instant: written in UTC.
            var shifted = Copy(events[0]);
            shifted.CreatedAt = events[0].CreatedAt.ToOffset(TimeSpan.FromHours(5.5));
            Assert.Equal(JsHashes[0], AuditChain.EventHash(shifted, AuditChain.GenesisHash));
        }

        [Test]
        public void TheVerifierNamesTheBreakAsTheJavaScriptOneDoes()
        {
            var events = JsEvents();
            var newestFirst = Enumerable.Reverse(events).ToList();
            var ok = AuditChain.VerifyEvents(newestFirst, complete: true);
            Assert.True(ok.Ok && ok.Checked == 5 && ok.Unsealed == 0, "the chain verifies");
            Assert.Equal(AuditChain.GenesisHash, ok.OldestPrevHash);
            Assert.Equal(null, ok.Reason);

            var edited = newestFirst.Select(e => { var c = Copy(e); if (c.Id == events[2].Id) c.UserId = "mallory"; return c; }).ToList();
            var r = AuditChain.VerifyEvents(edited);
            Assert.True(!r.Ok, "an edit is found");
            Assert.Equal(events[2].Id, r.EventId);
            Assert.Equal("hash_mismatch", r.Reason);
            Assert.Equal(2, r.Checked);

            var detail = newestFirst.Select(e => { var c = Copy(e); if (c.Id == events[4].Id) c.Detail = Obj("big", 9007199254740990L, "neg", -12L); return c; }).ToList();
            Assert.Equal("hash_mismatch", AuditChain.VerifyEvents(detail).Reason, "a number in the detail");

            var gap = newestFirst.Where(e => e.Id != events[1].Id).ToList();
            r = AuditChain.VerifyEvents(gap);
            Assert.Equal("prev_hash_mismatch", r.Reason);
            Assert.Equal(events[2].Id, r.EventId, "the newer side of the missing link");

            r = AuditChain.VerifyEvents(newestFirst.Take(3), complete: true);
            Assert.Equal("not_genesis", r.Reason);
            Assert.Equal(events[2].Id, r.EventId);
            var partial = AuditChain.VerifyEvents(newestFirst.Take(3));
            Assert.True(partial.Ok, "the newest three alone verify");
            Assert.Equal(events[1].Hash, partial.OldestPrevHash, "and link to the fourth");

            // Page by page, as GetAuditPagesAsync delivers them.
            var v = new AuditChainVerifier();
            v.Add(newestFirst.Take(2));
            v.Add(newestFirst.Skip(2).Take(2));
            v.Add(newestFirst.Skip(4));
            Assert.True(v.Result(true).Ok, "in pages");
        }

        [Test]
        public void UnsealedNewestAreSkippedUnsealedInsideIsABreak()
        {
            var events = JsEvents();
            var fresh = Base(5);
            var newestFirst = new[] { fresh }.Concat(Enumerable.Reverse(events)).ToList();
            var r = AuditChain.VerifyEvents(newestFirst, complete: true);
            Assert.True(r.Ok && r.Unsealed == 1 && r.Checked == 5, "the newest, not sealed yet, is counted apart");

            var unsealed = Enumerable.Reverse(events).Select(Copy).ToList();
            unsealed[2].Hash = null;
            r = AuditChain.VerifyEvents(unsealed);
            Assert.Equal("unsealed_in_chain", r.Reason);
            Assert.Equal(events[2].Id, r.EventId);

            // A filtered export (one user's events): each hash holds, the links cannot.
            var alices = Enumerable.Reverse(events).Where(e => e.UserId == "alice").ToList();
            Assert.True(AuditChain.VerifyEvents(alices, contiguous: false).Ok, "filtered, not contiguous");
            Assert.Equal("prev_hash_mismatch", AuditChain.VerifyEvents(alices).Reason, "filtered, read as contiguous");
            Assert.Throws<ArgumentNullException>(() => AuditChain.VerifyEvents(null));
            Assert.Throws<ArgumentNullException>(() => AuditChain.VerifyEvents(new AuditEvent[] { null }));
        }
    }
}
