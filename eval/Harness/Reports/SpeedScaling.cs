using System.Globalization;
using Eval.Charts;

namespace Eval.Harness.Reports;

/// <summary>One model's latency in a speed case: the median and the range of its repetitions, per example.</summary>
public sealed record SpeedPoint(string Model, long Parameters, string Method, double MsPerExample, double LowMs, double HighMs);

/// <summary>One series of a speed case and its fit log10(ms per example) = a + b·log10 N (null with fewer than two sizes).</summary>
public sealed record SpeedSeries(string Series, IReadOnlyList<SpeedPoint> Points, LogLinearFit? Fit);

/// <summary>
/// A comparable decoding job: classification at one prompt length and batch (a masked LM's single [MASK], or a
/// left-to-right LM's log-likelihood over 3 choices — the most measured when not 3), or generation of L tokens at one
/// batch (Mask-Predict at T = 10 — the largest T measured when not 10 — or greedy decoding).
/// </summary>
public sealed record SpeedCase(string Name, string Title, IReadOnlyList<SpeedSeries> Series, IReadOnlyList<ScalingCrossing> Crossings);

/// <summary>
/// Decode speed against model size from `bench decode` CSVs, in the series of <see cref="ScalingSeries"/> (by kind from
/// the CSV's architecture column, or by family on the model name): per case a log-log chart of milliseconds per example
/// against parameters with each series' power-law fit, and for each pair of series where their fits cross — the size
/// at which the two kinds are equally fast. The crossing's interval resamples each series' models with replacement
/// (a bootstrap over sizes: it measures how well a line describes the sizes, not timing noise, which the whiskers
/// show).
/// </summary>
public static class SpeedScaling
{
    /// <summary>Mask-Predict's iteration count in the speed cases, as the Instruct-XLMR authors decode.</summary>
    public const int Iterations = 10;

