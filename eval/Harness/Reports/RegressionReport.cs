using System.Globalization;
using System.Text;
using Eval.Harness.Runs;

namespace Eval.Harness.Reports;

public enum RegressionKind { None, BeyondTolerance, BelowBaselineInterval, Missing, ChangedPredictions }

/// <summary>One (task, language, template) of one run: baseline against current accuracy, and how many predictions changed.</summary>
public sealed record RegressionRow(string Run, RowKey Key, AccuracyEstimate Baseline, AccuracyEstimate? Current, int Paired, int ChangedPredictions,
    RegressionKind Kind)
{
    /// <summary>Baseline minus current, in percentage points (positive: worse).</summary>
    public double DropPoints => Current is { } c ? 100 * (Baseline.Accuracy - c.Accuracy) : double.NaN;
    public bool IsRegression => Kind != RegressionKind.None;
}

/// <summary>What `eval compare` found: every row, which regressed, and notes on runs that cannot be paired.</summary>
public sealed record RegressionReport(IReadOnlyList<RegressionRow> Rows, IReadOnlyList<string> Notes, double MaxDropPoints, bool FailOnChangedPredictions,
    string Metric = RunRecord.Acc)
{
    public IReadOnlyList<RegressionRow> Regressions => Rows.Where(r => r.IsRegression).ToList();
    public bool Passed => Regressions.Count == 0;

    /// <summary>
    /// Pairs baseline and current runs by folder name (or the two folders themselves when both are runs) and compares
    /// each row. A row regresses when its accuracy dropped by more than the tolerance, or fell below the baseline's 95%
    /// interval, or it is missing from the current run; with failOnChangedPredictions, also when any prediction changed.
    /// </summary>
    public static RegressionReport Compare(string baselineDir, string currentDir, double maxDropPoints, bool failOnChangedPredictions,
        string metric = RunRecord.Acc)
    {
        if (!(maxDropPoints >= 0)) throw new ArgumentException($"--max-drop must be zero or more points, got {maxDropPoints}");
        var baseline = RunRecord.Expand(baselineDir);
        var current = RunRecord.Expand(currentDir);
        var notes = new List<string>();
        if (baseline.Count == 1 && current.Count == 1 && baseline.ContainsKey(".") != current.ContainsKey("."))
            throw new ArgumentException($"{baselineDir} and {currentDir} must both be run folders, or both folders of runs");
        var rows = new List<RegressionRow>();
        foreach (var (name, baseFolder) in baseline)
        {
            var baseRun = RunRecord.Load(baseFolder).ForMetric(metric);
            var label = name == "." ? baseRun.Name : name;
            if (!current.TryGetValue(name, out var currentFolder))
            {
                notes.Add($"run `{label}` is in the baseline but not in {currentDir}");
                rows.AddRange(baseRun.Rows().Select(r => new RegressionRow(label, r.Key, r.Value, null, 0, 0, RegressionKind.Missing)));
                continue;
            }
            var currentRun = RunRecord.Load(currentFolder).ForMetric(metric);
            if (baseRun.Fingerprint != currentRun.Fingerprint)
                notes.Add($"run `{label}`: the model's fingerprint changed ({Short(baseRun.Fingerprint)} → {Short(currentRun.Fingerprint)}): weights, config or tokenizer differ");
            if (baseRun.Scoring != currentRun.Scoring) notes.Add($"run `{label}`: scoring changed from {baseRun.Scoring} to {currentRun.Scoring}");
            rows.AddRange(CompareRuns(label, baseRun, currentRun, maxDropPoints, failOnChangedPredictions));
            var extra = currentRun.Samples.Select(r => r.Key).Distinct().Except(baseRun.Samples.Select(r => r.Key)).ToList();
            if (extra.Count > 0) notes.Add($"run `{label}`: {extra.Count} row(s) are new in the current run and have no baseline (e.g. {extra[0]})");
        }
        foreach (var name in current.Keys.Except(baseline.Keys)) notes.Add($"run `{name}` is new: it has no baseline");
        return new RegressionReport(rows, notes, maxDropPoints, failOnChangedPredictions, metric);
    }

    private static IEnumerable<RegressionRow> CompareRuns(string label, RunRecord baseline, RunRecord current, double maxDrop, bool failOnChanged)
    {
        var currentByDoc = current.Samples.ToDictionary(s => (s.Key, s.DocId));
        var baseRows = baseline.Rows();
        var currentRows = current.Rows();
        foreach (var group in baseline.Samples.GroupBy(s => s.Key))
        {
            var baseEstimate = baseRows[group.Key];
            if (!currentRows.TryGetValue(group.Key, out var estimate))
            {
                yield return new RegressionRow(label, group.Key, baseEstimate, null, 0, 0, RegressionKind.Missing);
                continue;
            }
            int paired = 0, changed = 0;
            foreach (var s in group)
                if (currentByDoc.TryGetValue((s.Key, s.DocId), out var c))
                {
                    paired++;
                    if (c.Prediction != s.Prediction) changed++;
                }
            double drop = 100 * (baseEstimate.Accuracy - estimate.Accuracy);
            var kind = drop > maxDrop + 1e-9 ? RegressionKind.BeyondTolerance
                : drop > 1e-9 && estimate.Accuracy < baseEstimate.CiLow - 1e-12 ? RegressionKind.BelowBaselineInterval
                : paired < group.Count() ? RegressionKind.Missing
                : failOnChanged && changed > 0 ? RegressionKind.ChangedPredictions
                : RegressionKind.None;
            yield return new RegressionRow(label, group.Key, baseEstimate, estimate, paired, changed, kind);
        }
    }

    private static string Short(string? fingerprint) => fingerprint is null ? "none" : fingerprint[..Math.Min(12, fingerprint.Length)];

    /// <summary>A Markdown report for a terminal or a CI job summary: the verdict, the regressions, then every row.</summary>
    public string ToMarkdown()
    {
        static string P(double v) => ReportDocument.Percent(v);
        static string Why(RegressionRow r) => r.Kind switch
        {
            RegressionKind.BeyondTolerance => "dropped beyond tolerance",
            RegressionKind.BelowBaselineInterval => "below the baseline's 95% CI",
            RegressionKind.Missing => r.Current is null ? "missing from the current run" : $"{r.Baseline.N - r.Paired} example(s) missing",
            RegressionKind.ChangedPredictions => "predictions changed",
            _ => "ok",
        };
        string Row(RegressionRow r) =>
            $"| {r.Run} | {r.Key.Task} | {r.Key.Language} | {r.Key.Template.Replace("|", "\\|")} | {P(r.Baseline.Accuracy)} [{P(r.Baseline.CiLow)}, {P(r.Baseline.CiHigh)}] | " +
            $"{(r.Current is { } c ? P(c.Accuracy) : "–")} | {ReportDocument.Points(-r.DropPoints / 100)} | " +
            $"{r.ChangedPredictions}/{r.Paired} | {(r.IsRegression ? "**" + Why(r) + "**" : Why(r))} |";
        const string header = "| run | task | lang | template | baseline % [95% CI] | current % | Δ pts | changed | verdict |\n|---|---|---|---|---:|---:|---:|---:|---|\n";

        var md = new StringBuilder($"# Regression check ({Metric})\n\n");
        var regressions = Regressions;
        md.Append(Passed
            ? $"**PASS** — {Rows.Count} rows checked; none dropped by more than {MaxDropPoints.ToString("0.##", CultureInfo.InvariantCulture)} points or below its baseline interval"
              + (FailOnChangedPredictions ? ", and no prediction changed" : "") + ".\n\n"
            : $"**FAIL** — {regressions.Count} of {Rows.Count} rows regressed (tolerance {MaxDropPoints.ToString("0.##", CultureInfo.InvariantCulture)} points" +
              (FailOnChangedPredictions ? "; changed predictions count as regressions" : "") + ").\n\n");
        int changedTotal = Rows.Sum(r => r.ChangedPredictions), pairedTotal = Rows.Sum(r => r.Paired);
        md.Append($"{changedTotal} of {pairedTotal} paired predictions changed.\n\n");
        if (Notes.Count > 0)
        {
            md.Append("## Notes\n\n");
            foreach (var n in Notes) md.Append("- ").Append(n).Append('\n');
            md.Append('\n');
        }
        if (regressions.Count > 0)
        {
            md.Append("## Regressions\n\n").Append(header);
            foreach (var r in regressions) md.Append(Row(r)).Append('\n');
            md.Append('\n');
        }
        md.Append("## All rows\n\n").Append(header);
        foreach (var r in Rows) md.Append(Row(r)).Append('\n');
        return md.ToString();
    }
}
