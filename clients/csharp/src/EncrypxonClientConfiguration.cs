using System;
using System.Net.Http;

namespace Encrypxon
{
    /// <summary>How an <see cref="Encrypxon2FaClient"/> reaches the API.</summary>
    public sealed class EncrypxonClientConfiguration
    {
        /// <summary>The local development server, <c>npm run dev</c>: what <see cref="BaseUrl"/> is until set.</summary>
        internal static readonly Uri DefaultBaseUrl = new Uri("http://127.0.0.1:8787");

        private Uri _baseUrl = DefaultBaseUrl;

        /// <summary>
        /// The application's API key (<c>ek_live_…</c> / <c>ek_test_…</c>), sent as <c>X-API-Key</c>. Required; keep it
        /// on your server. An <c>ek_live_…</c> key needs <see cref="BaseUrl"/> set: the client refuses to send it to the
        /// default development URL.
        /// </summary>
        public string ApiKey { get; set; }

        /// <summary>
        /// The service, e.g. <c>https://2fa.example.com</c>; default <c>http://127.0.0.1:8787</c> (<c>npm run dev</c>),
        /// which the client accepts only with a key that is not <c>ek_live_…</c>.
        /// </summary>
        public Uri BaseUrl
        {
            get { return _baseUrl; }
            set
            {
                _baseUrl = value;
                BaseUrlSet = true;
            }
        }

        /// <summary>Whether <see cref="BaseUrl"/> was assigned (even to the default's value), not left at the default.</summary>
        internal bool BaseUrlSet { get; private set; }

        /// <summary>Extra attempts for GET, DELETE and the settings PATCH after a 408, 425, 429, 5xx or a network error. Default 2; POSTs are never retried.</summary>
        public int MaxRetries { get; set; } = 2;

        /// <summary>
        /// The first backoff delay, doubled each attempt with full jitter. Default 250 ms; zero or more (a negative
        /// one is refused by the client's constructor); more than <see cref="int.MaxValue"/> ms counts as that.
        /// </summary>
        public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(250);

        /// <summary>
        /// The longest backoff delay; also caps a server's <c>Retry-After</c>. Default 5 s; zero or more (a negative
        /// one is refused by the client's constructor); more than <see cref="int.MaxValue"/> ms counts as that.
        /// </summary>
        public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(5);

        /// <summary>
        /// Per attempt, on top of any long-poll wait. Default 30 s. <see cref="System.Threading.Timeout.InfiniteTimeSpan"/>:
        /// no deadline (only the <c>CancellationToken</c> ends a call); more than <see cref="int.MaxValue"/> ms
        /// (about 24.8 days, e.g. <see cref="TimeSpan.MaxValue"/>) counts as that; zero or negative is refused by the
        /// client's constructor.
        /// </summary>
        public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

        /// <summary>
        /// An <see cref="System.Net.Http.HttpClient"/> to send through (e.g. from <c>IHttpClientFactory</c>); it is not
        /// disposed with the client, its own <c>Timeout</c> must allow 25 s long-polls, and on .NET Framework its
        /// handler should allow more than 2 connections per server (see the README). Null: the client owns one.
        /// </summary>
        public HttpClient HttpClient { get; set; }
    }
}
