// The wire shapes of the Encrypxon API v1 (docs/api.md) as .NET types: PascalCase properties for the
// snake_case fields, DateTimeOffset for the ISO-8601 timestamps, enums for the statuses.
using System;
using System.Collections.Generic;
using System.Linq;

namespace Encrypxon
{
    /// <summary>Where an enrollment stands.</summary>
    public enum EnrollmentStatus
    {
        /// <summary>A status this version of the library does not know (a newer server).</summary>
        Unknown = 0,
        /// <summary>Waiting for the phone to scan the code.</summary>
        Pending,
        /// <summary>A device enrolled and activated; see <see cref="Enrollment.DeviceId"/>.</summary>
        Completed,
        /// <summary>Its lifetime passed without a device.</summary>
        Expired,
        /// <summary>Cancelled by the application.</summary>
        Cancelled,
    }

    /// <summary>Where a challenge stands.</summary>
    public enum ChallengeStatus
    {
        /// <summary>A status this version of the library does not know (a newer server).</summary>
        Unknown = 0,
        /// <summary>Waiting for the user's answer.</summary>
        Pending,
        /// <summary>The user approved on a device: let them in.</summary>
        Approved,
        /// <summary>The user denied; <see cref="Challenge.Reason"/> may say why.</summary>
        Denied,
        /// <summary>Nobody answered in time.</summary>
        Expired,
        /// <summary>Cancelled by the application, or superseded by a newer challenge.</summary>
        Cancelled,
        /// <summary>Too many wrong answers (<see cref="Challenge.Reason"/> is <c>too_many_wrong_answers</c>).</summary>
        Failed,
    }

    /// <summary>Whether a device can still be challenged.</summary>
    public enum DeviceStatus
    {
        /// <summary>A status this version of the library does not know (a newer server).</summary>
        Unknown = 0,
        /// <summary>Enrolled but not yet activated.</summary>
        Pending,
        /// <summary>Receives challenges.</summary>
        Active,
        /// <summary>Revoked by the application or removed by the user; its token no longer works.</summary>
        Revoked,
    }

    /// <summary>The device's key type, chosen by the phone at enrollment.</summary>
    public enum KeyFormat
    {
        /// <summary>A format this version of the library does not know (a newer server).</summary>
        Unknown = 0,
        /// <summary><c>ecies-p256</c>: Apple Secure Enclave byte format.</summary>
        EciesP256,
        /// <summary><c>rsa-oaep-sha1</c>: Android Keystore.</summary>
        RsaOaepSha1,
        /// <summary><c>rsa-oaep-sha256</c>.</summary>
        RsaOaepSha256,
    }

    /// <summary>The image format of an enrollment's QR code.</summary>
    public enum QrFormat
    {
        /// <summary><c>qr.svg</c>, <c>image/svg+xml</c>.</summary>
        Svg,
        /// <summary><c>qr.png</c>, <c>image/png</c>.</summary>
        Png,
    }

    internal static class Wire
    {
        public static EnrollmentStatus Enrollment(string s)
        {
            switch (s)
            {
                case "pending": return EnrollmentStatus.Pending;
                case "completed": return EnrollmentStatus.Completed;
                case "expired": return EnrollmentStatus.Expired;
                case "cancelled": return EnrollmentStatus.Cancelled;
                default: return EnrollmentStatus.Unknown;
            }
        }

        public static ChallengeStatus Challenge(string s)
        {
            switch (s)
            {
                case "pending": return ChallengeStatus.Pending;
                case "approved": return ChallengeStatus.Approved;
                case "denied": return ChallengeStatus.Denied;
                case "expired": return ChallengeStatus.Expired;
                case "cancelled": return ChallengeStatus.Cancelled;
                case "failed": return ChallengeStatus.Failed;
                default: return ChallengeStatus.Unknown;
            }
        }

        public static DeviceStatus Device(string s)
        {
            switch (s)
            {
                case "pending": return DeviceStatus.Pending;
                case "active": return DeviceStatus.Active;
                case "revoked": return DeviceStatus.Revoked;
                default: return DeviceStatus.Unknown;
            }
        }

