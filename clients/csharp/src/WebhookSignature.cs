// Verifies the Encrypxon-Signature header of a webhook delivery:
//   Encrypxon-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=…]
// over "<t>.<raw body>", keyed with the UTF-8 bytes of the whole whsec_… secret.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Encrypxon
{
    /// <summary>Why a webhook delivery was refused.</summary>
    public enum WebhookVerificationFailure
    {
        /// <summary>No signature header, or no <c>t</c> or no <c>v1</c> in it, or a malformed one.</summary>
        MalformedHeader,
        /// <summary>The timestamp is further from now than the tolerance (a replay, or a clock far off).</summary>
        TimestampOutOfTolerance,
        /// <summary>No <c>v1</c> signature matches: wrong secret, or the body or timestamp was altered.</summary>
        SignatureMismatch,
        /// <summary>The signature matched but the body is not a JSON event.</summary>
        InvalidPayload,
    }

    /// <summary>A webhook delivery that must not be trusted; <see cref="Failure"/> says why.</summary>
    public sealed class WebhookVerificationException : EncrypxonClientException
    {
        /// <summary>A refusal for <paramref name="failure"/>.</summary>
        public WebhookVerificationException(WebhookVerificationFailure failure, string message) : base(message)
        {
            Failure = failure;
        }

        /// <summary>Why the delivery was refused.</summary>
        public WebhookVerificationFailure Failure { get; }
    }

    /// <summary>
    /// A verified webhook event: <c>{"id":"wev_…","type":"…","created_at":"…","data":{…}}</c>. <see cref="Challenge"/>,
    /// <see cref="Enrollment"/> and <see cref="Device"/> read <see cref="Data"/> as the library's models, as the
    /// JavaScript SDK's <c>WebhookEvent</c> type does.
    /// </summary>
    public sealed class WebhookEvent
    {
        /// <summary><c>wev_…</c>, the same on every delivery attempt of the event: use it to drop duplicates.</summary>
        public string Id { get; set; }

        /// <summary><c>challenge.approved</c>, <c>challenge.denied</c>, <c>challenge.expired</c>, <c>challenge.cancelled</c>, <c>challenge.failed</c> or <c>enrollment.completed</c>.</summary>
        public string Type { get; set; }

        /// <summary>When the event happened.</summary>
        public DateTimeOffset CreatedAt { get; set; }

        /// <summary>The event's object as parsed JSON (string, long, double, bool, null, lists and dictionaries).</summary>
        public IReadOnlyDictionary<string, object> Data { get; set; }

        /// <summary>
        /// For <c>challenge.*</c> events: <c>data.challenge</c>, exactly what <c>GET /v1/challenges/{id}</c> answers
        /// (<see cref="Encrypxon.Challenge.UserId"/>, <see cref="Encrypxon.Challenge.Status"/>, …); null when the event has none.
        /// </summary>
        /// <exception cref="EncrypxonClientException"><c>data.challenge</c> is not a challenge (a field missing or mistyped).</exception>
        public Challenge Challenge => Member("challenge", j => Encrypxon.Challenge.From(j));

        /// <summary>For <c>enrollment.completed</c>: <c>data.enrollment</c>; null when the event has none.</summary>
        /// <exception cref="EncrypxonClientException"><c>data.enrollment</c> is not an enrollment (a field missing or mistyped).</exception>
        public WebhookEnrollment Enrollment => Member("enrollment", WebhookEnrollment.From);

        /// <summary>
        /// For <c>enrollment.completed</c>: <c>data.device</c>, the enrolled device as <c>GET /v1/users/{user_id}/devices</c>
        /// lists it; null when the event has none.
        /// </summary>
        /// <exception cref="EncrypxonClientException"><c>data.device</c> is not a device (a field missing or mistyped).</exception>
        public Device Device => Member("device", j => Encrypxon.Device.From(j));

        private TModel Member<TModel>(string name, Func<JsonObject, TModel> read) where TModel : class
        {
            object value;
            if (Data == null || !Data.TryGetValue(name, out value) || value == null) return null;
            return read(new JsonObject(value, "the webhook event's data." + name));
        }
    }

    /// <summary>
    /// The enrollment an <c>enrollment.completed</c> event carries (<see cref="WebhookEvent.Enrollment"/>): fewer
    /// fields than <see cref="Encrypxon.Enrollment"/>; <see cref="Encrypxon2FaClient.GetEnrollmentAsync"/> has the rest.
    /// </summary>
    public sealed class WebhookEnrollment
    {
        /// <summary><c>enr_…</c></summary>
        public string Id { get; set; }

        /// <summary>Your identifier for the user.</summary>
        public string UserId { get; set; }

        /// <summary>Completed.</summary>
        public EnrollmentStatus Status { get; set; }

        /// <summary>The enrolled device (<c>dev_…</c>).</summary>
        public string DeviceId { get; set; }

        /// <summary>When the device completed it.</summary>
        public DateTimeOffset? CompletedAt { get; set; }

        internal static WebhookEnrollment From(JsonObject j)
        {
            return new WebhookEnrollment
            {
                Id = j.String("id"),
                UserId = j.String("user_id"),
                Status = Wire.Enrollment(j.String("status")),
                DeviceId = j.OptionalString("device_id"),
                CompletedAt = j.OptionalTime("completed_at"),
            };
        }
    }

    /// <summary>Checks that a webhook delivery came from Encrypxon, and reads its event.</summary>
    public static class WebhookSignature
    {
        /// <summary>The signature header: <c>t=&lt;unix seconds&gt;,v1=&lt;hex&gt;</c>.</summary>
        public const string SignatureHeader = "Encrypxon-Signature";

        /// <summary>The event id header (<c>wev_…</c>).</summary>
        public const string EventIdHeader = "Encrypxon-Event-Id";

        /// <summary>The event type header, e.g. <c>challenge.approved</c>.</summary>
        public const string EventTypeHeader = "Encrypxon-Event-Type";

        /// <summary>The delivery attempt header: 1 for the first.</summary>
        public const string DeliveryAttemptHeader = "Encrypxon-Delivery-Attempt";

        /// <summary>How far the signed time may be from now by default: 300 s.</summary>
        public static readonly TimeSpan DefaultTolerance = TimeSpan.FromSeconds(300);

        /// <summary>
        /// Verifies <paramref name="signatureHeader"/> over the raw request body (exactly the bytes received: read
        /// it before any JSON parsing) and returns the event; throws <see cref="WebhookVerificationException"/>
        /// otherwise. Any one matching <c>v1</c> accepts (there are two while a secret is being rotated).
        /// </summary>
        /// <param name="body">The raw request body.</param>
        /// <param name="signatureHeader">The <c>Encrypxon-Signature</c> header's value.</param>
        /// <param name="secret">The endpoint's <c>whsec_…</c> secret, whole.</param>
        /// <param name="tolerance">How far the signed time may be from now; default <see cref="DefaultTolerance"/>.</param>
        /// <param name="now">The current time; default the system clock.</param>
        /// <returns>The event.</returns>
        /// <exception cref="ArgumentNullException"><paramref name="body"/> is null.</exception>
        /// <exception cref="ArgumentException"><paramref name="secret"/> is null or empty.</exception>
        /// <exception cref="WebhookVerificationException">The delivery must not be trusted; its <see cref="WebhookVerificationException.Failure"/> says why.</exception>
        public static WebhookEvent Verify(byte[] body, string signatureHeader, string secret, TimeSpan? tolerance = null, DateTimeOffset? now = null)
        {
            if (body == null) throw new ArgumentNullException(nameof(body));
            if (string.IsNullOrEmpty(secret)) throw new ArgumentException("secret is required", nameof(secret));
            return Verify(body, signatureHeader, new[] { secret }, tolerance, now);
        }

        /// <summary>
        /// As <see cref="Verify(byte[], string, string, TimeSpan?, DateTimeOffset?)"/> with several secrets, for the
        /// overlap of a rotation (<see cref="Encrypxon2FaClient.RotateWebhookSecretAsync"/>): a <c>v1</c> made with any one
        /// of them accepts. Pass the new secret and the previous one until the previous one expires.
        /// </summary>
        /// <param name="body">The raw request body.</param>
        /// <param name="signatureHeader">The <c>Encrypxon-Signature</c> header's value.</param>
        /// <param name="secrets">The endpoint's <c>whsec_…</c> secrets, whole: at least one.</param>
        /// <param name="tolerance">How far the signed time may be from now; default <see cref="DefaultTolerance"/>.</param>
        /// <param name="now">The current time; default the system clock.</param>
        /// <returns>The event.</returns>
        /// <exception cref="ArgumentNullException"><paramref name="body"/> or <paramref name="secrets"/> is null.</exception>
        /// <exception cref="ArgumentException"><paramref name="secrets"/> is empty or holds a null or empty secret.</exception>
        /// <exception cref="WebhookVerificationException">The delivery must not be trusted; its <see cref="WebhookVerificationException.Failure"/> says why.</exception>
        public static WebhookEvent Verify(byte[] body, string signatureHeader, IEnumerable<string> secrets, TimeSpan? tolerance = null, DateTimeOffset? now = null)
        {
            if (body == null) throw new ArgumentNullException(nameof(body));
            if (secrets == null) throw new ArgumentNullException(nameof(secrets));
            var keys = new List<string>(secrets);
            if (keys.Count == 0) throw new ArgumentException("at least one secret is required", nameof(secrets));
            if (keys.Exists(string.IsNullOrEmpty)) throw new ArgumentException("a secret is null or empty", nameof(secrets));
            string t = null;
            var signatures = new List<byte[]>();
            foreach (var entry in (signatureHeader ?? "").Split(','))
            {
                var eq = entry.IndexOf('=');
                if (eq < 0) continue;
                var key = entry.Substring(0, eq).Trim();
                var value = entry.Substring(eq + 1).Trim();
                if (key == "t") t = value;
                else if (key == "v1")
                {
                    var bytes = FromHex(value);
                    // A v1 that is not 32 bytes of hex cannot match: kept out rather than failing the header.
                    if (bytes != null && bytes.Length == 32) signatures.Add(bytes);
                    else signatures.Add(new byte[0]);
                }
            }
            long seconds;
            if (t == null || t.Length == 0 || t.Length > 15 || !IsDigits(t) || !long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out seconds))
                throw new WebhookVerificationException(WebhookVerificationFailure.MalformedHeader, "the signature header has no valid t=");
            if (signatures.Count == 0)
                throw new WebhookVerificationException(WebhookVerificationFailure.MalformedHeader, "the signature header has no v1=");

            var clock = (now ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds();
            var limit = (long)(tolerance ?? DefaultTolerance).TotalSeconds;
            if (Math.Abs(clock - seconds) > limit)
                throw new WebhookVerificationException(WebhookVerificationFailure.TimestampOutOfTolerance,
                    "the signature's timestamp is more than " + limit + " s from now");

            var match = false;
            foreach (var key in keys)
            {
                var expected = Compute(t, body, key);
                foreach (var s in signatures) match |= FixedTimeEquals(expected, s);
            }
            if (!match)
                throw new WebhookVerificationException(WebhookVerificationFailure.SignatureMismatch,
                    keys.Count == 1 ? "no v1 signature matches" : "no v1 signature matches any of the " + keys.Count + " secrets");

            return ReadEvent(body);
        }

        /// <summary>
        /// As <see cref="Verify(byte[], string, string, TimeSpan?, DateTimeOffset?)"/> for a body held as text; it is
        /// encoded as UTF-8, so pass it exactly as received.
        /// </summary>
        /// <param name="body">The raw request body, as text.</param>
        /// <param name="signatureHeader">The <c>Encrypxon-Signature</c> header's value.</param>
        /// <param name="secret">The endpoint's <c>whsec_…</c> secret, whole.</param>
        /// <param name="tolerance">How far the signed time may be from now; default <see cref="DefaultTolerance"/>.</param>
        /// <param name="now">The current time; default the system clock.</param>
        /// <returns>The event.</returns>
        /// <exception cref="ArgumentNullException"><paramref name="body"/> is null.</exception>
        /// <exception cref="ArgumentException"><paramref name="secret"/> is null or empty.</exception>
        /// <exception cref="WebhookVerificationException">The delivery must not be trusted; its <see cref="WebhookVerificationException.Failure"/> says why.</exception>
        public static WebhookEvent Verify(string body, string signatureHeader, string secret, TimeSpan? tolerance = null, DateTimeOffset? now = null)
        {
            if (body == null) throw new ArgumentNullException(nameof(body));
            return Verify(Encoding.UTF8.GetBytes(body), signatureHeader, secret, tolerance, now);
        }

        /// <summary>
        /// As <see cref="Verify(byte[], string, IEnumerable{string}, TimeSpan?, DateTimeOffset?)"/> (several secrets, during a
        /// rotation) for a body held as text; it is encoded as UTF-8, so pass it exactly as received.
        /// </summary>
        /// <param name="body">The raw request body, as text.</param>
        /// <param name="signatureHeader">The <c>Encrypxon-Signature</c> header's value.</param>
        /// <param name="secrets">The endpoint's <c>whsec_…</c> secrets, whole: at least one.</param>
        /// <param name="tolerance">How far the signed time may be from now; default <see cref="DefaultTolerance"/>.</param>
        /// <param name="now">The current time; default the system clock.</param>
        /// <returns>The event.</returns>
        /// <exception cref="ArgumentNullException"><paramref name="body"/> or <paramref name="secrets"/> is null.</exception>
        /// <exception cref="ArgumentException"><paramref name="secrets"/> is empty or holds a null or empty secret.</exception>
        /// <exception cref="WebhookVerificationException">The delivery must not be trusted; its <see cref="WebhookVerificationException.Failure"/> says why.</exception>
        public static WebhookEvent Verify(string body, string signatureHeader, IEnumerable<string> secrets, TimeSpan? tolerance = null, DateTimeOffset? now = null)
        {
            if (body == null) throw new ArgumentNullException(nameof(body));
            return Verify(Encoding.UTF8.GetBytes(body), signatureHeader, secrets, tolerance, now);
        }

        /// <summary>The header value Encrypxon would send for <paramref name="body"/> at <paramref name="timestamp"/>: for testing your endpoint.</summary>
        public static string Sign(byte[] body, string secret, DateTimeOffset timestamp)
        {
            if (body == null) throw new ArgumentNullException(nameof(body));
            if (string.IsNullOrEmpty(secret)) throw new ArgumentException("secret is required", nameof(secret));
            var t = timestamp.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
            return "t=" + t + ",v1=" + ToHex(Compute(t, body, secret));
        }

        private static byte[] Compute(string t, byte[] body, string secret)
        {
            var prefix = Encoding.ASCII.GetBytes(t + ".");
            var signed = new byte[prefix.Length + body.Length];
            Buffer.BlockCopy(prefix, 0, signed, 0, prefix.Length);
            Buffer.BlockCopy(body, 0, signed, prefix.Length, body.Length);
            using (var hmac = new HMACSHA256(Encoding.UTF8.GetBytes(secret)))
            {
                return hmac.ComputeHash(signed);
            }
        }

        private static bool IsDigits(string s)
        {
            foreach (var c in s)
            {
                if (c < '0' || c > '9') return false;
            }
            return true;
        }

        /// <summary>Compares without an early exit, so the time taken does not tell how much of a guess was right.</summary>
        private static bool FixedTimeEquals(byte[] a, byte[] b)
        {
            if (a.Length != b.Length) return false;
            var diff = 0;
            for (var i = 0; i < a.Length; i++) diff |= a[i] ^ b[i];
            return diff == 0;
        }

        private static byte[] FromHex(string hex)
        {
            if (hex.Length % 2 != 0) return null;
            var bytes = new byte[hex.Length / 2];
            for (var i = 0; i < bytes.Length; i++)
            {
                var hi = Nibble(hex[2 * i]);
                var lo = Nibble(hex[2 * i + 1]);
                if (hi < 0 || lo < 0) return null;
                bytes[i] = (byte)((hi << 4) | lo);
            }
            return bytes;
        }

        private static int Nibble(char c)
        {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            return -1;
        }

        private static string ToHex(byte[] bytes)
        {
            var sb = new StringBuilder(bytes.Length * 2);
            foreach (var b in bytes) sb.Append(b.ToString("x2", CultureInfo.InvariantCulture));
            return sb.ToString();
        }

        private static WebhookEvent ReadEvent(byte[] body)
        {
            try
            {
                var j = new JsonObject(Json.Parse(new UTF8Encoding(false, true).GetString(body)), "the webhook event");
                return new WebhookEvent
                {
                    Id = j.String("id"),
                    Type = j.String("type"),
                    CreatedAt = j.Time("created_at"),
                    Data = j.OptionalDictionary("data") ?? new Dictionary<string, object>(),
                };
            }
            catch (Exception e) when (e is FormatException || e is ArgumentException || e is EncrypxonClientException)
            {
                throw new WebhookVerificationException(WebhookVerificationFailure.InvalidPayload, "the webhook body is not a JSON event: " + e.Message);
            }
        }
    }
}
