using System.Diagnostics;
using System.Text.RegularExpressions;
using Eval.Harness.Benchmarks;
using Eval.Harness.Reports;

namespace Eval.Tests.Reports;

/// <summary>`mlm-eval report` over two runs and a decode benchmark, opened in headless Chromium.</summary>
[TestClass]
public sealed partial class HtmlReportTests
{
    private static readonly string[] Tasks = ["xnli", "xcopa"], Languages = ["en", "fr", "sw"], Templates = ["GPT-3 style", "MNLI crowdsource", "can we infer"];

    /// <summary>Two runs on the same examples: B is right wherever A is, and on every fourth example besides.</summary>
    private static (string A, string B) TwoRuns(string dir)
    {
        var a = SyntheticRuns.Write(Path.Combine(dir, "run-a"), "org/model-a", 150_000_000,
            SyntheticRuns.Grid(Tasks, Languages, Templates, 20, (t, l, tp, d) => d % 2 == 0 && !(l == "sw" && tp == "can we infer")));
        var b = SyntheticRuns.Write(Path.Combine(dir, "run-b"), "org/model-b", 400_000_000,
            SyntheticRuns.Grid(Tasks, Languages, Templates, 20, (t, l, tp, d) => d % 2 == 0 && !(l == "sw" && tp == "can we infer") || d % 4 == 1));
        return (a, b);
    }

    /// <summary>A `bench decode` CSV: one masked model, Mask-Predict at T ∈ {1, 4} and L ∈ {1, 4, 16}, single [MASK] at two prompt lengths.</summary>
    private static string DecodeCsv(string dir)
    {
        var lines = new List<string> { string.Join(",", DecodeBenchmark.CsvHeader) };
        string Row(string section, string method, int prompt, int length, int iterations, double ms, string peer, double speedup) =>
            $"{section},mb-base,ModernBertForMaskedLM,150000000,random,{method},3,{prompt},{length},{iterations},{iterations},{iterations},1,5,{ms},{ms},{ms},{ms},1,1,{peer},{ms * speedup},{speedup},ok,cpu,test machine,bench decode";
        foreach (var t in new[] { 1, 4 })
            foreach (var l in new[] { 1, 4, 16 })
                lines.Add(Row("generate", "mask-predict", 64, l, t, 10 * t, "smollm2 greedy", l * 1.5 / t));
        lines.Add(Row("classify", "single-mask", 64, 0, 0, 5, "smollm2 loglik (3 choices)", 1.1));
        lines.Add(Row("classify", "single-mask", 256, 0, 0, 9, "smollm2 loglik (3 choices)", 1.4));
        var path = Path.Combine(dir, "decode-20260101-000000.csv");
        File.WriteAllLines(path, lines);
        return path;
    }

    private static string Chromium()
    {
        var found = new[] { "chromium", "chromium-browser", "google-chrome" }
            .SelectMany(name => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Select(d => Path.Combine(d, name)))
            .FirstOrDefault(File.Exists);
        Assert.IsNotNull(found, "Chromium is not installed (apt-get install chromium; .ci/run installs it)");
        return found;
    }

    [GeneratedRegex(@"<pre id=""chart-sizes"">(?<sizes>[^<]*)</pre>")]
    private static partial Regex SizesBlock();

