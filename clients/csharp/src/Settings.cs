using System;
using System.Collections.Generic;

namespace Encrypxon
{
    /// <summary>An application's rate limits (<c>GET /v1/settings</c>).</summary>
    public sealed class Limits
    {
        /// <summary>Calls per minute per API key, every integrator route.</summary>
        public int ApiKeyPerMinute { get; set; }

        /// <summary>Challenge creations per minute per user.</summary>
        public int UserChallengesPerMinute { get; set; }

        /// <summary>Pending challenges a user may have at once.</summary>
        public int UserPendingChallenges { get; set; }

        /// <summary>Wrong answers per hour per device.</summary>
        public int DeviceWrongAnswersPerHour { get; set; }

        /// <summary>Claim attempts per enrollment code per 10 minutes.</summary>
        public int EnrollmentCodeAttempts { get; set; }

        /// <summary>Device calls per minute per client IP.</summary>
        public int DeviceIpPerMinute { get; set; }

        internal static Limits From(JsonObject j)
        {
            return new Limits
            {
                ApiKeyPerMinute = (int)j.Integer("api_key_per_minute"),
                UserChallengesPerMinute = (int)j.Integer("user_challenges_per_minute"),
                UserPendingChallenges = (int)j.Integer("user_pending_challenges"),
                DeviceWrongAnswersPerHour = (int)j.Integer("device_wrong_answers_per_hour"),
                EnrollmentCodeAttempts = (int)j.Integer("enrollment_code_attempts"),
                DeviceIpPerMinute = (int)j.Integer("device_ip_per_minute"),
            };
        }
    }

    /// <summary>An application's effective settings: what it set, defaults for the rest.</summary>
    public sealed class Settings
    {
        /// <summary>The default of <see cref="CreateChallengeRequest.NumberMatching"/> for new challenges.</summary>
        public bool NumberMatching { get; set; }

        /// <summary>Whether a deny with reason <c>not_me</c> pauses new challenges for that user.</summary>
        public bool FraudAutoPause { get; set; }

        /// <summary>The rate limits.</summary>
        public Limits Limits { get; set; }

        /// <summary>When a setting was last changed; null while every setting is the default.</summary>
        public DateTimeOffset? UpdatedAt { get; set; }

        internal static Settings From(JsonObject j)
        {
            return new Settings
            {
                NumberMatching = j.Boolean("number_matching"),
                FraudAutoPause = j.Boolean("fraud_auto_pause"),
                Limits = Limits.From(j.Object("limits")),
                UpdatedAt = j.OptionalTime("updated_at"),
            };
        }
    }

    /// <summary>Changes to the rate limits: only the members set are sent, so only they change.</summary>
    public sealed class LimitsUpdate
    {
        /// <summary>Calls per minute per API key, 1–100 000.</summary>
        public int? ApiKeyPerMinute { get; set; }

        /// <summary>Challenge creations per minute per user, 1–1 000.</summary>
        public int? UserChallengesPerMinute { get; set; }

        /// <summary>Pending challenges a user may have at once, 1–100.</summary>
        public int? UserPendingChallenges { get; set; }

        /// <summary>Wrong answers per hour per device, 1–1 000.</summary>
        public int? DeviceWrongAnswersPerHour { get; set; }

        /// <summary>Claim attempts per enrollment code per 10 minutes, 1–100.</summary>
        public int? EnrollmentCodeAttempts { get; set; }

        /// <summary>Device calls per minute per client IP, 1–100 000.</summary>
        public int? DeviceIpPerMinute { get; set; }

        internal Dictionary<string, object> ToJson()
        {
            var body = new Dictionary<string, object>();
            Action<string, int?> add = (k, v) => { if (v.HasValue) body[k] = v.Value; };
            add("api_key_per_minute", ApiKeyPerMinute);
            add("user_challenges_per_minute", UserChallengesPerMinute);
            add("user_pending_challenges", UserPendingChallenges);
            add("device_wrong_answers_per_hour", DeviceWrongAnswersPerHour);
            add("enrollment_code_attempts", EnrollmentCodeAttempts);
            add("device_ip_per_minute", DeviceIpPerMinute);
            return body;
        }
    }

    /// <summary>The body of <c>PATCH /v1/settings</c>: null members are not sent, so only what is set changes.</summary>
    public sealed class SettingsUpdate
    {
        /// <summary>The number-matching default for new challenges.</summary>
        public bool? NumberMatching { get; set; }

        /// <summary>Whether a deny with reason <c>not_me</c> pauses new challenges for that user.</summary>
        public bool? FraudAutoPause { get; set; }

        /// <summary>Rate limits to change, one by one.</summary>
        public LimitsUpdate Limits { get; set; }

        internal Dictionary<string, object> ToJson()
        {
            var body = new Dictionary<string, object>();
            if (NumberMatching.HasValue) body["number_matching"] = NumberMatching.Value;
            if (FraudAutoPause.HasValue) body["fraud_auto_pause"] = FraudAutoPause.Value;
            if (Limits != null) body["limits"] = Limits.ToJson();
            return body;
        }
    }
}
