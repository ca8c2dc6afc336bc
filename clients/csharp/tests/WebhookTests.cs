using System;
using System.Collections.Generic;
using System.Text;

namespace Encrypxon.Tests
{
    [Suite("webhook")]
    public sealed class WebhookTests
    {
        // The known-answer vector of the signature format, computed with node:crypto.
        private const string Secret = "whsec_3q2-7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        private const long T = 1796342400;
        private const string Body = "{\"id\":\"wev_01JF0000000000000000000000\",\"type\":\"challenge.approved\",\"created_at\":\"2026-12-03T00:00:00.000Z\",\"data\":{}}";
        private const string V1 = "7888707564005369402052bebb5c409fac6c48ab0fa74101b175f636349e0e68";
        private static readonly DateTimeOffset At = DateTimeOffset.FromUnixTimeSeconds(T);
        private static readonly string Header = "t=" + T + ",v1=" + V1;

        private static WebhookVerificationFailure Refused(string body, string header, string secret = Secret, DateTimeOffset? now = null, TimeSpan? tolerance = null)
        {
            return Assert.Throws<WebhookVerificationException>(() => WebhookSignature.Verify(body, header, secret, tolerance, now ?? At)).Failure;
        }

        [Test]
        public void KnownAnswerVector()
        {
            Assert.Equal(Header, WebhookSignature.Sign(Encoding.UTF8.GetBytes(Body), Secret, At), "Sign");
            var ev = WebhookSignature.Verify(Encoding.UTF8.GetBytes(Body), Header, Secret, null, At);
            Assert.Equal("wev_01JF0000000000000000000000", ev.Id);
            Assert.Equal("challenge.approved", ev.Type);
            Assert.Equal(new DateTimeOffset(2026, 12, 3, 0, 0, 0, TimeSpan.Zero), ev.CreatedAt);
            Assert.Equal(0, ev.Data.Count);
            // The text overload signs the same UTF-8 bytes.
            Assert.Equal("wev_01JF0000000000000000000000", WebhookSignature.Verify(Body, Header, Secret, null, At).Id);
            // Upper-case hex is the same signature.
            Assert.Equal("challenge.approved", WebhookSignature.Verify(Body, "t=" + T + ",v1=" + V1.ToUpperInvariant(), Secret, null, At).Type);
        }

        [Test]
        public void TamperedBodySignatureTimestampOrSecretIsRefused()
        {
            Assert.Equal(WebhookVerificationFailure.SignatureMismatch, Refused(Body.Replace("approved", "denied\u0020"), Header), "body");
            Assert.Equal(WebhookVerificationFailure.SignatureMismatch, Refused(Body + "\n", Header), "trailing newline");
            Assert.Equal(WebhookVerificationFailure.SignatureMismatch, Refused(Body, "t=" + T + ",v1=" + V1.Substring(0, 63) + "9"), "one hex digit");
            Assert.Equal(WebhookVerificationFailure.SignatureMismatch, Refused(Body, "t=" + (T + 1) + ",v1=" + V1, now: At.AddSeconds(1)), "timestamp");
            Assert.Equal(WebhookVerificationFailure.SignatureMismatch, Refused(Body, Header, Secret.Substring("whsec_".Length)), "secret without its prefix");
            Assert.Equal(WebhookVerificationFailure.SignatureMismatch, Refused(Body, Header, Secret + "x"), "other secret");
            Assert.Equal(WebhookVerificationFailure.SignatureMismatch, Refused(Body, "t=" + T + ",v1=" + V1.Substring(0, 62)), "short signature");
            Assert.Equal(WebhookVerificationFailure.SignatureMismatch, Refused(Body, "t=" + T + ",v1=zz" + V1.Substring(2)), "not hex");
        }

        [Test]
        public void TimestampToleranceBothWays()
        {
            Assert.Equal("challenge.approved", WebhookSignature.Verify(Body, Header, Secret, null, At.AddSeconds(300)).Type);
            Assert.Equal("challenge.approved", WebhookSignature.Verify(Body, Header, Secret, null, At.AddSeconds(-300)).Type);
            Assert.Equal(WebhookVerificationFailure.TimestampOutOfTolerance, Refused(Body, Header, now: At.AddSeconds(301)), "expired");
            Assert.Equal(WebhookVerificationFailure.TimestampOutOfTolerance, Refused(Body, Header, now: At.AddSeconds(-301)), "from the future");
            Assert.Equal(WebhookVerificationFailure.TimestampOutOfTolerance,
                Refused(Body, Header, now: At.AddSeconds(31), tolerance: TimeSpan.FromSeconds(30)), "custom tolerance");
            Assert.Equal("challenge.approved", WebhookSignature.Verify(Body, Header, Secret, TimeSpan.FromHours(1), At.AddMinutes(59)).Type);
            // The real clock: the vector's time is long past (or far ahead) of any test run.
            Assert.Equal(WebhookVerificationFailure.TimestampOutOfTolerance,
                Assert.Throws<WebhookVerificationException>(() => WebhookSignature.Verify(Body, Header, Secret)).Failure, "system clock");
        }

