using System.Globalization;
using System.Text.Json;
using Eval.Charts;
using Eval.Harness.Runs;

namespace Eval.Harness.Reports;

public enum ScalingAxis { Parameters, TrainTokens }

/// <summary>One run's point on a task's scaling curve.</summary>
public sealed record ScalingPoint(string Task, string Run, double X, AccuracyEstimate Accuracy);

/// <summary>A task's fitted curves; the power law is null when there are too few sizes or no rising curve fits.</summary>
public sealed record TaskScaling(string Task, IReadOnlyList<ScalingPoint> Points, LogLinearFit? LogLinear, PowerLawFit? PowerLaw);

/// <summary>
/// Accuracy against model size or fine-tuning tokens, per task (accuracy pooled over languages and templates), with
/// a + b·log10 N and, given four sizes or more, a saturating power law; one chart per task and one for all.
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

    public static IReadOnlyList<TaskScaling> Fit(IReadOnlyList<RunRecord> runs, IReadOnlyDictionary<RunRecord, double> x)
    {
        var result = new List<TaskScaling>();
        foreach (var task in runs.SelectMany(r => r.Tasks).Distinct())
        {
            var points = runs.Where(r => r.Tasks.Contains(task)).Select(r => new ScalingPoint(task, r.Name, x[r], r.Accuracy(s => s.Task == task)))
                .OrderBy(p => p.X).ToList();
            var xs = points.Select(p => p.X).ToList();
            var ys = points.Select(p => p.Accuracy.Accuracy).ToList();
            var logLinear = xs.Distinct().Count() >= 2 ? ScalingFits.LogLinear(xs, ys) : null;
            result.Add(new TaskScaling(task, points, logLinear, ScalingFits.SaturatingPowerLaw(xs, ys)));
        }
        return result;
    }

    /// <summary>Writes each task's fits: the formula, its parameters (accuracy as a fraction), R², RMSE and the number of points.</summary>
    public static string WriteFitsCsv(string path, IReadOnlyList<TaskScaling> tasks, ScalingAxis axis)
    {
        static string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        var x = axis == ScalingAxis.Parameters ? "parameters" : "train_tokens";
        var rows = new List<IReadOnlyList<string>> { new[] { "task", "x", "form", "formula", "a", "b", "c", "alpha", "x_ref", "r2", "rmse", "points" } };
        foreach (var t in tasks)
        {
            if (t.LogLinear is { } l)
                rows.Add([t.Task, x, "log-linear", "acc = a + b*log10(N)", F(l.A), F(l.B), "", "", "", F(l.RSquared), F(l.Rmse), l.Points.ToString(CultureInfo.InvariantCulture)]);
            if (t.PowerLaw is { } p)
                rows.Add([t.Task, x, "saturating-power-law", "acc = c - b*(N/x_ref)^(-alpha)", "", F(p.B), F(p.C), F(p.Alpha), F(p.XRef), F(p.RSquared), F(p.Rmse),
                    p.Points.ToString(CultureInfo.InvariantCulture)]);
        }
        return ResultFiles.WriteCsv(path, rows);
    }

    /// <summary>The scaling report; with the runs, each task also sets its masked LMs side by side (<see cref="MaskedFamilyComparison"/>).</summary>
    public static ReportDocument Document(IReadOnlyList<TaskScaling> tasks, ScalingAxis axis, IReadOnlyList<RunRecord>? runs = null)
    {
        var xName = AxisName(axis);
        var sections = new List<ReportSection>();
        foreach (var t in tasks)
        {
            var series = new List<XySeries> { new("runs", t.Points.Select(p => new XyPoint(p.X, 100 * p.Accuracy.Accuracy, new Interval(100 * p.Accuracy.CiLow, 100 * p.Accuracy.CiHigh), p.Run)).ToList(), XyStyle.Markers) };
            if (t.LogLinear is { } l) series.Add(new XySeries($"a + b·log N (R² {l.RSquared:0.00})", Curve(t.Points, x => 100 * l.Predict(x)), XyStyle.Line, Dashed: true, ColourIndex: 1));
            if (t.PowerLaw is { } p) series.Add(new XySeries($"power law (R² {p.RSquared:0.00})", Curve(t.Points, x => 100 * p.Predict(x)), XyStyle.Line, ColourIndex: 2));
            var blocks = new List<ReportBlock>
            {
                new ReportFigure($"scaling-{EvaluationReport.Slug(t.Task)}", new XyChart(new ChartFrame($"{t.Task}: accuracy against {xName}", $"{xName} (log scale)", "accuracy (%)"),
                    series, AxisKind.Log)),
                new ReportTable(["run", xName, "accuracy %", "95% CI", "n"], t.Points.Select(p => (IReadOnlyList<string>)[p.Run, Format.Number(p.X),
                    ReportDocument.Percent(p.Accuracy.Accuracy), $"{ReportDocument.Percent(p.Accuracy.CiLow)} – {ReportDocument.Percent(p.Accuracy.CiHigh)}",
                    p.Accuracy.N.ToString(CultureInfo.InvariantCulture)]).ToList()),
                new ReportParagraph(FitText(t)),
            };
            if (runs is not null) blocks.AddRange(MaskedFamilyComparison.Blocks(t.Task, runs, $"scaling-{EvaluationReport.Slug(t.Task)}-masked-lms"));
            sections.Add(new ReportSection($"Task: {t.Task}", blocks));
        }
        var combined = new List<XySeries>();
        for (int i = 0; i < tasks.Count; i++)
        {
            var t = tasks[i];
            combined.Add(new XySeries(t.Task, t.Points.Select(p => new XyPoint(p.X, 100 * p.Accuracy.Accuracy, Label: p.Run)).ToList(), XyStyle.Markers, ColourIndex: i));
            if (t.LogLinear is { } l) combined.Add(new XySeries($"{t.Task} fit", Curve(t.Points, x => 100 * l.Predict(x)), XyStyle.Line, Dashed: true, ColourIndex: i));
        }
        sections.Insert(0, new ReportSection("All tasks",
        [
            new ReportFigure("scaling-all", new XyChart(new ChartFrame($"Accuracy against {xName}", $"{xName} (log scale)", "accuracy (%)", Width: 800), combined, AxisKind.Log)),
            new ReportParagraph("Fits are over each task's accuracy pooled over languages and templates; parameters are in `scaling-fits.csv` (accuracy as a fraction)."),
        ]));
        return new ReportDocument($"Scaling: accuracy against {xName}", sections);
    }

    private static string FitText(TaskScaling t)
    {
        var parts = new List<string>();
        if (t.LogLinear is { } l)
            parts.Add($"log-linear: acc = {l.A:0.####} + {l.B:0.####}·log10 N (R² {l.RSquared:0.000}, RMSE {100 * l.Rmse:0.00} pts)");
        else parts.Add("log-linear: needs two distinct sizes");
        if (t.PowerLaw is { } p)
            parts.Add($"saturating power law: acc = {p.C:0.####} − {p.B:0.####}·(N / {Format.Number(p.XRef)})^−{p.Alpha:0.###} (R² {p.RSquared:0.000}, RMSE {100 * p.Rmse:0.00} pts)");
        else parts.Add(t.Points.Select(p => p.X).Distinct().Count() < ScalingFits.PowerLawMinimumPoints
            ? $"saturating power law: needs {ScalingFits.PowerLawMinimumPoints} distinct sizes, has {t.Points.Select(p => p.X).Distinct().Count()}"
            : "saturating power law: no rising curve fits these points");
        return string.Join("; ", parts) + ".";
    }

    /// <summary>A curve sampled evenly in log x across the points' range.</summary>
    private static List<XyPoint> Curve(IReadOnlyList<ScalingPoint> points, Func<double, double> f)
    {
        double lo = Math.Log10(points.Min(p => p.X)), hi = Math.Log10(points.Max(p => p.X));
        return Enumerable.Range(0, 41).Select(i => Math.Pow(10, lo + (hi - lo) * i / 40)).Select(x => new XyPoint(x, f(x))).ToList();
    }
}
