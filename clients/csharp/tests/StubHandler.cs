using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;

namespace Encrypxon.Tests
{
    /// <summary>Answers requests from a script, and records what it was asked.</summary>
    public sealed class StubHandler : HttpMessageHandler
    {
        private readonly Func<HttpRequestMessage, int, HttpResponseMessage> _answer;

        public StubHandler(Func<HttpRequestMessage, int, HttpResponseMessage> answer) { _answer = answer; }

        public List<string> Requests { get; } = new List<string>();
        public List<string> Bodies { get; } = new List<string>();
        public List<HttpRequestMessage> Messages { get; } = new List<HttpRequestMessage>();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Requests.Add(request.Method + " " + request.RequestUri.AbsoluteUri);
            Messages.Add(request);
            Bodies.Add(request.Content == null ? null : await request.Content.ReadAsStringAsync());
            return _answer(request, Requests.Count - 1);
        }

        public static HttpResponseMessage Json(int status, string body, string retryAfter = null, string contentType = "application/json")
        {
            var r = new HttpResponseMessage((HttpStatusCode)status) { Content = new StringContent(body) };
            r.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
            if (retryAfter != null) r.Headers.TryAddWithoutValidation("Retry-After", retryAfter);
            return r;
        }
    }

    /// <summary>A client over a stub, with its backoff delays recorded instead of slept.</summary>
    public sealed class StubbedClient
    {
        public StubbedClient(Func<HttpRequestMessage, int, HttpResponseMessage> answer, Action<EncrypxonClientConfiguration> configure = null)
        {
            Handler = new StubHandler(answer);
            var config = new EncrypxonClientConfiguration
            {
                ApiKey = "ek_test_stub",
                BaseUrl = new Uri("http://api.test/base/"),
                HttpClient = new HttpClient(Handler),
            };
            if (configure != null) configure(config);
            Client = new Encrypxon2FaClient(config);
            Client.Sleep = (delay, ct) =>
            {
                Delays.Add(delay);
                return Task.FromResult(0);
            };
        }

        public StubHandler Handler { get; }
        public Encrypxon2FaClient Client { get; }
        public List<TimeSpan> Delays { get; } = new List<TimeSpan>();
    }
}
