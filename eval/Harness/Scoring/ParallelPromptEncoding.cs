using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using Eval.Harness.Data;

namespace Eval.Harness.Scoring;

/// <summary>
/// Renders and tokenizes a task's documents on several threads. Prompt i is always document i's: each work item is a
/// range of document indices, and every prompt is written to its own slot of one array, so the result does not depend
/// on the thread count, the range size or the order the ranges finish in. The encoder must be safe to call from several
/// threads (<see cref="MaskedPromptEncoder"/> and <see cref="CausalPromptEncoder"/> are: templates and tokenizers are
/// immutable after loading, the tokenizer's piece cache is concurrent).
/// </summary>
public static class ParallelPromptEncoding
{
    /// <summary>Ranges per thread when the range size is not given: small enough to balance uneven prompt lengths.</summary>
    private const int RangesPerThread = 8;

    /// <summary>The most documents one range takes when the range size is not given.</summary>
    private const int LargestDefaultRange = 64;

    /// <summary>Threads a run uses for a requested count: 0 (or less) means one per core.</summary>
    public static int ThreadsFor(int requested) => requested > 0 ? requested : Environment.ProcessorCount;

    /// <summary>
    /// Every document's prompt, in document order. threads ≤ 0 uses every core; documentsPerRange ≤ 0 picks a range size
    /// from the count. When documents fail to encode, the failure of the lowest-indexed one is thrown (as one thread would
    /// throw it), whatever the threads and ranges.
    /// </summary>
    public static TPrompt[] EncodeAll<TPrompt>(IReadOnlyList<Document> documents, Func<Document, TPrompt> encode, int threads = 0,
        int documentsPerRange = 0, CancellationToken cancel = default)
    {
        var prompts = new TPrompt[documents.Count];
        int workers = Math.Min(ThreadsFor(threads), Math.Max(1, documents.Count));
        if (workers == 1)
        {
            for (int i = 0; i < prompts.Length; i++)
            {
                cancel.ThrowIfCancellationRequested();
                prompts[i] = encode(documents[i]);
            }
            return prompts;
        }

        int rangeSize = documentsPerRange > 0 ? documentsPerRange : DefaultRangeSize(documents.Count, workers);
        var failure = new LowestFailure();
        var options = new ParallelOptions { MaxDegreeOfParallelism = workers, CancellationToken = cancel };
        Parallel.ForEach(Partitioner.Create(0, documents.Count, rangeSize), options, range =>
        {
            // Past a failure only lower indices matter: one of them may fail first in document order.
            for (int i = range.Item1; i < range.Item2 && i < failure.Index; i++)
            {
                try
                {
                    prompts[i] = encode(documents[i]);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    failure.Record(i, e);
                    return;
                }
            }
        });
        failure.ThrowIfAny();
        return prompts;
    }

    /// <summary>The range size used when none is given: about <see cref="RangesPerThread"/> ranges per thread, 1 to <see cref="LargestDefaultRange"/> documents.</summary>
    public static int DefaultRangeSize(int documents, int threads) =>
        Math.Clamp(documents / (threads * RangesPerThread), 1, LargestDefaultRange);

    /// <summary>The exception of the lowest document index that failed so far.</summary>
    private sealed class LowestFailure
    {
        private readonly Lock gate = new();
        private int index = int.MaxValue;
        private Exception? exception;

        public int Index => Volatile.Read(ref index);

        public void Record(int documentIndex, Exception e)
        {
            lock (gate)
            {
                if (documentIndex >= index) return;
                exception = e;
                Volatile.Write(ref index, documentIndex);
            }
        }

        public void ThrowIfAny()
        {
            if (exception is not null) ExceptionDispatchInfo.Throw(exception);
        }
    }
}
