using Eval.Harness.Data;
using Eval.Harness.Runs;
using Eval.Harness.Scoring;
using Eval.Tokenizers;

namespace Eval.Tests.Harness;

/// <summary>
/// The runner's batches: formed across a task's (subset, template) groups by length, with their padding recorded, and
/// fixed by the plan — a resumed run and every shard score each prompt in the batch one uninterrupted process does.
/// </summary>
[TestClass]
public sealed class BatchLayoutTests
{
    /// <summary>
    /// A scorer whose scores say which batch a prompt was scored in (its rows and its longest prompt) — as a real kernel's
    /// last bits may — besides the prompt's own length; it records every batch it is given.
    /// </summary>
    internal sealed class BatchRevealingScorer : IChoiceScorer
    {
        public List<IScoredPrompt[]> Batches { get; } = [];

        /// <summary>What the runner said would come next, before each batch (null: nothing).</summary>
        public List<IScoredPrompt[]?> Announced { get; } = [];

        public IReadOnlyList<ScoringMode> Modes => MaskedChoiceScorer.SupportedModes;

        public void Upcoming(IReadOnlyList<IScoredPrompt>? prompts)
        {
            lock (Batches) Announced.Add(prompts?.ToArray());
        }

        public IReadOnlyList<ChoiceScore> Score(IReadOnlyList<IScoredPrompt> prompts, ScoringMode mode)
        {
            lock (Batches) Batches.Add([.. prompts]);
            int longest = prompts.Max(p => p.TokenCount);
            return prompts.Select(p => ChoiceScore.ByArgMax(p.Choices.Select((_, c) =>
                -(p.TokenCount + prompts.Count * 1e-3 + longest * 1e-7 + c * 1e-9 * (p.Document.Index % 7))).ToArray())).ToList();
        }
    }

    private static readonly Tokenizer ModernBert = Tokenizer.Load(Path.Combine(SharedFixtures.Shared, "tokenizers", "modernbert"));

    private static (RunOutcome Outcome, BatchRevealingScorer Scorer) Run(EvalRequest request, string cachePath)
    {
        var scorer = new BatchRevealingScorer();
        using var cache = new ScoreCache(cachePath);
        var store = new DatasetStore([Path.Combine(SharedFixtures.Shared, "datasets")], SharedFixtures.TempDirectory(), downloader: null);
        var runner = new EvaluationRunner(ModelKinds.Of(Eval.Models.ModelKind.Masked), scorer, ModernBert, store, cache, "stub");
        return (runner.Run(request), scorer);
    }

    private static EvalRequest Xnli(int batchSize, int? budget = null, ShardSpec? shard = null) =>
        new([TemplateTests.Registry.Get("xnli")], ["en", "sw"], ["GPT-3 style", "can we infer", "justified in saying"], "validation", 40, batchSize,
            ScoringMode.Restricted, 512) { MaxBatchTokens = budget, Shard = shard, EncodingThreads = 2 };

    private static Dictionary<(string, string, int), double[]> ScoresOf(RunOutcome outcome) =>
        outcome.Examples.ToDictionary(e => (e.Subset, e.Template, e.DocId), e => e.Scores);

    /// <summary>
    /// Before each batch the scorer is told the batch that follows it (so it can send its inputs to the device while this
    /// one runs); a resumed run skips the batches it has, in what it announces too; the task's last batch announces none.
    /// </summary>
    [TestMethod]
    public void EachBatchIsAnnouncedWhileTheOneBeforeItIsScored()
    {
        int layoutBatches = Run(Xnli(7), Path.Combine(SharedFixtures.TempDirectory(), "scores.sqlite")).Scorer.Batches.Count;
        var cachePath = Path.Combine(SharedFixtures.TempDirectory(), "scores.sqlite");
        foreach (var (request, label) in new[] { (Xnli(7) with { Limit = 20 }, "first run"), (Xnli(7), "resumed over the first 20 of each group") })
        {
            var (_, scorer) = Run(request, cachePath);
            Assert.AreEqual(scorer.Batches.Count, scorer.Announced.Count, $"{label}: one announcement before each batch");
            for (int i = 0; i + 1 < scorer.Batches.Count; i++)
                CollectionAssert.AreEqual(scorer.Batches[i + 1], scorer.Announced[i], $"{label}: before batch {i}, the batch after it");
            Assert.IsNull(scorer.Announced[^1], $"{label}: nothing follows the task's last batch");
            if (request.Limit is null) Assert.IsTrue(scorer.Batches.Count < layoutBatches, $"{label}: batches it had were skipped");
        }
    }

