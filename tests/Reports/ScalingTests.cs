using System.Globalization;
using Eval.Harness.Reports;

namespace Eval.Tests.Reports;

/// <summary>Scaling fits recover the parameters of curves they are given points from.</summary>
[TestClass]
public sealed class ScalingTests
{
    private static readonly double[] Sizes = [20e6, 60e6, 150e6, 400e6, 1.1e9, 3.5e9];

    [TestMethod]
    public void LogLinearFitRecoversInterceptAndSlope()
    {
        var y = Sizes.Select(n => 0.12 + 0.05 * Math.Log10(n)).ToList();
        var fit = ScalingFits.LogLinear(Sizes, y);
        Assert.AreEqual(0.12, fit.A, 1e-9);
        Assert.AreEqual(0.05, fit.B, 1e-10);
        Assert.AreEqual(1, fit.RSquared, 1e-12);
    }

    [DataTestMethod]
    [DataRow(0.85, 0.40, 0.30)]
    [DataRow(0.62, 0.25, 1.10)]
    [DataRow(0.95, 0.60, 0.08)]
    public void PowerLawFitRecoversAsymptoteScaleAndExponent(double c, double b, double alpha)
    {
        var y = Sizes.Select(n => c - b * Math.Pow(n / Sizes[0], -alpha)).ToList();
        var fit = ScalingFits.SaturatingPowerLaw(Sizes, y);
        Assert.IsNotNull(fit);
        Assert.AreEqual(c, fit.C, 1e-4);
        Assert.AreEqual(b, fit.B, 1e-4);
        Assert.AreEqual(alpha, fit.Alpha, 1e-3);
        Assert.AreEqual(Sizes[0], fit.XRef);
    }

    [TestMethod]
    public void PowerLawNeedsFourSizes() => Assert.IsNull(ScalingFits.SaturatingPowerLaw(Sizes[..3], [0.4, 0.5, 0.55]));

    [TestMethod]
    public void NoisyPointsStillGiveASaturatingCurveNearTheTruth()
    {
        double[] noise = [0.004, -0.003, 0.002, -0.004, 0.003, -0.002];
        var y = Sizes.Select((n, i) => 0.8 - 0.35 * Math.Pow(n / Sizes[0], -0.4) + noise[i]).ToList();
        var fit = ScalingFits.SaturatingPowerLaw(Sizes, y)!;
        Assert.AreEqual(0.8, fit.C, 0.03);
        Assert.AreEqual(0.4, fit.Alpha, 0.15);
        Assert.IsTrue(fit.RSquared > 0.98, $"R² = {fit.RSquared}");
    }

    /// <summary>The scaling chart puts each run at log10 of its size, with the fit as a dashed line through a + b·log10 N.</summary>
    [TestMethod]
    public void ScalingChartPlotsRunsOnALogXAxisWithTheFit()
    {
        var points = Sizes.Select((n, i) => new ScalingPoint("xnli", $"run-{i}", n, new Eval.Harness.Runs.AccuracyEstimate(0.1 + 0.05 * Math.Log10(n), 100, 0.01, 0.08 + 0.05 * Math.Log10(n), 0.12 + 0.05 * Math.Log10(n)))).ToList();
        var fit = new LogLinearFit(0.1, 0.05, 1, 0, Sizes.Length);
        var result = new ScalingResult([new TaskScaling("xnli", [new SeriesScaling(ScalingSeries.SingleName, points, fit, null)], [])], ScalingSeries.Single, []);
        var document = ScalingReport.Document(result, ScalingAxis.Parameters);
        var chart = (Eval.Charts.XyChart)document.Figures.Single(f => f.FileName == "scaling-xnli").Chart;
        var plot = chart.ToPlot();
        plot.RenderInMemory(chart.Frame.Width, chart.Frame.Height);
        var series = plot.GetPlottables<ScottPlot.Plottables.Scatter>().ToList();
        Assert.AreEqual(2, series.Count, "the runs and the log-linear fit (no power law given)");
        CollectionAssert.AreEqual(Sizes.Select(Math.Log10).ToArray(), series[0].Data.GetScatterPoints().Select(p => p.X).ToArray());
        CollectionAssert.AreEqual(points.Select(p => Math.Round(100 * p.Accuracy.Accuracy, 9)).ToArray(), series[0].Data.GetScatterPoints().Select(p => Math.Round(p.Y, 9)).ToArray());
        Assert.AreEqual(0, series[0].LineWidth, "runs are markers only");
        Assert.AreEqual(ScottPlot.LinePattern.Dashed.Name, series[1].LinePattern.Name);
        // The fit's curve at the smallest and largest size: 100·(0.1 + 0.05·log10 N).
        var curve = series[1].Data.GetScatterPoints();
        Assert.AreEqual(100 * (0.1 + 0.05 * Math.Log10(Sizes[0])), curve[0].Y, 1e-9);
        Assert.AreEqual(100 * (0.1 + 0.05 * Math.Log10(Sizes[^1])), curve[^1].Y, 1e-9);
        var ticks = ((ScottPlot.TickGenerators.NumericManual)plot.Axes.Bottom.TickGenerator).Ticks.Where(t => t.IsMajor).ToList();
        // 20M–3.5B spans 2.2 decades: 1-2-5 ticks, each at log10 of its value.
        CollectionAssert.AreEqual(new[] { "20M", "50M", "100M", "200M", "500M", "1B", "2B" }, ticks.Select(t => t.Label).ToArray());
        CollectionAssert.AreEqual(new[] { 2e7, 5e7, 1e8, 2e8, 5e8, 1e9, 2e9 }.Select(v => Math.Round(Math.Log10(v), 9)).ToArray(), ticks.Select(t => Math.Round(t.Position, 9)).ToArray());
        Assert.AreEqual("parameters (log scale)", plot.Axes.Bottom.Label.Text);
    }

