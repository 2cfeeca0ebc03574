using System.Globalization;
using Eval.Charts;
using Eval.Harness.Runs;

namespace Eval.Harness.Reports;

/// <summary>
/// The report over one or more runs: what was run; the main table (task × language × model, mean ± sd over templates,
/// Δ against the first model); the masked LMs side by side per task (<see cref="MaskedFamilyComparison"/>);
/// per task, accuracy per language per model and the spread across templates; models against the first (the reference) on the examples both scored, with paired significance; and
/// decode speed from a `bench decode` CSV when one is given.
/// </summary>
public static class EvaluationReport
{
    public const double Alpha = 0.05;

    /// <summary>The report on the metric's predictions: acc, or acc_norm for runs scored by log-likelihood (others keep acc).</summary>
    public static ReportDocument Build(IReadOnlyList<RunRecord> runs, string? decodeCsv, string metric = RunRecord.Acc)
    {
        var without = metric == RunRecord.AccNorm ? runs.Where(r => !r.HasNormalizedAccuracy).Select(r => r.Name).ToList() : [];
        runs = runs.Select(r => r.ForMetric(metric)).ToList();
        var tasks = runs.SelectMany(r => r.Tasks).Distinct().ToList();
        var sections = new List<ReportSection> { RunsSection(runs), MainTableSection.Build(runs, tasks) };
        var family = tasks.SelectMany(t => MaskedFamilyComparison.Blocks(t, runs, $"{Slug(t)}-masked-lms")).ToList();
        if (family.Count > 0) sections.Add(new ReportSection("Masked LMs side by side", family));
        foreach (var task in tasks) sections.Add(TaskSection(task, runs.Where(r => r.Tasks.Contains(task)).ToList()));
        if (runs.Count > 1) sections.Add(ComparisonSection(runs, tasks));
        sections.Add(decodeCsv is null
            ? new ReportSection("Decode speed", [new ReportParagraph("No decode benchmark was given or found in `results/bench`; run `mlm-eval bench decode` to add one.")])
            : DecodeSpeedSection.Build(decodeCsv));
        var lead = $"{runs.Count} run(s) · {string.Join(", ", tasks)} · `{metric}` in % with 95% bootstrap intervals; " +
                   $"the reference for comparisons is **{runs[0].Name}**." +
                   (without.Count > 0 ? $" {string.Join(", ", without)}: no acc_norm (not scored by log-likelihood), so acc." : "");
        return new ReportDocument("Evaluation report", sections, lead);
    }

    private static ReportSection RunsSection(IReadOnlyList<RunRecord> runs) => new("Runs",
    [
        new ReportTable(["model", "architecture", "parameters", "scoring", "tasks", "examples", "folder"],
            runs.Select(r => (IReadOnlyList<string>)[r.Name, r.Architecture, Format.Number(r.Parameters), r.Scoring, string.Join(", ", r.Tasks),
                r.Samples.Count.ToString(CultureInfo.InvariantCulture), r.Folder]).ToList()),
    ]);

    private static ReportSection TaskSection(string task, IReadOnlyList<RunRecord> runs)
    {
        var blocks = new List<ReportBlock>();
        var languages = runs.SelectMany(r => r.Languages(task)).Distinct().ToList();
        var categories = languages.Count > 1 ? languages.Append("all").ToList() : languages;
        double chance = runs[0].Chance(task);
        var perModel = runs.Select(r => categories.Select(l => r.Accuracy(s => s.Task == task && (l == "all" || s.Language == l))).ToList()).ToList();

        blocks.Add(new ReportParagraph($"Accuracy per language, pooled over templates. Chance is {ReportDocument.Percent(chance)}%."));
        blocks.Add(new ReportTable(["language", .. runs.Select(r => r.Name)],
            categories.Select((l, i) => (IReadOnlyList<string>)[l, .. perModel.Select(m => WithInterval(m[i]))]).ToList()));
        blocks.Add(new ReportFigure($"{Slug(task)}-languages",
            new BarChart(new ChartFrame($"{task}: accuracy per language", "language", "accuracy (%)", Width: Math.Max(720, 120 + categories.Count * (24 + 14 * runs.Count))),
                categories, runs.Select((r, m) => new BarSeries(r.Name, perModel[m].Select(e => 100 * e.Accuracy).ToList(),
                    perModel[m].Select(e => (Interval?)new Interval(100 * e.CiLow, 100 * e.CiHigh)).ToList())).ToList(),
                YMax: 100, Reference: double.IsFinite(chance) ? (100 * chance, "chance") : null),
            "Bars: accuracy pooled over templates; whiskers: 95% bootstrap intervals."));

        var templates = runs.SelectMany(r => r.Templates(task)).Distinct().ToList();
        var perTemplate = runs.Select(r => templates.Select(t => r.Accuracy(s => s.Task == task && s.Template == t)).ToList()).ToList();
        blocks.Add(new ReportParagraph("Accuracy per template, pooled over languages; the last rows give the spread across templates."));
        var rows = templates.Select((t, i) => (IReadOnlyList<string>)[t, .. perTemplate.Select(m => WithInterval(m[i]))]).ToList();
        var spreads = perTemplate.Select(m => Metrics.Spread(m.Where(e => e.N > 0).Select(e => e.Accuracy).ToList())).ToList();
        rows.Add(["mean ± sd", .. spreads.Select(s => $"{ReportDocument.Percent(s.Mean)} ± {ReportDocument.Percent(s.Sd)}")]);
        rows.Add(["min – max", .. spreads.Select(s => $"{ReportDocument.Percent(s.Min)} – {ReportDocument.Percent(s.Max)}")]);
        blocks.Add(new ReportTable(["template", .. runs.Select(r => r.Name)], rows));
        blocks.Add(new ReportFigure($"{Slug(task)}-templates",
            new BoxChart(new ChartFrame($"{task}: spread across templates", "model", "accuracy (%)", Width: Math.Max(560, 140 + runs.Count * 110)),
                runs.Select((r, m) => new BoxGroup(r.Name, perTemplate[m].Where(e => e.N > 0).Select(e => 100 * e.Accuracy).ToList(),
                    templates.Where((_, i) => perTemplate[m][i].N > 0).ToList())).ToList(),
                Reference: double.IsFinite(chance) ? (100 * chance, "chance") : null),
            "One point per template (accuracy pooled over languages); box: quartiles and median; whiskers: 1.5 IQR."));

        foreach (var run in runs)
        {
            var grid = languages.Select(l => (IReadOnlyList<double>)templates.Select(t =>
                run.Accuracy(s => s.Task == task && s.Language == l && s.Template == t) is { N: > 0 } e ? 100 * e.Accuracy : double.NaN).ToList()).ToList();
            blocks.Add(new ReportFigure($"{Slug(task)}-heatmap-{Slug(run.Name)}",
                new HeatmapChart(new ChartFrame($"{task}: accuracy per language and template, {run.Name}", "template", "language",
                    Width: Math.Max(560, 160 + templates.Count * 120), Height: Math.Max(360, 250 + languages.Count * 30), Subtitle: "accuracy (%) per cell"),
                    languages, templates, grid),
                "Each cell: accuracy (%) on one language with one template; grey: no examples."));
        }
        return new ReportSection($"Task: {task}", blocks);
    }

