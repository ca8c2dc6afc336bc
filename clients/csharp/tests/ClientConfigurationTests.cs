// What the constructor accepts (timeouts, delays, a live key without a base URL), the base URL it keeps,
// and what the client's own HttpClient allows.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;

namespace Encrypxon.Tests
{
    [Suite("client")]
    public sealed class ClientConfigurationTests
    {
        private const string ChallengeJson = "{\"id\":\"chl_1\",\"object\":\"challenge\",\"user_id\":\"alice\",\"status\":\"pending\",\"context\":{},"
            + "\"created_at\":\"2026-12-03T10:00:00.000Z\",\"expires_at\":\"2026-12-03T10:02:00.000Z\",\"resolved_at\":null,\"device_id\":null,\"reason\":null}";

        private static Encrypxon2FaClient Make(Action<EncrypxonClientConfiguration> configure)
        {
            var c = new EncrypxonClientConfiguration { ApiKey = "ek_test_x", HttpClient = new HttpClient(new StubHandler((r, i) => StubHandler.Json(200, ChallengeJson))) };
            configure(c);
            return new Encrypxon2FaClient(c);
        }

        /// <summary>Answers after <c>delay</c>, unless the request's token is cancelled first.</summary>
        private sealed class DelayedHandler : HttpMessageHandler
        {
            private readonly TimeSpan _delay;

            public DelayedHandler(TimeSpan delay) { _delay = delay; }

            protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            {
                await Task.Delay(_delay, cancellationToken);
                return StubHandler.Json(200, ChallengeJson);
            }
        }

        [Test]
        public async Task InfiniteTimeoutMeansNoDeadline()
        {
            using (var client = Make(c => c.Timeout = Timeout.InfiniteTimeSpan))
            {
                Assert.Equal(Timeout.InfiniteTimeSpan, client.AttemptTimeout(0), "no wait");
                Assert.Equal(Timeout.InfiniteTimeSpan, client.AttemptTimeout(Encrypxon2FaClient.MaxWaitSeconds), "a 25 s long-poll");
            }
            // A long-poll of 1 s answered after 1.3 s: no deadline cuts it off.
            using (var client = new Encrypxon2FaClient(new EncrypxonClientConfiguration
            {
                ApiKey = "ek_test_x",
                HttpClient = new HttpClient(new DelayedHandler(TimeSpan.FromMilliseconds(1300))),
                Timeout = Timeout.InfiniteTimeSpan,
                MaxRetries = 0,
            }))
            {
                var c = await client.GetChallengeAsync("chl_1", TimeSpan.FromSeconds(1));
                Assert.Equal("chl_1", c.Id);
            }
        }

        [Test]
        public async Task HugeDurationsAreClampedNotThrown()
        {
            using (var client = Make(c =>
            {
                c.Timeout = TimeSpan.MaxValue;
                c.RetryDelay = TimeSpan.MaxValue;
                c.MaxRetryDelay = TimeSpan.MaxValue;
            }))
            {
                Assert.Equal(Encrypxon2FaClient.LongestDelay, client.AttemptTimeout(25), "Timeout plus the wait");
                Assert.Equal(Encrypxon2FaClient.LongestDelay, client.AttemptTimeout(0));
                Assert.Equal(Encrypxon2FaClient.LongestDelay, client.Backoff(0, TimeSpan.MaxValue), "a huge Retry-After");
                Assert.True(client.Backoff(60, null) <= Encrypxon2FaClient.LongestDelay, "a late attempt's backoff");
                Assert.Equal("chl_1", (await client.GetChallengeAsync("chl_1", TimeSpan.FromSeconds(25))).Id);
                Assert.Equal("chl_1", (await client.GetChallengeAsync("chl_1")).Id);
            }
            using (var client = Make(c => c.Timeout = TimeSpan.FromDays(24)))
                Assert.Equal(Encrypxon2FaClient.LongestDelay, client.AttemptTimeout(25 * 3600), "a sum past int.MaxValue ms");
            using (var client = Make(c => c.Timeout = TimeSpan.FromSeconds(30)))
                Assert.Equal(TimeSpan.FromSeconds(55), client.AttemptTimeout(25), "the usual case");
        }

