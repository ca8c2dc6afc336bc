// The integrator's client: one method per application call of docs/api.md, mirroring the JavaScript
// SDK (packages/client) method for method, with its retry policy and error model.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

[assembly: InternalsVisibleTo("Encrypxon.Client.Tests")]

namespace Encrypxon
{
    /// <summary>
    /// Calls the Encrypxon API as an application: enrollments, devices, challenges, audit. Thread-safe;
    /// make one per application and reuse it.
    /// </summary>
    public sealed class Encrypxon2FaClient : IDisposable
    {
        /// <summary>The library version, also sent in the <c>User-Agent</c>.</summary>
        public const string Version = "0.1.0";

        /// <summary>The server holds a long-poll at most this many seconds.</summary>
        public const int MaxWaitSeconds = 25;

        private static readonly HashSet<int> RetryableStatus = new HashSet<int> { 408, 425, 429, 500, 502, 503, 504 };
        private static readonly Random Jitter = new Random();

        /// <summary>The longest delay a timer takes (<see cref="CancellationTokenSource.CancelAfter(TimeSpan)"/>, <see cref="Task.Delay(TimeSpan)"/>).</summary>
        internal static readonly TimeSpan LongestDelay = TimeSpan.FromMilliseconds(int.MaxValue);

        /// <summary>Connections per server of the client's own handler: no limit, as on .NET Core (.NET Framework's default is 2).</summary>
        internal const int ConnectionsPerServer = int.MaxValue;

        private readonly string _apiKey;
        private readonly string _base;
        private readonly HttpClient _http;
        private readonly bool _ownsHttp;
        private readonly int _maxRetries;
        private readonly TimeSpan _retryDelay;
        private readonly TimeSpan _maxRetryDelay;
        private readonly TimeSpan _timeout;

        /// <summary>Makes a client for one application; it checks the configuration and sends nothing yet.</summary>
        /// <param name="configuration">The API key, base URL, retry policy, timeout and optionally an <see cref="HttpClient"/>.</param>
        /// <exception cref="ArgumentNullException"><paramref name="configuration"/> is null.</exception>
        /// <exception cref="ArgumentOutOfRangeException">
        /// <see cref="EncrypxonClientConfiguration.Timeout"/> is zero or negative (other than
        /// <see cref="System.Threading.Timeout.InfiniteTimeSpan"/>), or <see cref="EncrypxonClientConfiguration.RetryDelay"/>
        /// or <see cref="EncrypxonClientConfiguration.MaxRetryDelay"/> is negative.
        /// </exception>
        /// <exception cref="ArgumentException">
        /// No API key; a base URL that is not an absolute http(s) URL; negative <see cref="EncrypxonClientConfiguration.MaxRetries"/>;
        /// or an <c>ek_live_…</c> key with <see cref="EncrypxonClientConfiguration.BaseUrl"/> left at its development default.
        /// </exception>
        public Encrypxon2FaClient(EncrypxonClientConfiguration configuration)
        {
            if (configuration == null) throw new ArgumentNullException(nameof(configuration));
            if (string.IsNullOrEmpty(configuration.ApiKey)) throw new ArgumentException("ApiKey is required", nameof(configuration));
            var baseUrl = configuration.BaseUrl;
            if (baseUrl == null || !baseUrl.IsAbsoluteUri || (baseUrl.Scheme != "http" && baseUrl.Scheme != "https"))
                throw new ArgumentException("BaseUrl must be an absolute http or https URL", nameof(configuration));
            // A live key sent in plain text to whatever listens on the development port is a misconfiguration.
            if (!configuration.BaseUrlSet && configuration.ApiKey.StartsWith("ek_live_", StringComparison.Ordinal))
                throw new ArgumentException("an ek_live_ API key needs EncrypxonClientConfiguration.BaseUrl set to your Encrypxon service "
                    + "(e.g. https://2fa.example.com); the default, " + EncrypxonClientConfiguration.DefaultBaseUrl.GetLeftPart(UriPartial.Authority)
                    + ", is the local development server", nameof(configuration));
            if (configuration.MaxRetries < 0) throw new ArgumentException("MaxRetries must not be negative", nameof(configuration));
            var timeout = configuration.Timeout;
            if (timeout != System.Threading.Timeout.InfiniteTimeSpan && timeout <= TimeSpan.Zero)
                throw new ArgumentOutOfRangeException(nameof(configuration), timeout,
                    "Timeout must be positive, or Timeout.InfiniteTimeSpan for no per-attempt deadline");
            if (configuration.RetryDelay < TimeSpan.Zero)
                throw new ArgumentOutOfRangeException(nameof(configuration), configuration.RetryDelay, "RetryDelay must not be negative");
            if (configuration.MaxRetryDelay < TimeSpan.Zero)
                throw new ArgumentOutOfRangeException(nameof(configuration), configuration.MaxRetryDelay, "MaxRetryDelay must not be negative");
            _apiKey = configuration.ApiKey;
            _base = baseUrl.GetLeftPart(UriPartial.Authority) + baseUrl.AbsolutePath.TrimEnd('/');
            BaseUrl = new Uri(_base);
            _maxRetries = configuration.MaxRetries;
            _retryDelay = Clamp(configuration.RetryDelay);
            _maxRetryDelay = Clamp(configuration.MaxRetryDelay);
            _timeout = timeout == System.Threading.Timeout.InfiniteTimeSpan ? timeout : Clamp(timeout);
            if (configuration.HttpClient != null)
            {
                _http = configuration.HttpClient;
            }
            else
            {
                OwnHandler = ConfigureHandler(new HttpClientHandler());
                // Each attempt has its own deadline (Timeout plus any long-poll wait), so none here.
                _http = new HttpClient(OwnHandler) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
                _ownsHttp = true;
            }
        }

