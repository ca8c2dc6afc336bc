// Audit streams release what they hold: the linked CancellationTokenSource of GetAsyncEnumerator, and the
// page reader inside GetAuditEventsAsync.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;

namespace Encrypxon.Tests
{
    [Suite("client")]
    public sealed class AsyncStreamTests
    {
        [Test]
        public async Task AuditStreamsDisposeWhatTheyHold()
        {
            using (var outer = new CancellationTokenSource())
            using (var inner = new CancellationTokenSource())
            {
                var made = new List<AsyncStreamEnumerator<int>>();
                var stream = new AsyncStream<int>(ct =>
                {
                    var sent = false;
                    var e = new AsyncStreamEnumerator<int>(t =>
                    {
                        var batch = sent ? null : (IReadOnlyList<int>)new[] { 1, 2 };
                        sent = true;
                        return Task.FromResult(batch);
                    }, ct);
                    made.Add(e);
                    return e;
                }, outer.Token);
                Assert.SequenceEqual(new[] { 1, 2 }, await stream.ToListAsync(inner.Token));
                Assert.True(made.Single().IsDisposed, "ToListAsync disposes its enumerator");

                var linked = stream.GetAsyncEnumerator(inner.Token);
                Assert.True(linked.Token != outer.Token && linked.Token != inner.Token, "two tokens are linked");
                linked.Dispose();
                linked.Dispose();
                await Assert.ThrowsAsync<ObjectDisposedException>(() => linked.MoveNextAsync(), "read after dispose");
                // The linked source is disposed: it no longer follows its parents.
                outer.Cancel();
                Assert.True(!linked.Token.IsCancellationRequested, "the linked source was disposed with the enumerator");
                await linked.DisposeAsync();
            }

            // GetAuditEventsAsync reads pages through an inner enumerator: disposed with the outer one.
            var s = new StubbedClient((r, i) => StubHandler.Json(200, "{\"object\":\"list\",\"has_more\":false,\"next_cursor\":null,\"data\":[]}"));
            using (var cts = new CancellationTokenSource())
            {
                var events = s.Client.GetAuditEventsAsync(null, cts.Token).GetAsyncEnumerator(new CancellationTokenSource().Token);
                Assert.True(!await events.MoveNextAsync(), "no events");
                events.Dispose();
                cts.Cancel();
                Assert.True(!events.Token.IsCancellationRequested, "the page reader's linked source went with it");
            }
        }
    }
}
