using System.Text;
using Eval.Harness.Tasks;
using Eval.Harness.Templates;

namespace Eval.Fuzz.Targets;

/// <summary>
/// Task files (YAML, refused with <see cref="TaskFileException"/> naming file and line) and Jinja templates (refused
/// with <see cref="TemplateException"/> naming template, line and column), each rendered with a document.
/// </summary>
public static class TaskTargets
{
    /// <summary>A document with the fields the shipped templates use, and values of every kind a template meets.</summary>
    public static IReadOnlyDictionary<string, object?> SampleDocument() => new Dictionary<string, object?>
    {
        ["premise"] = "The cat sat on the mat.",
        ["hypothesis"] = "A cat is sitting.",
        ["label"] = 1L,
        ["question"] = "Which one?",
        ["choices"] = new List<object?> { "red", "green", "blue", "yellow" },
        ["answer_choices"] = new List<object?> { "yes", "maybe", "no", "never" },
        ["choice1"] = "it rained",
        ["choice2"] = "it was sunny",
        ["answer"] = 2L,
        ["sentence"] = "The trophy does not fit in _ because it is too big.",
        ["option1"] = "the suitcase",
        ["option2"] = "the trophy",
        ["subject"] = "abstract_algebra",
        ["anchor"] = "The man",
        ["score"] = 0.5,
        ["flag"] = true,
        ["missing"] = null,
        ["nested"] = new Dictionary<string, object?> { ["a"] = new List<object?> { 1L, 2L, 3L }, ["b"] = "text" },
    };

    public static FuzzTarget TaskYaml { get; } = new(
        "task-yaml",
        "task.yaml",
        "the input as a task .yaml: TaskRegistry.LoadTask (its Jinja parsed), then each template rendered with a sample document",
        [typeof(TaskFileException), typeof(TemplateException)],
        (input, workspace) =>
        {
            var path = workspace.WriteFile("task-yaml", "task.yaml", input);
            var task = TaskRegistry.LoadTask(path);
            var document = SampleDocument();
            foreach (var template in task.Templates) template.Render(document);
        });

    public static FuzzTarget Jinja { get; } = new(
        "jinja",
        "fuzz.jinja",
        "the input (UTF-8) as a Jinja template: JinjaTemplate.Parse, then Render with a sample document",
        [typeof(TemplateException)],
        (input, _) => JinjaTemplate.Parse("fuzz.jinja", Encoding.UTF8.GetString(input)).Render(SampleDocument()));
}