        public static KeyFormat Key(string s)
        {
            switch (s)
            {
                case "ecies-p256": return KeyFormat.EciesP256;
                case "rsa-oaep-sha1": return KeyFormat.RsaOaepSha1;
                case "rsa-oaep-sha256": return KeyFormat.RsaOaepSha256;
                default: return KeyFormat.Unknown;
            }
        }
    }

    /// <summary>The body of <c>POST /v1/enrollments</c>.</summary>
    public sealed class CreateEnrollmentRequest
    {
        /// <summary>Your identifier for the user (1–256 characters). Required.</summary>
        public string UserId { get; set; }

        /// <summary>Shown on the phone (≤ 100 characters); the server uses <see cref="UserId"/> when null.</summary>
        public string UserLabel { get; set; }

        /// <summary>The code's lifetime in seconds, 60–3600; the server's default (600) when null.</summary>
        public int? TtlSeconds { get; set; }

        internal Dictionary<string, object> ToJson()
        {
            var body = new Dictionary<string, object> { { "user_id", UserId } };
            if (UserLabel != null) body["user_label"] = UserLabel;
            if (TtlSeconds.HasValue) body["ttl_seconds"] = TtlSeconds.Value;
            return body;
        }
    }

    /// <summary>An enrollment: one user's phone being added, from <c>GET /v1/enrollments/{id}</c>.</summary>
    public class Enrollment
    {
        /// <summary><c>enr_…</c></summary>
        public string Id { get; set; }

        /// <summary>Your identifier for the user.</summary>
        public string UserId { get; set; }

        /// <summary>What the phone shows for the user.</summary>
        public string UserLabel { get; set; }

        /// <summary>Pending until a device enrolls, then Completed (or Expired, Cancelled).</summary>
        public EnrollmentStatus Status { get; set; }

        /// <summary>The enrolled device (<c>dev_…</c>) once completed, else null.</summary>
        public string DeviceId { get; set; }

        /// <summary>When it was created.</summary>
        public DateTimeOffset CreatedAt { get; set; }

        /// <summary>When the code stops working.</summary>
        public DateTimeOffset ExpiresAt { get; set; }

        /// <summary>When the device completed it, else null.</summary>
        public DateTimeOffset? CompletedAt { get; set; }

        internal void Read(JsonObject j)
        {
            Id = j.String("id");
            UserId = j.String("user_id");
            UserLabel = j.String("user_label");
            Status = Wire.Enrollment(j.String("status"));
            DeviceId = j.OptionalString("device_id");
            CreatedAt = j.Time("created_at");
            ExpiresAt = j.Time("expires_at");
            CompletedAt = j.OptionalTime("completed_at");
        }

        internal static Enrollment From(JsonObject j)
        {
            var e = new Enrollment();
            e.Read(j);
            return e;
        }
    }

    /// <summary>The answer to <c>POST /v1/enrollments</c>: the only time the enrollment code is visible.</summary>
    public sealed class CreatedEnrollment : Enrollment
    {
        /// <summary><c>encrypxon://enroll?…&amp;code=enc_…</c>: what the QR code holds; show it only to the user.</summary>
        public string EnrollmentUri { get; set; }

        /// <summary>The QR code as an SVG image; usable as an <c>&lt;img src&gt;</c> without the API key.</summary>
        public Uri QrSvgUrl { get; set; }

        /// <summary>The enrollment code (<c>enc_…</c>) taken from <see cref="EnrollmentUri"/>, or null.</summary>
        public string Code
        {
            get
            {
                if (EnrollmentUri == null) return null;
                var q = EnrollmentUri.IndexOf('?');
                if (q < 0) return null;
                foreach (var part in EnrollmentUri.Substring(q + 1).Split('&'))
                {
                    if (part.StartsWith("code=", StringComparison.Ordinal)) return Uri.UnescapeDataString(part.Substring(5));
                }
                return null;
            }
        }

        internal static new CreatedEnrollment From(JsonObject j)
        {
            var e = new CreatedEnrollment();
            e.Read(j);
            e.EnrollmentUri = j.String("enrollment_uri");
            e.QrSvgUrl = new Uri(j.String("qr_svg_url"));
            return e;
        }
    }

    /// <summary>An enrolled device, as the application sees it (no key material).</summary>
    public sealed class Device
    {
        /// <summary><c>dev_…</c></summary>
        public string Id { get; set; }

        /// <summary>The user it belongs to.</summary>
        public string UserId { get; set; }

