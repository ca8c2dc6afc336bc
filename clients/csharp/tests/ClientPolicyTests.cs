// The client's behaviour against scripted answers: what it sends, the error model, the retry policy.
// (The same calls against the real Worker are in ServerTests.)
using System;
using System.Linq;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;

namespace Encrypxon.Tests
{
    [Suite("client")]
    public sealed class ClientPolicyTests
    {
        private const string ChallengeJson = "{\"id\":\"chl_1\",\"object\":\"challenge\",\"user_id\":\"alice\",\"status\":\"pending\",\"context\":{\"title\":\"T\"},"
            + "\"created_at\":\"2026-12-03T10:00:00.000Z\",\"expires_at\":\"2026-12-03T10:02:00.000Z\",\"resolved_at\":null,\"device_id\":null,\"reason\":null}";

        [Test]
        public void ConfigurationIsChecked()
        {
            Assert.Throws<ArgumentNullException>(() => new Encrypxon2FaClient(null));
            Assert.Throws<ArgumentException>(() => new Encrypxon2FaClient(new EncrypxonClientConfiguration()), "no key");
            Assert.Throws<ArgumentException>(() => new Encrypxon2FaClient(new EncrypxonClientConfiguration { ApiKey = "k", BaseUrl = new Uri("ftp://x/") }), "scheme");
            Assert.Throws<ArgumentException>(() => new Encrypxon2FaClient(new EncrypxonClientConfiguration { ApiKey = "k", MaxRetries = -1 }), "retries");
            using (var c = new Encrypxon2FaClient(new EncrypxonClientConfiguration { ApiKey = "k" }))
                Assert.Equal("http://127.0.0.1:8787/", c.BaseUrl.ToString(), "default base URL");
        }

        [Test]
        public async Task SendsKeyJsonAndEscapedPaths()
        {
            var s = new StubbedClient((r, i) => StubHandler.Json(200, i == 0 ? "{\"object\":\"list\",\"data\":[]}" : ChallengeJson));
            var devices = await s.Client.ListDevicesAsync("bob/with space");
            Assert.Equal(0, devices.Count);
            Assert.Equal("GET http://api.test/base/v1/users/bob%2Fwith%20space/devices", s.Handler.Requests[0]);
            var req = s.Handler.Messages[0];
            Assert.Equal("ek_test_stub", req.Headers.GetValues("X-API-Key").Single());
            Assert.True(req.Headers.Accept.Any(a => a.MediaType == "application/json"), "accepts JSON");

            var created = await Assert.ThrowsAsync<EncrypxonClientException>(() => s.Client.CreateChallengeAsync(new CreateChallengeRequest
            {
                UserId = "alice",
                Context = new ChallengeContext { Title = "Sign in", Ip = "203.0.113.7" },
                WaitSeconds = 5,
                Supersede = true,
            }), "a challenge answer without devices is refused as unexpected");
            Assert.Matches("devices", created.Message);
            Assert.Equal("{\"user_id\":\"alice\",\"context\":{\"title\":\"Sign in\",\"ip\":\"203.0.113.7\"},\"wait_seconds\":5,\"supersede\":true}", s.Handler.Bodies[1]);
            Assert.Equal("application/json", s.Handler.Messages[1].Content.Headers.ContentType.MediaType);

            Assert.Equal("http://api.test/base/v1/enrollments/enr_1/qr.png?code=enc_a%2Bb", s.Client.GetEnrollmentQrUrl("enr_1", "enc_a+b", QrFormat.Png).AbsoluteUri);
            Assert.Equal("http://api.test/base/v1/enrollments/enr_1/qr.svg?code=enc_x", s.Client.GetEnrollmentQrUrl("enr_1", "enc_x").AbsoluteUri);
            await Assert.ThrowsAsync<ArgumentException>(() => s.Client.GetChallengeAsync(""), "empty id");
        }

        [Test]
        public async Task WaitIsCappedAndSentAsQuery()
        {
            var s = new StubbedClient((r, i) => StubHandler.Json(200, ChallengeJson));
            var c = await s.Client.GetChallengeAsync("chl_1", TimeSpan.FromMinutes(3));
            Assert.Equal(ChallengeStatus.Pending, c.Status);
            Assert.Equal("T", c.Context.Title);
            Assert.Equal(null, c.ResolvedAt);
            Assert.Equal(new DateTimeOffset(2026, 12, 3, 10, 2, 0, TimeSpan.Zero), c.ExpiresAt);
            Assert.Equal("GET http://api.test/base/v1/challenges/chl_1?wait=25", s.Handler.Requests[0]);
            await s.Client.GetEnrollmentAsync("enr_1", TimeSpan.FromSeconds(-4)).ContinueWith(t => { });
            Assert.Equal("GET http://api.test/base/v1/enrollments/enr_1?wait=0", s.Handler.Requests[1]);
            await s.Client.ListAuditAsync(new AuditQuery { UserId = "a&b", Since = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.FromHours(2)), Limit = 7 })
                .ContinueWith(t => { });
            Assert.Equal("GET http://api.test/base/v1/audit?user_id=a%26b&since=2026-01-02T01%3A04%3A05.000Z&limit=7", s.Handler.Requests[2]);
        }

