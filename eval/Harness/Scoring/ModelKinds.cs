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

    public static IReadOnlyList<ModelKindEntry> All { get; } =
    [
        new(ModelKind.Masked, "a masked LM", MaskedChoiceScorer.SupportedModes, MaskedEncoder,
            (model, tokenizer, padId) => new MaskedChoiceScorer(model, padId, tokenizer), [GenerationMethod.MaskPredict]),
        new(ModelKind.SourceTarget, "a masked LM", MaskedChoiceScorer.SupportedModes, MaskedEncoder,
            (model, tokenizer, padId) => new MaskedChoiceScorer(model, padId, tokenizer), [GenerationMethod.MaskPredict]),
        new(ModelKind.Causal, "a causal LM", CausalChoiceScorer.SupportedModes, CausalEncoder,
            (model, tokenizer, padId) => new CausalChoiceScorer(model, tokenizer, padId), [GenerationMethod.Greedy]),
    ];

    /// <summary>The entry of a kind; a kind the harness cannot evaluate yet is a one-line error.</summary>
    public static ModelKindEntry Of(ModelKind kind) =>
        All.FirstOrDefault(e => e.Kind == kind) ?? throw new NotSupportedException($"the harness has no scorer for {kind} models yet");

    public static ModelKindEntry Of(ILanguageModel model) => Of(model.Kind);

    /// <summary>"a masked LM", "a causal LM": how a message names a kind.</summary>
    public static string Describe(ModelKind kind) => All.FirstOrDefault(e => e.Kind == kind)?.Description ?? $"a {kind} model";
}