    [TestMethod]
    public void EveryChartOfTheReportRendersWithNonZeroSizeInChromium()
    {
        var dir = SharedFixtures.TempDirectory();
        var (a, b) = TwoRuns(dir);
        var output = Path.Combine(dir, "report");
        var (code, log) = ProgramProcess.Run(dir, "report", a, b, "--bench", DecodeCsv(dir), "--output", output);
        Assert.AreEqual(0, code, log);
        Assert.IsFalse(log.Contains("Unsupported path effect", StringComparison.Ordinal), "Skia's note on dashed lines reaches stderr: " + log);

        var html = File.ReadAllText(Path.Combine(output, "report.html"));
        // Clip paths are referenced within the document (url(#…)); nothing else may point anywhere, nor embed images.
        Assert.IsFalse(Regex.IsMatch(html, @"<script|<link|<img|<image|src=|href=""(?!#)|url\((?!#)"), "the report must not fetch or run anything");
        // Per task: the masked LMs side by side, languages, templates and a heatmap per model; the model comparison;
        // Mask-Predict and single [MASK] speed.
        const int expectedCharts = 2 * (1 + 2 + 2) + 1 + 2;
        Assert.AreEqual(expectedCharts, Regex.Matches(html, "<svg ").Count);

        // Chromium loads a copy with a probe that writes each chart's rendered size into the DOM it dumps.
        const string probe = "<script>window.addEventListener('load',()=>{const out=[...document.querySelectorAll('svg.chart')].map(s=>{const r=s.getBoundingClientRect();" +
                             "return s.closest('figure').id+' '+Math.round(r.width)+' '+Math.round(r.height)});const pre=document.createElement('pre');pre.id='chart-sizes';" +
                             "pre.textContent=out.join('\\n');document.body.appendChild(pre);});</script>";
        var probed = Path.Combine(output, "probe.html");
        File.WriteAllText(probed, html.Replace("</body>", probe + "</body>"));
        var info = new ProcessStartInfo(Chromium()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000", $"--user-data-dir={Path.Combine(dir, "chromium")}",
                     "--dump-dom", new Uri(probed).AbsoluteUri })
            info.ArgumentList.Add(arg);
        using var chromium = Process.Start(info)!;
        var dom = chromium.StandardOutput.ReadToEndAsync();
        var errors = chromium.StandardError.ReadToEndAsync();
        if (!chromium.WaitForExit(120_000))
        {
            chromium.Kill(true);
            Assert.Fail("Chromium did not finish within 120 s");
        }
        var match = SizesBlock().Match(dom.Result);
        Assert.IsTrue(match.Success, $"Chromium's DOM has no probe output (exit {chromium.ExitCode}): {errors.Result[..Math.Min(2000, errors.Result.Length)]}");
        var sizes = match.Groups["sizes"].Value.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')).ToList();
        Assert.AreEqual(expectedCharts, sizes.Count, match.Value);
        foreach (var s in sizes)
            Assert.IsTrue(int.Parse(s[1]) > 100 && int.Parse(s[2]) > 100, $"chart {s[0]} rendered at {s[1]}×{s[2]}");
        CollectionAssert.AreEquivalent(new[] { "xnli-masked-lms", "xcopa-masked-lms", "xnli-languages", "xnli-templates", "xnli-heatmap-model-a", "xnli-heatmap-model-b", "xcopa-languages", "xcopa-templates",
            "xcopa-heatmap-model-a", "xcopa-heatmap-model-b", "models", "decode-mb-base-mask-predict", "decode-single-mask" }, sizes.Select(s => s[0]).ToList());

