namespace Eval.Harness.Templates;

/// <summary>An example rendered through a template: the input (the prompt), the target, and the answer choices.</summary>
public sealed record RenderedPrompt(string Input, string Target, IReadOnlyList<string> Choices);

/// <summary>
/// A PromptSource-style template: Jinja whose output is "input ||| target", and answer choices given as Jinja too
/// ("{{choice1}} ||| {{choice2}}" or "Yes ||| Maybe ||| No"). Parts are stripped, as PromptSource does. The
/// rendered choices are available to the main template as answer_choices. As in PromptSource, a "|||" inside a
/// document's value is not a separator: a value's pipes are swapped for markers before rendering and restored in each
/// part (PromptSource swaps a top-level string's "|||"; here every '|', in strings inside lists and dictionaries too,
/// so an MMLU choice holding "|||" or a sentence ending in '|' renders as itself). A template that compares a value
/// with a literal holding '|' would see the marker; none of prompts/ does.
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

    /// <summary>The task file that defines the template and the line of its entry there, for errors that name them.</summary>
    public string? FilePath { get; init; }
    public long Line { get; init; }
    public string Source => jinja.Source;
    public string? AnswerChoicesSource => answerChoices?.Source;
    public string? Reference { get; }

    public RenderedPrompt Render(IReadOnlyDictionary<string, object?> fields)
    {
        var variables = fields.ToDictionary(f => f.Key, f => ProtectPipes(f.Value));
        IReadOnlyList<string> choices = [];
        if (answerChoices is not null)
        {
            choices = SplitParts(answerChoices.Render(variables));
            // Protected again for the main template, which may print a choice before its own "|||".
            variables["answer_choices"] = choices.Select(ProtectPipes).ToList();
        }
        var parts = SplitParts(jinja.Render(variables));
        if (parts.Count > 2)
            throw new TemplateException(jinja.Name, 1, 1, $"renders {parts.Count - 1} '|||' separators; a template has at most one");
        return new RenderedPrompt(parts[0], parts.Count > 1 ? parts[1] : "", choices);
    }

    // A value's '|' is rendered as Escape + Pipe (and a value's own Escape as Escape + Self), so no value can add to
    // or complete a "|||" of the template: PromptSource protects only a value's whole "|||", and a value ending in
    // "||" before the template's "|||" (xwinograd's "{{sentence}}|||") still moved its split. U+FDD0.. are
    // noncharacters, which text does not carry; the pairs are undone in each part after the split.
    private const string Escape = "\uFDD0", EscapedSelf = "\uFDD0\uFDD1", EscapedPipe = "\uFDD0\uFDD2";

    private static object? ProtectPipes(object? value) => value switch
    {
        string s => s.Replace(Escape, EscapedSelf, StringComparison.Ordinal).Replace("|", EscapedPipe, StringComparison.Ordinal),
        IReadOnlyList<object?> list => list.Select(ProtectPipes).ToList(),
        IReadOnlyDictionary<string, object?> map => map.ToDictionary(p => p.Key, p => ProtectPipes(p.Value)),
        _ => value,
    };

    private static string RestorePipes(string part) =>
        part.Replace(EscapedPipe, "|", StringComparison.Ordinal).Replace(EscapedSelf, Escape, StringComparison.Ordinal);

    private static List<string> SplitParts(string text) =>
        text.Split("|||").Select(p => RestorePipes(p).Trim()).ToList();
}
