using Eval.Harness.Data;
using Eval.Harness.Tasks;
using Eval.Harness.Templates;
using Eval.Tokenizers;

namespace Eval.Harness.Scoring;

/// <summary>One example ready for an encoder–decoder LM: the encoder's input ids and each choice's target ids (ending with eos).</summary>
public sealed record EncoderDecoderPrompt(
    Document Document,
    string Text,
    IReadOnlyList<string> Choices,
    int Gold,
    int[] SourceIds,
    IReadOnlyList<int[]> ChoiceIds,
    bool Truncated) : IScoredPrompt
{
    public int TokenCount => SourceIds.Length;
}

/// <summary>
/// Renders an example for an encoder–decoder LM as bigscience's t-zero evaluation does (evaluation/run_eval.py, the
/// rank classification that T0 and mT0 were evaluated by): the whole rendered input goes into the encoder, tokenized
/// without special tokens (t-zero's <c>add_special_tokens=False</c>: no &lt;/s&gt; after it), the answer slot
/// removed; each answer choice is tokenized alone with the tokenizer's special tokens — for T5 and mT5 the choice then
/// &lt;/s&gt; — and becomes a decoder target. A source longer than maxLength loses tokens from the left, as the
/// harness's other encoders do (t-zero cuts the right; its 1024-token default never cuts these tasks).
/// </summary>
public sealed class EncoderDecoderPromptEncoder(Tokenizer tokenizer, TaskDefinition task, PromptTemplate template, int maxLength)
{
    public EncoderDecoderPrompt Encode(Document doc)
    {
        var slot = AnswerSlotPrompt.Render(task, template, doc, anchorText: "");
        var text = (slot.Before.TrimEnd() + slot.After).Trim();
        var source = tokenizer.Encode(text, addSpecialTokens: false).Ids.ToList();
        if (source.Count == 0) throw new InvalidDataException($"{doc.Origin}: template '{template.Name}' renders an input with no tokens");
        var choiceIds = slot.Choices.Select(c =>
        {
            var ids = tokenizer.Encode(c, addSpecialTokens: true).Ids.ToArray();
            return ids.Length > 0 ? ids : throw new InvalidDataException($"{doc.Origin}: template '{template.Name}': choice '{c}' has no tokens");
        }).ToList();
        bool truncated = source.Count > maxLength;
        if (truncated) source.RemoveRange(0, source.Count - maxLength);
        return new EncoderDecoderPrompt(doc, text, slot.Choices, slot.Gold, source.ToArray(), choiceIds, truncated);
    }
}
