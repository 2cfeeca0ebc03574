using Eval.Charts;
using Eval.Harness.Reports;
using Eval.Harness.Runs;

namespace Eval.Tests.Reports;

/// <summary>
/// `report` and `scaling` set the masked LMs side by side: per task one table and one chart with each masked model's
/// pooled accuracy and interval and the spread over the task's five prompts; a causal LM's run is not among them.
/// </summary>
[TestClass]
public sealed class MaskedFamilyComparisonTests
{
    private static readonly string[] Tasks = ["xnli", "xcopa"];
    private static readonly string[] Languages = ["en", "sw"];
    private static readonly string[] Prompts = ["p1", "p2", "p3", "p4", "p5"];

    /// <summary>Three masked LMs of different quality per prompt and a causal LM, on both tasks.</summary>
    private static IReadOnlyList<RunRecord> Runs(string dir)
    {
        string Run(string name, string architecture, string scoring, long parameters, Func<string, int, bool> right) =>
            SyntheticRuns.Write(Path.Combine(dir, name), $"org/{name}", parameters,
                SyntheticRuns.Grid(Tasks, Languages, Prompts, 20, (_, _, prompt, doc) => right(prompt, doc)), architecture: architecture, scoring: scoring);
        return RunRecord.LoadAll(
        [
            Run("mbert", "BertForMaskedLM", "restricted", 177_000_000, (p, d) => d < 8),
            Run("eurobert", "EuroBertForMaskedLM", "eval-py", 210_000_000, (p, d) => d < 4 + 2 * Array.IndexOf(Prompts, p)),
            Run("electra", "ElectraForMaskedLM", "unrestricted", 33_000_000, (p, d) => p == "p1" ? d < 20 : d < 5),
            Run("smollm2", "LlamaForCausalLM", "loglik", 135_000_000, (p, d) => d < 15),
        ]);
    }

    [TestMethod]
    public void EachTaskHasOneTableAndOneChartOfTheMaskedLmsWithIntervalsAndThePromptSpread()
    {
        var runs = Runs(SharedFixtures.TempDirectory());
        var document = EvaluationReport.Build(runs, null);
        var section = document.Sections.Single(s => s.Heading == "Masked LMs side by side");
        var tables = section.Blocks.OfType<ReportTable>().ToList();
        var figures = section.Blocks.OfType<ReportFigure>().ToList();
        var tasks = runs[0].Tasks;
        Assert.AreEqual(Tasks.Length, tables.Count);
        CollectionAssert.AreEqual(tasks.Select(t => $"{t}-masked-lms").ToList(), figures.Select(f => f.FileName).ToList());

        for (int t = 0; t < tasks.Count; t++)
        {
            var rows = tables[t].Rows;
            CollectionAssert.AreEqual(new[] { "mbert", "eurobert", "electra" }, rows.Select(r => r[0]).ToArray(), "the causal LM is left out");
            int Column(string header) => tables[t].Header.ToList().IndexOf(header);
            // mbert: 8 of 20 right everywhere; eurobert: prompt k has 4 + 2k of 20 (mean 40%, 20% – 60%); electra: p1 all, others 5 of 20.
            Assert.AreEqual("40.0 [", rows[0][Column("accuracy % [95% CI]")][..6]);
            Assert.AreEqual("40.0 ± 0.0", rows[0][Column("mean ± sd over prompts")]);
            Assert.AreEqual("20.0 – 60.0", rows[1][Column("worst – best prompt")]);
            Assert.AreEqual("5", rows[1][Column("prompts")]);
            Assert.AreEqual("200", rows[1][Column("n")]);
            Assert.AreEqual("EuroBertForMaskedLM", rows[1][Column("architecture")]);
            Assert.AreEqual("40.0 ± 33.5", rows[2][Column("mean ± sd over prompts")]);

            var chart = (BarChart)figures[t].Chart;
            CollectionAssert.AreEqual(new[] { "mbert", "eurobert", "electra" }, chart.Categories.ToArray());
            Assert.AreEqual(2, chart.Series.Count);
            var electra = runs[2].Accuracy(s => s.Task == tasks[t]);
            Assert.AreEqual(100 * electra.Accuracy, chart.Series[0].Values[2], 1e-9);
            Assert.AreEqual(new Interval(100 * electra.CiLow, 100 * electra.CiHigh), chart.Series[0].Intervals![2]);
            Assert.AreEqual(new Interval(25, 100), chart.Series[1].Intervals![2], "worst and best prompt");
            Assert.AreEqual(40, chart.Series[1].Values[1], 1e-9, "eurobert's mean over prompts");
            chart.ToPlot();
        }
    }

    [TestMethod]
    public void TheScalingReportSetsTheSameComparisonBesideEachTasksFit()
    {
        var runs = Runs(SharedFixtures.TempDirectory());
        var fits = ScalingReport.Fit(runs, ScalingReport.XValues(runs, ScalingAxis.Parameters, null));
        var document = ScalingReport.Document(fits, ScalingAxis.Parameters, runs: runs);
        foreach (var task in Tasks)
        {
            var section = document.Sections.Single(s => s.Heading == $"Task: {task}");
            Assert.IsTrue(section.Blocks.OfType<ReportFigure>().Any(f => f.FileName == $"scaling-{task}-masked-lms"));
            Assert.IsTrue(section.Blocks.OfType<ReportTable>().Any(t => t.Header.Contains("worst – best prompt") && t.Rows.Count == 3));
        }
    }

    [TestMethod]
    public void WithFewerThanTwoMaskedLmsThereIsNoSuchSection()
    {
        var runs = Runs(SharedFixtures.TempDirectory());
        var document = EvaluationReport.Build([runs[0], runs[3]], null);
        Assert.IsFalse(document.Sections.Any(s => s.Heading == "Masked LMs side by side"));
    }
}
