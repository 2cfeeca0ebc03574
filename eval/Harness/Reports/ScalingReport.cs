using System.Globalization;
using System.Text.Json;
using Eval.Charts;
using Eval.Harness.Runs;

namespace Eval.Harness.Reports;

public enum ScalingAxis { Parameters, TrainTokens }

/// <summary>One run's point on a task's scaling curve.</summary>
public sealed record ScalingPoint(string Task, string Run, double X, AccuracyEstimate Accuracy);

/// <summary>One series of a task (all runs, a model kind or a family): its points and fitted curves; the power law is null when there are too few sizes or no rising curve fits.</summary>
public sealed record SeriesScaling(string Series, IReadOnlyList<ScalingPoint> Points, LogLinearFit? LogLinear, PowerLawFit? PowerLaw);

/// <summary>A task's series, each with its own fits, and where each pair of series crosses.</summary>
public sealed record TaskScaling(string Task, IReadOnlyList<SeriesScaling> Series, IReadOnlyList<ScalingCrossing> Crossings)
{
    public IEnumerable<ScalingPoint> Points => Series.SelectMany(s => s.Points);
}

/// <summary>What `scaling` fitted: the tasks, how the series were chosen, and the runs no series claimed.</summary>
public sealed record ScalingResult(IReadOnlyList<TaskScaling> Tasks, ScalingSeries Series, IReadOnlyList<string> LeftOut);

/// <summary>
/// Accuracy against model size or fine-tuning tokens, per task (accuracy pooled over languages and templates), in one
/// series or several (<see cref="ScalingSeries"/>: model kinds, families), each with a + b·log10 N and, given four sizes
/// or more, a saturating power law, and for each pair of series their crossing (<see cref="ScalingCrossing"/>); one
/// chart per task and one for all.
/// </summary>
public static class ScalingReport
{
    public static string AxisName(ScalingAxis axis) => axis == ScalingAxis.Parameters ? "parameters" : "fine-tuning tokens";

    /// <summary>
    /// Each run's x: its parameter count (run.json), or its fine-tuning tokens — from the explicit table (keyed by run
    /// folder, folder name or model name), else the num_input_tokens_seen of trainer_state.json in the model folder.
    /// </summary>
    public static IReadOnlyDictionary<RunRecord, double> XValues(IReadOnlyList<RunRecord> runs, ScalingAxis axis, IReadOnlyDictionary<string, double>? table)
    {
        var values = new Dictionary<RunRecord, double>();
        var lacking = new List<string>();
        foreach (var run in runs)
        {
            double? x = null;
            if (table is not null)
                foreach (var key in new[] { run.Folder, Path.GetFileName(run.Folder.TrimEnd(Path.DirectorySeparatorChar)), run.Name, run.ModelId })
                    if (table.TryGetValue(key, out var v)) { x = v; break; }
            x ??= axis == ScalingAxis.Parameters ? (run.Parameters > 0 ? run.Parameters : null) : TrainerTokens(run.ModelPath);
            if (x is { } value) values[run] = value;
            else lacking.Add(run.Folder);
        }
        if (lacking.Count > 0)
            throw new ArgumentException(axis == ScalingAxis.Parameters
                ? $"no parameter count for {string.Join(", ", lacking)}; give it with --x-values"
                : $"no fine-tuning token count for {string.Join(", ", lacking)}: their model folders have no trainer_state.json with num_input_tokens_seen; give them with --x-values FILE (CSV: run,x)");
        return values;
    }

