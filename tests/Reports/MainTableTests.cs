using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Eval.Harness.Reports;
using Eval.Harness.Runs;
using Eval.Tests.Models;

namespace Eval.Tests.Reports;

/// <summary>
/// The report's main table (task × language × model: mean ± sd over templates, Δ against the first model with a
/// paired interval): on synthetic runs whose every cell is known, and over real `eval` runs of the tiny fixtures of the
/// Instruct-XLMR paper's comparison — xlmr-xl-tiny (Instruct-XLMR-XL's architecture, by its [MASK]) and bloom-tiny
/// (BLOOMZ's, by log-likelihood) — on XCOPA, XWinograd and XNLI.
/// </summary>
[TestClass]
public sealed partial class MainTableTests
{
    [TestMethod]
    public void EachCellIsTheMeanAndSdOverTemplatesAndDeltaIsPaired()
    {
        string[] tasks = ["xnli"], languages = ["en", "sw"], templates = ["t1", "t2", "t3"];
        var dir = SharedFixtures.TempDirectory();
        // A: right on the even documents (10 of 20), never on sw with t3. B: also on every fourth document from 1 (15 of 20; 5 on sw/t3).
        var a = SyntheticRuns.Write(Path.Combine(dir, "a"), "org/model-a", 1, SyntheticRuns.Grid(tasks, languages, templates, 20,
            (t, l, tp, d) => d % 2 == 0 && !(l == "sw" && tp == "t3")));
        var b = SyntheticRuns.Write(Path.Combine(dir, "b"), "org/model-b", 1, SyntheticRuns.Grid(tasks, languages, templates, 20,
            (t, l, tp, d) => d % 2 == 0 && !(l == "sw" && tp == "t3") || d % 4 == 1));
        var section = MainTableSection.Build(RunRecord.LoadAll([a, b]), tasks);
        var table = section.Blocks.OfType<ReportTable>().Single();
        CollectionAssert.AreEqual(new[] { "task", "language", "model-a", "model-b", "Δ model-b [95% CI]" }, table.Header.ToList());
        Assert.AreEqual(3, table.Rows.Count);
        // en: 50, 50, 50 → 50.0 ± 0.0; sw: 50, 50, 0 → 33.3 ± 28.9 (sample sd); avg per template 50, 50, 25 → 41.7 ± 14.4.
        CollectionAssert.AreEqual(new[] { "xnli", "en", "50.0 ± 0.0", "75.0 ± 0.0" }, table.Rows[0].Take(4).ToList());
        CollectionAssert.AreEqual(new[] { "xnli", "sw", "33.3 ± 28.9", "58.3 ± 28.9" }, table.Rows[1].Take(4).ToList());
        CollectionAssert.AreEqual(new[] { "xnli", "avg", "41.7 ± 14.4", "66.7 ± 14.4" }, table.Rows[2].Take(4).ToList());
        // Paired: B is right wherever A is, and on 15 of the 60 en examples besides: +25 points, an interval above 0.
        var delta = DeltaCell().Match(table.Rows[0][4]);
        Assert.IsTrue(delta.Success, table.Rows[0][4]);
        Assert.AreEqual("+25.0", delta.Groups["d"].Value);
        Assert.IsTrue(Points(delta.Groups["low"].Value) > 0 && Points(delta.Groups["high"].Value) > 25);
    }

    [GeneratedRegex(@"^(?<d>[+−]?\d+\.\d) \[(?<low>[+−]?\d+\.\d), (?<high>[+−]?\d+\.\d)\]$")]
    private static partial Regex DeltaCell();

    private static double Points(string text) => double.Parse(text.Replace('−', '-'), CultureInfo.InvariantCulture);

    private static string Eval(string output, string model, string tokenizer)
    {
        var (code, log) = ProgramProcess.Wait(ProgramProcess.Start(
            ["eval", "--model", model, "--tokenizer", tokenizer, "--data-dir", Path.Combine(SharedFixtures.Shared, "datasets"), "--offline",
             "--device", "cpu", "--threads", "1", "--task", "xcopa,xwinograd,xnli", "--languages", "sw,zh,en", "--limit", "6", "--output", output],
            Cluster.FixtureRuns.Environment(Path.Combine(output, "data-cache"))), TimeSpan.FromMinutes(5));
        Assert.AreEqual(0, code, log);
        return output;
    }