    /// <summary>`mlm-eval scaling` on runs whose accuracies lie on a known curve writes that curve's parameters.</summary>
    [TestMethod]
    public void ScalingCommandWritesFitsChartsAndReport()
    {
        var dir = SharedFixtures.TempDirectory();
        var folders = new List<string>();
        var xValues = new List<string> { "run,x" };
        for (int i = 0; i < Sizes.Length; i++)
        {
            // 1000 examples per run, right on the first round(1000·acc): accuracy a + b·log10 N to within 0.0005.
            double accuracy = -0.2 + 0.08 * Math.Log10(Sizes[i]);
            int right = (int)Math.Round(1000 * accuracy);
            var examples = Enumerable.Range(0, 1000).Select(d => new SyntheticRuns.Example("xcopa", "en", "t", d, d < right ? 0 : 1, 0, 2)).ToList();
            var folder = SyntheticRuns.Write(Path.Combine(dir, $"size-{i}"), $"org/model-{i}", (long)Sizes[i], examples);
            folders.Add(folder);
            xValues.Add($"size-{i},{(Sizes[i] * 20).ToString(CultureInfo.InvariantCulture)}");
        }
        var output = Path.Combine(dir, "scaling");
        var (code, log) = ProgramProcess.Run(dir, ["scaling", .. folders, "--x", "params", "--output", output]);
        Assert.AreEqual(0, code, log);
        var rows = File.ReadAllLines(Path.Combine(output, "scaling-fits.csv")).Select(l => l.Split(',')).ToList();
        var logLinear = rows.Single(r => r[3] == "log-linear");
        Assert.AreEqual("runs", logLinear[1], "one series of every run");
        Assert.AreEqual(-0.2, double.Parse(logLinear[5], CultureInfo.InvariantCulture), 0.003);
        Assert.AreEqual(0.08, double.Parse(logLinear[6], CultureInfo.InvariantCulture), 0.001);
        Assert.IsTrue(rows.Any(r => r[3] == "saturating-power-law"));
        Assert.IsFalse(File.Exists(Path.Combine(output, "scaling-crossings.csv")), "one series has nothing to cross");
        foreach (var f in new[] { "scaling.html", "scaling.md", "charts/scaling-all.svg", "charts/scaling-all.png", "charts/scaling-xcopa.svg", "charts/scaling-xcopa.png",
                     "charts/scaling-xcopa-masked-lms.svg" })
            Assert.IsTrue(File.Exists(Path.Combine(output, f)), f);
        StringAssert.Contains(File.ReadAllText(Path.Combine(output, "scaling.md")), "| model | architecture | parameters | scoring | accuracy % [95% CI] |",
            "the masked LMs side by side");

        // Fine-tuning tokens come from --x-values; 20× the sizes shifts the intercept by −b·log10 20.
        File.WriteAllLines(Path.Combine(dir, "tokens.csv"), xValues);
        (code, log) = ProgramProcess.Run(dir, ["scaling", .. folders, "--x", "train-tokens", "--x-values", Path.Combine(dir, "tokens.csv"), "--output", output]);
        Assert.AreEqual(0, code, log);
        var shifted = File.ReadAllLines(Path.Combine(output, "scaling-fits.csv")).Select(l => l.Split(',')).Single(r => r[3] == "log-linear");
        Assert.AreEqual("train_tokens", shifted[2]);
        Assert.AreEqual(-0.2 - 0.08 * Math.Log10(20), double.Parse(shifted[5], CultureInfo.InvariantCulture), 0.003);

        // Without a table or trainer_state.json there is no token count, and the error names the runs.
        (code, log) = ProgramProcess.Run(dir, ["scaling", .. folders, "--x", "train-tokens", "--output", output]);
        Assert.AreEqual(1, code, log);
        StringAssert.Contains(log, "no fine-tuning token count for");
        StringAssert.Contains(log, "size-0");
    }
}