        /// <summary>The name the phone gave at enrollment, or null.</summary>
        public string Name { get; set; }

        /// <summary>The platform the phone reported, or null.</summary>
        public string Platform { get; set; }

        /// <summary>The device's key type.</summary>
        public KeyFormat KeyFormat { get; set; }

        /// <summary>Active, Revoked (or Pending before activation).</summary>
        public DeviceStatus Status { get; set; }

        /// <summary>The enrollment (<c>enr_…</c>) that added it, or null.</summary>
        public string EnrollmentId { get; set; }

        /// <summary>When it enrolled.</summary>
        public DateTimeOffset CreatedAt { get; set; }

        /// <summary>When it activated, or null.</summary>
        public DateTimeOffset? ActivatedAt { get; set; }

        /// <summary>When it was revoked, or null.</summary>
        public DateTimeOffset? RevokedAt { get; set; }

        internal static Device From(JsonObject j)
        {
            return new Device
            {
                Id = j.String("id"),
                UserId = j.String("user_id"),
                Name = j.OptionalString("name"),
                Platform = j.OptionalString("platform"),
                KeyFormat = Wire.Key(j.String("key_format")),
                Status = Wire.Device(j.String("status")),
                EnrollmentId = j.OptionalString("enrollment_id"),
                CreatedAt = j.Time("created_at"),
                ActivatedAt = j.OptionalTime("activated_at"),
                RevokedAt = j.OptionalTime("revoked_at"),
            };
        }
    }

    /// <summary>
    /// Whether new challenges for a user are refused (423 <c>user-paused</c>) after their device answered one
    /// with "this wasn't me" (<c>GET/DELETE /v1/users/{user_id}/pause</c>).
    /// </summary>
    public sealed class UserPause
    {
        /// <summary>The user.</summary>
        public string UserId { get; set; }

        /// <summary>Whether new challenges are refused.</summary>
        public bool Paused { get; set; }

        /// <summary>Since when, or null.</summary>
        public DateTimeOffset? PausedAt { get; set; }

        /// <summary>The challenge reported as fraud, or null.</summary>
        public string ChallengeId { get; set; }

        /// <summary>The device that reported it, or null.</summary>
        public string DeviceId { get; set; }

        internal static UserPause From(JsonObject j)
        {
            return new UserPause
            {
                UserId = j.String("user_id"),
                Paused = j.Boolean("paused"),
                PausedAt = j.OptionalTime("paused_at"),
                ChallengeId = j.OptionalString("challenge_id"),
                DeviceId = j.OptionalString("device_id"),
            };
        }
    }

    /// <summary>What the phone shows the user about the sign-in it is asked to approve.</summary>
    public sealed class ChallengeContext
    {
        /// <summary>e.g. "Sign in to Demo App".</summary>
        public string Title { get; set; }

        /// <summary>A longer text.</summary>
        public string Message { get; set; }

        /// <summary>The IP address the sign-in came from.</summary>
        public string Ip { get; set; }

        /// <summary>Where that is, as you want it shown.</summary>
        public string Location { get; set; }

        /// <summary>The browser's user agent.</summary>
        public string UserAgent { get; set; }

        internal Dictionary<string, object> ToJson()
        {
            var body = new Dictionary<string, object>();
            if (Title != null) body["title"] = Title;
            if (Message != null) body["message"] = Message;
            if (Ip != null) body["ip"] = Ip;
            if (Location != null) body["location"] = Location;
            if (UserAgent != null) body["user_agent"] = UserAgent;
            return body;
        }

        internal static ChallengeContext From(JsonObject j)
        {
            return new ChallengeContext
            {
                Title = j.OptionalString("title"),
                Message = j.OptionalString("message"),
                Ip = j.OptionalString("ip"),
                Location = j.OptionalString("location"),
                UserAgent = j.OptionalString("user_agent"),
            };
        }
    }

    /// <summary>The body of <c>POST /v1/challenges</c>.</summary>
    public sealed class CreateChallengeRequest
    {
        /// <summary>The user to ask (must have an active device). Required.</summary>
        public string UserId { get; set; }

        /// <summary>What the phone shows; null for none.</summary>
        public ChallengeContext Context { get; set; }

