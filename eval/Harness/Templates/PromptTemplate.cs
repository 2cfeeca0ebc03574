namespace Eval.Harness.Templates;

/// <summary>An example rendered through a template: the input (the prompt), the target, and the answer choices.</summary>
public sealed record RenderedPrompt(string Input, string Target, IReadOnlyList<string> Choices);

/// <summary>
/// A PromptSource-style template: Jinja whose output is "input ||| target", and answer choices given as Jinja too
/// ("{{choice1}} ||| {{choice2}}" or "Yes ||| Maybe ||| No"). Parts are stripped, as PromptSource does. The
/// rendered choices are available to the main template as answer_choices.
/// </summary>
public sealed class PromptTemplate
{
    private readonly JinjaTemplate jinja;
    private readonly JinjaTemplate? answerChoices;

    public PromptTemplate(string name, string id, string jinjaSource, string? answerChoicesSource, string? reference, string sourceName)
    {
        Name = name;
        Id = id;
        Reference = reference;
        jinja = JinjaTemplate.Parse($"{sourceName}: {name}", jinjaSource);
        answerChoices = answerChoicesSource is null ? null : JinjaTemplate.Parse($"{sourceName}: {name} (answer_choices)", answerChoicesSource);
    }

    public string Name { get; }
    public string Id { get; }
    public string Source => jinja.Source;
    public string? AnswerChoicesSource => answerChoices?.Source;
    public string? Reference { get; }

    public RenderedPrompt Render(IReadOnlyDictionary<string, object?> fields)
    {
        var variables = new Dictionary<string, object?>(fields);
        IReadOnlyList<string> choices = [];
        if (answerChoices is not null)
        {
            choices = SplitParts(answerChoices.Render(variables));
            variables["answer_choices"] = choices.Cast<object?>().ToList();
        }
        var parts = SplitParts(jinja.Render(variables));
        if (parts.Count > 2)
            throw new TemplateException(jinja.Name, 1, 1, $"renders {parts.Count - 1} '|||' separators; a template has at most one");
        return new RenderedPrompt(parts[0], parts.Count > 1 ? parts[1] : "", choices);
    }

    private static List<string> SplitParts(string text) => text.Split("|||").Select(p => p.Trim()).ToList();
}
