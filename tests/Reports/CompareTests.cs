using Eval.Harness.Reports;

namespace Eval.Tests.Reports;

/// <summary>`mlm-eval compare`: identical runs pass, a planted drop fails with a readable report, bad input is named.</summary>
[TestClass]
public sealed class CompareTests
{
    private static readonly string[] Languages = ["en", "fr"], Templates = ["t1", "t2"];

    private static List<SyntheticRuns.Example> Examples(Func<string, string, int, bool> wrongFlip) =>
        SyntheticRuns.Grid(["xnli"], Languages, Templates, 40, (_, l, t, d) => d % 2 == 0 ^ wrongFlip(l, t, d));

    /// <summary>A folder of runs, as CI keeps them: one subfolder per model.</summary>
    private static string Runs(string dir, Func<string, string, int, bool> flip)
    {
        SyntheticRuns.Write(Path.Combine(dir, "tiny-a"), "tiny-a", 1000, Examples(flip));
        SyntheticRuns.Write(Path.Combine(dir, "tiny-b"), "tiny-b", 2000, Examples((_, _, d) => d % 5 == 0));
        return dir;
    }

    [TestMethod]
    public void IdenticalRunsPass()
    {
        var dir = SharedFixtures.TempDirectory();
        var baseline = Runs(Path.Combine(dir, "baseline"), (_, _, _) => false);
        var current = Runs(Path.Combine(dir, "current"), (_, _, _) => false);
        var (code, output) = ProgramProcess.Run(dir, "compare", "--baseline", baseline, "--current", current, "--max-drop", "0", "--fail-on-changed-predictions");
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "**PASS** — 8 rows checked");
        StringAssert.Contains(output, "0 of 320 paired predictions changed");
    }

    [TestMethod]
    public void APlantedDropFailsAndNamesTheRow()
    {
        var dir = SharedFixtures.TempDirectory();
        var baseline = Runs(Path.Combine(dir, "baseline"), (_, _, _) => false);
        // fr · t2 of tiny-a loses 4 of its 20 right answers: −10 points.
        var current = Runs(Path.Combine(dir, "current"), (l, t, d) => l == "fr" && t == "t2" && d % 2 == 0 && d < 8);
        var report = Path.Combine(dir, "report.md");
        var (code, output) = ProgramProcess.Run(dir, "compare", "--baseline", baseline, "--current", current, "--max-drop", "2", "--output", report);
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, "**FAIL** — 1 of 8 rows regressed");
        StringAssert.Contains(output, "| tiny-a | xnli | fr | t2 | 50.0 [");
        StringAssert.Contains(output, "| 40.0 | −10.0 | 4/40 | **dropped beyond tolerance** |");
        Assert.AreEqual(output.Trim(), File.ReadAllText(report).Trim());
    }

    [TestMethod]
    public void ADropWithinToleranceButOutsideTheIntervalFails()
    {
        var dir = SharedFixtures.TempDirectory();
        var baseline = Runs(Path.Combine(dir, "baseline"), (_, _, _) => false);
        // en · t1: 50% → 25% (−25 points), under a 30-point tolerance but below the baseline's 95% interval.
        var current = Runs(Path.Combine(dir, "current"), (l, t, d) => l == "en" && t == "t1" && d % 4 == 0);
        var result = RegressionReport.Compare(baseline, current, 30, false);
        var row = result.Regressions.Single();
        Assert.AreEqual(new RowKey("xnli", "en", "t1"), row.Key);
        Assert.AreEqual(RegressionKind.BelowBaselineInterval, row.Kind);
        Assert.AreEqual(25, row.DropPoints, 1e-9);
    }

    [TestMethod]
    public void ChangedPredictionsFailOnlyWhenAsked()
    {
        var dir = SharedFixtures.TempDirectory();
        var baseline = Runs(Path.Combine(dir, "baseline"), (_, _, _) => false);
        // Two answers swap: one right becomes wrong, one wrong becomes right; accuracy is unchanged.
        var current = Runs(Path.Combine(dir, "current"), (l, t, d) => l == "en" && t == "t2" && d is 0 or 1);
        Assert.IsTrue(RegressionReport.Compare(baseline, current, 0, false).Passed);
        var strict = RegressionReport.Compare(baseline, current, 0, true);
        Assert.AreEqual(RegressionKind.ChangedPredictions, strict.Regressions.Single().Kind);
        Assert.AreEqual(2, strict.Regressions.Single().ChangedPredictions);
    }

    [TestMethod]
    public void AMissingRunOrRowIsARegression()
    {
        var dir = SharedFixtures.TempDirectory();
        var baseline = Runs(Path.Combine(dir, "baseline"), (_, _, _) => false);
        var current = Path.Combine(dir, "current");
        SyntheticRuns.Write(Path.Combine(current, "tiny-a"), "tiny-a", 1000, Examples((_, _, _) => false).Where(e => e.Language == "en").ToList());
        var report = RegressionReport.Compare(baseline, current, 1, false);
        Assert.IsFalse(report.Passed);
        Assert.AreEqual(2 + 4, report.Regressions.Count, "fr of tiny-a (2 templates) and all of tiny-b (4 rows)");
        Assert.IsTrue(report.Regressions.All(r => r.Kind == RegressionKind.Missing));
        StringAssert.Contains(report.ToMarkdown(), "run `tiny-b` is in the baseline but not in");
    }

    [TestMethod]
    public void BadInputExitsWithTwoAndSaysWhy()
    {
        var dir = SharedFixtures.TempDirectory();
        var baseline = Runs(Path.Combine(dir, "baseline"), (_, _, _) => false);
        File.AppendAllText(Path.Combine(baseline, "tiny-a", "samples_xnli.jsonl"), "{\"task\": \"xnli\"\n");
        var (code, output) = ProgramProcess.Run(dir, "compare", "--baseline", baseline, "--current", baseline);
        Assert.AreEqual(2, code, output);
        StringAssert.Contains(output, "samples_xnli.jsonl:161: not a sample line");
        (code, output) = ProgramProcess.Run(dir, "compare", "--baseline", Path.Combine(dir, "nowhere"), "--current", baseline);
        Assert.AreEqual(2, code, output);
        StringAssert.Contains(output, "does not exist");
    }
}