        [Test]
        public void SeveralV1EntriesAnyOneMatches()
        {
            var wrong = new string('0', 64);
            Assert.Equal("challenge.approved", WebhookSignature.Verify(Body, "t=" + T + ",v1=" + wrong + ",v1=" + V1, Secret, null, At).Type, "second");
            Assert.Equal("challenge.approved", WebhookSignature.Verify(Body, "v1=" + V1 + ",v1=" + wrong + ",t=" + T, Secret, null, At).Type, "first, t last");
            Assert.Equal(WebhookVerificationFailure.SignatureMismatch, Refused(Body, "t=" + T + ",v1=" + wrong + ",v1=" + wrong.Replace('0', '1')), "none");
            // Whitespace around entries, unknown keys and a v0 are ignored.
            Assert.Equal("challenge.approved",
                WebhookSignature.Verify(Body, " t=" + T + " ,  v0=" + wrong + ", x=y ,v1=" + V1 + " ", Secret, null, At).Type, "lenient parsing");
            // A rotated secret: the old one signs v1 #1, the new one v1 #2; each secret accepts.
            var other = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
            var otherV1 = WebhookSignature.Sign(Encoding.UTF8.GetBytes(Body), other, At).Split(',')[1];
            var both = Header + "," + otherV1;
            Assert.Equal("challenge.approved", WebhookSignature.Verify(Body, both, Secret, null, At).Type, "old secret");
            Assert.Equal("challenge.approved", WebhookSignature.Verify(Body, both, other, null, At).Type, "new secret");
        }

        [Test]
        public void MissingOrMalformedHeaderIsRefused()
        {
            foreach (var header in new[] { null, "", "v1=" + V1, "t=" + T, "t=,v1=" + V1, "t=12a,v1=" + V1, "t=-5,v1=" + V1, "t=" + T + ";v1=" + V1, "garbage" })
                Assert.Equal(WebhookVerificationFailure.MalformedHeader, Refused(Body, header), "header " + (header ?? "null"));
        }

        [Test]
        public void SignedButNotAnEventIsRefused()
        {
            var body = Encoding.UTF8.GetBytes("[1,2]");
            var header = WebhookSignature.Sign(body, Secret, At);
            Assert.Equal(WebhookVerificationFailure.InvalidPayload,
                Assert.Throws<WebhookVerificationException>(() => WebhookSignature.Verify(body, header, Secret, null, At)).Failure);
            var invalidUtf8 = new byte[] { 0x7b, 0xff, 0x7d };
            Assert.Equal(WebhookVerificationFailure.InvalidPayload,
                Assert.Throws<WebhookVerificationException>(() => WebhookSignature.Verify(invalidUtf8, WebhookSignature.Sign(invalidUtf8, Secret, At), Secret, null, At)).Failure);
            var data = Encoding.UTF8.GetBytes("{\"id\":\"wev_1\",\"type\":\"enrollment.completed\",\"created_at\":\"2026-12-03T00:00:00Z\",\"data\":{\"enrollment_id\":\"enr_1\",\"n\":3}}");
            var ev = WebhookSignature.Verify(data, WebhookSignature.Sign(data, Secret, At), Secret, null, At);
            Assert.Equal("enr_1", (string)ev.Data["enrollment_id"]);
            Assert.Equal(3L, (long)ev.Data["n"]);
        }

        [Test]
        public void SeveralSecretsDuringARotation()
        {
            var newSecret = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
            var bytes = Encoding.UTF8.GetBytes(Body);
            // Signed with the old secret only: the receiver already lists the new one first.
            Assert.Equal("challenge.approved", WebhookSignature.Verify(bytes, Header, new[] { newSecret, Secret }, null, At).Type, "old secret second");
            Assert.Equal("challenge.approved", WebhookSignature.Verify(Body, Header, new List<string> { Secret, newSecret }, null, At).Type, "text body, a list");
            // Signed with both (the rotation overlap): the new secret alone accepts.
            var both = Header + "," + WebhookSignature.Sign(bytes, newSecret, At).Split(',')[1];
            Assert.Equal("challenge.approved", WebhookSignature.Verify(Body, both, new[] { newSecret }, null, At).Type, "new secret alone");
            var mismatch = Assert.Throws<WebhookVerificationException>(() => WebhookSignature.Verify(Body, Header, new[] { newSecret, Secret + "x" }, null, At));
            Assert.Equal(WebhookVerificationFailure.SignatureMismatch, mismatch.Failure);
            Assert.Matches("2 secrets", mismatch.Message);
            // The other checks still come first.
            Assert.Equal(WebhookVerificationFailure.TimestampOutOfTolerance, Assert.Throws<WebhookVerificationException>(
                () => WebhookSignature.Verify(Body, Header, new[] { Secret }, null, At.AddHours(1))).Failure);
            Assert.Throws<ArgumentException>(() => WebhookSignature.Verify(Body, Header, new string[0], null, At), "no secret");
            Assert.Throws<ArgumentException>(() => WebhookSignature.Verify(Body, Header, new[] { Secret, "" }, null, At), "an empty secret");
            Assert.Throws<ArgumentNullException>(() => WebhookSignature.Verify(Body, Header, (IEnumerable<string>)null, null, At), "null secrets");
            Assert.Throws<ArgumentNullException>(() => WebhookSignature.Verify((byte[])null, Header, new[] { Secret }, null, At), "null body");
        }