    [TestMethod]
    [DataRow(7, null)]
    [DataRow(int.MaxValue, 900)]
    public void BatchesSpanTheTasksGroupsSortedByLengthAndTheirPaddingIsRecorded(int batchSize, int? budget)
    {
        var (outcome, scorer) = Run(Xnli(batchSize, budget), Path.Combine(SharedFixtures.TempDirectory(), "scores.sqlite"));
        Assert.AreEqual(2 * 3 * 40, outcome.Examples.Count);
        var lengths = scorer.Batches.SelectMany(b => b.Select(p => p.TokenCount)).ToList();
        CollectionAssert.AreEqual(lengths.Order().ToList(), lengths, "one length order over all the task's groups");
        Assert.AreEqual(outcome.Examples.Count, lengths.Count, "every prompt scored once");
        Assert.IsTrue(scorer.Batches.Any(b => b.Select(p => string.Join("|", p.Choices)).Distinct().Count() > 1),
            "some batch holds prompts of different templates (their choices differ)");
        Assert.IsTrue(scorer.Batches.Any(b => b.Select(p => DataFile(p.Document)).Distinct().Count() > 1), "some batch holds prompts of both languages");
        foreach (var b in scorer.Batches.Where(b => b.Length > 1))
            Assert.IsTrue(b.Length <= batchSize && (budget is null || b.Length * b.Max(p => p.TokenCount) <= budget), "batches stay within the options");

        // Stored and reported through the store thread, each prompt keeps exactly the scores its batch got.
        var byPrompt = outcome.Examples.ToDictionary(e => (e.Prompt, e.DocId), e => e.Scores);
        foreach (var b in scorer.Batches)
        {
            var again = new BatchRevealingScorer().Score(b, ScoringMode.Restricted);
            for (int i = 0; i < b.Length; i++) CollectionAssert.AreEqual(again[i].Scores, byPrompt[(b[i].Text, b[i].Document.Index)], b[i].Document.Origin);
        }

        long tokens = lengths.Sum(t => (long)t), slots = scorer.Batches.Sum(b => (long)b.Length * b.Max(p => p.TokenCount));
        Assert.AreEqual(new BatchingTally(scorer.Batches.Count, lengths.Count, tokens, slots), outcome.Batching);
        Assert.AreEqual(1 - (double)tokens / slots, outcome.Batching.PaddingShare, 1e-12);

        var timings = ResultWriter.Manifest(outcome, FixtureMetadata(), sampleText: false).Timings!;
        Assert.AreEqual((scorer.Batches.Count, tokens, slots - tokens), (timings.Batches, timings.BatchedTokens, timings.PaddingTokens));
        Assert.AreEqual(Math.Round(outcome.Batching.PaddingShare, 4), timings.PaddingShare);
    }

