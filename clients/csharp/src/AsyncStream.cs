using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Encrypxon
{
    /// <summary>
    /// A sequence fetched page by page as it is read. In C# 8 and later: <c>await foreach (var x in stream)</c>
    /// (the enumerator follows the pattern <c>await foreach</c> binds to, <c>DisposeAsync</c> included); in C# 7:
    /// <see cref="ForEachAsync"/>, <see cref="ToListAsync"/>, or <see cref="GetAsyncEnumerator"/> with a
    /// <c>while</c> loop inside a <c>using</c>.
    /// </summary>
    /// <typeparam name="T">The item type.</typeparam>
    public sealed class AsyncStream<T>
    {
        private readonly Func<CancellationToken, AsyncStreamEnumerator<T>> _start;
        private readonly CancellationToken _token;

        internal AsyncStream(Func<CancellationToken, AsyncStreamEnumerator<T>> start, CancellationToken token)
        {
            _start = start;
            _token = token;
        }

        /// <summary>
        /// Starts reading from the first page; a token here is combined with the one the stream was made with.
        /// Dispose the enumerator when done (<c>using</c>; <c>await foreach</c> does it): it may hold a linked
        /// <see cref="CancellationTokenSource"/>.
        /// </summary>
        /// <param name="cancellationToken">Cancels the reading, besides the stream's own token.</param>
        /// <returns>An enumerator positioned before the first item.</returns>
        public AsyncStreamEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default(CancellationToken))
        {
            if (!cancellationToken.CanBeCanceled) return _start(_token);
            if (!_token.CanBeCanceled) return _start(cancellationToken);
            var linked = CancellationTokenSource.CreateLinkedTokenSource(_token, cancellationToken);
            try
            {
                return _start(linked.Token).Owning(linked);
            }
            catch
            {
                linked.Dispose();
                throw;
            }
        }

        /// <summary>Calls <paramref name="action"/> for every item, fetching pages as needed.</summary>
        /// <param name="action">What to do with each item.</param>
        /// <param name="cancellationToken">Cancels the reading, besides the stream's own token.</param>
        /// <returns>A task that completes after the last item.</returns>
        /// <exception cref="ArgumentNullException"><paramref name="action"/> is null.</exception>
        public async Task ForEachAsync(Action<T> action, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (action == null) throw new ArgumentNullException(nameof(action));
            using (var e = GetAsyncEnumerator(cancellationToken))
            {
                while (await e.MoveNextAsync().ConfigureAwait(false)) action(e.Current);
            }
        }

        /// <summary>Reads every item into a list (mind the size of what you ask for).</summary>
        /// <param name="cancellationToken">Cancels the reading, besides the stream's own token.</param>
        /// <returns>Every item, in order.</returns>
        public async Task<List<T>> ToListAsync(CancellationToken cancellationToken = default(CancellationToken))
        {
            var list = new List<T>();
            await ForEachAsync(list.Add, cancellationToken).ConfigureAwait(false);
            return list;
        }
    }

    /// <summary>
    /// Reads an <see cref="AsyncStream{T}"/>: <c>using (var e = stream.GetAsyncEnumerator()) while (await e.MoveNextAsync()) use(e.Current);</c>
    /// </summary>
    /// <typeparam name="T">The item type.</typeparam>
    public sealed class AsyncStreamEnumerator<T> : IDisposable
    {
        private readonly Func<CancellationToken, Task<IReadOnlyList<T>>> _nextBatch;
        private readonly List<IDisposable> _owned = new List<IDisposable>();
        private IReadOnlyList<T> _batch = new T[0];
        private int _index = -1;
        private bool _done;

        internal AsyncStreamEnumerator(Func<CancellationToken, Task<IReadOnlyList<T>>> nextBatch, CancellationToken token, IDisposable owned = null)
        {
            _nextBatch = nextBatch;
            Token = token;
            if (owned != null) _owned.Add(owned);
        }

        /// <summary>The token each page is fetched with.</summary>
        internal CancellationToken Token { get; }

        /// <summary>Whether <see cref="Dispose"/> ran.</summary>
        internal bool IsDisposed { get; private set; }

        /// <summary>Takes <paramref name="resource"/> to dispose with this enumerator.</summary>
        internal AsyncStreamEnumerator<T> Owning(IDisposable resource)
        {
            _owned.Add(resource);
            return this;
        }

        /// <summary>The item <see cref="MoveNextAsync"/> moved to.</summary>
        public T Current { get; private set; }

        /// <summary>Moves to the next item, fetching the next page when this one is used up; false at the end.</summary>
        /// <returns>True with <see cref="Current"/> set; false after the last item.</returns>
        /// <exception cref="ObjectDisposedException">The enumerator was disposed.</exception>
        /// <exception cref="EncrypxonException">A page was answered with an error.</exception>
        /// <exception cref="EncrypxonConnectionException">A page could not be fetched, after any retries.</exception>
        /// <exception cref="OperationCanceledException">The reading was cancelled.</exception>
        public async Task<bool> MoveNextAsync()
        {
            if (IsDisposed) throw new ObjectDisposedException(nameof(AsyncStreamEnumerator<T>));
            while (_index + 1 >= _batch.Count)
            {
                if (_done) return false;
                var batch = await _nextBatch(Token).ConfigureAwait(false);
                if (batch == null) { _done = true; return false; }
                _batch = batch;
                _index = -1;
            }
            _index++;
            Current = _batch[_index];
            return true;
        }

        /// <summary>Releases what the enumerator holds (a linked cancellation source, an inner page reader); idempotent.</summary>
        public void Dispose()
        {
            if (IsDisposed) return;
            IsDisposed = true;
            _done = true;
            foreach (var d in _owned) d.Dispose();
            _owned.Clear();
        }

        /// <summary>As <see cref="Dispose"/>, for <c>await foreach</c> (C# 8 and later), which calls it at the end of the loop.</summary>
        /// <returns>A completed task.</returns>
        public Task DisposeAsync()
        {
            Dispose();
            return Task.FromResult(0);
        }
    }
}
