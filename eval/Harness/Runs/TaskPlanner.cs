using Eval.Harness.Data;
using Eval.Harness.Scoring;
using Eval.Harness.Tasks;
using Eval.Harness.Templates;

namespace Eval.Harness.Runs;

/// <summary>
/// The part of a run's plan that needs no model: a task's split, subsets and templates as the request selects them,
/// the data of each subset, and each template rendered once on each subset's first document. `eval` does this before
/// it loads the model, so missing or bad data and a template that cannot render fail in seconds — the error naming
/// the template's task file and line — not after the model loaded, and not with an output folder already begun.
/// </summary>
public static class TaskPlanner
{
    public static TaskRunInfo Plan(TaskDefinition task, IReadOnlyList<string>? subsets, IReadOnlyList<string>? templates, string? split, DatasetStore data)
    {
        var chosenSplit = split ?? task.DefaultSplit;
        if (!task.Splits.Contains(chosenSplit))
            throw new ArgumentException($"task '{task.Name}' has no split '{chosenSplit}' (splits: {string.Join(", ", task.Splits)})");
        var chosenSubsets = subsets is { Count: > 0 } wanted ? wanted.Where(task.Subsets.Contains).ToList() : task.Subsets.ToList();
        if (chosenSubsets.Count == 0)
            throw new ArgumentException($"none of {string.Join(", ", subsets!)} is a {task.SubsetKind} of task '{task.Name}' ({string.Join(", ", task.Subsets)})");
        var chosenTemplates = templates is { Count: > 0 } names
            ? names.Where(n => task.Templates.Any(t => t.Name == n || t.Id == n)).Select(n => task.Template(n).Name).Distinct().ToList()
            : task.Templates.Select(t => t.Name).ToList();
        if (chosenTemplates.Count == 0)
            throw new ArgumentException($"none of the templates {string.Join(", ", templates!.Select(t => $"\"{t}\""))} is in task '{task.Name}' ({string.Join(", ", task.Templates.Select(t => $"\"{t.Name}\""))})");
        var loaded = chosenSubsets.ToDictionary(s => s, s => data.Load(task, s, chosenSplit));
        foreach (var subset in chosenSubsets)
            foreach (var name in chosenTemplates)
                CheckRenders(task, task.Template(name), loaded[subset].Documents[0]);
        return new TaskRunInfo(task, chosenSplit, chosenSubsets, chosenTemplates, loaded, 0);
    }

    /// <summary>
    /// Renders the template around its answer slot on one document, as both scorers' encoders do first; a failure is a
    /// <see cref="TaskFileException"/> naming the template's task file and line, the document and the Jinja error.
    /// </summary>
    public static void CheckRenders(TaskDefinition task, PromptTemplate template, Document document)
    {
        try
        {
            AnswerSlotPrompt.Render(task, template, document, anchorText: "");
        }
        catch (Exception e) when (e is TemplateException or InvalidDataException)
        {
            throw new TaskFileException(template.FilePath ?? task.FilePath, template.Line, $"template '{template.Name}' cannot render {document.Origin}: {e.Message}");
        }
    }
}