        private static WebhookEvent Signed(string json)
        {
            var bytes = Encoding.UTF8.GetBytes(json);
            return WebhookSignature.Verify(bytes, WebhookSignature.Sign(bytes, Secret, At), Secret, null, At);
        }

        private const string ChallengeData = "{\"id\":\"chl_01\",\"object\":\"challenge\",\"user_id\":\"alice\",\"status\":\"approved\","
            + "\"context\":{\"title\":\"Sign in\"},\"created_at\":\"2026-12-03T00:00:00.000Z\",\"expires_at\":\"2026-12-03T00:02:00.000Z\","
            + "\"resolved_at\":\"2026-12-03T00:00:05.000Z\",\"device_id\":\"dev_01\",\"reason\":null,\"number_matching\":false,"
            + "\"match_number\":null,\"fraud_reported\":false}";

        [Test]
        public void EventDataReadAsTheModels()
        {
            var approved = Signed("{\"id\":\"wev_1\",\"object\":\"event\",\"type\":\"challenge.approved\",\"created_at\":\"2026-12-03T00:00:05.000Z\","
                + "\"data\":{\"challenge\":" + ChallengeData + "}}");
            Assert.Equal("alice", approved.Challenge.UserId);
            Assert.Equal(ChallengeStatus.Approved, approved.Challenge.Status);
            Assert.Equal("Sign in", approved.Challenge.Context.Title);
            Assert.Equal("dev_01", approved.Challenge.DeviceId);
            Assert.True(approved.Enrollment == null && approved.Device == null, "no enrollment or device in a challenge event");

            var enrolled = Signed("{\"id\":\"wev_2\",\"object\":\"event\",\"type\":\"enrollment.completed\",\"created_at\":\"2026-12-03T00:00:05.000Z\","
                + "\"data\":{\"enrollment\":{\"id\":\"enr_01\",\"object\":\"enrollment\",\"user_id\":\"bob\",\"status\":\"completed\",\"device_id\":\"dev_02\","
                + "\"completed_at\":\"2026-12-03T00:00:05.000Z\"},\"device\":{\"id\":\"dev_02\",\"object\":\"device\",\"user_id\":\"bob\",\"name\":\"Pixel\","
                + "\"platform\":\"android\",\"key_format\":\"rsa-oaep-sha256\",\"status\":\"active\",\"enrollment_id\":\"enr_01\","
                + "\"created_at\":\"2026-12-03T00:00:01.000Z\",\"activated_at\":\"2026-12-03T00:00:05.000Z\",\"revoked_at\":null}}}");
            Assert.Equal("bob", enrolled.Enrollment.UserId);
            Assert.Equal(EnrollmentStatus.Completed, enrolled.Enrollment.Status);
            Assert.Equal("dev_02", enrolled.Enrollment.DeviceId);
            Assert.Equal(new DateTimeOffset(2026, 12, 3, 0, 0, 5, TimeSpan.Zero), enrolled.Enrollment.CompletedAt);
            Assert.Equal(KeyFormat.RsaOaepSha256, enrolled.Device.KeyFormat);
            Assert.Equal(DeviceStatus.Active, enrolled.Device.Status);
            Assert.Equal("Pixel", enrolled.Device.Name);
            Assert.True(enrolled.Challenge == null, "no challenge in an enrollment event");

            var broken = Signed("{\"id\":\"wev_3\",\"type\":\"challenge.denied\",\"created_at\":\"2026-12-03T00:00:05.000Z\",\"data\":{\"challenge\":{\"id\":1}}}");
            var e = Assert.Throws<EncrypxonClientException>(() => { var c = broken.Challenge; });
            Assert.Matches("data.challenge", e.Message);
            Assert.True(new WebhookEvent().Challenge == null, "an event without data");
        }
    }
}
