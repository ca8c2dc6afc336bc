using System;
using System.Collections.Generic;
using System.Linq;

namespace Encrypxon
{
    /// <summary>The body of <c>POST /v1/webhooks</c>.</summary>
    public sealed class CreateWebhookRequest
    {
        /// <summary>Where events are POSTed: https, or http to localhost for development.</summary>
        public string Url { get; set; }

        /// <summary>Optional note, up to 200 characters.</summary>
        public string Description { get; set; }

        /// <summary>Event types to receive (<c>challenge.approved</c>, …); null for every type, including ones added later.</summary>
        public IReadOnlyList<string> Events { get; set; }

        internal Dictionary<string, object> ToJson()
        {
            var body = new Dictionary<string, object> { ["url"] = Url };
            if (Description != null) body["description"] = Description;
            if (Events != null) body["events"] = Events.Cast<object>().ToList();
            return body;
        }
    }

    /// <summary>A webhook endpoint, without its secret.</summary>
    public class WebhookEndpoint
    {
        /// <summary><c>whk_…</c></summary>
        public string Id { get; set; }

        /// <summary>Where events are POSTed.</summary>
        public string Url { get; set; }

        /// <summary>The note given at registration, or null.</summary>
        public string Description { get; set; }

        /// <summary>The event types it receives; null for every type.</summary>
        public IReadOnlyList<string> Events { get; set; }

        /// <summary><c>active</c> or <c>disabled</c> (deleted).</summary>
        public string Status { get; set; }

        /// <summary>After a rotation: until when the previous secret signs too; else null.</summary>
        public DateTimeOffset? PreviousSecretExpiresAt { get; set; }

        /// <summary>When it was registered.</summary>
        public DateTimeOffset CreatedAt { get; set; }

        /// <summary>When it was deleted, or null.</summary>
        public DateTimeOffset? DisabledAt { get; set; }

        internal void Fill(JsonObject j)
        {
            Id = j.String("id");
            Url = j.String("url");
            Description = j.OptionalString("description");
            Events = j.OptionalArray("events")?.Select(e => e as string).ToList();
            Status = j.String("status");
            PreviousSecretExpiresAt = j.OptionalTime("previous_secret_expires_at");
            CreatedAt = j.Time("created_at");
            DisabledAt = j.OptionalTime("disabled_at");
        }

        internal static WebhookEndpoint From(JsonObject j)
        {
            var e = new WebhookEndpoint();
            e.Fill(j);
            return e;
        }
    }

    /// <summary>A webhook endpoint as registration and rotation return it: the only time its secret is shown.</summary>
    public sealed class WebhookEndpointWithSecret : WebhookEndpoint
    {
        /// <summary>The <c>whsec_…</c> signing secret: keep it to verify deliveries with <see cref="WebhookSignature.Verify(string, string, string, TimeSpan?, DateTimeOffset?)"/>.</summary>
        public string Secret { get; set; }

        internal static new WebhookEndpointWithSecret From(JsonObject j)
        {
            var e = new WebhookEndpointWithSecret { Secret = j.String("secret") };
            e.Fill(j);
            return e;
        }
    }

    /// <summary>Filters of <c>GET /v1/webhooks/deliveries</c>.</summary>
    public sealed class WebhookDeliveryQuery
    {
        /// <summary>Only this endpoint's deliveries.</summary>
        public string EndpointId { get; set; }

        /// <summary>Only this event's deliveries.</summary>
        public string EventId { get; set; }

        /// <summary><c>pending</c>, <c>succeeded</c>, <c>failed</c> or <c>cancelled</c>.</summary>
        public string Status { get; set; }

        /// <summary>Page size, 1–200 (default 50).</summary>
        public int? Limit { get; set; }

        /// <summary>The previous page's <see cref="WebhookDeliveryPage.NextCursor"/>.</summary>
        public string Cursor { get; set; }
    }

    /// <summary>One hand-off of an event to an endpoint, with its attempts.</summary>
    public sealed class WebhookDelivery
    {
        /// <summary><c>whd_…</c></summary>
        public string Id { get; set; }

        /// <summary>The endpoint it goes to.</summary>
        public string EndpointId { get; set; }

        /// <summary>The event it carries (<c>wev_…</c>, the <c>id</c> receivers de-duplicate on).</summary>
        public string EventId { get; set; }

        /// <summary>The event's type, e.g. <c>challenge.approved</c>.</summary>
        public string EventType { get; set; }

        /// <summary><c>pending</c>, <c>succeeded</c>, <c>failed</c> or <c>cancelled</c>.</summary>
        public string Status { get; set; }

        /// <summary>Attempts made so far.</summary>
        public int Attempts { get; set; }

        /// <summary>While pending: when the next attempt is due.</summary>
        public DateTimeOffset? NextAttemptAt { get; set; }

        /// <summary>When the last attempt was made.</summary>
        public DateTimeOffset? LastAttemptAt { get; set; }

        /// <summary>The receiver's HTTP status at the last attempt; null when it never answered.</summary>
        public int? LastStatusCode { get; set; }

        /// <summary>Why the last attempt got no answer (timeout, could not connect).</summary>
        public string LastError { get; set; }

        /// <summary>When a 2xx accepted it.</summary>
        public DateTimeOffset? DeliveredAt { get; set; }

        /// <summary>The delivery this one re-sends, or null.</summary>
        public string ResentFrom { get; set; }

        /// <summary>When it was queued.</summary>
        public DateTimeOffset CreatedAt { get; set; }

        internal static WebhookDelivery From(JsonObject j)
        {
            return new WebhookDelivery
            {
                Id = j.String("id"),
                EndpointId = j.String("endpoint_id"),
                EventId = j.String("event_id"),
                EventType = j.String("event_type"),
                Status = j.String("status"),
                Attempts = (int)j.Integer("attempts"),
                NextAttemptAt = j.OptionalTime("next_attempt_at"),
                LastAttemptAt = j.OptionalTime("last_attempt_at"),
                LastStatusCode = j.Fields.TryGetValue("last_status_code", out var code) && code is long ? (int?)(long)code : null,
                LastError = j.OptionalString("last_error"),
                DeliveredAt = j.OptionalTime("delivered_at"),
                ResentFrom = j.OptionalString("resent_from"),
                CreatedAt = j.Time("created_at"),
            };
        }
    }

    /// <summary>A page of the delivery log, newest first.</summary>
    public sealed class WebhookDeliveryPage
    {
        /// <summary>The deliveries of this page.</summary>
        public IReadOnlyList<WebhookDelivery> Data { get; set; }

        /// <summary>Whether another page follows.</summary>
        public bool HasMore { get; set; }

        /// <summary>Pass as <see cref="WebhookDeliveryQuery.Cursor"/> for the next page; null on the last page.</summary>
        public string NextCursor { get; set; }

        internal static WebhookDeliveryPage From(JsonObject j)
        {
            return new WebhookDeliveryPage
            {
                Data = j.Array("data").Select((x, i) => WebhookDelivery.From(new JsonObject(x, "data[" + i + "]"))).ToList(),
                HasMore = j.Boolean("has_more"),
                NextCursor = j.OptionalString("next_cursor"),
            };
        }
    }
}