        /// <summary>How long the user has, 10–600 seconds; the server's default (120) when null.</summary>
        public int? TtlSeconds { get; set; }

        /// <summary>0–25: hold the call until the answer comes or this many seconds pass.</summary>
        public int? WaitSeconds { get; set; }

        /// <summary>Cancel the user's still-pending older challenges (reason <c>superseded</c>).</summary>
        public bool? Supersede { get; set; }

        /// <summary>
        /// Ask the user to type <see cref="Challenge.MatchNumber"/> on the phone; null: the application's
        /// <see cref="Settings.NumberMatching"/> decides.
        /// </summary>
        public bool? NumberMatching { get; set; }

        internal Dictionary<string, object> ToJson()
        {
            var body = new Dictionary<string, object> { { "user_id", UserId } };
            if (Context != null) body["context"] = Context.ToJson();
            if (TtlSeconds.HasValue) body["ttl_seconds"] = TtlSeconds.Value;
            if (WaitSeconds.HasValue) body["wait_seconds"] = WaitSeconds.Value;
            if (Supersede.HasValue) body["supersede"] = Supersede.Value;
            if (NumberMatching.HasValue) body["number_matching"] = NumberMatching.Value;
            return body;
        }
    }

    /// <summary>A challenge: one request for a second factor, from <c>GET /v1/challenges/{id}</c>.</summary>
    public class Challenge
    {
        /// <summary><c>chl_…</c></summary>
        public string Id { get; set; }

        /// <summary>The user asked.</summary>
        public string UserId { get; set; }

        /// <summary>Pending until answered, then Approved, Denied, Expired, Cancelled or Failed.</summary>
        public ChallengeStatus Status { get; set; }

        /// <summary>What the phone shows.</summary>
        public ChallengeContext Context { get; set; }

        /// <summary>When it was created.</summary>
        public DateTimeOffset CreatedAt { get; set; }

        /// <summary>When it expires if unanswered.</summary>
        public DateTimeOffset ExpiresAt { get; set; }

        /// <summary>When it left Pending, or null.</summary>
        public DateTimeOffset? ResolvedAt { get; set; }

        /// <summary>The device that answered, or null.</summary>
        public string DeviceId { get; set; }

        /// <summary>The device's reason for a deny, <c>too_many_wrong_answers</c> for Failed, <c>superseded</c>, or null.</summary>
        public string Reason { get; set; }

        /// <summary>Whether an approval must carry the number shown at login.</summary>
        public bool NumberMatching { get; set; }

        /// <summary>
        /// With number matching, while Pending: the two digits to show on the login page (a string: "07" keeps
        /// its leading zero); else null.
        /// </summary>
        public string MatchNumber { get; set; }

        /// <summary>Denied with reason <c>not_me</c>: the user says they did not ask for it (their password is likely known).</summary>
        public bool FraudReported { get; set; }

        internal void Read(JsonObject j)
        {
            Id = j.String("id");
            UserId = j.String("user_id");
            Status = Wire.Challenge(j.String("status"));
            Context = j.Has("context") && j.Fields["context"] != null ? ChallengeContext.From(j.Object("context")) : new ChallengeContext();
            CreatedAt = j.Time("created_at");
            ExpiresAt = j.Time("expires_at");
            ResolvedAt = j.OptionalTime("resolved_at");
            DeviceId = j.OptionalString("device_id");
            Reason = j.OptionalString("reason");
            NumberMatching = j.Has("number_matching") && j.Boolean("number_matching");
            MatchNumber = j.OptionalString("match_number");
            FraudReported = j.Has("fraud_reported") && j.Boolean("fraud_reported");
        }

        internal static Challenge From(JsonObject j)
        {
            var c = new Challenge();
            c.Read(j);
            return c;
        }
    }

    /// <summary>The answer to <c>POST /v1/challenges</c>: also says to how many devices it went.</summary>
    public sealed class CreatedChallenge : Challenge
    {
        /// <summary>How many active devices were asked.</summary>
        public int Devices { get; set; }

        /// <summary>With <see cref="CreateChallengeRequest.Supersede"/>: the older challenges this one cancelled; else null.</summary>
        public IReadOnlyList<string> Superseded { get; set; }