    /// <summary>
    /// The scorer reveals the batch: a run resumed from a cache missing a third of the units, and three shards, give every
    /// prompt bit for bit the score of one uninterrupted run (they score whole batches of the plan's layout).
    /// </summary>
    [TestMethod]
    [DataRow(7, null)]
    [DataRow(int.MaxValue, 900)]
    public void ResumedRunsAndShardsScoreEachPromptInTheBatchOneProcessDoes(int batchSize, int? budget)
    {
        var wholeCache = Path.Combine(SharedFixtures.TempDirectory(), "scores.sqlite");
        var whole = ScoresOf(Run(Xnli(batchSize, budget), wholeCache).Outcome);

        var resumedCache = Path.Combine(SharedFixtures.TempDirectory(), "scores.sqlite");
        File.Copy(wholeCache, resumedCache);
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={resumedCache};Pooling=False"))
        {
            connection.Open();
            using var delete = connection.CreateCommand();
            delete.CommandText = "DELETE FROM scores WHERE doc_id % 3 = 1";
            Assert.IsTrue(delete.ExecuteNonQuery() > 0);
        }
        var (resumed, resumedScorer) = Run(Xnli(batchSize, budget), resumedCache);
        Assert.IsTrue(resumed.Scored is > 0 and < 240 && resumed.Cached > 0);
        AssertSame(whole, ScoresOf(resumed), "resumed");
        Assert.IsTrue(resumedScorer.Batches.Sum(b => b.Length) > resumed.Scored, "whole batches are scored, cached batch-mates included");

        var sharded = new Dictionary<(string, string, int), double[]>();
        for (int shard = 0; shard < 3; shard++)
            foreach (var (key, scores) in ScoresOf(Run(Xnli(batchSize, budget, new ShardSpec(shard, 3)), Path.Combine(SharedFixtures.TempDirectory(), "scores.sqlite")).Outcome))
                sharded.Add(key, scores);
        AssertSame(whole, sharded, "sharded");
    }

    private static void AssertSame(Dictionary<(string, string, int), double[]> expected, Dictionary<(string, string, int), double[]> actual, string what)
    {
        Assert.AreEqual(expected.Count, actual.Count, what);
        foreach (var (key, scores) in expected) CollectionAssert.AreEqual(scores, actual[key], $"{what}: {key}");
    }

    /// <summary>
    /// MMLU's 14,042 test questions with the eval.py template at bench/gpu's token budget (65,536): formed across the 57
    /// subjects, at most 15% of the batches' token slots are padding (per subject, as before, it was about half).
    /// </summary>
    [TestMethod]
    public void MmluAtTheGpuTokenBudgetIsLittlePadding()
    {
        var request = new EvalRequest([TemplateTests.Registry.Get("mmlu")], null, ["modernbert_instruct_eval_py"], "test", null, int.MaxValue,
            ScoringMode.EvalPy, 8192) { MaxBatchTokens = 65536 };
        var (outcome, scorer) = Run(request, Path.Combine(SharedFixtures.TempDirectory(), "scores.sqlite"));
        Assert.AreEqual(14042, outcome.Examples.Count);
        Assert.AreEqual(14042, outcome.Batching.Prompts);
        Assert.IsTrue(outcome.Batching.PaddingShare <= 0.15, $"padding share {outcome.Batching.PaddingShare:P1} in {outcome.Batching.Batches} batches");

        // The same prompts cut per subject, as the runner did before: far more padding.
        var perSubject = scorer.Batches.SelectMany(b => b).GroupBy(p => DataFile(p.Document))
            .SelectMany(g => EvaluationRunner.Batches(g.OrderBy(p => p.TokenCount).ToList(), request))
            .Aggregate(BatchingTally.None, (tally, b) => tally.Add(b.Select(p => p.TokenCount).ToList()));
        Console.WriteLine($"MMLU eval.py at 65,536 tokens: {outcome.Batching.PaddingShare:P1} padding in {outcome.Batching.Batches} batches; " +
                          $"per subject {perSubject.PaddingShare:P1} in {perSubject.Batches}");
    }

    private static string DataFile(Document document) => document.Origin[..document.Origin.LastIndexOf(':')];

    private static RunMetadata FixtureMetadata() => new("stub", "/nowhere", "stub", 0, new Dictionary<string, string>(), "stub",
        "/nowhere", "0", null, "cpu", "restricted", 8, 512, null, ["eval"], DateTime.UnixEpoch);
}
