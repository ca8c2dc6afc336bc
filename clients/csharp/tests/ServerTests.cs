// The client against the real Worker under `wrangler dev` (ENCRYPXON_URL, ENCRYPXON_API_KEY), with the
// reference device CLI as the phone. One story, in order: enroll, challenge (approve, deny, wait,
// cancel), webhooks (delivered to a receiver in this process and verified), the error model, the audit
// chain (checked by the service and here, tampered copies too), audit paging, retries, revocation.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace Encrypxon.Tests
{
    [Suite("server", NeedsServer = true)]
    public sealed class ServerTests
    {
        // A fresh user each run, so the suite can run again against the same server.
        private static readonly string User = "cs-alice-" + Guid.NewGuid().ToString("N").Substring(0, 8);
        private static readonly string Url = Environment.GetEnvironmentVariable("ENCRYPXON_URL");
        private static readonly string Key = Environment.GetEnvironmentVariable("ENCRYPXON_API_KEY");

        private readonly Encrypxon2FaClient _client = new Encrypxon2FaClient(new EncrypxonClientConfiguration { ApiKey = Key, BaseUrl = new Uri(Url) });
        private readonly HttpClient _anonymous = new HttpClient();
        private ReferenceDevice _phone;
        private CreatedEnrollment _enrollment;
        private string _deviceId;

        private static string IdPattern(string prefix) => "^" + prefix + "_[0-9a-hjkmnp-tv-z]{26}$";

        private static async Task<EncrypxonException> Problem(Func<Task> call, int status, string slug)
        {
            var e = await Assert.ThrowsAsync<EncrypxonException>(call);
            Assert.Equal(status, e.Status, "status of " + e.Request);
            Assert.Equal(slug, e.Slug, "slug of " + e.Request);
            Assert.Equal("https://encrypxon.dev/problems/" + slug, e.Type);
            Assert.True(e.Title.Length > 0 && e.Detail.Length > 0, "title and detail are there");
            return e;
        }

        [Test]
        public async Task EnrollmentCreatedWithItsQrImages()
        {
            _phone = new ReferenceDevice();
            _enrollment = await _client.CreateEnrollmentAsync(new CreateEnrollmentRequest { UserId = User, UserLabel = "alice@example.com" });
            Assert.Matches(IdPattern("enr"), _enrollment.Id);
            Assert.Equal(EnrollmentStatus.Pending, _enrollment.Status);
            Assert.Equal(User, _enrollment.UserId);
            Assert.Equal("alice@example.com", _enrollment.UserLabel);
            Assert.Equal(null, _enrollment.DeviceId);
            Assert.True(_enrollment.ExpiresAt > _enrollment.CreatedAt, "expires after creation");
            Assert.Matches("^encrypxon://", _enrollment.EnrollmentUri);
            Assert.Matches("^enc_", _enrollment.Code);
            Assert.Equal(_enrollment.QrSvgUrl, _client.GetEnrollmentQrUrl(_enrollment.Id, _enrollment.Code));

            using (var svg = await _anonymous.GetAsync(_enrollment.QrSvgUrl))
            {
                Assert.Equal(HttpStatusCode.OK, svg.StatusCode, "SVG without the API key");
                Assert.Equal("image/svg+xml", svg.Content.Headers.ContentType.MediaType);
                Assert.True((await svg.Content.ReadAsStringAsync()).Contains("<svg"), "an SVG");
            }
            using (var png = await _anonymous.GetAsync(_client.GetEnrollmentQrUrl(_enrollment.Id, _enrollment.Code, QrFormat.Png)))
            {
                Assert.Equal(HttpStatusCode.OK, png.StatusCode, "PNG");
                var bytes = await png.Content.ReadAsByteArrayAsync();
                Assert.SequenceEqual(new byte[] { 0x89, 0x50, 0x4e, 0x47 }, bytes.Take(4), "PNG signature");
            }
            var again = await _client.GetEnrollmentAsync(_enrollment.Id);
            Assert.Equal(EnrollmentStatus.Pending, again.Status);
            Assert.True(!(again is CreatedEnrollment), "the code is only in the creation answer");
        }

        [Test]
        public async Task WaitForEnrollmentWhileTheDeviceEnrolls()
        {
            var waiting = _client.WaitForEnrollmentAsync(_enrollment.Id, TimeSpan.FromSeconds(60));
            _deviceId = await Task.Run(() => _phone.Enroll(_enrollment.EnrollmentUri, "C# test phone"));
            Assert.Matches(IdPattern("dev"), _deviceId);
            var done = await waiting;
            Assert.Equal(EnrollmentStatus.Completed, done.Status);
            Assert.Equal(_deviceId, done.DeviceId);
            Assert.True(done.CompletedAt.HasValue, "completed_at is set");
        }

        [Test]
        public async Task ListDevicesShowsThePhone()
        {
            var devices = await _client.ListDevicesAsync(User);
            Assert.Equal(1, devices.Count);
            var d = devices[0];
            Assert.Equal(_deviceId, d.Id);
            Assert.Equal(User, d.UserId);
            Assert.Equal("C# test phone", d.Name);
            Assert.Equal(DeviceStatus.Active, d.Status);
            Assert.Equal(KeyFormat.EciesP256, d.KeyFormat);
            Assert.Equal(_enrollment.Id, d.EnrollmentId);
            Assert.True(d.ActivatedAt.HasValue && !d.RevokedAt.HasValue, "activated, not revoked");
            Assert.Equal(0, (await _client.ListDevicesAsync("nobody/with slash")).Count);
        }

        [Test]
        public async Task ChallengeApprovedOnThePhone()
        {
            var c = await _client.CreateChallengeAsync(new CreateChallengeRequest
            {
                UserId = User,
                Context = new ChallengeContext { Title = "Sign in to C# Shop", Ip = "203.0.113.7", UserAgent = "Mono" },
            });
            Assert.Matches(IdPattern("chl"), c.Id);
            Assert.Equal(ChallengeStatus.Pending, c.Status);
            Assert.Equal(1, c.Devices);
            Assert.Equal("Sign in to C# Shop", c.Context.Title);
            Assert.Equal("203.0.113.7", c.Context.Ip);
            Assert.Equal("Mono", c.Context.UserAgent);

            var result = _client.WaitForResultAsync(c.Id, TimeSpan.FromSeconds(60));
            await Task.Run(() => _phone.Approve(c.Id));
            var r = await result;
            Assert.Equal(ChallengeStatus.Approved, r.Status);
            Assert.Equal(_deviceId, r.DeviceId);
            Assert.True(r.ResolvedAt.HasValue, "resolved_at is set");
            Assert.Equal(ChallengeStatus.Approved, (await _client.GetChallengeAsync(c.Id)).Status);
        }

        [Test]
        public async Task ChallengeDeniedWithAReason()
        {
            var c = await _client.CreateChallengeAsync(new CreateChallengeRequest { UserId = User });
            var result = _client.WaitForResultAsync(c.Id, TimeSpan.FromSeconds(60));
            await Task.Run(() => _phone.Deny(c.Id, "not me"));
            var r = await result;
            Assert.Equal(ChallengeStatus.Denied, r.Status);
            Assert.Equal("not me", r.Reason);
        }

        [Test]
        public async Task CreateWithWaitSecondsHoldsUntilTheAnswer()
        {
            var held = _client.CreateChallengeAsync(new CreateChallengeRequest { UserId = User, WaitSeconds = 20, Context = new ChallengeContext { Title = "held" } });
            string id = null;
            for (var i = 0; id == null && i < 50; i++)
            {
                id = (await Task.Run(() => _phone.Pending())).Where(p => p.Value == "held").Select(p => p.Key).FirstOrDefault();
                if (id == null) await Task.Delay(100);
            }
            Assert.True(id != null, "the held challenge reached the phone");
            await Task.Run(() => _phone.Approve(id));
            var r = await held;
            Assert.Equal(id, r.Id);
            Assert.Equal(ChallengeStatus.Approved, r.Status);
            Assert.Equal(1, r.Devices);
        }

        [Test]
        public async Task NumberMatchingNeedsTheNumberFromTheLoginPage()
        {
            var c = await _client.CreateChallengeAsync(new CreateChallengeRequest { UserId = User, NumberMatching = true });
            Assert.True(c.NumberMatching, "number_matching");
            Assert.Matches("^[0-9]{2}$", c.MatchNumber);
            Assert.Equal(c.MatchNumber, (await _client.GetChallengeAsync(c.Id)).MatchNumber, "shown again while pending");
            var wrong = ((int.Parse(c.MatchNumber) + 1) % 100).ToString("00");
            var refused = Assert.Throws<InvalidOperationException>(() => _phone.Approve(c.Id, wrong), "a wrong number");
            Assert.Matches("wrong-number|number", refused.Message);
            var result = _client.WaitForResultAsync(c.Id, TimeSpan.FromSeconds(60));
            await Task.Run(() => _phone.Approve(c.Id, c.MatchNumber));
            var r = await result;
            Assert.Equal(ChallengeStatus.Approved, r.Status);
            Assert.True(r.NumberMatching && r.MatchNumber == null, "the number is gone once decided");
        }

        [Test]
        public async Task SettingsReadAndPatched()
        {
            var s = await _client.GetSettingsAsync();
            Assert.Equal(false, s.NumberMatching, "number matching is off by default");
            Assert.True(s.Limits.UserPendingChallenges > 0 && s.Limits.ApiKeyPerMinute > 0, "limits are there");
            var changed = await _client.UpdateSettingsAsync(new SettingsUpdate { NumberMatching = true, Limits = new LimitsUpdate { UserPendingChallenges = s.Limits.UserPendingChallenges + 1 } });
            Assert.True(changed.NumberMatching, "number matching on");
            Assert.Equal(s.Limits.UserPendingChallenges + 1, changed.Limits.UserPendingChallenges);
            Assert.Equal(s.Limits.ApiKeyPerMinute, changed.Limits.ApiKeyPerMinute, "an unnamed limit is unchanged");
            Assert.True(changed.UpdatedAt.HasValue, "updated_at is set");
            // The application's default now applies to a challenge that does not say.
            var c = await _client.CreateChallengeAsync(new CreateChallengeRequest { UserId = User });
            Assert.True(c.NumberMatching && c.MatchNumber != null, "number matching by default");
            await _client.CancelChallengeAsync(c.Id);
            var back = await _client.UpdateSettingsAsync(new SettingsUpdate { NumberMatching = false });
            Assert.Equal(false, back.NumberMatching);
            Assert.Equal(s.Limits.UserPendingChallenges + 1, back.Limits.UserPendingChallenges, "the limit kept");
            var bad = await Problem(() => _client.UpdateSettingsAsync(new SettingsUpdate { Limits = new LimitsUpdate { UserPendingChallenges = 0 } }), 400, "invalid-request");
            Assert.Matches("user_pending_challenges", bad.Errors.Single().Field);
        }

        [Test]
        public async Task WebhooksRegisteredRotatedDeliveredAndDeleted()
        {
            var bad = await Problem(() => _client.CreateWebhookAsync(new CreateWebhookRequest { Url = "http://example.com/hook" }), 400, "invalid-request");
            Assert.Equal("url", bad.Errors[0].Field);

            // Nothing listens on the discard port: every attempt fails, which the delivery log shows.
            var hook = await _client.CreateWebhookAsync(new CreateWebhookRequest
            {
                Url = "http://127.0.0.1:9/encrypxon",
                Description = "C# test",
                Events = new[] { "challenge.approved" },
            });
            Assert.Matches(IdPattern("whk"), hook.Id);
            Assert.Matches("^whsec_[A-Za-z0-9_-]{43}$", hook.Secret);
            Assert.Equal("active", hook.Status);
            Assert.SequenceEqual(new[] { "challenge.approved" }, hook.Events, "events");
            Assert.True((await _client.ListWebhooksAsync()).Any(w => w.Id == hook.Id), "listed");
            var got = await _client.GetWebhookAsync(hook.Id);
            Assert.True(!(got is WebhookEndpointWithSecret), "the secret is only in the creation answer");

            var rotated = await _client.RotateWebhookSecretAsync(hook.Id, TimeSpan.FromMinutes(5));
            Assert.True(rotated.Secret != hook.Secret, "a new secret");
            Assert.True(rotated.PreviousSecretExpiresAt.HasValue, "the old one overlaps");

            var c = await _client.CreateChallengeAsync(new CreateChallengeRequest { UserId = User });
            var result = _client.WaitForResultAsync(c.Id, TimeSpan.FromSeconds(60));
            await Task.Run(() => _phone.Approve(c.Id, c.MatchNumber));
            Assert.Equal(ChallengeStatus.Approved, (await result).Status);

            WebhookDelivery delivery = null;
            for (var i = 0; i < 200 && (delivery == null || delivery.Attempts == 0); i++)
            {
                var page = await _client.ListWebhookDeliveriesAsync(new WebhookDeliveryQuery { EndpointId = hook.Id });
                delivery = page.Data.FirstOrDefault();
                if (delivery == null || delivery.Attempts == 0) await Task.Delay(100);
            }
            Assert.True(delivery != null && delivery.Attempts >= 1, "the approval was attempted");
            Assert.Equal("challenge.approved", delivery.EventType);
            Assert.Equal("pending", delivery.Status);
            Assert.Equal("could not connect", delivery.LastError);
            Assert.Equal(null, delivery.LastStatusCode);
            Assert.True(delivery.NextAttemptAt.HasValue, "a retry is scheduled");

            var resent = await _client.ResendWebhookDeliveryAsync(delivery.Id);
            Assert.Equal(delivery.Id, resent.ResentFrom);
            Assert.Equal(delivery.EventId, resent.EventId);
            var byEvent = await _client.ListWebhookDeliveriesAsync(new WebhookDeliveryQuery { EventId = delivery.EventId, Limit = 1 });
            Assert.Equal(resent.Id, byEvent.Data[0].Id);
            Assert.True(byEvent.HasMore && byEvent.NextCursor != null, "a second page");

            var deleted = await _client.DeleteWebhookAsync(hook.Id);
            Assert.Equal("disabled", deleted.Status);
            await Problem(() => _client.DeleteWebhookAsync(hook.Id), 409, "webhook-disabled");
            var cancelled = await _client.ListWebhookDeliveriesAsync(new WebhookDeliveryQuery { EndpointId = hook.Id, Status = "cancelled" });
            Assert.Equal(2, cancelled.Data.Count);
        }

        [Test]
        public async Task WebhooksDeliveredHereVerify()
        {
            using (var rx = new WebhookReceiver())
            {
                var hook = await _client.CreateWebhookAsync(new CreateWebhookRequest { Url = rx.Url, Description = "C# receiver" });
                Assert.Equal(null, hook.Events, "every event type");

                // enrollment.completed: a second phone, for a user of its own (so the rest of the story keeps one device).
                var hookUser = User + "-hook";
                var phone = new ReferenceDevice();
                var enrollment = await _client.CreateEnrollmentAsync(new CreateEnrollmentRequest { UserId = hookUser });
                var deviceId = await Task.Run(() => phone.Enroll(enrollment.EnrollmentUri, "C# webhook phone"));
                var enrolled = await rx.Next(h => h.EventType == "enrollment.completed", "enrollment.completed");
                var ev = WebhookSignature.Verify(enrolled.Body, enrolled.Signature, hook.Secret);
                Assert.Equal(enrolled.EventId, ev.Id, "the Encrypxon-Event-Id header");
                Assert.Matches(IdPattern("wev"), ev.Id);
                Assert.Equal("enrollment.completed", ev.Type);
                Assert.Equal("1", enrolled.Attempt, "the first attempt");
                Assert.Equal(enrollment.Id, ev.Enrollment.Id);
                Assert.Equal(hookUser, ev.Enrollment.UserId);
                Assert.Equal(EnrollmentStatus.Completed, ev.Enrollment.Status);
                Assert.Equal(deviceId, ev.Enrollment.DeviceId);
                Assert.True(ev.Enrollment.CompletedAt.HasValue, "completed_at");
                Assert.Equal(deviceId, ev.Device.Id);
                Assert.Equal("C# webhook phone", ev.Device.Name);
                Assert.Equal(DeviceStatus.Active, ev.Device.Status);
                Assert.True(ev.Challenge == null, "no challenge in it");

                // challenge.approved: data.challenge is what GET /v1/challenges/{id} answers.
                var c = await _client.CreateChallengeAsync(new CreateChallengeRequest { UserId = hookUser, Context = new ChallengeContext { Title = "Webhook sign-in" } });
                var result = _client.WaitForResultAsync(c.Id, TimeSpan.FromSeconds(60));
                await Task.Run(() => phone.Approve(c.Id, c.MatchNumber));
                Assert.Equal(ChallengeStatus.Approved, (await result).Status);
                var approved = await rx.Next(h => h.EventType == "challenge.approved" && h.Text.Contains(c.Id), "challenge.approved");
                ev = WebhookSignature.Verify(approved.Text, approved.Signature, hook.Secret);
                Assert.Equal(c.Id, ev.Challenge.Id);
                Assert.Equal(hookUser, ev.Challenge.UserId, "the user, as the docs' example prints it");
                Assert.Equal(ChallengeStatus.Approved, ev.Challenge.Status);
                Assert.Equal(deviceId, ev.Challenge.DeviceId);
                Assert.Equal("Webhook sign-in", ev.Challenge.Context.Title);
                var fetched = await _client.GetChallengeAsync(c.Id);
                Assert.Equal(fetched.ResolvedAt, ev.Challenge.ResolvedAt, "the same challenge as GET returns");
                Assert.Equal(WebhookVerificationFailure.SignatureMismatch, Assert.Throws<WebhookVerificationException>(
                    () => WebhookSignature.Verify(approved.Text.Replace("approved", "denied"), approved.Signature, hook.Secret)).Failure, "an altered body");
                Assert.Equal(WebhookVerificationFailure.SignatureMismatch, Assert.Throws<WebhookVerificationException>(
                    () => WebhookSignature.Verify(approved.Body, approved.Signature, hook.Secret + "x")).Failure, "another secret");

                // A rotation: old and new sign side by side until the old one expires.
                var rotated = await _client.RotateWebhookSecretAsync(hook.Id, TimeSpan.FromMinutes(5));
                var d = await _client.CreateChallengeAsync(new CreateChallengeRequest { UserId = hookUser });
                var denial = _client.WaitForResultAsync(d.Id, TimeSpan.FromSeconds(60));
                await Task.Run(() => phone.Deny(d.Id, "wrong login"));
                Assert.Equal(ChallengeStatus.Denied, (await denial).Status);
                var denied = await rx.Next(h => h.EventType == "challenge.denied" && h.Text.Contains(d.Id), "challenge.denied");
                Assert.Equal(2, denied.Signature.Split(',').Count(p => p.Trim().StartsWith("v1=")), "two v1 during the overlap: " + denied.Signature);
                Assert.Equal("wrong login", WebhookSignature.Verify(denied.Body, denied.Signature, new[] { rotated.Secret, hook.Secret }).Challenge.Reason);
                Assert.Equal(d.Id, WebhookSignature.Verify(denied.Body, denied.Signature, rotated.Secret).Challenge.Id, "the new secret alone");
                Assert.Equal(d.Id, WebhookSignature.Verify(denied.Body, denied.Signature, hook.Secret).Challenge.Id, "the old secret alone");

                // Rotated again with no overlap: only the newest secret signs.
                var again = await _client.RotateWebhookSecretAsync(hook.Id, TimeSpan.Zero);
                var x = await _client.CreateChallengeAsync(new CreateChallengeRequest { UserId = hookUser });
                await _client.CancelChallengeAsync(x.Id);
                var cancelled = await rx.Next(h => h.EventType == "challenge.cancelled" && h.Text.Contains(x.Id), "challenge.cancelled");
                Assert.Equal(ChallengeStatus.Cancelled, WebhookSignature.Verify(cancelled.Body, cancelled.Signature, new[] { hook.Secret, again.Secret }).Challenge.Status);
                Assert.Equal(WebhookVerificationFailure.SignatureMismatch, Assert.Throws<WebhookVerificationException>(
                    () => WebhookSignature.Verify(cancelled.Body, cancelled.Signature, new[] { hook.Secret, rotated.Secret })).Failure, "the retired secrets");

                // The Worker saw every one of them accepted.
                WebhookDeliveryPage log = null;
                for (var i = 0; i < 100; i++)
                {
                    log = await _client.ListWebhookDeliveriesAsync(new WebhookDeliveryQuery { EndpointId = hook.Id });
                    if (log.Data.Count >= 4 && log.Data.All(l => l.Status == "succeeded")) break;
                    await Task.Delay(100);
                }
                Assert.True(log.Data.Count >= 4 && log.Data.All(l => l.Status == "succeeded" && l.LastStatusCode == 200),
                    "the delivery log: " + string.Join(", ", log.Data.Select(l => l.EventType + " " + l.Status)));
                Assert.True(rx.Received.All(h => h.Signature != null && h.EventId != null), "every request was signed");

                await _client.DeleteWebhookAsync(hook.Id);
                await _client.RevokeDeviceAsync(deviceId);
            }
        }

        [Test]
        public async Task UnansweredWaitReturnsPendingThenCancel()
        {
            var c = await _client.CreateChallengeAsync(new CreateChallengeRequest { UserId = User });
            var r = await _client.WaitForResultAsync(c.Id, TimeSpan.FromSeconds(1.5));
            Assert.Equal(ChallengeStatus.Pending, r.Status);

            using (var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
                await Assert.ThrowsAsync<OperationCanceledException>(() => _client.WaitForResultAsync(c.Id, TimeSpan.FromSeconds(20), cts.Token), "a cancelled long-poll");

            var cancelled = await _client.CancelChallengeAsync(c.Id);
            Assert.Equal(ChallengeStatus.Cancelled, cancelled.Status);
            var e = await Problem(() => _client.CancelChallengeAsync(c.Id), 409, "challenge-closed");
            Assert.Equal("cancelled", (string)e.Extensions["challenge_status"]);
            Assert.Equal("DELETE /v1/challenges/" + c.Id, e.Request);
        }

        [Test]
        public async Task WrongApiKeyIs401()
        {
            using (var bad = new Encrypxon2FaClient(new EncrypxonClientConfiguration { ApiKey = "ek_test_nope", BaseUrl = new Uri(Url) }))
            {
                var e = await Problem(() => bad.ListDevicesAsync(User), 401, "unauthorized");
                Assert.Equal("Unauthorized", e.Title);
                Assert.Equal(0, e.Errors.Count);
            }
        }

        [Test]
        public async Task UnknownIdsAre404()
        {
            var e = await Problem(() => _client.GetEnrollmentAsync("enr_00000000000000000000000000"), 404, "not-found");
            Assert.Equal(0, e.Errors.Count);
            await Problem(() => _client.GetChallengeAsync("chl_00000000000000000000000000"), 404, "not-found");
            await Problem(() => _client.RevokeDeviceAsync("dev_00000000000000000000000000"), 404, "not-found");
        }

        [Test]
        public async Task ValidationErrorsCarryTheFields()
        {
            var e = await Problem(() => _client.CreateChallengeAsync(new CreateChallengeRequest { UserId = "" }), 400, "invalid-request");
            Assert.Equal("user_id: must not be empty", e.Detail);
            Assert.Equal(1, e.Errors.Count);
            Assert.Equal("user_id", e.Errors[0].Field);
            Assert.Equal("must not be empty", e.Errors[0].Message);
            var ttl = await Problem(() => _client.CreateEnrollmentAsync(new CreateEnrollmentRequest { UserId = User, TtlSeconds = 5 }), 400, "invalid-request");
            Assert.Equal("ttl_seconds", ttl.Errors.Single().Field);
        }

        [Test]
        public async Task UserWithoutADeviceIs422()
        {
            await Problem(() => _client.CreateChallengeAsync(new CreateChallengeRequest { UserId = User + "-carol" }), 422, "no-active-device");
        }

        [Test]
        public async Task CancelledEnrollmentIsClosed()
        {
            var e = await _client.CreateEnrollmentAsync(new CreateEnrollmentRequest { UserId = User + "-bob", TtlSeconds = 60 });
            Assert.Equal(EnrollmentStatus.Cancelled, (await _client.CancelEnrollmentAsync(e.Id)).Status);
            var again = await Problem(() => _client.CancelEnrollmentAsync(e.Id), 409, "enrollment-closed");
            Assert.Equal("cancelled", (string)again.Extensions["enrollment_status"]);
            using (var qr = await _anonymous.GetAsync(e.QrSvgUrl))
                Assert.Equal(HttpStatusCode.NotFound, qr.StatusCode, "the QR of a cancelled enrollment");
            var waited = await _client.WaitForEnrollmentAsync(e.Id, TimeSpan.FromSeconds(10));
            Assert.Equal(EnrollmentStatus.Cancelled, waited.Status);
        }

        [Test]
        public async Task AuditChainVerifiesStretchByStretch()
        {
            var whole = await _client.VerifyAuditAsync();
            Assert.True(whole.Ok && whole.Broken == null, "the chain is intact");
            Assert.True(whole.Head != null && whole.Head.Hash.Length == 64, "a head with its hash");
            var checkedInSteps = 0;
            var v = await _client.VerifyAuditAsync(new AuditVerifyQuery { Limit = 3 });
            checkedInSteps += v.Checked;
            while (v.Ok && v.HasMore)
            {
                Assert.True(v.Checked <= 3, "at most the limit");
                v = await _client.VerifyAuditAsync(new AuditVerifyQuery { Cursor = v.NextCursor, Limit = 3 });
                checkedInSteps += v.Checked;
            }
            Assert.True(v.Ok, "every stretch verifies");
            Assert.True(checkedInSteps >= whole.Checked, "the stretches cover the chain");
            var page = await _client.ListAuditAsync(new AuditQuery { Limit = 5 });
            Assert.True(page.Data.All(ev => ev.AppId != null && (ev.Hash == null || ev.Hash.Length == 64)), "chain fields exported");
        }

        /// <summary>Rewrites every <c>GET /v1/audit</c> page on its way from the Worker: a tampered trail.</summary>
        private sealed class AuditRewriter : DelegatingHandler
        {
            private readonly Action<List<object>> _rewrite;

            public AuditRewriter(Action<List<object>> rewrite) : base(new HttpClientHandler()) { _rewrite = rewrite; }

            protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            {
                var response = await base.SendAsync(request, cancellationToken);
                if (request.RequestUri.AbsolutePath != "/v1/audit" || !response.IsSuccessStatusCode) return response;
                var page = (Dictionary<string, object>)Json.Parse(await response.Content.ReadAsStringAsync());
                _rewrite((List<object>)page["data"]);
                response.Content = new StringContent(Json.Serialize(page), Encoding.UTF8, "application/json");
                return response;
            }
        }

        private async Task<AuditChainResult> OfflineThrough(Action<List<object>> rewrite)
        {
            using (var http = new HttpClient(new AuditRewriter(rewrite)))
            using (var client = new Encrypxon2FaClient(new EncrypxonClientConfiguration { ApiKey = Key, BaseUrl = new Uri(Url), HttpClient = http }))
                return await client.VerifyAuditOfflineAsync(4);
        }

        private static bool HasNumber(object value)
        {
            if (value is long || value is double) return true;
            var d = value as IReadOnlyDictionary<string, object>;
            if (d != null) return d.Values.Any(HasNumber);
            var l = value as List<object>;
            return l != null && l.Any(HasNumber);
        }

        [Test]
        public async Task AuditChainCheckedHereAgreesWithTheService()
        {
            var online = await _client.VerifyAuditChainAsync(5);
            Assert.True(online.Ok && !online.HasMore && online.Broken == null, "the service finds the chain intact");
            Assert.True(online.Checked > 10, "stretches of 5 summed: " + online.Checked);
            var whole = await _client.VerifyAuditAsync();
            Assert.True(whole.Checked >= online.Checked && !whole.HasMore, "one big stretch covers as much");

            var offline = await _client.VerifyAuditOfflineAsync(4, online.Head.Hash);
            Assert.True(offline.Ok, "verified here too: " + offline.Reason + " at " + offline.EventId);
            Assert.Equal(AuditChain.GenesisHash, offline.OldestPrevHash, "back to the application's first event");
            Assert.True(offline.Checked + offline.Unsealed >= online.Checked, "every event the service checked");

            // The Worker's own hashes, event by event: its canonical JSON and this library's agree.
            var events = await _client.GetAuditEventsAsync(new AuditQuery { Limit = 200 }).ToListAsync();
            var sealedEvents = events.Where(e => e.Hash != null).ToList();
            Assert.True(sealedEvents.Count >= online.Checked, "the export holds the sealed events");
            foreach (var e in sealedEvents) Assert.Equal(e.Hash, AuditChain.EventHash(e, e.PrevHash), e.Type + " " + e.Id);
            Assert.True(sealedEvents.Any(e => HasNumber(e.Detail)), "some detail holds a number");
            Assert.True(sealedEvents.Any(e => e.Detail == null) && sealedEvents.Any(e => e.Detail != null), "null and non-null details");
            Assert.True(AuditChain.VerifyEvents(events, complete: true).Ok, "the export as a whole");
            var mine = events.Where(e => e.UserId == User).ToList();
            Assert.True(AuditChain.VerifyEvents(mine, contiguous: false).Ok, "one user's events, each on its own");

            // Tampered between the Worker and here: each kind of change is named.
            // An event with a detail, in the middle of the sealed chain (the one after it sealed too).
            var index = Enumerable.Range(2, events.Count - 3).First(i => events[i].Hash != null && events[i].Detail != null && events[i - 1].Hash != null);
            var victim = events[index];
            var newer = events[index - 1];
            Func<object, bool> isVictim = e => (string)((Dictionary<string, object>)e)["id"] == victim.Id;

            var edited = await OfflineThrough(data => { foreach (var e in data.Where(isVictim)) ((Dictionary<string, object>)e)["user_id"] = "mallory"; });
            Assert.True(!edited.Ok, "an edited user_id is found");
            Assert.Equal(victim.Id, edited.EventId);
            Assert.Equal("hash_mismatch", edited.Reason);

            var detail = await OfflineThrough(data =>
            {
                foreach (var e in data.Where(isVictim)) ((Dictionary<string, object>)((Dictionary<string, object>)e)["detail"])["forged"] = true;
            });
            Assert.Equal("hash_mismatch", detail.Reason, "an added detail member");
            Assert.Equal(victim.Id, detail.EventId);

            var deleted = await OfflineThrough(data => data.RemoveAll(e => isVictim(e)));
            Assert.Equal("prev_hash_mismatch", deleted.Reason, "a deleted event");
            Assert.Equal(newer.Id, deleted.EventId, "named by the event whose link it breaks");

            var unsealed = await OfflineThrough(data => { foreach (var e in data.Where(isVictim)) ((Dictionary<string, object>)e)["hash"] = null; });
            Assert.Equal("unsealed_in_chain", unsealed.Reason, "a removed seal");

            var rewritten = await _client.VerifyAuditOfflineAsync(200, new string('f', 64));
            Assert.True(!rewritten.Ok && rewritten.Reason == "known_hash_missing", "a kept hash that is not in the chain");
        }

        [Test]
        public async Task AuditPagesAgreeWithOneBigPage()
        {
            var all = await _client.ListAuditAsync(new AuditQuery { UserId = User, Limit = 200 });
            Assert.True(!all.HasMore && all.NextCursor == null, "one page holds everything");
            Assert.True(all.Data.Count > 5, "enough events to page: " + all.Data.Count);
            Assert.True(all.Data.All(ev => ev.UserId == User), "filtered by user");

            var first = await _client.ListAuditAsync(new AuditQuery { UserId = User, Limit = 2 });
            Assert.True(first.HasMore, "has more");
            Assert.Matches(IdPattern("evt"), first.NextCursor);
            Assert.SequenceEqual(all.Data.Take(2).Select(ev => ev.Id), first.Data.Select(ev => ev.Id));
            var second = await _client.ListAuditAsync(new AuditQuery { UserId = User, Limit = 2, Cursor = first.NextCursor });
            Assert.SequenceEqual(all.Data.Skip(2).Take(2).Select(ev => ev.Id), second.Data.Select(ev => ev.Id));

            var streamed = await _client.GetAuditEventsAsync(new AuditQuery { UserId = User, Limit = 2 }).ToListAsync();
            Assert.SequenceEqual(all.Data.Select(ev => ev.Id), streamed.Select(ev => ev.Id), "GetAuditEventsAsync");

            var pages = 0;
            var e = _client.GetAuditPagesAsync(new AuditQuery { UserId = User, Limit = 3 }).GetAsyncEnumerator();
            while (await e.MoveNextAsync())
            {
                pages++;
                Assert.True(e.Current.Data.Count <= 3, "page size");
            }
            Assert.Equal((all.Data.Count + 2) / 3, pages, "pages of 3");

            var approved = await _client.ListAuditAsync(new AuditQuery { UserId = User, Type = "challenge.resolved", Outcome = "approved" });
            Assert.True(approved.Data.Count >= 2, "two approvals");
            Assert.True(approved.Data.All(ev => ev.Type == "challenge.resolved" && ev.Outcome == "approved" && ev.ChallengeId != null), "type and outcome filters");
            var future = await _client.ListAuditAsync(new AuditQuery { Since = DateTimeOffset.UtcNow.AddHours(1) });
            Assert.Equal(0, future.Data.Count, "since the future");
            var window = await _client.ListAuditAsync(new AuditQuery { UserId = User, Since = all.Data.Last().CreatedAt, Until = DateTimeOffset.UtcNow.AddMinutes(1), Limit = 200 });
            Assert.Equal(all.Data.Count, window.Data.Count, "a window around everything");
            await Problem(() => _client.ListAuditAsync(new AuditQuery { Cursor = "12" }), 400, "invalid-request");
        }

        /// <summary>Answers the first <c>failures</c> requests itself with a 503, passes the rest to the Worker.</summary>
        private sealed class FlakyHandler : DelegatingHandler
        {
            private int _failures;

            public FlakyHandler(int failures) : base(new HttpClientHandler()) { _failures = failures; }

            public int Injected;
            public int Forwarded;

            protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            {
                if (Interlocked.Decrement(ref _failures) >= 0)
                {
                    Interlocked.Increment(ref Injected);
                    var r = new HttpResponseMessage(HttpStatusCode.ServiceUnavailable)
                    {
                        Content = new StringContent("{\"type\":\"https://encrypxon.dev/problems/unavailable\",\"title\":\"Service unavailable\",\"status\":503}"),
                    };
                    r.Headers.TryAddWithoutValidation("Retry-After", "0");
                    return Task.FromResult(r);
                }
                Interlocked.Increment(ref Forwarded);
                return base.SendAsync(request, cancellationToken);
            }
        }

        [Test]
        public async Task GetIsRetriedPostIsNot()
        {
            var flaky = new FlakyHandler(2);
            using (var http = new HttpClient(flaky))
            using (var client = new Encrypxon2FaClient(new EncrypxonClientConfiguration { ApiKey = Key, BaseUrl = new Uri(Url), HttpClient = http }))
            {
                var devices = await client.ListDevicesAsync(User);
                Assert.Equal(_deviceId, devices.Single().Id, "the GET succeeded on its third attempt");
                Assert.Equal(2, flaky.Injected);
                Assert.Equal(1, flaky.Forwarded);
            }

            Func<Task<int>> created = async () =>
                (await _client.ListAuditAsync(new AuditQuery { UserId = User, Type = "challenge.created", Limit = 200 })).Data.Count;
            var before = await created();
            var once = new FlakyHandler(1);
            using (var http = new HttpClient(once))
            using (var client = new Encrypxon2FaClient(new EncrypxonClientConfiguration { ApiKey = Key, BaseUrl = new Uri(Url), HttpClient = http }))
            {
                var e = await Assert.ThrowsAsync<EncrypxonException>(() => client.CreateChallengeAsync(new CreateChallengeRequest { UserId = User }));
                Assert.Equal(503, e.Status);
                Assert.Equal(TimeSpan.Zero, e.RetryAfter);
                Assert.Equal(0, once.Forwarded, "the POST was not sent again: no second prompt");
                Assert.Equal(before, await created(), "and no challenge was created");
            }

            // Nothing listens on port 1: a connection error, after the retries.
            using (var down = new Encrypxon2FaClient(new EncrypxonClientConfiguration
            {
                ApiKey = Key,
                BaseUrl = new Uri("http://127.0.0.1:1"),
                MaxRetries = 1,
                RetryDelay = TimeSpan.FromMilliseconds(10),
            }))
            {
                var e = await Assert.ThrowsAsync<EncrypxonConnectionException>(() => down.GetChallengeAsync("chl_00000000000000000000000000"));
                Assert.True(e.InnerException != null, "the cause is kept");
            }
        }

        [Test]
        public async Task RevokedDeviceCannotBeChallenged()
        {
            var d = await _client.RevokeDeviceAsync(_deviceId);
            Assert.Equal(DeviceStatus.Revoked, d.Status);
            Assert.True(d.RevokedAt.HasValue, "revoked_at is set");
            await Problem(() => _client.RevokeDeviceAsync(_deviceId), 409, "device-revoked");
            await Problem(() => _client.CreateChallengeAsync(new CreateChallengeRequest { UserId = User }), 422, "no-active-device");
            _client.Dispose();
        }
    }
}
