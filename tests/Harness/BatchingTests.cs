using Eval.Harness.Data;
using Eval.Harness.Runs;
using Eval.Harness.Scoring;

namespace Eval.Tests.Harness;

/// <summary>How the runner cuts length-sorted prompts into batches: by count, or by a padded-token budget.</summary>
[TestClass]
public sealed class BatchingTests
{
    private sealed record Prompt(int TokenCount) : IScoredPrompt
    {
        public Document Document => throw new NotSupportedException();
        public string Text => "";
        public IReadOnlyList<string> Choices => [];
        public int Gold => 0;
        public bool Truncated => false;
        public IReadOnlyList<int[]> ChoiceIds => [];
    }

    private static int[][] Cut(int[] lengths, int batchSize, int? budget) =>
        EvaluationRunner.Batches(lengths.Select(n => (IScoredPrompt)new Prompt(n)).ToList(),
                new EvalRequest([], null, null, null, null, batchSize, ScoringMode.Restricted, 512) { MaxBatchTokens = budget })
            .Select(b => b.Select(p => p.TokenCount).ToArray()).ToArray();

    [TestMethod]
    public void ACountCutsEveryNPrompts()
    {
        var batches = Cut([3, 4, 5, 6, 7], 2, null);
        CollectionAssert.AreEqual(new[] { 2, 2, 1 }, batches.Select(b => b.Length).ToArray());
    }

    [TestMethod]
    public void ATokenBudgetFillsBatchesUpToCountTimesLongest()
    {
        // 10 → 4×10 = 40 fits 40; adding 12 would be 5×12 = 60 > 40: cut. Then 12, 12, 20 (3×20 = 60 > 40 → cut at 2×12).
        var batches = Cut([10, 10, 10, 10, 12, 12, 20, 50], int.MaxValue, 40);
        Assert.AreEqual("10,10,10,10|12,12|20|50", string.Join("|", batches.Select(b => string.Join(",", b))));
        foreach (var b in batches.Where(b => b.Length > 1))
            Assert.IsTrue(b.Length * b.Max() <= 40, "a batch of several prompts stays within the budget");
    }

    [TestMethod]
    public void TheBatchSizeStillCapsABudgetedBatch()
    {
        var batches = Cut(Enumerable.Repeat(5, 10).ToArray(), 3, 1000);
        CollectionAssert.AreEqual(new[] { 3, 3, 3, 1 }, batches.Select(b => b.Length).ToArray());
    }
}
