using Eval.Harness.Runs;

namespace Eval.Tests.Harness;

[TestClass]
public sealed class MetricsTests
{
    [TestMethod]
    public void AccuracyStandardErrorUsesTheSampleDeviation()
    {
        var outcomes = new[] { true, true, true, false, false, true, false, true, true, false }; // 6 of 10
        var e = Metrics.Accuracy(outcomes);
        Assert.AreEqual(0.6, e.Accuracy, 1e-12);
        Assert.AreEqual(10, e.N);
        // sd with n - 1: sqrt((6·0.16 + 4·0.36) / 9) = sqrt(2.4 / 9); stderr = sd / sqrt(10).
        Assert.AreEqual(Math.Sqrt(2.4 / 9) / Math.Sqrt(10), e.StdErr, 1e-12);
        // Resampled accuracies are Binomial(10, 0.6) / 10: P(X ≤ 2) = 1.2% and P(X ≤ 3) = 5.5%, so the 2.5th percentile
        // of 1000 resamples is 0.3; P(X ≥ 9) = 4.6% and P(X = 10) = 0.6%, so the 97.5th is 0.9.
        Assert.AreEqual(0.3, e.CiLow, 1e-12);
        Assert.AreEqual(0.9, e.CiHigh, 1e-12);
    }

    [TestMethod]
    public void TheBootstrapIsDeterministicForASeedAndDependsOnIt()
    {
        var values = Enumerable.Range(0, 200).Select(i => (i * 37 % 101) / 100.0).ToList();
        var first = Metrics.BootstrapInterval(values, seed: 7, samples: 200);
        Assert.AreEqual(first, Metrics.BootstrapInterval(values, seed: 7, samples: 200), "the same seed, the same interval");
        Assert.AreNotEqual(first, Metrics.BootstrapInterval(values, seed: 8, samples: 200), "the seed is what fixes it");
        // Around the sample mean, about 1.96 standard errors either side.
        double mean = values.Average(), se = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1) / values.Count);
        Assert.AreEqual(mean - 1.96 * se, first.Low, 0.3 * se);
        Assert.AreEqual(mean + 1.96 * se, first.High, 0.3 * se);
    }

    [TestMethod]
    public void BootstrapIntervalMatchesTheNormalApproximationOnALargeSample()
    {
        var outcomes = Enumerable.Range(0, 2000).Select(i => i % 4 != 0).ToArray(); // 75%
        var e = Metrics.Accuracy(outcomes);
        Assert.AreEqual(0.75 - 1.96 * e.StdErr, e.CiLow, 0.006);
        Assert.AreEqual(0.75 + 1.96 * e.StdErr, e.CiHigh, 0.006);
        var all = Metrics.Accuracy([true, true, true]);
        Assert.AreEqual((1.0, 0.0, 1.0, 1.0), (all.Accuracy, all.StdErr, all.CiLow, all.CiHigh));
    }

    [TestMethod]
    public void AccNormDividesByTheChoicesCharacterLength()
    {
        // acc takes the higher log-likelihood; per character the longer choice wins.
        double[] ll = [-4.0, -6.0];
        Assert.AreEqual(1, Metrics.NormalizedPrediction(ll, [2, 6]));
        Assert.AreEqual(0, Metrics.NormalizedPrediction(ll, [4, 6]));
        Assert.AreEqual(0, Metrics.NormalizedPrediction([-3.0, -4.0], [0, 1]), "an empty choice counts as one character: -3 > -4");
        Assert.ThrowsException<ArgumentException>(() => Metrics.NormalizedPrediction(ll, [2]));
    }

    /// <summary>
    /// Characters are Python's len(): code points. "😀" is one character (two UTF-16 units), so with log-likelihoods −4 and
    /// −6 the choices "😀😀" (2) and "abcdef" (6) give −2 and −1 per character: acc_norm takes the second. Counted in
    /// UTF-16 units they would tie at −1, and the first would win.
    /// </summary>
    [TestMethod]
    public void AccNormCountsCharactersAsPythonDoes()
    {
        Assert.AreEqual((2, 2, 2, 1, 0), (Metrics.Characters("a😀"), Metrics.Characters("中文"), Metrics.Characters("e\u0301"), Metrics.Characters("é"), Metrics.Characters("")));
        var group = new PlanGroup("task", "en", "test", "template", "key", [7]);
        var score = new CachedScore(7, 0, 1, [-4.0, -6.0], false, "prompt", ["😀😀", "abcdef"], [1, 1]);
        var example = ExampleResult.FromScore(group, score, Eval.Harness.Scoring.ScoringMode.LogLikelihood);
        Assert.AreEqual(1, example.NormalizedPrediction, "−6/6 beats −4/2");
        Assert.AreEqual(true, example.NormalizedCorrect);
    }

    [TestMethod]
    public void SpreadAcrossTemplates()
    {
        var s = Metrics.Spread([0.5, 0.7, 0.6]);
        Assert.AreEqual((0.6, 0.5, 0.7, 3), (Math.Round(s.Mean, 12), s.Min, s.Max, s.Templates));
        Assert.AreEqual(0.1, s.Sd, 1e-12);
    }

    [TestMethod]
    public void GroupsAreWeightedBySize()
    {
        ExampleResult Ex(string subset, bool correct) => new("t", subset, "test", "T", 0, "", ["a", "b"], [0, 0], correct ? 0 : 1, 0, false, [1, 1]);
        var examples = Enumerable.Repeat(Ex("big", true), 90).Concat(Enumerable.Repeat(Ex("small", false), 10)).ToList();
        var task = new Eval.Harness.Tasks.TaskDefinition("t", "", "t.yaml", "language", ["big", "small"], new Dictionary<string, IReadOnlyList<string>>(),
            ["test"], "test", [], Eval.Harness.Templates.JinjaTemplate.Parse("g", "0"), Eval.Harness.Templates.JinjaTemplate.Parse("slot", " {{ mask }}"),
            [new Eval.Harness.Templates.PromptTemplate("T", "T", "x", "a ||| b", null, "t.yaml")]);
        var info = new TaskRunInfo(task, "test", ["big", "small"], ["T"], new Dictionary<string, Eval.Harness.Data.LoadedSplit>(), 0);
        var summary = RunSummary.From(new RunOutcome(examples, [info], 100, 0, 1));
        var all = summary.Groups.Single(g => g.Group == RunSummary.AllGroup);
        Assert.AreEqual(0.9, all.Estimate.Accuracy, 1e-12, "pooled over examples, not the mean of 1.0 and 0.0");
        Assert.AreEqual(100, all.Estimate.N);
    }
}
