using Eval.Harness.Data;
using Eval.Harness.Tasks;
using Eval.Harness.Templates;
using Eval.Tokenizers;

namespace Eval.Harness.Scoring;

/// <summary>One example ready for a causal LM: the context's ids and each choice's continuation ids after it.</summary>
public sealed record CausalPrompt(
    Document Document,
    string Text,
    IReadOnlyList<string> Choices,
    int Gold,
    int[] ContextIds,
    IReadOnlyList<int[]> ChoiceIds,
    bool Truncated) : IScoredPrompt
{
    public int TokenCount => ContextIds.Length;
}

/// <summary>
/// Renders an example for a causal LM the way lm-evaluation-harness builds a multiple-choice request: the context is
/// the prompt up to the answer slot, the continuation is the choice (whitespace at the end of the context moves into
/// the continuation, so " Yes" follows "...?"); the continuation's ids are those of context + continuation past the
/// context's own ids. The tokenizer's leading special tokens (Llama's &lt;s&gt;) start the context. A prompt longer than
/// maxLength loses context tokens from the left, after those special tokens.
/// </summary>
public sealed class CausalPromptEncoder
{
    private readonly Tokenizer tokenizer;
    private readonly TaskDefinition task;
    private readonly PromptTemplate template;
    private readonly int maxLength;
    private readonly int[] leadingSpecials;

    public CausalPromptEncoder(Tokenizer tokenizer, TaskDefinition task, PromptTemplate template, int maxLength)
    {
        this.tokenizer = tokenizer;
        this.task = task;
        this.template = template;
        this.maxLength = maxLength;
        leadingSpecials = LeadingSpecialTokens(tokenizer);
    }

    /// <summary>The ids the tokenizer's post-processor puts before a text (Llama's &lt;s&gt;; none for Qwen2 or SmolLM2).</summary>
    public static int[] LeadingSpecialTokens(Tokenizer tokenizer)
    {
        var with = tokenizer.Encode("x", addSpecialTokens: true).Ids;
        var without = tokenizer.Encode("x", addSpecialTokens: false).Ids;
        for (int start = 0; start + without.Count <= with.Count; start++)
            if (with.Skip(start).Take(without.Count).SequenceEqual(without)) return with.Take(start).ToArray();
        return [];
    }

    public CausalPrompt Encode(Document doc)
    {
        // The anchor is ModernBERT-Instruct's; a causal LM gets the plain "Answer:" text.
        var slot = AnswerSlotPrompt.Render(task, template, doc, anchorText: "");
        var context = slot.Before.TrimEnd();
        var gap = slot.Before[context.Length..];
        var contextIds = Encode(context);
        var choiceIds = slot.Choices.Select(c =>
        {
            var whole = Encode(context + gap + c);
            var continuation = whole.Skip(contextIds.Count).ToArray();
            return continuation.Length > 0 ? continuation
                : throw new InvalidDataException($"{doc.Origin}: template '{template.Name}': choice '{c}' adds no tokens after the context");
        }).ToList();

        bool truncated = false;
        int longest = contextIds.Count + choiceIds.Max(c => c.Length);
        if (longest > maxLength)
        {
            int drop = longest - maxLength;
            if (leadingSpecials.Length + drop >= contextIds.Count)
                throw new InvalidDataException($"{doc.Origin}: template '{template.Name}': the longest choice leaves no room for the context within {maxLength} tokens");
            contextIds.RemoveRange(leadingSpecials.Length, drop);
            truncated = true;
        }
        return new CausalPrompt(doc, context, slot.Choices, slot.Gold, contextIds.ToArray(), choiceIds, truncated);
    }

    private List<int> Encode(string text) => [.. leadingSpecials, .. tokenizer.Encode(text, addSpecialTokens: false).Ids];
}