        [Test]
        public async Task ProblemDetailsBecomeEncrypxonException()
        {
            var body = "{\"type\":\"https://encrypxon.dev/problems/invalid-request\",\"title\":\"Invalid request\",\"status\":400,"
                + "\"detail\":\"user_id: must not be empty\",\"instance\":\"/v1/challenges/x\",\"errors\":[{\"field\":\"user_id\",\"message\":\"must not be empty\"}],"
                + "\"attempts_left\":2,\"challenge_status\":\"pending\"}";
            var s = new StubbedClient((r, i) => StubHandler.Json(422, body, "7", "application/problem+json"));
            var e = await Assert.ThrowsAsync<EncrypxonException>(() => s.Client.CreateChallengeAsync(new CreateChallengeRequest { UserId = "" }));
            Assert.Equal(422, e.Status, "the status line wins over the body");
            Assert.Equal("https://encrypxon.dev/problems/invalid-request", e.Type);
            Assert.Equal("invalid-request", e.Slug);
            Assert.Equal("Invalid request", e.Title);
            Assert.Equal("user_id: must not be empty", e.Detail);
            Assert.Equal("/v1/challenges/x", e.Instance);
            Assert.Equal(1, e.Errors.Count);
            Assert.Equal("user_id", e.Errors[0].Field);
            Assert.Equal("must not be empty", e.Errors[0].Message);
            Assert.Equal(2L, (long)e.Extensions["attempts_left"]);
            Assert.Equal("pending", (string)e.Extensions["challenge_status"]);
            Assert.True(!e.Extensions.ContainsKey("type") && !e.Extensions.ContainsKey("errors"), "standard members are not extensions");
            Assert.Equal(TimeSpan.FromSeconds(7), e.RetryAfter);
            Assert.Equal("POST /v1/challenges", e.Request);
            Assert.Equal("POST /v1/challenges: HTTP 422 Invalid request: user_id: must not be empty", e.Message);
        }

        [Test]
        public async Task ANonJsonErrorGetsAStandIn()
        {
            var s = new StubbedClient((r, i) => StubHandler.Json(404, "<html>" + new string('x', 300) + "</html>", null, "text/html"));
            var e = await Assert.ThrowsAsync<EncrypxonException>(() => s.Client.GetChallengeAsync("chl_1"));
            Assert.Equal(404, e.Status);
            Assert.Equal("about:blank", e.Type);
            Assert.Equal("Not Found", e.Title);
            Assert.Equal(200, e.Detail.Length);
            Assert.Equal(0, e.Errors.Count);
            Assert.Equal(null, e.RetryAfter);
        }

        [Test]
        public async Task GetIsRetriedAfter503WithRetryAfterCapped()
        {
            var s = new StubbedClient((r, i) => i == 0 ? StubHandler.Json(503, "{}", "2") : i == 1 ? StubHandler.Json(429, "{}", "60") : StubHandler.Json(200, ChallengeJson),
                c => { c.MaxRetryDelay = TimeSpan.FromSeconds(5); });
            var c2 = await s.Client.GetChallengeAsync("chl_1");
            Assert.Equal("chl_1", c2.Id);
            Assert.Equal(3, s.Handler.Requests.Count);
            Assert.SequenceEqual(new[] { TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(5) }, s.Delays, "Retry-After honoured, within MaxRetryDelay");
        }

        [Test]
        public async Task RetriesStopAtMaxRetriesWithTheLastError()
        {
            var s = new StubbedClient((r, i) => StubHandler.Json(502, "{\"type\":\"about:blank\",\"title\":\"Bad gateway\"}"),
                c => { c.MaxRetries = 3; c.RetryDelay = TimeSpan.FromMilliseconds(100); c.MaxRetryDelay = TimeSpan.FromMilliseconds(300); });
            var e = await Assert.ThrowsAsync<EncrypxonException>(() => s.Client.CancelChallengeAsync("chl_1"));
            Assert.Equal(502, e.Status);
            Assert.Equal(4, s.Handler.Requests.Count, "1 + MaxRetries attempts");
            Assert.Equal(3, s.Delays.Count);
            // Full jitter under a doubling ceiling: 100, 200, then the 300 ms cap.
            var ceilings = new[] { 100.0, 200.0, 300.0 };
            for (var i = 0; i < 3; i++)
                Assert.True(s.Delays[i] >= TimeSpan.Zero && s.Delays[i].TotalMilliseconds <= ceilings[i], "delay " + i + " = " + s.Delays[i]);
        }