        internal static new CreatedChallenge From(JsonObject j)
        {
            var c = new CreatedChallenge();
            c.Read(j);
            c.Devices = (int)j.Integer("devices");
            var s = j.OptionalArray("superseded");
            c.Superseded = s == null ? null : s.Select(x => x as string).ToList();
            return c;
        }
    }

    /// <summary>Filters and paging for <c>GET /v1/audit</c>; every member is optional.</summary>
    public sealed class AuditQuery
    {
        /// <summary>Only this user's events.</summary>
        public string UserId { get; set; }

        /// <summary>Only this event type, e.g. <c>challenge.resolved</c>.</summary>
        public string Type { get; set; }

        /// <summary>Only this outcome, e.g. <c>approved</c>.</summary>
        public string Outcome { get; set; }

        /// <summary>Events at or after this time.</summary>
        public DateTimeOffset? Since { get; set; }

        /// <summary>Events before this time.</summary>
        public DateTimeOffset? Until { get; set; }

        /// <summary>Page size, 1–200; the server's default (50) when null.</summary>
        public int? Limit { get; set; }

        /// <summary>The <see cref="AuditPage.NextCursor"/> of the previous page.</summary>
        public string Cursor { get; set; }

        internal AuditQuery WithCursor(string cursor)
        {
            return new AuditQuery { UserId = UserId, Type = Type, Outcome = Outcome, Since = Since, Until = Until, Limit = Limit, Cursor = cursor };
        }
    }

    /// <summary>One entry of the audit trail.</summary>
    public sealed class AuditEvent
    {
        /// <summary><c>evt_…</c></summary>
        public string Id { get; set; }

        /// <summary>e.g. <c>enrollment.created</c>, <c>challenge.resolved</c>.</summary>
        public string Type { get; set; }

        /// <summary>e.g. <c>approved</c>, <c>denied</c>; null when the type has none.</summary>
        public string Outcome { get; set; }

        /// <summary>The user concerned, or null.</summary>
        public string UserId { get; set; }

        /// <summary>The enrollment concerned, or null.</summary>
        public string EnrollmentId { get; set; }

        /// <summary>The device concerned, or null.</summary>
        public string DeviceId { get; set; }

        /// <summary>The challenge concerned, or null.</summary>
        public string ChallengeId { get; set; }

        /// <summary>The caller's IP address, or null.</summary>
        public string Ip { get; set; }

        /// <summary>
        /// Extra facts, as parsed JSON: values are string, long, double, bool, null,
        /// <see cref="IReadOnlyList{T}"/> of object or <see cref="IReadOnlyDictionary{TKey,TValue}"/> of string to object.
        /// Null when the event has none (<c>"detail": null</c>); null and an empty dictionary hash differently in the
        /// audit chain, so keep the difference when you store events to verify later.
        /// </summary>
        public IReadOnlyDictionary<string, object> Detail { get; set; }

        /// <summary>When it happened.</summary>
        public DateTimeOffset CreatedAt { get; set; }

        /// <summary>The application it belongs to (<c>app_…</c>).</summary>
        public string AppId { get; set; }

        /// <summary>The hash of the application's previous event (64 zeros for its first); null until sealed.</summary>
        public string PrevHash { get; set; }

        /// <summary>Lowercase hex SHA-256 of the canonical event, <c>prev_hash</c> included; null until sealed.</summary>
        public string Hash { get; set; }

        internal static AuditEvent From(JsonObject j)
        {
            return new AuditEvent
            {
                Id = j.String("id"),
                Type = j.String("type"),
                Outcome = j.OptionalString("outcome"),
                UserId = j.OptionalString("user_id"),
                EnrollmentId = j.OptionalString("enrollment_id"),
                DeviceId = j.OptionalString("device_id"),
                ChallengeId = j.OptionalString("challenge_id"),
                Ip = j.OptionalString("ip"),
                Detail = j.OptionalDictionary("detail"),
                CreatedAt = j.Time("created_at"),
                AppId = j.OptionalString("app_id"),
                PrevHash = j.OptionalString("prev_hash"),
                Hash = j.OptionalString("hash"),
            };
        }
    }

    /// <summary>One page of the audit trail, newest first.</summary>
    public sealed class AuditPage
    {
        /// <summary>The events of this page.</summary>
        public IReadOnlyList<AuditEvent> Data { get; set; }

