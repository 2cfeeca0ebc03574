using Eval.Harness.Runs;

namespace Eval.Harness.Reports;

/// <summary>
/// The table multilingual zero-shot papers lead with (the Instruct-XLMR paper's comparison with BLOOMZ and mT0): task ×
/// language rows, per model the mean accuracy over the task's templates (prompts) ± their standard deviation, and each
/// model's difference from the first with a paired interval. The "avg" row averages the languages within each template
/// first, then takes mean ± sd over templates.
/// </summary>
public static class MainTableSection
{
    public const string Average = "avg";

    public static ReportSection Build(IReadOnlyList<RunRecord> runs, IReadOnlyList<string> tasks)
    {
        var reference = runs[0];
        var others = runs.Skip(1).ToList();
        var rows = new List<IReadOnlyList<string>>();
        foreach (var task in tasks)
        {
            var languages = runs.SelectMany(r => r.Languages(task)).Distinct().ToList();
            foreach (var language in languages.Append(Average))
            {
                var cells = new List<string> { task, language };
                cells.AddRange(runs.Select(r => MeanOverTemplates(r, task, language, languages) is { Templates: > 0 } s
                    ? $"{ReportDocument.Percent(s.Mean)} ± {ReportDocument.Percent(s.Sd)}" : "–"));
                foreach (var other in others)
                {
                    var p = PairedComparison.Between(reference, other, s => s.Task == task && (language == Average || s.Language == language));
                    cells.Add(p.N == 0 ? "–" : $"{ReportDocument.Points(p.Difference)} [{ReportDocument.Points(p.CiLow)}, {ReportDocument.Points(p.CiHigh)}]");
                }
                rows.Add(cells);
            }
        }
        return new ReportSection("Main table",
        [
            new ReportParagraph("Accuracy (%) per task and language: the mean over the task's templates ± their standard deviation (each template " +
                                $"one prompt, as the Instruct-XLMR paper averages five). `{Average}`: per template the mean over languages, then mean ± sd " +
                                $"over templates. Δ: each model against **{reference.Name}** on the examples both scored, in points, with a 95% " +
                                $"paired-bootstrap interval (`{Average}`: pooled over the task's examples)."),
            new ReportTable(["task", "language", .. runs.Select(r => r.Name), .. others.Select(o => $"Δ {o.Name} [95% CI]")], rows),
        ]);
    }

    /// <summary>
    /// Mean ± sd over the run's templates of the task of its accuracy on one language, or (avg) of the mean over the
    /// languages the template has examples in.
    /// </summary>
    public static TemplateSpread MeanOverTemplates(RunRecord run, string task, string language, IReadOnlyList<string> languages)
    {
        var accuracy = run.Samples.Where(s => s.Task == task).GroupBy(s => (s.Language, s.Template))
            .ToDictionary(g => g.Key, g => (double)g.Count(s => s.Correct) / g.Count());
        var perTemplate = new List<double>();
        foreach (var template in run.Templates(task))
        {
            var accuracies = (language == Average ? languages : [language])
                .Where(l => accuracy.ContainsKey((l, template))).Select(l => accuracy[(l, template)]).ToList();
            if (accuracies.Count > 0) perTemplate.Add(accuracies.Average());
        }
        return Metrics.Spread(perTemplate);
    }
}