        [Test]
        public async Task JitterIsSpreadNotFixed()
        {
            var s = new StubbedClient((r, i) => StubHandler.Json(200, ChallengeJson), c => { c.RetryDelay = TimeSpan.FromSeconds(1); c.MaxRetryDelay = TimeSpan.FromSeconds(10); });
            var samples = Enumerable.Range(0, 200).Select(_ => s.Client.Backoff(2, null).TotalMilliseconds).ToList();
            Assert.True(samples.All(x => x >= 0 && x <= 4000), "within the attempt's ceiling");
            Assert.True(samples.Distinct().Count() > 150, "spread out");
            Assert.True(samples.Any(x => x < 2000) && samples.Any(x => x > 2000), "both halves of the range");
            await Task.FromResult(0);
        }

        [Test]
        public async Task PostIsNeverRetried()
        {
            var s = new StubbedClient((r, i) => StubHandler.Json(503, "{\"type\":\"https://encrypxon.dev/problems/unavailable\",\"title\":\"Service unavailable\"}", "1"));
            var e = await Assert.ThrowsAsync<EncrypxonException>(() => s.Client.CreateChallengeAsync(new CreateChallengeRequest { UserId = "alice" }));
            Assert.Equal(503, e.Status);
            Assert.Equal(TimeSpan.FromSeconds(1), e.RetryAfter);
            Assert.Equal(1, s.Handler.Requests.Count);
            Assert.Equal(0, s.Delays.Count);

            var n = new StubbedClient((r, i) => { throw new HttpRequestException("connection refused"); });
            var ce = await Assert.ThrowsAsync<EncrypxonConnectionException>(() => n.Client.CreateEnrollmentAsync(new CreateEnrollmentRequest { UserId = "alice" }));
            Assert.Equal(1, n.Handler.Requests.Count, "a network error on a POST is not retried either");
            Assert.Equal("POST /v1/enrollments", ce.Request);
            Assert.True(ce.InnerException is HttpRequestException, "the cause is kept");
        }

        [Test]
        public async Task SettingsPatchIsRetriedAndSendsOnlyWhatIsSet()
        {
            var settings = "{\"object\":\"settings\",\"number_matching\":true,\"fraud_auto_pause\":true,\"updated_at\":\"2026-12-03T10:00:00Z\",\"limits\":{\"api_key_per_minute\":600,"
                + "\"user_challenges_per_minute\":10,\"user_pending_challenges\":7,\"device_wrong_answers_per_hour\":10,\"enrollment_code_attempts\":5,\"device_ip_per_minute\":120}}";
            var s = new StubbedClient((r, i) => i == 0 ? StubHandler.Json(503, "{}") : StubHandler.Json(200, settings));
            var result = await s.Client.UpdateSettingsAsync(new SettingsUpdate { NumberMatching = true, Limits = new LimitsUpdate { UserPendingChallenges = 7 } });
            Assert.Equal(2, s.Handler.Requests.Count, "retried once");
            Assert.Equal("PATCH http://api.test/base/v1/settings", s.Handler.Requests[1]);
            Assert.Equal("{\"number_matching\":true,\"limits\":{\"user_pending_challenges\":7}}", s.Handler.Bodies[1]);
            Assert.Equal(7, result.Limits.UserPendingChallenges);
            Assert.True(result.NumberMatching && result.UpdatedAt.HasValue, "settings read back");
        }

        [Test]
        public async Task NetworkErrorsOnGetAreRetriedThenReported()
        {
            var s = new StubbedClient((r, i) => { if (i < 2) throw new HttpRequestException("reset"); return StubHandler.Json(200, ChallengeJson); });
            Assert.Equal("chl_1", (await s.Client.GetChallengeAsync("chl_1")).Id);
            Assert.Equal(3, s.Handler.Requests.Count);

            var f = new StubbedClient((r, i) => { throw new HttpRequestException("down"); });
            var e = await Assert.ThrowsAsync<EncrypxonConnectionException>(() => f.Client.ListDevicesAsync("alice"));
            Assert.Equal(3, f.Handler.Requests.Count);
            Assert.Matches("^GET /v1/users/alice/devices \\(http://api.test/base\\): down", e.Message);
        }