    /// <summary>The mean over a run's templates of results.json's acc for one task and language.</summary>
    private static double MeanAccuracy(string run, string task, string language)
    {
        using var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "results.json")));
        var values = results.RootElement.GetProperty("results").EnumerateObject().Where(p => p.Name.StartsWith($"{task}_{language}::", StringComparison.Ordinal))
            .Select(p => p.Value.GetProperty("acc,none").GetDouble()).ToList();
        Assert.AreEqual(5, values.Count, $"{run}: five templates of {task} {language}");
        return values.Average();
    }

    [TestMethod]
    public void TheReportOverTinyXlmrXlAndBloomRunsGivesTheMainTable()
    {
        var root = SharedFixtures.TempDirectory();
        var xlmr = Eval(Path.Combine(root, "xlmr-xl-tiny"), SharedFixtures.Model("xlmr-xl-tiny"), SmallTokenizers.XlmrUnigram());
        var bloom = Eval(Path.Combine(root, "bloom-tiny"), SharedFixtures.Model("bloom-tiny"), SmallTokenizers.ByteLevelBpe());
        using (var run = JsonDocument.Parse(File.ReadAllText(Path.Combine(bloom, "run.json"))))
            Assert.AreEqual("BloomForCausalLM", run.RootElement.GetProperty("model").GetProperty("architecture").GetString());

        var report = Path.Combine(root, "report");
        var (code, log) = ProgramProcess.Wait(ProgramProcess.Start(["report", xlmr, bloom, "--output", report]), TimeSpan.FromMinutes(3));
        Assert.AreEqual(0, code, log);
        var md = File.ReadAllLines(Path.Combine(report, "report.md"));
        int header = Array.FindIndex(md, l => l.StartsWith("| task | language |", StringComparison.Ordinal));
        Assert.IsTrue(header > 0, "the main table is in report.md");
        Assert.AreEqual("| task | language | xlmr-xl-tiny | bloom-tiny | Δ bloom-tiny [95% CI] |", md[header]);
        var rows = md.Skip(header + 2).TakeWhile(l => l.StartsWith('|')).Select(l => l.Trim('|').Split('|').Select(c => c.Trim()).ToArray()).ToList();
        // XCOPA has sw and zh, XNLI all three, XWinograd zh and en (in --languages order); each task closes with its average.
        CollectionAssert.AreEqual(new[] { "xcopa sw", "xcopa zh", "xcopa avg", "xnli sw", "xnli zh", "xnli en", "xnli avg", "xwinograd zh", "xwinograd en", "xwinograd avg" },
            rows.Select(r => $"{r[0]} {r[1]}").ToList(), string.Join('\n', md.Skip(header).Take(14)));
        foreach (var row in rows)
        {
            for (int m = 2; m <= 3; m++) Assert.IsTrue(MeanSd().IsMatch(row[m]), $"{row[0]} {row[1]}: '{row[m]}'");
            Assert.IsTrue(DeltaCell().IsMatch(row[4]), $"{row[0]} {row[1]}: '{row[4]}'");
        }
        // A cell is the mean of the run's own per-template accuracies (results.json), and Δ their difference (the same 6 documents per template).
        foreach (var row in rows.Where(r => r[1] != "avg"))
        {
            double a = MeanAccuracy(xlmr, row[0], row[1]), b = MeanAccuracy(bloom, row[0], row[1]);
            Assert.AreEqual((100 * a).ToString("0.0", CultureInfo.InvariantCulture), row[2].Split(' ')[0], $"{row[0]} {row[1]} xlmr-xl-tiny");
            Assert.AreEqual((100 * b).ToString("0.0", CultureInfo.InvariantCulture), row[3].Split(' ')[0], $"{row[0]} {row[1]} bloom-tiny");
            Assert.AreEqual(100 * (b - a), Points(DeltaCell().Match(row[4]).Groups["d"].Value), 0.051, $"{row[0]} {row[1]} Δ");
        }
    }

    [GeneratedRegex(@"^\d+\.\d ± \d+\.\d$")]
    private static partial Regex MeanSd();
}
