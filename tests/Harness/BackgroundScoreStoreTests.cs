using Eval.Harness.Runs;

namespace Eval.Tests.Harness;

/// <summary>The runner's store thread: every batch handed over is stored, each in one transaction, and a failure is not lost.</summary>
[TestClass]
public sealed class BackgroundScoreStoreTests
{
    private static IReadOnlyList<ScoreCacheRows> Batch(int first, int count) =>
    [
        new("t", "a", "test", "k", Enumerable.Range(first, count).Select(Row).ToList()),
        new("t", "b", "test", "k", Enumerable.Range(first, count).Select(Row).ToList()),
    ];

    private static CachedScore Row(int doc) => new(doc, doc % 3, 0, [-doc, doc * 0.5, 1e-300], doc % 2 == 0, $"prompt {doc}", ["x", "y", "z"], [1, 2, 1]);

    [TestMethod]
    public void EveryBatchHandedOverIsStoredAcrossItsGroups()
    {
        using var cache = new ScoreCache(Path.Combine(SharedFixtures.TempDirectory(), "scores.sqlite"));
        using (var store = new BackgroundScoreStore(cache, "m", warn: null, depth: 1))
        {
            for (int b = 0; b < 20; b++) store.Add(Batch(b * 5, 5));
            store.Finish();
        }
        Assert.AreEqual(200, cache.Count());
        foreach (var subset in new[] { "a", "b" })
        {
            var rows = cache.Load("m", "t", subset, "test", "k");
            Assert.AreEqual(100, rows.Count);
            foreach (var (doc, row) in rows)
            {
                var expected = Row(doc);
                Assert.AreEqual((expected.Prediction, expected.Truncated, expected.Prompt), (row.Prediction, row.Truncated, row.Prompt));
                CollectionAssert.AreEqual(expected.Scores, row.Scores);
            }
        }
    }

    [TestMethod]
    public void AStoreThatFailsFailsTheRunInsteadOfLosingScores()
    {
        var cache = new ScoreCache(Path.Combine(SharedFixtures.TempDirectory(), "scores.sqlite"));
        cache.Dispose(); // every store now fails
        using var store = new BackgroundScoreStore(cache, "m", warn: null, depth: 1);
        var failure = Assert.ThrowsException<InvalidOperationException>(() =>
        {
            for (int b = 0; b < 1000; b++) store.Add(Batch(b, 1)); // the store thread fails on the first; Add says so at the latest when the queue is full
            store.Finish();
        });
        Assert.IsFalse(failure.Message.Contains("marked as complete"), $"the store's own failure, not the queue's: {failure.Message}");
        Assert.ThrowsException<InvalidOperationException>(store.Finish, "Finish reports it too");
    }
}
