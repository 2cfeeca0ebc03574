namespace Eval.Harness.Tasks;

/// <summary>
/// Checks --languages (or MMLU subjects) and --templates against the selected tasks before anything is loaded: a
/// name is unknown when none of the tasks has it (each task then runs the languages and templates it does have).
/// </summary>
public static class TaskSelection
{
    public static void Validate(IReadOnlyList<TaskDefinition> tasks, IReadOnlyList<string> subsets, IReadOnlyList<string>? templates)
    {
        var taskNames = string.Join(", ", tasks.Select(t => t.Name));
        var unknownSubsets = subsets.Where(s => !tasks.Any(t => t.Subsets.Contains(s))).Distinct().ToList();
        if (unknownSubsets.Count > 0)
        {
            var valid = tasks.SelectMany(t => t.Subsets).Distinct().Order(StringComparer.Ordinal);
            var kinds = string.Join(" or ", tasks.Select(t => t.SubsetKind).Distinct());
            throw new ArgumentException(
                $"--languages: unknown {string.Join(", ", unknownSubsets)} (no {kinds} of {taskNames}); valid: {string.Join(", ", valid)}");
        }
        var unknownTemplates = (templates ?? []).Where(n => !tasks.Any(t => t.Templates.Any(p => p.Name == n || p.Id == n))).Distinct().ToList();
        if (unknownTemplates.Count > 0)
        {
            var valid = tasks.SelectMany(t => t.Templates.Select(p => $"\"{p.Name}\"")).Distinct();
            throw new ArgumentException(
                $"--templates: unknown {string.Join(", ", unknownTemplates.Select(n => $"\"{n}\""))} (in none of {taskNames}); valid: {string.Join(", ", valid)}");
        }
    }
}