    public static (IReadOnlyList<SpeedCase> Cases, IReadOnlyList<string> LeftOut) Fit(IReadOnlyList<DecodeResult> rows, ScalingSeries series)
    {
        var measured = rows.Where(r => r.Status == "ok" && r.MedianMs is > 0 && r.Parameters > 0).ToList();
        var seriesOf = new Dictionary<string, string>();
        var leftOut = new List<string>();
        foreach (var model in measured.Select(r => r.Model).Distinct())
        {
            var architecture = measured.First(r => r.Model == model).Architecture;
            if (series.Of([model], architecture) is { } name) seriesOf[model] = name;
            else leftOut.Add(model);
        }
        var cases = new List<SpeedCase>();
        foreach (var group in measured.Where(r => seriesOf.ContainsKey(r.Model) && Role(r) is not null)
                     .GroupBy(r => (r.Section, r.PromptTokens, Length: r.Section == Benchmarks.DecodeBenchmark.Generate ? r.NewTokens : 0, r.Batch))
                     .OrderBy(g => g.Key.Section, StringComparer.Ordinal).ThenBy(g => g.Key.PromptTokens).ThenBy(g => g.Key.Length).ThenBy(g => g.Key.Batch))
        {
            var points = group.GroupBy(r => r.Model).Select(Representative).ToList();
            var bySeries = points.GroupBy(p => seriesOf[p.Model]).OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g =>
                {
                    var ordered = g.OrderBy(p => p.Parameters).ToList();
                    var fit = ordered.Select(p => p.Parameters).Distinct().Count() >= 2
                        ? ScalingFits.LogLinear(ordered.Select(p => (double)p.Parameters).ToList(), ordered.Select(p => Math.Log10(p.MsPerExample)).ToList())
                        : null;
                    return new SpeedSeries(g.Key, ordered, fit);
                }).ToList();
            var crossings = new List<ScalingCrossing>();
            for (int i = 0; i < bySeries.Count; i++)
                for (int j = i + 1; j < bySeries.Count; j++)
                    if (bySeries[i].Fit is not null && bySeries[j].Fit is not null)
                        crossings.Add(Crossing(bySeries[i], bySeries[j]));
            var (section, prompt, length, batch) = group.Key;
            string name = section == Benchmarks.DecodeBenchmark.Classify
                ? $"classify-p{prompt}-b{batch}" : $"generate-p{prompt}-l{length}-b{batch}";
            string title = section == Benchmarks.DecodeBenchmark.Classify
                ? $"Classification, prompt {prompt} tokens, batch {batch}"
                : $"Generation of {length} tokens after {prompt}, batch {batch}";
            cases.Add(new SpeedCase(name, title, bySeries, crossings));
        }
        return (cases, leftOut);
    }

    /// <summary>Which job a row stands for in the cases (null: not compared, e.g. next-token or another T).</summary>
    private static string? Role(DecodeResult r) => r.Method switch
    {
        "single-mask" or "loglik" => "classify",
        "mask-predict" or "greedy" => "generate",
        _ => null,
    };

    /// <summary>A model's row in a case: single [MASK] before log-likelihood (3 choices, else the most); Mask-Predict at T = 10 (else the largest) before greedy.</summary>
    private static SpeedPoint Representative(IEnumerable<DecodeResult> modelRows)
    {
        var rows = modelRows.ToList();
        var chosen = rows.FirstOrDefault(r => r.Method == "single-mask")
            ?? rows.Where(r => r.Method == "loglik").OrderBy(r => r.Choices == 3 ? 0 : 1).ThenByDescending(r => r.Choices).FirstOrDefault()
            ?? rows.Where(r => r.Method == "mask-predict").OrderBy(r => r.Iterations == Iterations ? 0 : 1).ThenByDescending(r => r.Iterations).FirstOrDefault()
            ?? rows.First(r => r.Method == "greedy");
        string method = chosen.Method switch
        {
            "loglik" => $"loglik ({chosen.Choices} choices)",
            "mask-predict" => $"mask-predict (T = {chosen.Iterations})",
            var m => m,
        };
        double perExample(double? ms) => (ms ?? chosen.MedianMs!.Value) / chosen.Batch;
        return new SpeedPoint(chosen.Model, chosen.Parameters, method, perExample(chosen.MedianMs), perExample(chosen.MinMs), perExample(chosen.MaxMs));
    }

    /// <summary>Where two series' latency fits cross; lower is faster. The bootstrap resamples each series' models.</summary>
    private static ScalingCrossing Crossing(SpeedSeries first, SpeedSeries second)
    {
        static (List<double> X, List<double> Y) Resample(SpeedSeries s, Random random)
        {
            var draw = Enumerable.Range(0, s.Points.Count).Select(_ => s.Points[random.Next(s.Points.Count)]).ToList();
            return (draw.Select(p => (double)p.Parameters).ToList(), draw.Select(p => Math.Log10(p.MsPerExample)).ToList());
        }
        return ScalingCrossings.Estimate(first.Series, second.Series,
            first.Points.Select(p => (double)p.Parameters).ToList(), first.Points.Select(p => Math.Log10(p.MsPerExample)).ToList(),
            second.Points.Select(p => (double)p.Parameters).ToList(), second.Points.Select(p => Math.Log10(p.MsPerExample)).ToList(),
            random =>
            {
                var (x1, y1) = Resample(first, random);
                var (x2, y2) = Resample(second, random);
                return (x1, y1, x2, y2);
            },
            higherIsBetter: false);
    }

    /// <summary>The report's section: where the rows came from, then per case its chart, fits and crossings.</summary>
    public static ReportSection Section(IReadOnlyList<SpeedCase> cases, IReadOnlyList<string> csvPaths, IReadOnlyList<DecodeResult> rows,
        ScalingSeries series, IReadOnlyList<string> leftOut)
    {
        var machines = rows.Select(r => r.Machine).Distinct().ToList();
        var blocks = new List<ReportBlock>
        {
            new ReportParagraph($"From {string.Join(", ", csvPaths.Select(p => $"`{p}`"))}, measured on {string.Join("; ", machines)}" +
                (machines.Count > 1 ? " (different machines: compare within one)" : "") + $". Series {series.Description}. " +
                "Each point is a model's median milliseconds per example (whiskers: its fastest and slowest repetition), each line a series' fit " +
                "log10 ms = a + b·log10 N; two series cross where their fits are equal (95% interval: a bootstrap over each series' models)."),
        };
        if (leftOut.Count > 0) blocks.Add(new ReportParagraph($"In no series, left out: {string.Join(", ", leftOut)}."));
        foreach (var c in cases)
        {
            var chart = new List<XySeries>();
            for (int i = 0; i < c.Series.Count; i++)
            {
                var s = c.Series[i];
                chart.Add(new XySeries(series.IsSingle ? "models" : s.Series, s.Points.Select(p => new XyPoint(p.Parameters, p.MsPerExample,
                    new Interval(p.LowMs, p.HighMs), $"{p.Model} {p.Method}")).ToList(), XyStyle.Markers, ColourIndex: i));
                if (s.Fit is { } f)
                    chart.Add(new XySeries($"{(series.IsSingle ? "" : s.Series + ": ")}ms ∝ N^{f.B:0.00}",
                        ScalingReport.Curve(s.Points.Min(p => p.Parameters), s.Points.Max(p => p.Parameters), x => Math.Pow(10, f.Predict(x))),
                        XyStyle.Line, Dashed: true, ColourIndex: i));
            }
            blocks.Add(new ReportFigure($"speed-{c.Name}", new XyChart(new ChartFrame($"{c.Title}: milliseconds per example against parameters",
                "parameters (log scale)", "ms per example (log scale)"), chart, AxisKind.Log, AxisKind.Log)));
            blocks.Add(new ReportTable(["model", "series", "parameters", "method", "ms / example", "fastest – slowest"],
                c.Series.SelectMany(s => s.Points.Select(p => (IReadOnlyList<string>)[p.Model, s.Series, Format.Number(p.Parameters), p.Method,
                    Ms(p.MsPerExample), $"{Ms(p.LowMs)} – {Ms(p.HighMs)}"])).ToList()));
            foreach (var s in c.Series.Where(s => s.Fit is not null))
                blocks.Add(new ReportParagraph($"{s.Series}: log10 ms = {s.Fit!.A:0.###} + {s.Fit.B:0.###}·log10 N (R² {s.Fit.RSquared:0.000})."));
            blocks.AddRange(c.Crossings.Select(x => new ReportParagraph(x.Describe("parameters", "faster"))));
        }
        return new ReportSection("Decode speed against size", blocks);
    }

    private static string Ms(double ms) => ms.ToString(ms < 10 ? "0.###" : "0.#", CultureInfo.InvariantCulture);
}