        /// <summary>Whether another page follows.</summary>
        public bool HasMore { get; set; }

        /// <summary>Pass as <see cref="AuditQuery.Cursor"/> for the next page; null on the last page.</summary>
        public string NextCursor { get; set; }

        internal static AuditPage From(JsonObject j)
        {
            return new AuditPage
            {
                Data = j.Array("data").Select((x, i) => AuditEvent.From(new JsonObject(x, "data[" + i + "]"))).ToList(),
                HasMore = j.Boolean("has_more"),
                NextCursor = j.OptionalString("next_cursor"),
            };
        }
    }

    /// <summary>Where <see cref="Encrypxon2FaClient.VerifyAuditAsync"/> starts and how far it goes.</summary>
    public sealed class AuditVerifyQuery
    {
        /// <summary>The <see cref="AuditVerification.NextCursor"/> of the previous call; null to start at the first event.</summary>
        public string Cursor { get; set; }

        /// <summary>Events to check in this call, 1–10 000 (the service's default: 2000).</summary>
        public int? Limit { get; set; }
    }

    /// <summary>One stretch of the application's audit hash chain, checked by the service.</summary>
    public sealed class AuditVerification
    {
        /// <summary>False when a link is broken; <see cref="Broken"/> says where.</summary>
        public bool Ok { get; set; }

        /// <summary>Events whose seal this call checked.</summary>
        public int Checked { get; set; }

        /// <summary>Newer events, written while the call ran, not sealed yet.</summary>
        public int Unsealed { get; set; }

        /// <summary>The first event checked, or null.</summary>
        public string FirstEventId { get; set; }

        /// <summary>The last event checked, or null.</summary>
        public string LastEventId { get; set; }

        /// <summary>The last sealed event as the service recorded it; keep its hash to check later exports against.</summary>
        public AuditChainHead Head { get; set; }

        /// <summary>The first broken link, or null.</summary>
        public AuditChainBreak Broken { get; set; }

        /// <summary>Whether more of the chain remains to be checked.</summary>
        public bool HasMore { get; set; }

        /// <summary>Pass as <see cref="AuditVerifyQuery.Cursor"/> to check the next stretch.</summary>
        public string NextCursor { get; set; }

        internal static AuditVerification From(JsonObject j)
        {
            var head = j.Has("head") && j.Fields["head"] != null ? j.Object("head") : null;
            var broken = j.Has("broken") && j.Fields["broken"] != null ? j.Object("broken") : null;
            return new AuditVerification
            {
                Ok = j.Boolean("ok"),
                Checked = (int)j.Integer("checked"),
                Unsealed = (int)j.Integer("unsealed"),
                FirstEventId = j.OptionalString("first_event_id"),
                LastEventId = j.OptionalString("last_event_id"),
                Head = head == null ? null : new AuditChainHead
                {
                    EventId = head.String("event_id"),
                    Hash = head.String("hash"),
                    SealedEvents = head.Integer("sealed_events"),
                },
                Broken = broken == null ? null : new AuditChainBreak
                {
                    EventId = broken.String("event_id"),
                    Reason = broken.String("reason"),
                    AfterEventId = broken.OptionalString("after_event_id"),
                },
                HasMore = j.Boolean("has_more"),
                NextCursor = j.OptionalString("next_cursor"),
            };
        }
    }

    /// <summary>The last sealed event of an application's audit chain.</summary>
    public sealed class AuditChainHead
    {
        /// <summary>Its id (<c>evt_…</c>).</summary>
        public string EventId { get; set; }

        /// <summary>Its hash: the whole chain up to it.</summary>
        public string Hash { get; set; }

        /// <summary>How many events are sealed.</summary>
        public long SealedEvents { get; set; }
    }

    /// <summary>Where the audit chain breaks.</summary>
    public sealed class AuditChainBreak
    {
        /// <summary>The first event that does not verify (for <c>head_missing</c>: the missing one).</summary>
        public string EventId { get; set; }

        /// <summary><c>hash_mismatch</c>, <c>prev_hash_mismatch</c>, <c>unsealed_in_chain</c>, <c>head_mismatch</c> or <c>head_missing</c>.</summary>
        public string Reason { get; set; }

        /// <summary>The last event that verified before it, or null.</summary>
        public string AfterEventId { get; set; }
    }
}
