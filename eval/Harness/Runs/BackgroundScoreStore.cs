using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace Eval.Harness.Runs;

/// <summary>
/// Stores scored batches in the score cache on a thread of its own, so the model scores the next batch while the last
/// one is written (SQLite, and its wait while another process holds the lock). At most Depth batches wait; the scoring
/// thread blocks past that. Each batch is still one transaction, stored whole or not at all, in the order scored.
/// A store that fails (the cache locked past its limit) fails the next <see cref="Add"/> or <see cref="Finish"/>.
/// </summary>
public sealed class BackgroundScoreStore : IDisposable
{
    private readonly BlockingCollection<IReadOnlyList<ScoreCacheRows>> waiting;
    private readonly Thread thread;
    private volatile ExceptionDispatchInfo? failure;

    public BackgroundScoreStore(ScoreCache cache, string modelFingerprint, Action<string>? warn, int depth = 2)
    {
        waiting = new BlockingCollection<IReadOnlyList<ScoreCacheRows>>(Math.Max(1, depth));
        thread = new Thread(() =>
        {
            try
            {
                foreach (var batch in waiting.GetConsumingEnumerable()) cache.Store(modelFingerprint, batch, warn);
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
                waiting.CompleteAdding(); // a scoring thread blocked in Add wakes up and sees the failure
            }
        }) { IsBackground = true, Name = "score store" };
        thread.Start();
    }

    /// <summary>Hands a scored batch over; blocks while Depth batches wait to be stored.</summary>
    public void Add(IReadOnlyList<ScoreCacheRows> batch)
    {
        failure?.Throw();
        try
        {
            waiting.Add(batch);
        }
        catch (InvalidOperationException) when (failure is not null)
        {
            failure.Throw();
        }
    }

    /// <summary>Waits until every batch handed over is stored; throws the store's failure, if any.</summary>
    public void Finish()
    {
        if (!waiting.IsAddingCompleted) waiting.CompleteAdding();
        thread.Join();
        failure?.Throw();
    }

    /// <summary>Stores what was handed over (a run that stops still keeps every batch it scored), then lets the thread go.</summary>
    public void Dispose()
    {
        if (!waiting.IsAddingCompleted) waiting.CompleteAdding();
        thread.Join();
        waiting.Dispose();
    }
}
