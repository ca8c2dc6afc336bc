using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Encrypxon
{
    /// <summary>
    /// A sequence fetched page by page as it is read. In C# 8 and later: <c>await foreach (var x in stream)</c>
    /// (the enumerator follows the pattern <c>await foreach</c> binds to); in C# 7: <see cref="ForEachAsync"/>,
    /// <see cref="ToListAsync"/>, or <see cref="GetAsyncEnumerator"/> with a <c>while</c> loop.
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

        /// <summary>Starts reading from the first page; a token here is combined with the one the stream was made with.</summary>
        public AsyncStreamEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default(CancellationToken))
        {
            if (!cancellationToken.CanBeCanceled) return _start(_token);
            if (!_token.CanBeCanceled) return _start(cancellationToken);
            var linked = CancellationTokenSource.CreateLinkedTokenSource(_token, cancellationToken);
            return _start(linked.Token);
        }

        /// <summary>Calls <paramref name="action"/> for every item, fetching pages as needed.</summary>
        public async Task ForEachAsync(Action<T> action, CancellationToken cancellationToken = default(CancellationToken))
        {
            if (action == null) throw new ArgumentNullException(nameof(action));
            var e = GetAsyncEnumerator(cancellationToken);
            while (await e.MoveNextAsync().ConfigureAwait(false)) action(e.Current);
        }

        /// <summary>Reads every item into a list (mind the size of what you ask for).</summary>
        public async Task<List<T>> ToListAsync(CancellationToken cancellationToken = default(CancellationToken))
        {
            var list = new List<T>();
            await ForEachAsync(list.Add, cancellationToken).ConfigureAwait(false);
            return list;
        }
    }

    /// <summary>Reads an <see cref="AsyncStream{T}"/>: <c>while (await e.MoveNextAsync()) use(e.Current);</c></summary>
    /// <typeparam name="T">The item type.</typeparam>
    public sealed class AsyncStreamEnumerator<T>
    {
        private readonly Func<CancellationToken, Task<IReadOnlyList<T>>> _nextBatch;
        private readonly CancellationToken _token;
        private IReadOnlyList<T> _batch = new T[0];
        private int _index = -1;
        private bool _done;

        internal AsyncStreamEnumerator(Func<CancellationToken, Task<IReadOnlyList<T>>> nextBatch, CancellationToken token)
        {
            _nextBatch = nextBatch;
            _token = token;
        }

        /// <summary>The item <see cref="MoveNextAsync"/> moved to.</summary>
        public T Current { get; private set; }

        /// <summary>Moves to the next item, fetching the next page when this one is used up; false at the end.</summary>
        public async Task<bool> MoveNextAsync()
        {
            while (_index + 1 >= _batch.Count)
            {
                if (_done) return false;
                var batch = await _nextBatch(_token).ConfigureAwait(false);
                if (batch == null) { _done = true; return false; }
                _batch = batch;
                _index = -1;
            }
            _index++;
            Current = _batch[_index];
            return true;
        }
    }
}