        /// <summary>
        /// The service's base URL: scheme, host, port and path of <see cref="EncrypxonClientConfiguration.BaseUrl"/>
        /// with any query, fragment and trailing slash of the path dropped (<c>https://example.com/2fa/</c> reads
        /// <c>https://example.com/2fa</c>). A URL without a path keeps the root slash every <see cref="Uri"/> has:
        /// <c>http://127.0.0.1:8787/</c>. Request paths are appended to it.
        /// </summary>
        public Uri BaseUrl { get; }

        /// <summary>The handler of the client's own <see cref="HttpClient"/>; null when one was passed in.</summary>
        internal HttpClientHandler OwnHandler { get; }

        /// <summary>
        /// Raises the handler's connections per server (2 by default on .NET Framework, where a third concurrent
        /// call would queue behind two 25 s long-polls) where the platform lets it be set.
        /// </summary>
        internal static HttpClientHandler ConfigureHandler(HttpClientHandler handler)
        {
            try
            {
                if (handler.MaxConnectionsPerServer < ConnectionsPerServer) handler.MaxConnectionsPerServer = ConnectionsPerServer;
            }
            catch (PlatformNotSupportedException)
            {
                // The platform keeps its own limit (ServicePointManager, say).
            }
            catch (NotImplementedException)
            {
                // A runtime without the setting.
            }
            return handler;
        }

        private static TimeSpan Clamp(TimeSpan t) => t > LongestDelay ? LongestDelay : t;

        /// <summary>One attempt's deadline: Timeout plus the long-poll wait, within what a timer takes; infinite for no Timeout.</summary>
        internal TimeSpan AttemptTimeout(int waitSeconds)
        {
            if (_timeout == System.Threading.Timeout.InfiniteTimeSpan) return _timeout;
            var ms = _timeout.TotalMilliseconds + waitSeconds * 1000.0;
            return ms >= int.MaxValue ? LongestDelay : TimeSpan.FromMilliseconds(ms);
        }

        /// <summary>How the client waits between attempts; replaced by tests to observe the delays.</summary>
        internal Func<TimeSpan, CancellationToken, Task> Sleep { get; set; } = (delay, ct) => Task.Delay(delay, ct);

        /// <summary>Disposes the <see cref="HttpClient"/> if the client made it (one passed in is left to its owner).</summary>
        public void Dispose()
        {
            if (_ownsHttp) _http.Dispose();
        }

        // ── Enrollments ─────────────────────────────────────────────────────────────────────────────

        /// <summary><c>POST /v1/enrollments</c>: show <see cref="CreatedEnrollment.EnrollmentUri"/> (or <see cref="CreatedEnrollment.QrSvgUrl"/>) to the user.</summary>
        /// <param name="request">The user to enroll.</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>The pending enrollment, with its enrollment URI and QR image URL (the only time they are shown).</returns>
        /// <exception cref="ArgumentNullException"><paramref name="request"/> is null.</exception>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<CreatedEnrollment> CreateEnrollmentAsync(CreateEnrollmentRequest request, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            var j = await SendAsync("POST", "/v1/enrollments", null, request.ToJson(), 0, cancellationToken).ConfigureAwait(false);
            return CreatedEnrollment.From(j);
        }

