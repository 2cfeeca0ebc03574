using Eval.Engine;
using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>
/// How a model reads a prompt and produces an answer; the harness gives each kind its prompt encoder, scorer, default
/// scoring mode and decoders (Harness/Scoring/ModelKinds), so nothing outside that table branches on what a model is.
/// </summary>
public enum ModelKind
{
    /// <summary>A bidirectional encoder with an MLM head: the answer is read at [MASK] (ModernBERT, mmBERT, BERT, ELECTRA generators, EuroBERT).</summary>
    Masked,

    /// <summary>A masked LM that also runs Instruct-XLMR's source-then-target layout (<see cref="ISourceTargetModel"/>): XLM-R, XLM-R-XL.</summary>
    SourceTarget,

    /// <summary>A decoder-only LM scored left to right (<see cref="ICausalLanguageModel"/>): Llama, Qwen2, SmolLM2, BLOOM, the Ettin decoders.</summary>
    Causal,

    /// <summary>An encoder–decoder LM: the prompt into the encoder, the answer as the decoder's target (T5, mT5, mT0).</summary>
    EncoderDecoder,
}

/// <summary>
/// One supported architecture: its name in config.json's <c>architectures</c>, the <c>model_type</c>s that mean it when
/// <c>architectures</c> names none we support, the <see cref="ModelKind"/> of the models it builds (what reports group
/// finished runs by, from the architecture run.json names, without building anything), and the factory that builds it
/// from a config (read by <see cref="ModelConfig"/>, the one config.json parser; each model's constructor checks the
/// fields it needs) and a weight source.
/// </summary>
public sealed record ArchitectureEntry(
    string Name, IReadOnlyList<string> ModelTypes, ModelKind Kind,
    Func<ModelConfig, IWeightSource, IBackend, ILanguageModel> Create);

/// <summary>The registry of architectures: the one list <see cref="ModelLoader"/>, the CLI and the benchmarks consult.</summary>
public static class ModelArchitectures
{
    public static IReadOnlyList<ArchitectureEntry> All { get; } =
    [
        new("ModernBertForMaskedLM", ["modernbert"], ModelKind.Masked, (c, s, b) => new ModernBertModel(c, s, b)),
        new("XLMRobertaForMaskedLM", ["xlm-roberta"], ModelKind.SourceTarget, (c, s, b) => new XlmRobertaModel(c, s, b, "XLMRobertaForMaskedLM")),
        new("RobertaForMaskedLM", ["roberta"], ModelKind.SourceTarget, (c, s, b) => new XlmRobertaModel(c, s, b, "RobertaForMaskedLM")),
        new("XLMRobertaXLForMaskedLM", ["xlm-roberta-xl"], ModelKind.SourceTarget, (c, s, b) => new XlmRobertaXlModel(c, s, b)),
        new("BertForMaskedLM", ["bert"], ModelKind.Masked, (c, s, b) => new BertModel(c, s, b)),
        // Only the generators have an MLM head: a discriminator's config (model_type "electra", ElectraForPreTraining)
        // must not resolve here by its model_type.
        new("ElectraForMaskedLM", [], ModelKind.Masked, (c, s, b) => new ElectraModel(c, s, b)),
        new("EuroBertForMaskedLM", ["eurobert"], ModelKind.Masked, (c, s, b) => new EuroBertModel(c, s, b)),
        new("ModernBertDecoderForCausalLM", ["modernbert-decoder"], ModelKind.Causal, (c, s, b) => new ModernBertDecoderModel(c, s, b)),
        new("LlamaForCausalLM", ["llama"], ModelKind.Causal, (c, s, b) => new LlamaModel(c, s, b, "LlamaForCausalLM")),
        new("Qwen2ForCausalLM", ["qwen2"], ModelKind.Causal, (c, s, b) => new LlamaModel(c, s, b, "Qwen2ForCausalLM")),
        new("MT5ForConditionalGeneration", ["mt5"], ModelKind.EncoderDecoder, (c, s, b) => new T5Model(c, s, b, "MT5ForConditionalGeneration")),
        new("T5ForConditionalGeneration", ["t5"], ModelKind.EncoderDecoder, (c, s, b) => new T5Model(c, s, b, "T5ForConditionalGeneration")),
        new("BloomForCausalLM", ["bloom"], ModelKind.Causal, (c, s, b) => new BloomModel(c, s, b)),
    ];

    public static IReadOnlyList<string> Names { get; } = All.Select(a => a.Name).ToList();

    /// <summary>The entry of a registered architecture name (as run.json records it), or null.</summary>
    public static ArchitectureEntry? Find(string name) => All.FirstOrDefault(a => a.Name == name);

    /// <summary>The entry named by config.json's architectures (the first supported one), else by its model_type.</summary>
    public static ArchitectureEntry Resolve(ModelConfig config)
    {
        foreach (var name in config.Architectures)
            if (All.FirstOrDefault(a => a.Name == name) is { } named) return named;
        if (All.FirstOrDefault(a => a.ModelTypes.Contains(config.ModelType)) is { } typed) return typed;
        var what = config.Architectures.Count > 0 ? $"architecture {string.Join(", ", config.Architectures)}"
            : config.ModelType.Length > 0 ? $"model_type '{config.ModelType}'"
            : "a config without 'architectures' or 'model_type'";
        throw new NotSupportedException($"{config.Path}: {what} is not supported; supported architectures: {string.Join(", ", Names)}");
    }
}
