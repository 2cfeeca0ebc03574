using System.Globalization;
using Eval.Charts;
using Eval.Harness.Runs;
using Eval.Harness.Scoring;

namespace Eval.Harness.Reports;

/// <summary>
/// The comparison the Instruct-XLMR paper's question asks for — can the BERT family (BERT, RoBERTa, ELECTRA, XLM-R,
/// ModernBERT, EuroBERT…) follow instructions through its MLM head — as one table and one chart per task: every masked
/// LM's accuracy (pooled over languages and prompts, with its 95% bootstrap interval) beside the spread over the task's
/// prompts (mean ± sd, worst and best prompt). Runs of other kinds (causal LMs scored by log-likelihood) are left out.
/// </summary>
public static class MaskedFamilyComparison
{
    private static readonly HashSet<string> MaskedScoring = MaskedChoiceScorer.SupportedModes.Select(ScoringModes.NameOf).ToHashSet();

    /// <summary>A run of a masked LM: scored at its mask (restricted, eval-py or unrestricted).</summary>
    public static bool IsMaskedLm(RunRecord run) => MaskedScoring.Contains(run.Scoring);

    /// <summary>The task's table and chart over the masked-LM runs that scored it; nothing when fewer than two did.</summary>
    public static IReadOnlyList<ReportBlock> Blocks(string task, IReadOnlyList<RunRecord> runs, string figureName)
    {
        var masked = runs.Where(r => IsMaskedLm(r) && r.Tasks.Contains(task)).ToList();
        if (masked.Count < 2) return [];
        var pooled = masked.Select(r => r.Accuracy(s => s.Task == task)).ToList();
        var spreads = masked.Select(r => Metrics.Spread(r.Templates(task)
            .Select(t => r.Accuracy(s => s.Task == task && s.Template == t)).Where(e => e.N > 0).Select(e => e.Accuracy).ToList())).ToList();
        double chance = masked[0].Chance(task);

        var rows = masked.Select((r, i) => (IReadOnlyList<string>)[r.Name, r.Architecture, Format.Number(r.Parameters), r.Scoring,
            $"{ReportDocument.Percent(pooled[i].Accuracy)} [{ReportDocument.Percent(pooled[i].CiLow)}, {ReportDocument.Percent(pooled[i].CiHigh)}]",
            pooled[i].N.ToString(CultureInfo.InvariantCulture), spreads[i].Templates.ToString(CultureInfo.InvariantCulture),
            $"{ReportDocument.Percent(spreads[i].Mean)} ± {ReportDocument.Percent(spreads[i].Sd)}",
            $"{ReportDocument.Percent(spreads[i].Min)} – {ReportDocument.Percent(spreads[i].Max)}"]).ToList();
        var names = masked.Select(r => r.Name).ToList();
        return
        [
            new ReportParagraph($"{task}: the masked LMs side by side. Accuracy pooled over languages and prompts with its 95% bootstrap interval, " +
                                $"and the spread over the task's prompts (each prompt pooled over languages). Chance is {ReportDocument.Percent(chance)}%."),
            new ReportTable(["model", "architecture", "parameters", "scoring", "accuracy % [95% CI]", "n", "prompts", "mean ± sd over prompts", "worst – best prompt"], rows),
            new ReportFigure(figureName,
                new BarChart(new ChartFrame($"{task}: masked LMs side by side", "model", "accuracy (%)", Width: Math.Max(640, 160 + masked.Count * 90)),
                    names,
                    [
                        new BarSeries("all prompts pooled (95% CI)", pooled.Select(e => 100 * e.Accuracy).ToList(),
                            pooled.Select(e => (Interval?)new Interval(100 * e.CiLow, 100 * e.CiHigh)).ToList()),
                        new BarSeries("mean over prompts (worst – best)", spreads.Select(s => 100 * s.Mean).ToList(),
                            spreads.Select(s => s.Templates > 0 ? (Interval?)new Interval(100 * s.Min, 100 * s.Max) : null).ToList()),
                    ],
                    YMax: 100, Reference: double.IsFinite(chance) ? (100 * chance, "chance") : null),
                "Left bar: accuracy over all examples, whiskers its 95% bootstrap interval; right bar: the mean of the prompts' accuracies, whiskers the worst and best prompt."),
        ];
    }
}
