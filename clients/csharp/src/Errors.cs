// The error model, the same as the JavaScript SDK's: an error answer becomes an EncrypxonException with
// the RFC 9457 problem details; not reaching the API becomes an EncrypxonConnectionException.
using System;
using System.Collections.Generic;
using System.Linq;

namespace Encrypxon
{
    /// <summary>Base of every exception this library throws (other than argument and cancellation errors).</summary>
    public class EncrypxonClientException : Exception
    {
        /// <summary>An exception with a message.</summary>
        public EncrypxonClientException(string message) : base(message) { }

        /// <summary>An exception with a message and the exception that caused it.</summary>
        public EncrypxonClientException(string message, Exception innerException) : base(message, innerException) { }
    }

    /// <summary>One invalid field of an <c>invalid-request</c> problem.</summary>
    public sealed class FieldError
    {
        /// <summary>A field error.</summary>
        public FieldError(string field, string message)
        {
            Field = field;
            Message = message;
        }

        /// <summary>The field's path, e.g. <c>user_id</c> or <c>context.title</c>.</summary>
        public string Field { get; }

        /// <summary>What is wrong with it, e.g. <c>must not be empty</c>.</summary>
        public string Message { get; }

        /// <inheritdoc/>
        public override string ToString() => Field + ": " + Message;
    }

    /// <summary>
    /// The API answered with an error: RFC 9457 problem details (<see cref="Type"/>, <see cref="Title"/>,
    /// <see cref="Status"/>, <see cref="Detail"/>, <see cref="Instance"/>, <see cref="Errors"/>) and the
    /// extension members (<c>challenge_status</c>, <c>attempts_left</c>, …) in <see cref="Extensions"/>.
    /// </summary>
    public sealed class EncrypxonException : EncrypxonClientException
    {
        private static readonly HashSet<string> Standard = new HashSet<string>(StringComparer.Ordinal)
        {
            "type", "title", "status", "detail", "instance", "errors",
        };

        /// <summary>An exception for an error answer (normally made by the client, public for tests of your code).</summary>
        public EncrypxonException(
            int status,
            string type,
            string title,
            string detail,
            string instance = null,
            IReadOnlyList<FieldError> errors = null,
            IReadOnlyDictionary<string, object> extensions = null,
            TimeSpan? retryAfter = null,
            string request = null)
            : base((request != null ? request + ": " : "") + "HTTP " + status + " " + title + (string.IsNullOrEmpty(detail) ? "" : ": " + detail))
        {
            Status = status;
            Type = type ?? "about:blank";
            Title = title ?? "";
            Detail = detail ?? "";
            Instance = instance;
            Errors = errors ?? new FieldError[0];
            Extensions = extensions ?? new Dictionary<string, object>();
            RetryAfter = retryAfter;
            Request = request;
        }

        /// <summary>The HTTP status: 400, 401, 404, 409, 422, …</summary>
        public int Status { get; }

        /// <summary>A URL naming the problem, e.g. <c>https://encrypxon.dev/problems/challenge-closed</c>.</summary>
        public string Type { get; }

        /// <summary>The last segment of <see cref="Type"/>: <c>invalid-request</c>, <c>not-found</c>, <c>challenge-closed</c>, …</summary>
        public string Slug => Type.Substring(Type.LastIndexOf('/') + 1);

        /// <summary>A short summary of the problem type, e.g. "Challenge closed".</summary>
        public string Title { get; }

        /// <summary>What went wrong this time (empty if the server gave none).</summary>
        public string Detail { get; }

        /// <summary>The problem occurrence's URI, if the server gave one; else null.</summary>
        public string Instance { get; }

        /// <summary>For <c>invalid-request</c>: one entry per invalid field; else empty.</summary>
        public IReadOnlyList<FieldError> Errors { get; }

        /// <summary>
        /// The other members of the problem body (e.g. <c>challenge_status</c>, <c>attempts_left</c>) as parsed
        /// JSON: string, long, double, bool, null, lists and dictionaries.
        /// </summary>
        public IReadOnlyDictionary<string, object> Extensions { get; }