        [Test]
        public void NegativeDurationsAreRefusedAtConstruction()
        {
            foreach (var bad in new[] { TimeSpan.FromSeconds(-5), TimeSpan.Zero, TimeSpan.FromTicks(-1), TimeSpan.MinValue })
            {
                var e = Assert.Throws<ArgumentOutOfRangeException>(() => Make(c => c.Timeout = bad), "Timeout " + bad);
                Assert.Matches("Timeout must be positive", e.Message);
            }
            Assert.Matches("RetryDelay", Assert.Throws<ArgumentOutOfRangeException>(() => Make(c => c.RetryDelay = TimeSpan.FromMilliseconds(-1))).Message);
            Assert.Matches("MaxRetryDelay", Assert.Throws<ArgumentOutOfRangeException>(() => Make(c => c.MaxRetryDelay = Timeout.InfiniteTimeSpan)).Message);
            using (Make(c => { c.RetryDelay = TimeSpan.Zero; c.MaxRetryDelay = TimeSpan.Zero; c.Timeout = TimeSpan.FromTicks(1); }))
            {
                // zero delays and a tiny timeout are allowed
            }
        }

        [Test]
        public void ALiveKeyNeedsABaseUrl()
        {
            var e = Assert.Throws<ArgumentException>(() => new Encrypxon2FaClient(new EncrypxonClientConfiguration { ApiKey = "ek_live_abc" }), "live key, default URL");
            Assert.Matches("BaseUrl", e.Message);
            Assert.Matches("ek_live_", e.Message);
            using (var c = new Encrypxon2FaClient(new EncrypxonClientConfiguration { ApiKey = "ek_live_abc", BaseUrl = new Uri("https://2fa.example.com") }))
                Assert.Equal("https://2fa.example.com/", c.BaseUrl.ToString());
            // Set on purpose, even to the development URL: the caller chose it.
            using (var c = new Encrypxon2FaClient(new EncrypxonClientConfiguration { ApiKey = "ek_live_abc", BaseUrl = new Uri("http://127.0.0.1:8787") }))
                Assert.Equal("http://127.0.0.1:8787/", c.BaseUrl.ToString());
            // Test keys and anything else keep the default, as the original example does.
            using (var c = new Encrypxon2FaClient(new EncrypxonClientConfiguration { ApiKey = "ek_test_abc" }))
                Assert.Equal("http://127.0.0.1:8787/", c.BaseUrl.ToString());
            using (var c = new Encrypxon2FaClient(new EncrypxonClientConfiguration { ApiKey = "YourApiKey" }))
                Assert.Equal("http://127.0.0.1:8787/", c.BaseUrl.ToString());
        }

        [Test]
        public void BaseUrlIsAsDocumented()
        {
            Func<string, string> baseOf = url =>
            {
                using (var c = new Encrypxon2FaClient(new EncrypxonClientConfiguration { ApiKey = "k", BaseUrl = new Uri(url) }))
                    return c.BaseUrl.ToString();
            };
            Assert.Equal("https://example.com/2fa", baseOf("https://example.com/2fa/"), "a path loses its trailing slash");
            Assert.Equal("https://example.com/2fa", baseOf("https://example.com/2fa//?x=1#f"), "query and fragment dropped");
            Assert.Equal("http://127.0.0.1:8787/", baseOf("http://127.0.0.1:8787"), "no path: the root slash of every Uri");
            Assert.Equal("https://example.com/", baseOf("https://example.com/"));
        }

        [Test]
        public void TheClientsOwnHttpClientAllowsManyConnections()
        {
            using (var own = new Encrypxon2FaClient(new EncrypxonClientConfiguration { ApiKey = "k" }))
            {
                Assert.True(own.OwnHandler != null, "the client made its handler");
                Assert.Equal(Encrypxon2FaClient.ConnectionsPerServer, own.OwnHandler.MaxConnectionsPerServer, "connections per server");
            }
            // .NET Framework's default of 2 is raised (Mono's and .NET Core's is already unlimited).
            var framework = new HttpClientHandler { MaxConnectionsPerServer = 2 };
            Assert.Equal(int.MaxValue, Encrypxon2FaClient.ConfigureHandler(framework).MaxConnectionsPerServer);
            using (var passed = Make(c => { }))
                Assert.True(passed.OwnHandler == null, "a passed HttpClient is left as it is");
            Assert.True(Encrypxon2FaClient.ConnectionsPerServer > 2, "more than .NET Framework's 2");
        }
    }
}