    /// <summary>Reads a CSV of run,x (header optional); errors name the line.</summary>
    public static IReadOnlyDictionary<string, double> ReadXValues(string path)
    {
        if (!File.Exists(path)) throw new ArgumentException($"--x-values file {path} does not exist");
        var table = new Dictionary<string, double>();
        int lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var parts = line.Split(',');
            if (parts.Length != 2) throw new FormatException($"{path}:{lineNumber}: expected 'run,x', got '{line}'");
            if (!double.TryParse(parts[1].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var x))
            {
                if (lineNumber == 1) continue;
                throw new FormatException($"{path}:{lineNumber}: '{parts[1].Trim()}' is not a number");
            }
            if (!(x > 0)) throw new FormatException($"{path}:{lineNumber}: x must be positive, got {x}");
            table[parts[0].Trim()] = x;
        }
        return table;
    }

    private static double? TrainerTokens(string? modelPath)
    {
        if (modelPath is null) return null;
        var path = Path.Combine(modelPath, "trainer_state.json");
        if (!File.Exists(path)) return null;
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        return doc.RootElement.TryGetProperty("num_input_tokens_seen", out var n) && n.TryGetDouble(out var v) && v > 0 ? v : null;
    }

    /// <summary>Fits every task's series; with several series, each pair's crossing with its bootstrap over examples.</summary>
    public static ScalingResult Fit(IReadOnlyList<RunRecord> runs, IReadOnlyDictionary<RunRecord, double> x, ScalingSeries? series = null)
    {
        series ??= ScalingSeries.Single;
        var seriesOf = new Dictionary<RunRecord, string>();
        var leftOut = new List<string>();
        foreach (var run in runs)
        {
            if (series.Of(ScalingSeries.NamesOf(run), run.Architecture) is { } name) seriesOf[run] = name;
            else leftOut.Add(run.Name);
        }
        if (seriesOf.Count == 0) throw new ArgumentException($"no run belongs to any series ({series.Description}): {string.Join(", ", leftOut)}");
        var result = new List<TaskScaling>();
        foreach (var task in seriesOf.Keys.SelectMany(r => r.Tasks).Distinct())
        {
            var members = seriesOf.Where(e => e.Key.Tasks.Contains(task)).GroupBy(e => e.Value, e => e.Key)
                .OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
            var fitted = members.Select(g =>
            {
                var points = g.Select(r => new ScalingPoint(task, r.Name, x[r], r.Accuracy(s => s.Task == task))).OrderBy(p => p.X).ToList();
                var xs = points.Select(p => p.X).ToList();
                var ys = points.Select(p => p.Accuracy.Accuracy).ToList();
                return new SeriesScaling(g.Key, points, xs.Distinct().Count() >= 2 ? ScalingFits.LogLinear(xs, ys) : null, ScalingFits.SaturatingPowerLaw(xs, ys));
            }).ToList();
            var crossings = new List<ScalingCrossing>();
            for (int i = 0; i < members.Count; i++)
                for (int j = i + 1; j < members.Count; j++)
                    if (fitted[i].LogLinear is not null && fitted[j].LogLinear is not null)
                        crossings.Add(Crossing(task, members[i].Key, members[i].ToList(), members[j].Key, members[j].ToList(), x));
            result.Add(new TaskScaling(task, fitted, crossings));
        }
        return new ScalingResult(result, series, leftOut);
    }

    /// <summary>
    /// Two series' crossing on a task; the bootstrap resamples the task's examples — (language, template, document) —
    /// with replacement, the same draw for every run (paired: runs scored on the same examples move together), and each
    /// run's accuracy is the mean over the drawn examples it has.
    /// </summary>
    private static ScalingCrossing Crossing(string task, string first, IReadOnlyList<RunRecord> firstRuns, string second,
        IReadOnlyList<RunRecord> secondRuns, IReadOnlyDictionary<RunRecord, double> x)
    {
        var runs = firstRuns.Concat(secondRuns).ToList();
        var keys = runs.SelectMany(r => r.Samples.Where(s => s.Task == task).Select(s => (s.Language, s.Template, s.DocId))).Distinct()
            .OrderBy(k => k.Language, StringComparer.Ordinal).ThenBy(k => k.Template, StringComparer.Ordinal).ThenBy(k => k.DocId).ToList();
        var index = keys.Select((k, i) => (k, i)).ToDictionary(e => e.k, e => e.i);
        // outcome[run][key]: 1 right, 0 wrong, −1 not scored by that run.
        var outcome = runs.Select(r =>
        {
            var row = new sbyte[keys.Count];
            Array.Fill(row, (sbyte)-1);
            foreach (var s in r.Samples.Where(s => s.Task == task)) row[index[(s.Language, s.Template, s.DocId)]] = (sbyte)(s.Correct ? 1 : 0);
            return row;
        }).ToList();
        double Accuracy(RunRecord r) => r.Accuracy(s => s.Task == task).Accuracy;
        var draw = new int[keys.Count];
        return ScalingCrossings.Estimate(first, second,
            firstRuns.Select(r => x[r]).ToList(), firstRuns.Select(Accuracy).ToList(),
            secondRuns.Select(r => x[r]).ToList(), secondRuns.Select(Accuracy).ToList(),
            random =>
            {
                for (int i = 0; i < draw.Length; i++) draw[i] = random.Next(draw.Length);
                var accuracy = outcome.Select(row =>
                {
                    int right = 0, scored = 0;
                    foreach (int k in draw)
                        if (row[k] >= 0) { scored++; right += row[k]; }
                    return scored > 0 ? (double)right / scored : double.NaN;
                }).ToList();
                if (accuracy.Any(double.IsNaN)) return null;
                return (firstRuns.Select(r => x[r]).ToList(), accuracy.Take(firstRuns.Count).ToList(),
                    secondRuns.Select(r => x[r]).ToList(), accuracy.Skip(firstRuns.Count).ToList());
            },
            higherIsBetter: true);
    }

    /// <summary>Writes each task's fits per series: the formula, its parameters (accuracy as a fraction), R², RMSE and the number of points.</summary>
    public static string WriteFitsCsv(string path, IReadOnlyList<TaskScaling> tasks, ScalingAxis axis)
    {
        static string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        var x = axis == ScalingAxis.Parameters ? "parameters" : "train_tokens";
        var rows = new List<IReadOnlyList<string>> { new[] { "task", "series", "x", "form", "formula", "a", "b", "c", "alpha", "x_ref", "r2", "rmse", "points" } };
        foreach (var t in tasks)
            foreach (var s in t.Series)
            {
                if (s.LogLinear is { } l)
                    rows.Add([t.Task, s.Series, x, "log-linear", "acc = a + b*log10(N)", F(l.A), F(l.B), "", "", "", F(l.RSquared), F(l.Rmse),
                        l.Points.ToString(CultureInfo.InvariantCulture)]);
                if (s.PowerLaw is { } p)
                    rows.Add([t.Task, s.Series, x, "saturating-power-law", "acc = c - b*(N/x_ref)^(-alpha)", "", F(p.B), F(p.C), F(p.Alpha), F(p.XRef),
                        F(p.RSquared), F(p.Rmse), p.Points.ToString(CultureInfo.InvariantCulture)]);
            }
        return ResultFiles.WriteCsv(path, rows);
    }

    /// <summary>
    /// Writes every crossing (one row per task and pair of series): N*, its 95% bootstrap interval, the range both series
    /// measured, whether N* lies in it, the share of replicates crossing in it, and who leads below and above.
    /// </summary>
    public static string WriteCrossingsCsv(string path, IEnumerable<(string Case, string X, ScalingCrossing Crossing)> crossings)
    {
        static string F(double? v) => v is { } d && double.IsFinite(d) ? d.ToString("R", CultureInfo.InvariantCulture) : "";
        var rows = new List<IReadOnlyList<string>>
        {
            new[] { "case", "first", "second", "x", "crossing", "ci_low", "ci_high", "range_low", "range_high", "in_range", "fraction_in_range",
                "replicates", "ahead_below", "ahead_above" },
        };
        foreach (var (name, x, c) in crossings)
            rows.Add([name, c.First, c.Second, x, F(c.X), F(c.CiLow), F(c.CiHigh), F(c.RangeLow), F(c.RangeHigh), c.InRange ? "true" : "false",
                F(c.FractionInRange), c.Replicates.ToString(CultureInfo.InvariantCulture), c.AheadBelow ?? "", c.AheadAbove ?? ""]);
        return ResultFiles.WriteCsv(path, rows);
    }

    /// <summary>
    /// The report: accuracy per task (when there are runs; with the runs given, each task also sets its masked LMs side by
    /// side, <see cref="MaskedFamilyComparison"/>), then any further sections (decode speed against size).
    /// </summary>
    public static ReportDocument Document(ScalingResult? result, ScalingAxis axis, IReadOnlyList<ReportSection>? speed = null,
        IReadOnlyList<RunRecord>? runs = null)
    {
        if (result is null)
            return new ReportDocument("Scaling: decode speed against parameters", speed ?? throw new ArgumentException("nothing to report: no runs and no speed sections"));
        var xName = AxisName(axis);
        var tasks = result.Tasks;
        var sections = new List<ReportSection>();
        foreach (var t in tasks)
        {
            var blocks = new List<ReportBlock>
            {
                new ReportFigure($"scaling-{EvaluationReport.Slug(t.Task)}", new XyChart(new ChartFrame($"{t.Task}: accuracy against {xName}", $"{xName} (log scale)", "accuracy (%)"),
                    TaskSeries(t, result.Series.IsSingle), AxisKind.Log)),
                new ReportTable(result.Series.IsSingle ? ["run", xName, "accuracy %", "95% CI", "n"] : ["run", "series", xName, "accuracy %", "95% CI", "n"],
                    t.Series.SelectMany(s => s.Points.Select(p => (IReadOnlyList<string>)(result.Series.IsSingle ? [] : new[] { s.Series })
                        .Prepend(p.Run).Concat([Format.Number(p.X), ReportDocument.Percent(p.Accuracy.Accuracy),
                            $"{ReportDocument.Percent(p.Accuracy.CiLow)} – {ReportDocument.Percent(p.Accuracy.CiHigh)}",
                            p.Accuracy.N.ToString(CultureInfo.InvariantCulture)]).ToList())).ToList()),
            };
            blocks.AddRange(t.Series.Select(s => new ReportParagraph((result.Series.IsSingle ? "" : $"{s.Series} — ") + FitText(s))));
            blocks.AddRange(t.Crossings.Select(c => new ReportParagraph(c.Describe(xName))));
            if (runs is not null) blocks.AddRange(MaskedFamilyComparison.Blocks(t.Task, runs, $"scaling-{EvaluationReport.Slug(t.Task)}-masked-lms"));
            sections.Add(new ReportSection($"Task: {t.Task}", blocks));
        }
        var combined = new List<XySeries>();
        int colour = 0;
        foreach (var t in tasks)
            foreach (var s in t.Series)
            {
                string name = result.Series.IsSingle ? t.Task : $"{t.Task} · {s.Series}";
                combined.Add(new XySeries(name, s.Points.Select(p => new XyPoint(p.X, 100 * p.Accuracy.Accuracy, Label: p.Run)).ToList(), XyStyle.Markers, ColourIndex: colour));
                if (s.LogLinear is { } l) combined.Add(new XySeries($"{name} fit", Curve(s.Points, x => 100 * l.Predict(x)), XyStyle.Line, Dashed: true, ColourIndex: colour));
                colour++;
            }
        var notes = new List<ReportBlock>
        {
            new ReportFigure("scaling-all", new XyChart(new ChartFrame($"Accuracy against {xName}", $"{xName} (log scale)", "accuracy (%)", Width: 800), combined, AxisKind.Log)),
            new ReportParagraph("Fits are over each task's accuracy pooled over languages and templates; parameters are in `scaling-fits.csv` (accuracy as a fraction)."),
        };
        if (!result.Series.IsSingle)
        {
            notes.Add(new ReportParagraph($"Series {result.Series.Description}. Two series cross where their log-linear fits are equal; the 95% interval of " +
                "that size is the percentile interval over " + ScalingCrossings.Replicates + " bootstrap replicates of the task's examples (the same examples " +
                "drawn for every run), each refitting both series; `scaling-crossings.csv` has every crossing."));
            if (result.LeftOut.Count > 0) notes.Add(new ReportParagraph($"In no series, left out: {string.Join(", ", result.LeftOut)}."));
        }
        sections.Insert(0, new ReportSection("All tasks", notes));
        if (speed is not null) sections.AddRange(speed);
        return new ReportDocument($"Scaling: accuracy against {xName}", sections);
    }

    /// <summary>A task's chart: per series its runs (with 95% whiskers) and fits in one colour, and each crossing in range with its interval.</summary>
    private static List<XySeries> TaskSeries(TaskScaling t, bool single)
    {
        var series = new List<XySeries>();
        for (int i = 0; i < t.Series.Count; i++)
        {
            var s = t.Series[i];
            string prefix = single ? "" : $"{s.Series}: ";
            series.Add(new XySeries(single ? "runs" : s.Series, s.Points.Select(p => new XyPoint(p.X, 100 * p.Accuracy.Accuracy,
                new Interval(100 * p.Accuracy.CiLow, 100 * p.Accuracy.CiHigh), p.Run)).ToList(), XyStyle.Markers, ColourIndex: single ? 0 : i));
            if (s.LogLinear is { } l)
                series.Add(new XySeries($"{prefix}a + b·log N (R² {l.RSquared:0.00})", Curve(s.Points, x => 100 * l.Predict(x)), XyStyle.Line, Dashed: true,
                    ColourIndex: single ? 1 : i));
            if (s.PowerLaw is { } p)
                series.Add(new XySeries($"{prefix}power law (R² {p.RSquared:0.00})", Curve(s.Points, x => 100 * p.Predict(x)), XyStyle.Line,
                    ColourIndex: single ? 2 : i));
        }
        double lo = t.Points.Min(p => p.X), hi = t.Points.Max(p => p.X);
        foreach (var c in t.Crossings.Where(c => c.InRange && c.X is not null))
        {
            var first = t.Series.First(s => s.Series == c.First).LogLinear!;
            double y = 100 * first.Predict(c.X!.Value);
            series.Add(new XySeries($"{c.First} = {c.Second} at {Format.Number(c.X.Value)}", [new XyPoint(c.X.Value, y)], XyStyle.Markers, ColourIndex: t.Series.Count));
            if (c.CiLow is { } a && c.CiHigh is { } b)
                series.Add(new XySeries("its 95% CI", [new XyPoint(Math.Max(a, lo), y), new XyPoint(Math.Min(b, hi), y)], XyStyle.Line, ColourIndex: t.Series.Count));
        }
        return series;
    }

    private static string FitText(SeriesScaling s)
    {
        var parts = new List<string>();
        if (s.LogLinear is { } l)
            parts.Add($"log-linear: acc = {l.A:0.####} + {l.B:0.####}·log10 N (R² {l.RSquared:0.000}, RMSE {100 * l.Rmse:0.00} pts)");
        else parts.Add("log-linear: needs two distinct sizes");
        if (s.PowerLaw is { } p)
            parts.Add($"saturating power law: acc = {p.C:0.####} − {p.B:0.####}·(N / {Format.Number(p.XRef)})^−{p.Alpha:0.###} (R² {p.RSquared:0.000}, RMSE {100 * p.Rmse:0.00} pts)");
        else parts.Add(s.Points.Select(p => p.X).Distinct().Count() < ScalingFits.PowerLawMinimumPoints
            ? $"saturating power law: needs {ScalingFits.PowerLawMinimumPoints} distinct sizes, has {s.Points.Select(p => p.X).Distinct().Count()}"
            : "saturating power law: no rising curve fits these points");
        return string.Join("; ", parts) + ".";
    }

    /// <summary>A curve sampled evenly in log x across the points' range.</summary>
    public static List<XyPoint> Curve(IReadOnlyList<ScalingPoint> points, Func<double, double> f) => Curve(points.Min(p => p.X), points.Max(p => p.X), f);

    /// <summary>A curve sampled evenly in log x from lo to hi.</summary>
    public static List<XyPoint> Curve(double lo, double hi, Func<double, double> f)
    {
        double a = Math.Log10(lo), b = Math.Log10(hi);
        return Enumerable.Range(0, 41).Select(i => Math.Pow(10, a + (b - a) * i / 40)).Select(x => new XyPoint(x, f(x))).ToList();
    }
}
