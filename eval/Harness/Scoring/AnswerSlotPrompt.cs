using Eval.Harness.Data;
using Eval.Harness.Tasks;
using Eval.Harness.Templates;

namespace Eval.Harness.Scoring;

/// <summary>
/// An example rendered through a template around its answer slot: the text before the slot (with the answer anchor
/// where the template puts {{ anchor }}), the text after it, the choices and the gold index. The slot is where the
/// template puts {{ mask }}, or else the task's answer_slot after the input. Both scorers' encoders start here.
/// </summary>
public sealed record AnswerSlotPrompt(string Before, string After, IReadOnlyList<string> Choices, int Gold)
{
    private const string MaskSentinel = "\uE000";
    private const string AnchorSentinel = "\uE001";

    public static AnswerSlotPrompt Render(TaskDefinition task, PromptTemplate template, Document doc, string anchorText)
    {
        var fields = new Dictionary<string, object?>(doc.Fields) { ["mask"] = MaskSentinel, ["anchor"] = AnchorSentinel };
        var rendered = template.Render(fields);
        // One choice is scored as what it is (MMLU-Pro has questions with a single option): always right unless
        // unrestricted scoring finds the model answering something else.
        if (rendered.Choices.Count < 1)
            throw new TemplateException(template.Name, 1, 1, $"{doc.Origin}: answer_choices rendered no choice; scoring needs at least one");
        if (rendered.Choices.Any(c => c.Length == 0))
            throw new InvalidDataException($"{doc.Origin}: template '{template.Name}' has an empty answer choice");
        int gold = GoldIndex(task, template, doc, rendered);

        var input = rendered.Input;
        if (!input.Contains(MaskSentinel, StringComparison.Ordinal)) input += task.AnswerSlot.Render(fields);
        var parts = input.Replace(AnchorSentinel, anchorText).Split(MaskSentinel);
        if (parts.Length != 2)
            throw new TemplateException(template.Name, 1, 1, $"{doc.Origin}: the prompt must hold exactly one answer slot ({{{{ mask }}}})");
        return new AnswerSlotPrompt(parts[0], parts[1], rendered.Choices, gold);
    }

    private static int GoldIndex(TaskDefinition task, PromptTemplate template, Document doc, RenderedPrompt rendered)
    {
        var text = task.Gold.Render(doc.Fields).Trim();
        if (!int.TryParse(text, out int gold) || gold < 0 || gold >= rendered.Choices.Count)
            throw new InvalidDataException($"{doc.Origin}: gold '{text}' (from {task.Name}'s gold expression) is not a choice index below {rendered.Choices.Count}");
        if (rendered.Target.Length > 0 && rendered.Target != rendered.Choices[gold])
            throw new InvalidDataException($"{doc.Origin}: template '{template.Name}' targets '{rendered.Target}', but the gold choice is '{rendered.Choices[gold]}'");
        return gold;
    }
}