    private static ReportSection ComparisonSection(IReadOnlyList<RunRecord> runs, IReadOnlyList<string> tasks)
    {
        var reference = runs[0];
        var rows = new List<IReadOnlyList<string>>();
        foreach (var task in tasks)
            foreach (var other in runs.Skip(1))
            {
                var p = PairedComparison.Between(reference, other, s => s.Task == task);
                if (p.N == 0)
                {
                    rows.Add([task, other.Name, "0", "–", "–", "no shared examples", "–", "–", "–"]);
                    continue;
                }
                rows.Add([task, other.Name, p.N.ToString(CultureInfo.InvariantCulture), ReportDocument.Percent(p.AccuracyA), ReportDocument.Percent(p.AccuracyB),
                    $"{ReportDocument.Points(p.Difference)} [{ReportDocument.Points(p.CiLow)}, {ReportDocument.Points(p.CiHigh)}]",
                    $"{p.OnlyACorrect} / {p.OnlyBCorrect}", PValue(p.McNemarP), p.McNemarP < Alpha ? (p.Difference > 0 ? "better" : "worse") : "no"]);
            }
        var overall = runs.Select(r => tasks.Select(t => r.Accuracy(s => s.Task == t)).ToList()).ToList();
        return new ReportSection("Model comparison",
        [
            new ReportParagraph($"Each model against **{reference.Name}** on the examples both scored (same task, language, template and document). " +
                                $"Δ is in points with a 95% paired-bootstrap interval; the discordant pairs (only the reference right / only the model right) " +
                                $"give McNemar's exact two-sided p; a difference is called significant at p < {Alpha.ToString(CultureInfo.InvariantCulture)}."),
            new ReportTable(["task", "model", "paired n", $"reference ({reference.Name}) %", "model %", "Δ pts [95% CI]", "discordant", "McNemar p", "significant"], rows),
            new ReportFigure("models",
                new BarChart(new ChartFrame("Accuracy per task and model", "task", "accuracy (%)", Width: Math.Max(720, 160 + tasks.Count * (30 + 16 * runs.Count))),
                    tasks, runs.Select((r, m) => new BarSeries(r.Name, overall[m].Select(e => 100 * e.Accuracy).ToList(),
                        overall[m].Select(e => e.N > 0 ? (Interval?)new Interval(100 * e.CiLow, 100 * e.CiHigh) : null).ToList())).ToList(), YMax: 100),
                "Each model's accuracy over all its examples of the task; whiskers: 95% bootstrap intervals."),
        ]);
    }

    private static string PValue(double p) => !double.IsFinite(p) ? "–" : p < 0.001 ? "< 0.001" : p.ToString("0.000", CultureInfo.InvariantCulture);

    private static string WithInterval(AccuracyEstimate e) =>
        e.N == 0 ? "–" : $"{ReportDocument.Percent(e.Accuracy)} [{ReportDocument.Percent(e.CiLow)}, {ReportDocument.Percent(e.CiHigh)}]";

    /// <summary>A file-name-safe form of a task or model name.</summary>
    public static string Slug(string name) =>
        new string(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? char.ToLowerInvariant(c) : '-').ToArray()).Trim('-');
}