        // Every id is defined once in the page, and every local reference points at an id of its own figure.
        var ids = Regex.Matches(html, @"\bid=""([^""]+)""").Select(m => m.Groups[1].Value).ToList();
        Assert.AreEqual(ids.Count, ids.Distinct().Count(), "duplicate ids: " + string.Join(", ", ids.GroupBy(i => i).Where(g => g.Count() > 1).Select(g => g.Key)));
        foreach (var figure in Regex.Matches(html, @"<figure id=""(?<name>[^""]+)"">(?<body>.*?)</figure>", RegexOptions.Singleline).Cast<Match>())
            foreach (var reference in Regex.Matches(figure.Groups["body"].Value, @"url\(#(?<id>[^)]+)\)").Cast<Match>())
                StringAssert.StartsWith(reference.Groups["id"].Value, figure.Groups["name"].Value + "-");
    }

    [TestMethod]
    public void MarkdownReportLinksChartFilesThatExist()
    {
        var dir = SharedFixtures.TempDirectory();
        var (a, b) = TwoRuns(dir);
        var document = EvaluationReport.Build(RunRecord.LoadAll([a, b]), DecodeCsv(dir));
        var files = document.WriteTo(Path.Combine(dir, "out"), "report");
        var md = File.ReadAllText(Path.Combine(dir, "out", "report.md"));
        var links = Regex.Matches(md, @"!\[(?:\\.|[^\]])*\]\((?<path>[^)]+)\)").Select(m => m.Groups["path"].Value).ToList();
        Assert.AreEqual(13, links.Count);
        foreach (var link in links)
        {
            StringAssert.EndsWith(link, ".png");
            Assert.IsTrue(File.Exists(Path.Combine(dir, "out", link)), link);
            Assert.IsTrue(File.Exists(Path.Combine(dir, "out", Path.ChangeExtension(link, ".svg"))), link);
        }
        StringAssert.Contains(md, "| language | model-a | model-b |");
        Assert.IsTrue(files.All(File.Exists));
    }

    [TestMethod]
    public void EachModelHasAHeatmapOfAccuracyPerLanguageAndTemplate()
    {
        var dir = SharedFixtures.TempDirectory();
        var (a, b) = TwoRuns(dir);
        var document = EvaluationReport.Build(RunRecord.LoadAll([a, b]), null);
        var xnli = document.Sections.Single(s => s.Heading == "Task: xnli").Blocks.OfType<ReportFigure>().ToDictionary(f => f.FileName, f => f.Chart);
        var heatmapA = (Eval.Charts.HeatmapChart)xnli["xnli-heatmap-model-a"];
        CollectionAssert.AreEqual(Languages, heatmapA.Rows.ToArray());
        CollectionAssert.AreEqual(Templates, heatmapA.Columns.ToArray());
        // A is right on the even documents (10 of 20), except on sw with "can we infer", where it is never right.
        CollectionAssert.AreEqual(new[] { 50.0, 50, 50, 50, 50, 50, 50, 50, 0 }, heatmapA.Values.SelectMany(r => r).ToArray());
        // B adds every fourth document from 1: 15 of 20, and 5 of 20 where A has none.
        var heatmapB = (Eval.Charts.HeatmapChart)xnli["xnli-heatmap-model-b"];
        CollectionAssert.AreEqual(new[] { 75.0, 75, 75, 75, 75, 75, 75, 75, 25 }, heatmapB.Values.SelectMany(r => r).ToArray());
    }

    [TestMethod]
    public void MaskPredictSpeedUpsArePlottedOnLogAxesOneLinePerIterationCount()
    {
        var dir = SharedFixtures.TempDirectory();
        var csv = DecodeCsv(dir);
        // T = 1 also at batch 8, half as fast relative to greedy: 0.75·L.
        var batch8 = File.ReadAllLines(csv).Select(l => l.Split(',')).Where(f => f[5] == "mask-predict" && f[9] == "1")
            .Select(f => string.Join(",", f.Select((v, i) => i == 12 ? "8" : i == 22 ? (0.75 * int.Parse(f[8])).ToString(System.Globalization.CultureInfo.InvariantCulture) : v)));
        File.AppendAllLines(csv, batch8);
        var section = DecodeSpeedSection.Build(csv);
        var chart = (Eval.Charts.XyChart)section.Blocks.OfType<ReportFigure>().Single(f => f.FileName == "decode-mb-base-mask-predict").Chart;
        var plot = chart.ToPlot();
        plot.RenderInMemory(chart.Frame.Width, chart.Frame.Height);
        var lines = plot.GetPlottables<ScottPlot.Plottables.Scatter>().ToList();
        CollectionAssert.AreEqual(new[] { "T = 1", "T = 4", "T = 1, batch 8" }, lines.Select(l => l.LegendText).ToArray());
        Assert.AreEqual(ScottPlot.LinePattern.Dashed.Name, lines[2].LinePattern.Name, "the largest batch is dashed");
        Assert.AreEqual(lines[0].LineColor, lines[2].LineColor, "in T = 1's colour");
        Assert.AreNotEqual(lines[0].LineColor, lines[1].LineColor);
        CollectionAssert.AreEqual(new[] { 1.0, 4, 16 }.Select(l => Math.Round(Math.Log10(0.75 * l), 9)).ToArray(), lines[2].Data.GetScatterPoints().Select(p => Math.Round(p.Y, 9)).ToArray());
        // The CSV's speed-up is 1.5·L/T at batch 1: each line holds log10 of it at log10 L.
        foreach (var (line, t) in lines.Take(2).Zip(new[] { 1, 4 }))
        {
            CollectionAssert.AreEqual(new[] { 1.0, 4, 16 }.Select(l => Math.Round(Math.Log10(l), 9)).ToArray(), line.Data.GetScatterPoints().Select(p => Math.Round(p.X, 9)).ToArray());
            CollectionAssert.AreEqual(new[] { 1.0, 4, 16 }.Select(l => Math.Round(Math.Log10(1.5 * l / t), 9)).ToArray(), line.Data.GetScatterPoints().Select(p => Math.Round(p.Y, 9)).ToArray());
            Assert.AreEqual(ScottPlot.LinePattern.Solid.Name, line.LinePattern.Name, "batch 1 is solid");
        }
        var xTicks = ((ScottPlot.TickGenerators.NumericManual)plot.Axes.Bottom.TickGenerator).Ticks.Where(t => t.IsMajor).Select(t => t.Label).ToArray();
        CollectionAssert.AreEqual(new[] { "1", "4", "16" }, xTicks, "the measured lengths are the x ticks");
        Assert.AreEqual(0, plot.GetPlottables<ScottPlot.Plottables.HorizontalLine>().Single().Y, "1× at log10 1");
        StringAssert.Contains(plot.Axes.Title.Label.Text, "Mask-Predict vs greedy: mb-base");
    }

    [TestMethod]
    public void ComparisonTableCallsAClearImprovementSignificant()
    {
        var dir = SharedFixtures.TempDirectory();
        var (a, b) = TwoRuns(dir);
        var document = EvaluationReport.Build(RunRecord.LoadAll([a, b]), null);
        var table = document.Sections.Single(s => s.Heading == "Model comparison").Blocks.OfType<ReportTable>().Single();
        var xnli = table.Rows.Single(r => r[0] == "xnli");
        Assert.AreEqual("180", xnli[2], "3 languages × 3 templates × 20 documents, all shared");
        // B is right on 45 examples (d % 4 == 1) where A is wrong, and never the reverse.
        Assert.AreEqual("0 / 45", xnli[6]);
        Assert.AreEqual("< 0.001", xnli[7]);
        Assert.AreEqual("better", xnli[8]);
        StringAssert.StartsWith(xnli[5], "+25.0 [");
    }

    [TestMethod]
    public void ABenchmarkCsvWithoutItsColumnsOrWithABadNumberIsReportedByFileAndLine()
    {
        var dir = SharedFixtures.TempDirectory();
        var (a, _) = TwoRuns(dir);
        var other = Path.Combine(dir, "other.csv");
        File.WriteAllText(other, "model,ms\nx,1\n");
        var (code, log) = ProgramProcess.Run(dir, "report", a, "--bench", other, "--output", Path.Combine(dir, "out"));
        Assert.AreEqual(1, code, log);
        StringAssert.Contains(log, $"{other}: not a `bench decode` CSV: it lacks the column(s) section");

        var bad = DecodeCsv(dir);
        File.WriteAllLines(bad, File.ReadAllLines(bad).Select((l, i) => i == 2 ? l.Replace(",64,4,", ",sixty-four,4,") : l));
        var e = Assert.ThrowsException<FormatException>(() => DecodeSpeedSection.Read(bad));
        StringAssert.Contains(e.Message, $"{bad}:3: column prompt_tokens holds 'sixty-four'");
    }

    [TestMethod]
    public void AFolderThatIsNotARunIsReportedByName()
    {
        var dir = SharedFixtures.TempDirectory();
        var (code, log) = ProgramProcess.Run(dir, "report", dir);
        Assert.AreEqual(1, code);
        StringAssert.Contains(log, $"{dir} is not a run folder");
    }

    /// <summary>
    /// Runs are named by their models: the hub name, the model folder's name, as much of the folders' paths as tells
    /// two same-named folders apart, and the run folders when both are runs of one model; the comparison's columns
    /// then name the reference apart from the compared model whatever the names are (the demo's "model % | model %").
    /// </summary>
    [TestMethod]
    public void RunsAreNamedByWhatTellsTheirModelsApart()
    {
        var dir = SharedFixtures.TempDirectory();
        var examples = SyntheticRuns.Grid(["xnli"], ["en"], ["t1"], 6, (_, _, _, d) => d % 2 == 0);
        string Run(string folder, string model) => SyntheticRuns.Write(Path.Combine(dir, folder), model, 1000, examples);

        var hub = RunRecord.LoadAll([Run("r1", "org/model-a@main"), Run("r2", "/models/model")]);
        CollectionAssert.AreEqual(new[] { "model-a", "model" }, hub.Select(r => r.Name).ToArray());

        var sameLeaf = RunRecord.LoadAll([Run("r3", "/models/llama-3/hf"), Run("r4", "/models/qwen-2/hf"), Run("r5", "/scratch/qwen-2/hf/")]);
        CollectionAssert.AreEqual(new[] { "llama-3/hf", "models/qwen-2/hf", "scratch/qwen-2/hf" }, sameLeaf.Select(r => r.Name).ToArray());

        var oneModel = RunRecord.LoadAll([Run("restricted", "/models/model"), Run("eval-py", "/models/model")]);
        CollectionAssert.AreEqual(new[] { "restricted", "eval-py" }, oneModel.Select(r => r.Name).ToArray());

        var comparison = EvaluationReport.Build(hub, null).Sections.Single(s => s.Heading == "Model comparison").Blocks.OfType<ReportTable>().Single();
        CollectionAssert.AreEqual(new[] { "reference (model-a) %", "model %" }, comparison.Header.Skip(3).Take(2).ToArray());
        Assert.AreEqual(comparison.Header.Count, comparison.Header.Distinct().Count(), string.Join(" | ", comparison.Header));
    }
}
