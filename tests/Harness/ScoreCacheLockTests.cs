using Eval.Harness.Runs;

namespace Eval.Tests.Harness;

/// <summary>
/// A score cache another process holds the write lock of: the run waits (saying so) instead of failing after SQLite's
/// 10 s busy timeout, and gives up only after its limit, with an IOException naming the file and nothing half-stored.
/// </summary>
[TestClass]
public sealed class ScoreCacheLockTests
{
    private static readonly CachedScore[] Batch =
    [
        new(0, 1, 1, [0.1, 0.9], false, "p0", ["a", "b"], [1, 1]),
        new(1, 0, 1, [0.7, 0.3], false, "p1", ["a", "b"], [1, 1]),
    ];

    [TestMethod]
    public void StoreWaitsPastSqlitesBusyTimeoutForALockThatIsReleased()
    {
        var path = Path.Combine(SharedFixtures.TempDirectory(), "scores.sqlite");
        var holder = EndToEndTests.HoldScoreCacheWriteLock(path);
        var release = Task.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(13));
            holder.Dispose();
        });
        var messages = new List<string>();
        using (var cache = new ScoreCache(path))
            cache.Store("m", "xcopa", "tr", "test", "t", Batch, messages.Add);
        release.Wait();
        Assert.IsTrue(messages.Count >= 1, "no message while waiting");
        StringAssert.Contains(messages[0], path);
        StringAssert.Contains(messages[0], "locked by another process");
        using var reopened = new ScoreCache(path);
        Assert.AreEqual(2, reopened.Load("m", "xcopa", "tr", "test", "t").Count);
    }

    [TestMethod]
    public void StoreGivesUpAfterItsLimitWithAnIOExceptionNamingTheFile()
    {
        var path = Path.Combine(SharedFixtures.TempDirectory(), "scores.sqlite");
        using (EndToEndTests.HoldScoreCacheWriteLock(path))
        using (var cache = new ScoreCache(path) { LockWaitLimit = TimeSpan.Zero })
        {
            var error = Assert.ThrowsExactly<IOException>(() => cache.Store("m", "xcopa", "tr", "test", "t", Batch));
            StringAssert.Contains(error.Message, path);
            StringAssert.Contains(error.Message, "locked by another process");
        }
        using var reopened = new ScoreCache(path);
        Assert.AreEqual(0, reopened.Count());
    }
}
