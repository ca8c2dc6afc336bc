using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace Encrypxon.Tests
{
    /// <summary>One POST the receiver got: the raw body and the Encrypxon headers.</summary>
    public sealed class ReceivedWebhook
    {
        public byte[] Body;
        public string Signature;
        public string EventId;
        public string EventType;
        public string Attempt;

        public string Text => Encoding.UTF8.GetString(Body);
    }

    /// <summary>
    /// A webhook endpoint in this process: an <see cref="HttpListener"/> on 127.0.0.1 and a free port (the
    /// Worker accepts plain http to loopback, for development), answering 200 to every POST.
    /// </summary>
    public sealed class WebhookReceiver : IDisposable
    {
        private readonly HttpListener _listener = new HttpListener();
        private readonly List<ReceivedWebhook> _received = new List<ReceivedWebhook>();
        private readonly Task _loop;

        public WebhookReceiver()
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            _listener.Prefixes.Add("http://127.0.0.1:" + port + "/");
            _listener.Start();
            Url = "http://127.0.0.1:" + port + "/encrypxon";
            _loop = Task.Run(Serve);
        }

        public string Url { get; }

        public IReadOnlyList<ReceivedWebhook> Received
        {
            get { lock (_received) return _received.ToList(); }
        }

        private async Task Serve()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext ctx;
                try
                {
                    ctx = await _listener.GetContextAsync();
                }
                catch (Exception) when (!_listener.IsListening)
                {
                    return;
                }
                catch (ObjectDisposedException)
                {
                    return;
                }
                try
                {
                    byte[] body;
                    using (var ms = new MemoryStream())
                    {
                        await ctx.Request.InputStream.CopyToAsync(ms);
                        body = ms.ToArray();
                    }
                    var hit = new ReceivedWebhook
                    {
                        Body = body,
                        Signature = ctx.Request.Headers[WebhookSignature.SignatureHeader],
                        EventId = ctx.Request.Headers[WebhookSignature.EventIdHeader],
                        EventType = ctx.Request.Headers[WebhookSignature.EventTypeHeader],
                        Attempt = ctx.Request.Headers[WebhookSignature.DeliveryAttemptHeader],
                    };
                    lock (_received) _received.Add(hit);
                    ctx.Response.StatusCode = ctx.Request.HttpMethod == "POST" && ctx.Request.Url.AbsolutePath == "/encrypxon" ? 200 : 404;
                    var ok = Encoding.ASCII.GetBytes("ok");
                    ctx.Response.OutputStream.Write(ok, 0, ok.Length);
                    ctx.Response.Close();
                }
                catch (Exception)
                {
                    // a broken connection: the Worker retries
                }
            }
        }

        /// <summary>The first delivery that satisfies <paramref name="match"/>, waiting up to 30 s for it.</summary>
        public async Task<ReceivedWebhook> Next(Func<ReceivedWebhook, bool> match, string what)
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            for (;;)
            {
                var hit = Received.FirstOrDefault(match);
                if (hit != null) return hit;
                if (DateTime.UtcNow > deadline)
                    throw new AssertionException("no webhook for " + what + " within 30 s; received: "
                        + string.Join(", ", Received.Select(r => r.EventType + " " + r.EventId)));
                await Task.Delay(50);
            }
        }

        public void Dispose()
        {
            try
            {
                _listener.Stop();
                _listener.Close();
            }
            catch (ObjectDisposedException)
            {
                // already closed
            }
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
    }
}