        /// <summary><c>GET /v1/enrollments/{id}</c>, optionally waiting up to <paramref name="wait"/> (≤ 25 s) for it to leave Pending.</summary>
        /// <param name="enrollmentId">The enrollment (<c>enr_…</c>).</param>
        /// <param name="wait">How long the server may hold the call for a change: up to 25 s (longer is capped, negative is 0); null answers at once.</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>The enrollment as it is now (or when it changed during the wait).</returns>
        /// <exception cref="ArgumentException"><paramref name="enrollmentId"/> is null or empty.</exception>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<Enrollment> GetEnrollmentAsync(string enrollmentId, TimeSpan? wait = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            var seconds = WaitSeconds(wait);
            var j = await SendAsync("GET", "/v1/enrollments/" + Segment(enrollmentId, nameof(enrollmentId)), WaitQuery(seconds), null, seconds ?? 0, cancellationToken)
                .ConfigureAwait(false);
            return Enrollment.From(j);
        }

        /// <summary>
        /// Long-polls (25 s at a time) until the enrollment is no longer Pending or <paramref name="timeout"/>
        /// (default 10 minutes, an enrollment's default lifetime) has passed; returns the last state seen.
        /// </summary>
        /// <param name="enrollmentId">The enrollment (<c>enr_…</c>).</param>
        /// <param name="timeout">How long to keep polling in all; null for 10 minutes.</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>The last state seen: check <see cref="Enrollment.Status"/>, still Pending if the time ran out.</returns>
        /// <exception cref="ArgumentException"><paramref name="enrollmentId"/> is null or empty.</exception>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public Task<Enrollment> WaitForEnrollmentAsync(string enrollmentId, TimeSpan? timeout = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            Segment(enrollmentId, nameof(enrollmentId));
            return WaitLoop(w => GetEnrollmentAsync(enrollmentId, w, cancellationToken), e => e.Status != EnrollmentStatus.Pending,
                timeout ?? TimeSpan.FromMinutes(10));
        }

        /// <summary><c>DELETE /v1/enrollments/{id}</c>: the code stops working.</summary>
        /// <param name="enrollmentId">The enrollment (<c>enr_…</c>).</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>The cancelled enrollment.</returns>
        /// <exception cref="ArgumentException"><paramref name="enrollmentId"/> is null or empty.</exception>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<Enrollment> CancelEnrollmentAsync(string enrollmentId, CancellationToken cancellationToken = default(CancellationToken))
        {
            var j = await SendAsync("DELETE", "/v1/enrollments/" + Segment(enrollmentId, nameof(enrollmentId)), null, null, 0, cancellationToken)
                .ConfigureAwait(false);
            return Enrollment.From(j);
        }

        /// <summary>
        /// The QR image URL for an enrollment code (<c>enc_…</c>, see <see cref="CreatedEnrollment.Code"/>). It needs no
        /// API key: the code is the capability, so it can be an <c>&lt;img src&gt;</c> until the code is used or expires.
        /// </summary>
        /// <param name="enrollmentId">The enrollment (<c>enr_…</c>).</param>
        /// <param name="code">The enrollment code (<c>enc_…</c>, <see cref="CreatedEnrollment.Code"/>).</param>
        /// <param name="format"><see cref="QrFormat.Svg"/> (the default) or <see cref="QrFormat.Png"/>.</param>
        /// <returns><c>{BaseUrl}/v1/enrollments/{id}/qr.svg?code=…</c> (or <c>qr.png</c>).</returns>
        /// <exception cref="ArgumentException"><paramref name="enrollmentId"/> or <paramref name="code"/> is null or empty.</exception>
        public Uri GetEnrollmentQrUrl(string enrollmentId, string code, QrFormat format = QrFormat.Svg)
        {
            var ext = format == QrFormat.Png ? "png" : "svg";
            return new Uri(_base + "/v1/enrollments/" + Segment(enrollmentId, nameof(enrollmentId)) + "/qr." + ext + "?code="
                + Segment(code, nameof(code)));
        }

        // ── Devices ─────────────────────────────────────────────────────────────────────────────────

        /// <summary><c>GET /v1/users/{user_id}/devices</c>: active and revoked devices, no key material.</summary>
        /// <param name="userId">Your identifier for the user.</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>The user's devices, active and revoked; empty for an unknown user.</returns>
        /// <exception cref="ArgumentException"><paramref name="userId"/> is null or empty.</exception>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<IReadOnlyList<Device>> ListDevicesAsync(string userId, CancellationToken cancellationToken = default(CancellationToken))
        {
            var j = await SendAsync("GET", "/v1/users/" + Segment(userId, nameof(userId)) + "/devices", null, null, 0, cancellationToken)
                .ConfigureAwait(false);
            return j.Array("data").Select((x, i) => Device.From(new JsonObject(x, "data[" + i + "]"))).ToList();
        }

        /// <summary><c>DELETE /v1/devices/{id}</c>: its token stops working at once.</summary>
        /// <param name="deviceId">The device (<c>dev_…</c>).</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>The revoked device.</returns>
        /// <exception cref="ArgumentException"><paramref name="deviceId"/> is null or empty.</exception>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<Device> RevokeDeviceAsync(string deviceId, CancellationToken cancellationToken = default(CancellationToken))
        {
            var j = await SendAsync("DELETE", "/v1/devices/" + Segment(deviceId, nameof(deviceId)), null, null, 0, cancellationToken)
                .ConfigureAwait(false);
            return Device.From(j);
        }

        /// <summary><c>GET /v1/users/{user_id}/pause</c>: whether new challenges are paused after a "this wasn't me".</summary>
        /// <param name="userId">Your identifier for the user.</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>Whether the user is paused, since when and why.</returns>
        /// <exception cref="ArgumentException"><paramref name="userId"/> is null or empty.</exception>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<UserPause> GetUserPauseAsync(string userId, CancellationToken cancellationToken = default(CancellationToken))
        {
            var j = await SendAsync("GET", "/v1/users/" + Segment(userId, nameof(userId)) + "/pause", null, null, 0, cancellationToken)
                .ConfigureAwait(false);
            return UserPause.From(j);
        }

        /// <summary><c>DELETE /v1/users/{user_id}/pause</c>: challenges for the user work again (check with them first).</summary>
        /// <param name="userId">Your identifier for the user.</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>The pause as it is now: not paused.</returns>
        /// <exception cref="ArgumentException"><paramref name="userId"/> is null or empty.</exception>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<UserPause> ClearUserPauseAsync(string userId, CancellationToken cancellationToken = default(CancellationToken))
        {
            var j = await SendAsync("DELETE", "/v1/users/" + Segment(userId, nameof(userId)) + "/pause", null, null, 0, cancellationToken)
                .ConfigureAwait(false);
            return UserPause.From(j);
        }

        // ── Challenges ──────────────────────────────────────────────────────────────────────────────

        /// <summary><c>POST /v1/challenges</c>. Never retried automatically: a retry would push a second prompt.</summary>
        /// <param name="request">Whom to ask, and what the phone shows.</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>The pending challenge (decided already, if the call waited for the answer), with the number of devices asked.</returns>
        /// <exception cref="ArgumentNullException"><paramref name="request"/> is null.</exception>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<CreatedChallenge> CreateChallengeAsync(CreateChallengeRequest request, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            var j = await SendAsync("POST", "/v1/challenges", null, request.ToJson(), request.WaitSeconds ?? 0, cancellationToken)
                .ConfigureAwait(false);
            return CreatedChallenge.From(j);
        }

        /// <summary><c>GET /v1/challenges/{id}</c>, optionally waiting up to <paramref name="wait"/> (≤ 25 s) for a change.</summary>
        /// <param name="challengeId">The challenge (<c>chl_…</c>).</param>
        /// <param name="wait">How long the server may hold the call for a change: up to 25 s (longer is capped, negative is 0); null answers at once.</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>The challenge as it is now (or when it changed during the wait).</returns>
        /// <exception cref="ArgumentException"><paramref name="challengeId"/> is null or empty.</exception>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<Challenge> GetChallengeAsync(string challengeId, TimeSpan? wait = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            var seconds = WaitSeconds(wait);
            var j = await SendAsync("GET", "/v1/challenges/" + Segment(challengeId, nameof(challengeId)), WaitQuery(seconds), null, seconds ?? 0, cancellationToken)
                .ConfigureAwait(false);
            return Challenge.From(j);
        }

        /// <summary>
        /// Long-polls (25 s at a time) until the challenge is decided or <paramref name="timeout"/> (default 130 s,
        /// just past a challenge's default lifetime) has passed; returns the last state seen, so check
        /// <see cref="Challenge.Status"/>.
        /// </summary>
        /// <param name="challengeId">The challenge (<c>chl_…</c>).</param>
        /// <param name="timeout">How long to keep polling in all; null for 130 s.</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>The last state seen: check <see cref="Challenge.Status"/>, still Pending if the time ran out.</returns>
        /// <exception cref="ArgumentException"><paramref name="challengeId"/> is null or empty.</exception>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public Task<Challenge> WaitForResultAsync(string challengeId, TimeSpan? timeout = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            Segment(challengeId, nameof(challengeId));
            return WaitLoop(w => GetChallengeAsync(challengeId, w, cancellationToken), c => c.Status != ChallengeStatus.Pending,
                timeout ?? TimeSpan.FromSeconds(130));
        }

        /// <summary><c>DELETE /v1/challenges/{id}</c>.</summary>
        /// <param name="challengeId">The challenge (<c>chl_…</c>).</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>The cancelled challenge.</returns>
        /// <exception cref="ArgumentException"><paramref name="challengeId"/> is null or empty.</exception>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<Challenge> CancelChallengeAsync(string challengeId, CancellationToken cancellationToken = default(CancellationToken))
        {
            var j = await SendAsync("DELETE", "/v1/challenges/" + Segment(challengeId, nameof(challengeId)), null, null, 0, cancellationToken)
                .ConfigureAwait(false);
            return Challenge.From(j);
        }

        // ── Settings ────────────────────────────────────────────────────────────────────────────────

        /// <summary><c>GET /v1/settings</c>: the number-matching default, fraud auto-pause and rate limits.</summary>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>The application's settings.</returns>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<Settings> GetSettingsAsync(CancellationToken cancellationToken = default(CancellationToken))
        {
            var j = await SendAsync("GET", "/v1/settings", null, null, 0, cancellationToken).ConfigureAwait(false);
            return Settings.From(j);
        }

        /// <summary>
        /// <c>PATCH /v1/settings</c>: changes only what is set in <paramref name="update"/> and returns the effective
        /// settings. Retried like a GET: applying the same change twice leaves the same settings.
        /// </summary>
        /// <param name="update">What to change; null members are not sent and stay as they are.</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>The effective settings after the change.</returns>
        /// <exception cref="ArgumentNullException"><paramref name="update"/> is null.</exception>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<Settings> UpdateSettingsAsync(SettingsUpdate update, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (update == null) throw new ArgumentNullException(nameof(update));
            var j = await SendAsync("PATCH", "/v1/settings", null, update.ToJson(), 0, cancellationToken).ConfigureAwait(false);
            return Settings.From(j);
        }

        // ── Webhooks ────────────────────────────────────────────────────────────────────────────────

        /// <summary>
        /// <c>POST /v1/webhooks</c>: keep the returned <see cref="WebhookEndpointWithSecret.Secret"/> (shown only here)
        /// to verify deliveries. Not retried automatically, like every POST.
        /// </summary>
        /// <param name="request">Where events go, and which.</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>The endpoint with its signing secret.</returns>
        /// <exception cref="ArgumentNullException"><paramref name="request"/> is null.</exception>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<WebhookEndpointWithSecret> CreateWebhookAsync(CreateWebhookRequest request, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            var j = await SendAsync("POST", "/v1/webhooks", null, request.ToJson(), 0, cancellationToken).ConfigureAwait(false);
            return WebhookEndpointWithSecret.From(j);
        }

        /// <summary><c>GET /v1/webhooks</c>: the application's endpoints, without secrets.</summary>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>Every endpoint, active and deleted.</returns>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<IReadOnlyList<WebhookEndpoint>> ListWebhooksAsync(CancellationToken cancellationToken = default(CancellationToken))
        {
            var j = await SendAsync("GET", "/v1/webhooks", null, null, 0, cancellationToken).ConfigureAwait(false);
            return j.Array("data").Select((x, i) => WebhookEndpoint.From(new JsonObject(x, "data[" + i + "]"))).ToList();
        }

        /// <summary><c>GET /v1/webhooks/{id}</c>.</summary>
        /// <param name="webhookId">The endpoint (<c>whk_…</c>).</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>The endpoint, without its secret.</returns>
        /// <exception cref="ArgumentException"><paramref name="webhookId"/> is null or empty.</exception>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<WebhookEndpoint> GetWebhookAsync(string webhookId, CancellationToken cancellationToken = default(CancellationToken))
        {
            var j = await SendAsync("GET", "/v1/webhooks/" + Segment(webhookId, nameof(webhookId)), null, null, 0, cancellationToken)
                .ConfigureAwait(false);
            return WebhookEndpoint.From(j);
        }

        /// <summary><c>DELETE /v1/webhooks/{id}</c>: no more events; its pending deliveries are cancelled.</summary>
        /// <param name="webhookId">The endpoint (<c>whk_…</c>).</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>The endpoint, now <c>disabled</c>.</returns>
        /// <exception cref="ArgumentException"><paramref name="webhookId"/> is null or empty.</exception>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<WebhookEndpoint> DeleteWebhookAsync(string webhookId, CancellationToken cancellationToken = default(CancellationToken))
        {
            var j = await SendAsync("DELETE", "/v1/webhooks/" + Segment(webhookId, nameof(webhookId)), null, null, 0, cancellationToken)
                .ConfigureAwait(false);
            return WebhookEndpoint.From(j);
        }

        /// <summary>
        /// <c>POST /v1/webhooks/{id}/rotate-secret</c>: a new secret; the previous one keeps signing alongside it for
        /// <paramref name="previousSecretExpiresIn"/> (default 24 h; zero stops it at once).
        /// </summary>
        /// <param name="webhookId">The endpoint (<c>whk_…</c>).</param>
        /// <param name="previousSecretExpiresIn">How long the old secret keeps signing alongside the new one (whole seconds, at most 7 days); null for the server's default, 24 h.</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>The endpoint with its new secret.</returns>
        /// <exception cref="ArgumentException"><paramref name="webhookId"/> is null or empty.</exception>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<WebhookEndpointWithSecret> RotateWebhookSecretAsync(string webhookId, TimeSpan? previousSecretExpiresIn = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            var body = new Dictionary<string, object>();
            if (previousSecretExpiresIn.HasValue)
                body["previous_secret_expires_in_seconds"] = (long)Math.Max(0, Math.Floor(previousSecretExpiresIn.Value.TotalSeconds));
            var j = await SendAsync("POST", "/v1/webhooks/" + Segment(webhookId, nameof(webhookId)) + "/rotate-secret", null, body, 0, cancellationToken)
                .ConfigureAwait(false);
            return WebhookEndpointWithSecret.From(j);
        }

        /// <summary><c>GET /v1/webhooks/deliveries</c>: one page of the delivery log, newest first.</summary>
        /// <param name="query">Filters and paging; null for the first page of every delivery.</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>One page of deliveries.</returns>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<WebhookDeliveryPage> ListWebhookDeliveriesAsync(WebhookDeliveryQuery query = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            var q = query ?? new WebhookDeliveryQuery();
            var parameters = new List<KeyValuePair<string, string>>();
            Action<string, string> add = (k, v) => { if (v != null) parameters.Add(new KeyValuePair<string, string>(k, v)); };
            add("endpoint_id", q.EndpointId);
            add("event_id", q.EventId);
            add("status", q.Status);
            add("limit", q.Limit.HasValue ? q.Limit.Value.ToString(CultureInfo.InvariantCulture) : null);
            add("cursor", q.Cursor);
            var j = await SendAsync("GET", "/v1/webhooks/deliveries", parameters, null, 0, cancellationToken).ConfigureAwait(false);
            return WebhookDeliveryPage.From(j);
        }

        /// <summary><c>POST /v1/webhooks/deliveries/{id}/resend</c>: the same event again, as a new delivery.</summary>
        /// <param name="deliveryId">The delivery (<c>whd_…</c>).</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>The new, pending delivery.</returns>
        /// <exception cref="ArgumentException"><paramref name="deliveryId"/> is null or empty.</exception>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<WebhookDelivery> ResendWebhookDeliveryAsync(string deliveryId, CancellationToken cancellationToken = default(CancellationToken))
        {
            var j = await SendAsync("POST", "/v1/webhooks/deliveries/" + Segment(deliveryId, nameof(deliveryId)) + "/resend", null, null, 0, cancellationToken)
                .ConfigureAwait(false);
            return WebhookDelivery.From(j);
        }

        // ── Audit ───────────────────────────────────────────────────────────────────────────────────

        /// <summary><c>GET /v1/audit</c>: one page, newest first.</summary>
        /// <param name="query">Filters and paging; null for the first page of every event.</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>One page of events.</returns>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<AuditPage> ListAuditAsync(AuditQuery query = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            var q = query ?? new AuditQuery();
            var parameters = new List<KeyValuePair<string, string>>();
            Action<string, string> add = (k, v) => { if (v != null) parameters.Add(new KeyValuePair<string, string>(k, v)); };
            add("user_id", q.UserId);
            add("type", q.Type);
            add("outcome", q.Outcome);
            add("since", q.Since.HasValue ? Iso(q.Since.Value) : null);
            add("until", q.Until.HasValue ? Iso(q.Until.Value) : null);
            add("limit", q.Limit.HasValue ? q.Limit.Value.ToString(CultureInfo.InvariantCulture) : null);
            add("cursor", q.Cursor);
            var j = await SendAsync("GET", "/v1/audit", parameters, null, 0, cancellationToken).ConfigureAwait(false);
            return AuditPage.From(j);
        }

        /// <summary>
        /// <c>GET /v1/audit/verify</c>: the service seals what is recorded, recomputes one stretch of the
        /// application's audit hash chain and names the first broken link. Follow
        /// <see cref="AuditVerification.NextCursor"/> while <see cref="AuditVerification.HasMore"/>.
        /// </summary>
        /// <param name="query">Where to start and how many events to check; null for the service's default from the first event.</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>The verdict on one stretch.</returns>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<AuditVerification> VerifyAuditAsync(AuditVerifyQuery query = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            var q = query ?? new AuditVerifyQuery();
            var parameters = new List<KeyValuePair<string, string>>();
            if (q.Cursor != null) parameters.Add(new KeyValuePair<string, string>("cursor", q.Cursor));
            if (q.Limit.HasValue) parameters.Add(new KeyValuePair<string, string>("limit", q.Limit.Value.ToString(CultureInfo.InvariantCulture)));
            var j = await SendAsync("GET", "/v1/audit/verify", parameters, null, 0, cancellationToken).ConfigureAwait(false);
            return AuditVerification.From(j);
        }

        /// <summary>Every page from <see cref="AuditQuery.Cursor"/> on (<see cref="AuditQuery.Limit"/> is the page size), fetched as read.</summary>
        /// <param name="query">Filters, the page size and the cursor to start from; null for every event, pages of the server's default size.</param>
        /// <param name="cancellationToken">Cancels the reading (combined with a token given to <see cref="AsyncStream{T}.GetAsyncEnumerator"/>).</param>
        /// <returns>A stream that fetches the next page as it is read.</returns>
        /// <remarks>Nothing is fetched until the stream is read; its <see cref="AsyncStreamEnumerator{T}.MoveNextAsync"/> throws what <see cref="ListAuditAsync"/> throws.</remarks>
        public AsyncStream<AuditPage> GetAuditPagesAsync(AuditQuery query = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            var q = query ?? new AuditQuery();
            return new AsyncStream<AuditPage>(ct =>
            {
                var cursor = q.Cursor;
                var done = false;
                return new AsyncStreamEnumerator<AuditPage>(async token =>
                {
                    if (done) return null;
                    var page = await ListAuditAsync(q.WithCursor(cursor), token).ConfigureAwait(false);
                    if (!page.HasMore || page.NextCursor == null) done = true;
                    cursor = page.NextCursor;
                    return new[] { page };
                }, ct);
            }, cancellationToken);
        }

        /// <summary>
        /// Every matching event, newest first, fetching pages as the loop goes:
        /// <c>await foreach</c> in C# 8+, <see cref="AsyncStream{T}.ForEachAsync"/> in C# 7.
        /// </summary>
        /// <param name="query">Filters, the page size and the cursor to start from; null for every event.</param>
        /// <param name="cancellationToken">Cancels the reading (combined with a token given to <see cref="AsyncStream{T}.GetAsyncEnumerator"/>).</param>
        /// <returns>A stream of events that fetches the next page as it is read.</returns>
        /// <remarks>Nothing is fetched until the stream is read; its <see cref="AsyncStreamEnumerator{T}.MoveNextAsync"/> throws what <see cref="ListAuditAsync"/> throws.</remarks>
        public AsyncStream<AuditEvent> GetAuditEventsAsync(AuditQuery query = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            var pages = GetAuditPagesAsync(query);
            return new AsyncStream<AuditEvent>(ct =>
            {
                var e = pages.GetAsyncEnumerator(ct);
                return new AsyncStreamEnumerator<AuditEvent>(async token =>
                    await e.MoveNextAsync().ConfigureAwait(false) ? e.Current.Data : null, ct, e);
            }, cancellationToken);
        }

        /// <summary>
        /// The whole chain verified by the service, stretch by stretch (<see cref="VerifyAuditAsync"/> following
        /// <see cref="AuditVerification.NextCursor"/>): the first broken stretch, or else the last one, with
        /// <see cref="AuditVerification.Checked"/> summed over all of them. Keep <see cref="AuditVerification.Head"/>'s
        /// hash to pass to <see cref="VerifyAuditOfflineAsync"/> later.
        /// </summary>
        /// <param name="limit">Events to check per call, 1–10 000; null for the service's default (2000).</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>The first broken stretch, or the last stretch with the total checked.</returns>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<AuditVerification> VerifyAuditChainAsync(int? limit = null, CancellationToken cancellationToken = default(CancellationToken))
        {
            string cursor = null;
            var total = 0;
            for (;;)
            {
                var v = await VerifyAuditAsync(new AuditVerifyQuery { Cursor = cursor, Limit = limit }, cancellationToken).ConfigureAwait(false);
                total += v.Checked;
                if (!v.Ok || !v.HasMore || v.NextCursor == null)
                {
                    v.Checked = total;
                    return v;
                }
                cursor = v.NextCursor;
            }
        }

        /// <summary>
        /// Verifies the exported trail here, without trusting the service's own check: every page of
        /// <c>GET /v1/audit</c> through an <see cref="AuditChainVerifier"/>, from the newest event back to the
        /// application's first (it stops fetching at the first broken link). With <paramref name="knownHash"/>,
        /// a <see cref="AuditChainHead.Hash"/> kept from an earlier verification, it also checks that hash is
        /// still in the chain (else <c>known_hash_missing</c>: history before it was rewritten).
        /// </summary>
        /// <param name="pageSize">Events per <c>GET /v1/audit</c> page, 1–200; null for 200.</param>
        /// <param name="knownHash">A <see cref="AuditChainHead.Hash"/> kept from an earlier verification, to find in the chain; null to skip that check.</param>
        /// <param name="cancellationToken">Cancels the call, including any wait between attempts.</param>
        /// <returns>Ok with the events checked, or the first broken link.</returns>
        /// <exception cref="EncrypxonException">The API answered with an error: its problem details (e.g. 404 <c>not-found</c>, 400 <c>invalid-request</c>).</exception>
        /// <exception cref="EncrypxonConnectionException">The API could not be reached, after any retries, or an attempt timed out.</exception>
        /// <exception cref="EncrypxonClientException">The answer is not what the API sends (not JSON, a field missing).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<AuditChainResult> VerifyAuditOfflineAsync(int? pageSize = null, string knownHash = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            var verifier = new AuditChainVerifier();
            var seen = knownHash == null;
            using (var pages = GetAuditPagesAsync(new AuditQuery { Limit = pageSize ?? 200 }, cancellationToken).GetAsyncEnumerator())
            {
                while (await pages.MoveNextAsync().ConfigureAwait(false))
                {
                    var data = pages.Current.Data;
                    verifier.Add(data);
                    if (!seen && data.Any(e => e.Hash == knownHash)) seen = true;
                    if (!verifier.Result().Ok) break;
                }
            }
            var result = verifier.Result(true);
            if (result.Ok && !seen)
                return new AuditChainResult { Ok = false, EventId = "", Reason = "known_hash_missing", Checked = result.Checked, Unsealed = result.Unsealed };
            return result;
        }

        // ── Plumbing ────────────────────────────────────────────────────────────────────────────────

        private static string Iso(DateTimeOffset t) =>
            t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

        private static string Segment(string value, string name)
        {
            if (string.IsNullOrEmpty(value)) throw new ArgumentException(name + " is required", name);
            return Uri.EscapeDataString(value);
        }

        private static int? WaitSeconds(TimeSpan? wait)
        {
            if (!wait.HasValue) return null;
            return (int)Math.Max(0, Math.Min(MaxWaitSeconds, Math.Floor(wait.Value.TotalSeconds)));
        }

        private static List<KeyValuePair<string, string>> WaitQuery(int? seconds)
        {
            var q = new List<KeyValuePair<string, string>>();
            if (seconds.HasValue) q.Add(new KeyValuePair<string, string>("wait", seconds.Value.ToString(CultureInfo.InvariantCulture)));
            return q;
        }

        private static async Task<T> WaitLoop<T>(Func<TimeSpan, Task<T>> poll, Func<T, bool> settled, TimeSpan timeout)
        {
            var clock = Stopwatch.StartNew();
            for (;;)
            {
                var left = timeout - clock.Elapsed;
                var wait = TimeSpan.FromSeconds(Math.Max(0, Math.Min(MaxWaitSeconds, Math.Floor(left.TotalSeconds))));
                var state = await poll(wait).ConfigureAwait(false);
                // Less than a second left: a poll that cannot wait would only add a request.
                if (settled(state) || timeout - clock.Elapsed < TimeSpan.FromSeconds(1)) return state;
            }
        }

        private async Task<JsonObject> SendAsync(
            string method,
            string path,
            IEnumerable<KeyValuePair<string, string>> query,
            Dictionary<string, object> body,
            int waitSeconds,
            CancellationToken cancellationToken)
        {
            var url = _base + path;
            if (query != null)
            {
                var qs = string.Join("&", query.Select(kv => Uri.EscapeDataString(kv.Key) + "=" + Uri.EscapeDataString(kv.Value)));
                if (qs.Length > 0) url += "?" + qs;
            }
            var label = method + " " + path;
            var json = body == null ? null : Json.Serialize(body);
            // PATCH /v1/settings sets values (no increments), so a repeat is harmless; a POST may not be.
            var idempotent = method != "POST";
            var attemptTimeout = AttemptTimeout(waitSeconds);
            var timed = attemptTimeout != System.Threading.Timeout.InfiniteTimeSpan;

            for (var attempt = 0; ; attempt++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var canRetry = idempotent && attempt < _maxRetries;
                Exception failure = null;
                TimeSpan? retryAfter = null;
                using (var request = new HttpRequestMessage(new HttpMethod(method), url))
                using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    request.Headers.TryAddWithoutValidation("X-API-Key", _apiKey);
                    request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
                    request.Headers.TryAddWithoutValidation("User-Agent", "encrypxon-csharp/" + Version);
                    if (json != null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
                    if (timed) deadline.CancelAfter(attemptTimeout);
                    HttpResponseMessage response = null;
                    string text = null;
                    try
                    {
                        response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, deadline.Token).ConfigureAwait(false);
                        text = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                    {
                        response?.Dispose();
                        throw;
                    }
                    catch (OperationCanceledException e)
                    {
                        response?.Dispose();
                        // Without a deadline of ours, what gave up is the HttpClient passed in (its own Timeout).
                        failure = new TimeoutException(timed
                            ? "no answer within " + attemptTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture) + " s"
                            : "the HttpClient gave up waiting for an answer (its Timeout?)", e);
                    }
                    catch (HttpRequestException e)
                    {
                        response?.Dispose();
                        failure = e;
                    }
                    catch (System.IO.IOException e)
                    {
                        response?.Dispose();
                        failure = e;
                    }

                    if (failure == null)
                    {
                        using (response)
                        {
                            var status = (int)response.StatusCode;
                            if (status >= 200 && status < 300)
                            {
                                object parsed;
                                try
                                {
                                    parsed = Json.Parse(text);
                                }
                                catch (FormatException e)
                                {
                                    throw new EncrypxonClientException("unexpected answer from the API to " + label + ": " + e.Message, e);
                                }
                                return new JsonObject(parsed, "the answer to " + label);
                            }
                            retryAfter = RetryAfterOf(response);
                            if (!canRetry || !RetryableStatus.Contains(status))
                                throw EncrypxonException.FromResponse(status, response.ReasonPhrase, text, label, retryAfter);
                        }
                    }
                    else if (!canRetry)
                    {
                        throw new EncrypxonConnectionException(label, BaseUrl, failure);
                    }
                }
                await Sleep(Backoff(attempt, retryAfter), cancellationToken).ConfigureAwait(false);
            }
        }

        private static TimeSpan? RetryAfterOf(HttpResponseMessage response)
        {
            var h = response.Headers.RetryAfter;
            if (h == null) return null;
            if (h.Delta.HasValue) return h.Delta.Value;
            if (h.Date.HasValue)
            {
                var d = h.Date.Value - DateTimeOffset.UtcNow;
                return d < TimeSpan.Zero ? TimeSpan.Zero : d;
            }
            return null;
        }

        /// <summary>Full-jitter exponential backoff; a server's Retry-After wins, within the cap.</summary>
        internal TimeSpan Backoff(int attempt, TimeSpan? retryAfter)
        {
            if (retryAfter.HasValue) return retryAfter.Value < _maxRetryDelay ? retryAfter.Value : _maxRetryDelay;
            var ceiling = Math.Min(_maxRetryDelay.TotalMilliseconds, _retryDelay.TotalMilliseconds * Math.Pow(2, attempt));
            double r;
            lock (Jitter) r = Jitter.NextDouble();
            return TimeSpan.FromMilliseconds(r * ceiling);
        }
    }
}
