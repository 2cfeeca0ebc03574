using Eval.Harness.Data;
using Eval.Harness.Tasks;
using Eval.Harness.Templates;
using Eval.Models;
using Eval.Tokenizers;

namespace Eval.Harness.Scoring;

/// <summary>How a model kind generates text (`generate`, `bench decode`).</summary>
public enum GenerationMethod
{
    /// <summary>Mask-Predict over a masked target (<see cref="Decoding.MaskPredictDecoder"/>).</summary>
    MaskPredict,

    /// <summary>Left-to-right argmax decoding through the KV cache (<see cref="Decoding.GreedyDecoder"/>).</summary>
    Greedy,
}

/// <summary>
/// What the harness does with one <see cref="ModelKind"/>: how an example becomes a prompt (its encoder), how a batch
/// of prompts is scored (its scorer; the first of <see cref="ScoringModes"/> is the default) and how it generates.
/// </summary>
/// <param name="Description">"a masked LM", "a causal LM": how messages name the kind.</param>
public sealed record ModelKindEntry(
    ModelKind Kind,
    string Description,
    IReadOnlyList<ScoringMode> ScoringModes,
    Func<Tokenizer, TaskDefinition, PromptTemplate, int, Func<Document, IScoredPrompt>> CreateEncoder,
    Func<ILanguageModel, Tokenizer?, int, IChoiceScorer> CreateScorer,
    IReadOnlyList<GenerationMethod> Generation)
{
    public ScoringMode DefaultScoring => ScoringModes[0];

    /// <summary>
    /// For kinds scored by log-likelihood: the prompt this kind's encoder would make from token ids — a prompt's ids and
    /// each choice's ids as scored (a causal LM's context and continuations; an encoder–decoder LM's source and targets).
    /// `forward` scores a file's choice_ids and `bench decode` random ids through it; null for the masked kinds.
    /// </summary>
    public Func<Document, int[], IReadOnlyList<int[]>, IScoredPrompt>? PromptFromIds { get; init; }

    /// <summary>Throws, naming the kind and its modes, unless mode applies to this kind.</summary>
    public void RequireScoring(ScoringMode mode)
    {
        if (!ScoringModes.Contains(mode))
            throw new ArgumentException(
                $"scoring mode '{Scoring.ScoringModes.NameOf(mode)}' does not apply to {Description}; use one of: {string.Join(", ", ScoringModes.Select(Scoring.ScoringModes.NameOf))}");
    }
}

/// <summary>The one table of model kinds: everything that differs between masked, causal and other LMs is chosen here.</summary>
public static class ModelKinds
{
    private static Func<Document, IScoredPrompt> MaskedEncoder(Tokenizer tokenizer, TaskDefinition task, PromptTemplate template, int maxLength) =>
        new MaskedPromptEncoder(tokenizer, task, template, maxLength).Encode;

    private static Func<Document, IScoredPrompt> CausalEncoder(Tokenizer tokenizer, TaskDefinition task, PromptTemplate template, int maxLength) =>
        new CausalPromptEncoder(tokenizer, task, template, maxLength).Encode;

    private static Func<Document, IScoredPrompt> EncoderDecoderEncoder(Tokenizer tokenizer, TaskDefinition task, PromptTemplate template, int maxLength) =>
        new EncoderDecoderPromptEncoder(tokenizer, task, template, maxLength).Encode;

    public static IReadOnlyList<ModelKindEntry> All { get; } =
    [
        new(ModelKind.Masked, "a masked LM", MaskedChoiceScorer.SupportedModes, MaskedEncoder,
            (model, tokenizer, padId) => new MaskedChoiceScorer(model, padId, tokenizer), [GenerationMethod.MaskPredict]),
        new(ModelKind.SourceTarget, "a masked LM", MaskedChoiceScorer.SupportedModes, MaskedEncoder,
            (model, tokenizer, padId) => new MaskedChoiceScorer(model, padId, tokenizer), [GenerationMethod.MaskPredict]),
        new(ModelKind.Causal, "a causal LM", CausalChoiceScorer.SupportedModes, CausalEncoder,
            (model, tokenizer, padId) => new CausalChoiceScorer(model, tokenizer, padId), [GenerationMethod.Greedy])
        {
            PromptFromIds = (doc, ids, choices) => new CausalPrompt(doc, "", Names(choices), 0, ids, choices, false),
        },
        new(ModelKind.EncoderDecoder, "an encoder–decoder LM", EncoderDecoderChoiceScorer.SupportedModes, EncoderDecoderEncoder,
            (model, tokenizer, padId) => new EncoderDecoderChoiceScorer(model, tokenizer, padId), [GenerationMethod.Greedy])
        {
            PromptFromIds = (doc, ids, choices) => new EncoderDecoderPrompt(doc, "", Names(choices), 0, ids, choices, false),
        },
    ];

    /// <summary>Placeholder texts for choices known only by their ids ("choice 0", …).</summary>
    private static List<string> Names(IReadOnlyList<int[]> choices) => choices.Select((_, i) => $"choice {i}").ToList();

    /// <summary>The entry of a kind; a kind the harness cannot evaluate yet is a one-line error.</summary>
    public static ModelKindEntry Of(ModelKind kind) =>
        All.FirstOrDefault(e => e.Kind == kind) ?? throw new NotSupportedException($"the harness has no scorer for {kind} models yet");

    public static ModelKindEntry Of(ILanguageModel model) => Of(model.Kind);

    /// <summary>"a masked LM", "a causal LM": how a message names a kind.</summary>
    public static string Describe(ModelKind kind) => All.FirstOrDefault(e => e.Kind == kind)?.Description ?? $"a {kind} model";
}