        /// <summary>The answer's <c>Retry-After</c> (seconds or a date, as a delay), if it had one.</summary>
        public TimeSpan? RetryAfter { get; }

        /// <summary>The call that failed, e.g. <c>POST /v1/challenges</c>.</summary>
        public string Request { get; }

        internal static EncrypxonException FromResponse(int status, string reason, string body, string request, TimeSpan? retryAfter)
        {
            Dictionary<string, object> problem = null;
            try
            {
                problem = Json.Parse(body ?? "") as Dictionary<string, object>;
            }
            catch (FormatException)
            {
                // not JSON: a proxy's HTML page, say
            }
            object type, title;
            if (problem == null || !problem.TryGetValue("type", out type) || !(type is string)
                || !problem.TryGetValue("title", out title) || !(title is string))
            {
                var text = body ?? "";
                return new EncrypxonException(status, "about:blank", string.IsNullOrEmpty(reason) ? "HTTP " + status : reason,
                    text.Length > 200 ? text.Substring(0, 200) : text, null, null, null, retryAfter, request);
            }
            object detail, instance, errors;
            problem.TryGetValue("detail", out detail);
            problem.TryGetValue("instance", out instance);
            problem.TryGetValue("errors", out errors);
            var fieldErrors = new List<FieldError>();
            var list = errors as List<object>;
            if (list != null)
            {
                foreach (var e in list.OfType<Dictionary<string, object>>())
                {
                    object f, m;
                    e.TryGetValue("field", out f);
                    e.TryGetValue("message", out m);
                    fieldErrors.Add(new FieldError(f as string ?? "", m as string ?? ""));
                }
            }
            var extensions = problem.Where(kv => !Standard.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
            // The status line is the truth: a body's "status" can only repeat it.
            return new EncrypxonException(status, (string)type, (string)title, detail as string, instance as string,
                fieldErrors, extensions, retryAfter, request);
        }
    }

    /// <summary>
    /// The API could not be reached after any retries, or the call timed out; <see cref="Exception.InnerException"/>
    /// says why, <see cref="BaseUrl"/> where it was sent (a wrong host or port shows there).
    /// </summary>
    public sealed class EncrypxonConnectionException : EncrypxonClientException
    {
        /// <summary>A connection failure of <paramref name="request"/>, without a base URL.</summary>
        /// <param name="request">The call that failed, e.g. <c>GET /v1/challenges/chl_…</c>.</param>
        /// <param name="innerException">Why: an <see cref="System.Net.Http.HttpRequestException"/>, a <see cref="TimeoutException"/>, …</param>
        public EncrypxonConnectionException(string request, Exception innerException)
            : this(request, null, innerException)
        {
        }

        /// <summary>A connection failure of <paramref name="request"/> to <paramref name="baseUrl"/>: the message names both.</summary>
        /// <param name="request">The call that failed, e.g. <c>GET /v1/challenges/chl_…</c>.</param>
        /// <param name="baseUrl">The base URL it was sent to, or null.</param>
        /// <param name="innerException">Why: an <see cref="System.Net.Http.HttpRequestException"/>, a <see cref="TimeoutException"/>, …</param>
        public EncrypxonConnectionException(string request, Uri baseUrl, Exception innerException)
            : base(request + Where(baseUrl) + ": " + (innerException != null ? innerException.Message : "connection failed"), innerException)
        {
            Request = request;
            BaseUrl = baseUrl;
        }

        /// <summary>The call that failed, e.g. <c>GET /v1/challenges/chl_…</c>.</summary>
        public string Request { get; }

        /// <summary>The base URL the call was sent to (<see cref="Encrypxon2FaClient.BaseUrl"/>), or null if not known.</summary>
        public Uri BaseUrl { get; }

        // " (http://127.0.0.1:8787)": as the JavaScript SDK writes it, without the root slash.
        private static string Where(Uri baseUrl) =>
            baseUrl == null ? "" : " (" + (baseUrl.IsAbsoluteUri ? baseUrl.GetLeftPart(UriPartial.Path).TrimEnd('/') : baseUrl.ToString()) + ")";
    }
}
