using Eval.Harness.Data;
using Eval.Harness.Tasks;
using Eval.Harness.Templates;
using Eval.Tokenizers;

namespace Eval.Harness.Scoring;

/// <summary>One example ready for a masked LM: token ids with Length masks in the answer slot, and the choices' ids.</summary>
public sealed record MaskedPrompt(
    Document Document,
    string Text,
    IReadOnlyList<string> Choices,
    int Gold,
    int[] Ids,
    int MaskStart,
    int MaskLength,
    IReadOnlyList<int[]> ChoiceIds,
    IReadOnlyList<int> BareChoiceFirstIds,
    bool Truncated) : IScoredPrompt
{
    public int TokenCount => Ids.Length;
}

/// <summary>
/// Renders an example through a template and tokenizes it for single-[MASK] (or fixed-length multi-[MASK])
/// scoring. The answer slot is where the template puts {{ mask }}, or else the task's answer_slot after the input.
/// Choices are tokenized as they would follow a space; a prompt longer than the model takes loses tokens from the
/// left of its input (after the leading special tokens), keeping the template's tail and the masks.
/// </summary>
public sealed class MaskedPromptEncoder
{
    private readonly Tokenizer tokenizer;
    private readonly TaskDefinition task;
    private readonly PromptTemplate template;
    private readonly string maskText;
    private readonly int maskId;
    private readonly string anchorText;
    private readonly int maxLength;
    private readonly HashSet<int> leadingSpecialIds;

    public MaskedPromptEncoder(Tokenizer tokenizer, TaskDefinition task, PromptTemplate template, int maxLength)
    {
        this.tokenizer = tokenizer;
        this.task = task;
        this.template = template;
        this.maxLength = maxLength;
        maskText = tokenizer.Specials.Mask ?? throw new ArgumentException($"{tokenizer.Path}: the tokenizer has no mask token; single-[MASK] scoring needs a masked LM tokenizer");
        maskId = tokenizer.TokenToId(maskText) ?? throw new ArgumentException($"{tokenizer.Path}: mask token '{maskText}' has no id");
        // The ModernBERT-Instruct answer anchor: "[unused0] " where the vocabulary has it.
        anchorText = tokenizer.Specials.Unused0 is { } unused && tokenizer.TokenToId(unused) is not null ? unused + " " : "";
        leadingSpecialIds = new[] { tokenizer.Specials.Cls, tokenizer.Specials.Bos }
            .Where(t => t is not null).Select(t => tokenizer.TokenToId(t!)).Where(i => i is not null).Select(i => i!.Value).ToHashSet();
    }

    public MaskedPrompt Encode(Document doc)
    {
        var slot = AnswerSlotPrompt.Render(task, template, doc, anchorText);
        var choiceIds = slot.Choices.Select(c => tokenizer.Encode(" " + c, addSpecialTokens: false).Ids.ToArray()).ToList();
        if (choiceIds.Any(ids => ids.Length == 0))
            throw new InvalidDataException($"{doc.Origin}: template '{template.Name}' has an answer choice that tokenizes to nothing");
        var bare = slot.Choices.Select(c => tokenizer.Encode(c, addSpecialTokens: false).Ids is { Count: > 0 } ids ? ids[0] : -1).ToList();
        int length = choiceIds.Max(ids => ids.Length);
        var text = slot.Before + string.Concat(Enumerable.Repeat(maskText, length)) + slot.After;
        var ids = tokenizer.Encode(text, addSpecialTokens: true).Ids.ToList();

        int maskStart = LastMaskRun(ids, length, doc);
        bool truncated = false;
        if (ids.Count > maxLength)
        {
            int keepFront = 0;
            while (keepFront < ids.Count && leadingSpecialIds.Contains(ids[keepFront])) keepFront++;
            int drop = ids.Count - maxLength;
            if (keepFront + drop > maskStart)
                throw new InvalidDataException($"{doc.Origin}: template '{template.Name}' leaves {ids.Count - maskStart} tokens from the answer slot on, more than the model's {maxLength}");
            ids.RemoveRange(keepFront, drop);
            maskStart -= drop;
            truncated = true;
        }
        return new MaskedPrompt(doc, text, slot.Choices, slot.Gold, ids.ToArray(), maskStart, length, choiceIds, bare, truncated);
    }

    private int LastMaskRun(List<int> ids, int length, Document doc)
    {
        int last = ids.LastIndexOf(maskId);
        int start = last - length + 1;
        if (last < 0 || start < 0 || Enumerable.Range(start, length).Any(i => ids[i] != maskId))
            throw new InvalidDataException($"{doc.Origin}: template '{template.Name}': the prompt does not tokenize to {length} consecutive mask tokens");
        return start;
    }
}