        [Test]
        public async Task ConnectionErrorsNameTheBaseUrl()
        {
            var s = new StubbedClient((r, i) => { throw new HttpRequestException("down"); });
            var e = await Assert.ThrowsAsync<EncrypxonConnectionException>(() => s.Client.ListDevicesAsync("alice"));
            Assert.Equal("GET /v1/users/alice/devices (http://api.test/base): down", e.Message);
            Assert.Equal(s.Client.BaseUrl, e.BaseUrl);
            Assert.Equal("GET /v1/users/alice/devices", e.Request);
            var root = new EncrypxonConnectionException("GET /x", new Uri("http://127.0.0.1:1/"), new TimeoutException("slow"));
            Assert.Equal("GET /x (http://127.0.0.1:1): slow", root.Message);
            Assert.Equal("GET /x: slow", new EncrypxonConnectionException("GET /x", new TimeoutException("slow")).Message);
            Assert.Equal(null, new EncrypxonConnectionException("GET /x", null).BaseUrl);
        }

        [Test]
        public async Task ClientErrorsAreNotRetried()
        {
            foreach (var status in new[] { 400, 401, 404, 409, 422 })
            {
                var s = new StubbedClient((r, i) => StubHandler.Json(status, "{\"type\":\"t/x\",\"title\":\"X\"}"));
                var e = await Assert.ThrowsAsync<EncrypxonException>(() => s.Client.GetEnrollmentAsync("enr_1"));
                Assert.Equal(status, e.Status);
                Assert.Equal(1, s.Handler.Requests.Count, "status " + status);
            }
        }

        [Test]
        public async Task CancellationIsNotAConnectionError()
        {
            var s = new StubbedClient((r, i) => StubHandler.Json(503, "{}"));
            using (var cts = new CancellationTokenSource())
            {
                s.Client.Sleep = (d, ct) => { cts.Cancel(); return Task.Delay(d, ct); };
                await Assert.ThrowsAsync<OperationCanceledException>(() => s.Client.GetChallengeAsync("chl_1", null, cts.Token));
                Assert.Equal(1, s.Handler.Requests.Count);
            }
        }

        [Test]
        public async Task ATimeoutIsAConnectionError()
        {
            var handler = new SlowHandler();
            var client = new Encrypxon2FaClient(new EncrypxonClientConfiguration
            {
                ApiKey = "k",
                HttpClient = new HttpClient(handler),
                Timeout = TimeSpan.FromMilliseconds(50),
                MaxRetries = 0,
            });
            var e = await Assert.ThrowsAsync<EncrypxonConnectionException>(() => client.GetChallengeAsync("chl_1"));
            Assert.True(e.InnerException is TimeoutException, "a TimeoutException inside");
        }

        private sealed class SlowHandler : HttpMessageHandler
        {
            protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            {
                await Task.Delay(TimeSpan.FromSeconds(30), cancellationToken);
                return new HttpResponseMessage();
            }
        }

        [Test]
        public async Task AuditStreamFollowsCursors()
        {
            Func<string, bool, string, string> page = (list, more, next) =>
                "{\"object\":\"list\",\"has_more\":" + (more ? "true" : "false") + ",\"next_cursor\":" + (next == null ? "null" : "\"" + next + "\"") + ",\"data\":["
                + string.Join(",", list.Split(',').Where(x => x.Length > 0).Select(id => "{\"id\":\"" + id + "\",\"object\":\"audit_event\",\"type\":\"t\",\"outcome\":null,\"user_id\":\"alice\","
                    + "\"enrollment_id\":null,\"device_id\":null,\"challenge_id\":null,\"ip\":null,\"detail\":{\"k\":[1]},\"created_at\":\"2026-12-03T10:00:00Z\"}")) + "]}";
            var s = new StubbedClient((r, i) => StubHandler.Json(200, i == 0 ? page("evt_3,evt_2", true, "evt_2") : page("evt_1", false, null)));
            var ids = (await s.Client.GetAuditEventsAsync(new AuditQuery { UserId = "alice", Limit = 2 }).ToListAsync()).Select(e => e.Id);
            Assert.SequenceEqual(new[] { "evt_3", "evt_2", "evt_1" }, ids);
            Assert.Equal("GET http://api.test/base/v1/audit?user_id=alice&limit=2", s.Handler.Requests[0]);
            Assert.Equal("GET http://api.test/base/v1/audit?user_id=alice&limit=2&cursor=evt_2", s.Handler.Requests[1]);
            Assert.Equal(2, s.Handler.Requests.Count, "no request after the last page");
        }
    }
}
