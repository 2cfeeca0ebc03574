namespace Eval.Harness.Runs;

/// <summary>Accuracy of one (task, subset, template), with how many prompts were truncated and which choices needed several masks.</summary>
public sealed record TemplateAccuracy(string Task, string Subset, string Split, string Template, AccuracyEstimate Estimate,
    int Truncated, int MultiTokenExamples, IReadOnlyList<string> MultiTokenChoices, AccuracyEstimate? Normalized = null)
{
    /// <summary>How many examples were offered each number of choices (ascending).</summary>
    public IReadOnlyDictionary<int, int> ChoiceCounts { get; init; } = new SortedDictionary<int, int>();
}

/// <summary>A (task, subset or group) across templates: the spread of per-template accuracies.</summary>
public sealed record AcrossTemplates(string Task, string Subset, bool IsGroup, TemplateSpread Spread, int Examples);

/// <summary>A group (all subsets, or an MMLU category) under one template: accuracy pooled over its examples (size-weighted).</summary>
public sealed record GroupAccuracy(string Task, string Group, string Template, AccuracyEstimate Estimate, IReadOnlyList<string> Subsets,
    AccuracyEstimate? Normalized = null);

/// <summary>The tables every report is written from.</summary>
public sealed record RunSummary(IReadOnlyList<TemplateAccuracy> Templates, IReadOnlyList<AcrossTemplates> Spreads, IReadOnlyList<GroupAccuracy> Groups)
{
    public const string AllGroup = "all";

    public static RunSummary From(RunOutcome outcome)
    {
        var templates = outcome.Examples
            .GroupBy(e => (e.Task, e.Subset, e.Split, e.Template))
            .Select(g => new TemplateAccuracy(g.Key.Task, g.Key.Subset, g.Key.Split, g.Key.Template,
                Metrics.Accuracy(g.Select(e => e.Correct).ToList()),
                g.Count(e => e.Truncated),
                g.Count(e => e.ChoiceLengths.Any(l => l > 1)),
                g.SelectMany(e => e.Choices.Where((_, i) => e.ChoiceLengths[i] > 1)).Distinct().Take(12).ToList(),
                NormalizedAccuracy(g.ToList()))
            {
                ChoiceCounts = new SortedDictionary<int, int>(g.GroupBy(e => e.Choices.Count).ToDictionary(c => c.Key, c => c.Count())),
            })
            .ToList();

        var groups = new List<GroupAccuracy>();
        var spreads = new List<AcrossTemplates>();
        foreach (var info in outcome.Tasks)
        {
            var rows = templates.Where(t => t.Task == info.Task.Name).ToList();
            foreach (var subset in info.Subsets)
            {
                var perTemplate = rows.Where(r => r.Subset == subset).ToList();
                spreads.Add(new AcrossTemplates(info.Task.Name, subset, false, Metrics.Spread(perTemplate.Select(r => r.Estimate.Accuracy).ToList()),
                    perTemplate.FirstOrDefault()?.Estimate.N ?? 0));
            }
            var groupMembers = new List<(string Name, IReadOnlyList<string> Subsets)> { (AllGroup, info.Subsets) };
            groupMembers.AddRange(info.Task.Groups.Select(g => (g.Key, (IReadOnlyList<string>)g.Value.Where(info.Subsets.Contains).ToList()))
                .Where(g => g.Item2.Count > 0));
            if (info.Subsets.Count == 1 && info.Task.Groups.Count == 0) continue;
            foreach (var (name, members) in groupMembers)
            {
                var perTemplate = new List<GroupAccuracy>();
                foreach (var template in info.Templates)
                {
                    var pooled = outcome.Examples.Where(e => e.Task == info.Task.Name && e.Template == template && members.Contains(e.Subset)).ToList();
                    perTemplate.Add(new GroupAccuracy(info.Task.Name, name, template, Metrics.Accuracy(pooled.Select(e => e.Correct).ToList()), members,
                        NormalizedAccuracy(pooled)));
                }
                groups.AddRange(perTemplate);
                spreads.Add(new AcrossTemplates(info.Task.Name, name, true, Metrics.Spread(perTemplate.Select(g => g.Estimate.Accuracy).ToList()),
                    perTemplate.FirstOrDefault()?.Estimate.N ?? 0));
            }
        }
        return new RunSummary(templates, spreads, groups);
    }

    /// <summary>acc_norm over examples scored by log-likelihood; null when they were scored another way.</summary>
    private static AccuracyEstimate? NormalizedAccuracy(IReadOnlyList<ExampleResult> examples) =>
        examples.Count > 0 && examples.All(e => e.NormalizedCorrect is not null)
            ? Metrics.Accuracy(examples.Select(e => e.NormalizedCorrect!.Value).ToList())
            : null;
}
