using System.Reflection;
using Eval.Models;

namespace Eval.Harness.Benchmarks;

/// <summary>
/// The config.json files of the models the decode-speed benchmark compares, carried in this assembly and named after
/// the model: copies of the public configs on the Hugging Face hub (ModernBERT base/large, XLM-R large/XL, multilingual
/// BERT (bert-base-multilingual-cased), EuroBERT-210m, SmolLM2 135M/360M, Qwen2.5-0.5B, Llama-3.2-1B, mT0-XL (the
/// Instruct-XLMR paper's encoder–decoder baseline; its file as ../shared/configs rebuilt it from the mT5 family's
/// published file with mt0-xl's published sizes) and BLOOMZ-3B (the paper's decoder-only baseline, bigscience's own file
/// with its n_embed / num_attention_heads spellings): the default set), and the Ettin suite's encoder/decoder pairs,
/// 17M–1B, written by ModelShapes/ettin.py from the suite's published training configs (JHU-CLSP/ettin-encoder-vs-decoder,
/// pretraining/configs/standard/&lt;size&gt;/prolong_decay/*.yaml; no hub config.json was readable here; the group
/// <c>ettin</c>).
/// </summary>
public static class ModelShapes
{
    private const string Prefix = "Eval.Harness.Benchmarks.ModelShapes.";

    private static readonly string[] EttinSizes = ["17m", "32m", "68m", "150m", "400m", "1b"];

    /// <summary>Names that stand for several shapes in a list of shapes: the Ettin pairs, all or one side.</summary>
    public static readonly IReadOnlyDictionary<string, IReadOnlyList<string>> Groups = new Dictionary<string, IReadOnlyList<string>>
    {
        ["ettin"] = EttinSizes.SelectMany(s => new[] { $"ettin-encoder-{s}", $"ettin-decoder-{s}" }).ToList(),
        ["ettin-encoders"] = EttinSizes.Select(s => $"ettin-encoder-{s}").ToList(),
        ["ettin-decoders"] = EttinSizes.Select(s => $"ettin-decoder-{s}").ToList(),
    };

    /// <summary>The hub id each shape comes from (for the Ettin shapes, the model whose published shape it is).</summary>
    public static readonly IReadOnlyDictionary<string, string> HubIds = new Dictionary<string, string>
    {
        ["modernbert-base"] = "answerdotai/ModernBERT-base",
        ["modernbert-large"] = "answerdotai/ModernBERT-large",
        ["xlm-roberta-large"] = "FacebookAI/xlm-roberta-large",
        ["xlm-roberta-xl"] = "facebook/xlm-roberta-xl",
        ["bert-base-multilingual-cased"] = "google-bert/bert-base-multilingual-cased",
        ["eurobert-210m"] = "EuroBERT/EuroBERT-210m",
        ["smollm2-135m"] = "HuggingFaceTB/SmolLM2-135M-Instruct",
        ["smollm2-360m"] = "HuggingFaceTB/SmolLM2-360M",
        ["qwen2.5-0.5b"] = "Qwen/Qwen2.5-0.5B",
        ["llama-3.2-1b"] = "meta-llama/Llama-3.2-1B",
        ["mt0-xl"] = "bigscience/mt0-xl",
        ["bloomz-3b"] = "bigscience/bloomz-3b",
    }.Concat(EttinSizes.SelectMany(s => new[] { "encoder", "decoder" }.Select(kind => KeyValuePair.Create($"ettin-{kind}-{s}", $"jhu-clsp/ettin-{kind}-{s}"))))
     .ToDictionary();

    public static IReadOnlyList<string> Names { get; } = HubIds.Keys.ToList();

    /// <summary>What `bench decode` measures without --models: the shapes of the original comparison, not the Ettin pairs.</summary>
    public static IReadOnlyList<string> DefaultNames { get; } = Names.Where(n => !Groups["ettin"].Contains(n)).ToList();

    /// <summary>Shape names with groups expanded, in order and without repeats; an unknown name is a one-line error listing the known ones.</summary>
    public static IReadOnlyList<string> Expand(IEnumerable<string> names)
    {
        var result = new List<string>();
        foreach (var name in names)
        {
            var members = Groups.TryGetValue(name, out var group) ? group
                : Names.Contains(name) ? [name]
                : throw new ArgumentException($"unknown model shape '{name}'; known: {string.Join(", ", Names)}; groups: {string.Join(", ", Groups.Keys)}");
            result.AddRange(members.Where(m => !result.Contains(m)));
        }
        return result;
    }

    public static ModelConfig Load(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(Prefix + name + ".json")
            ?? throw new ArgumentException($"no model shape '{name}'; known: {string.Join(", ", Names)}");
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return ModelConfig.Parse(buffer.ToArray(), $"{HubIds[name]} config.json (embedded as {name}.json)");
    }

    /// <summary>
    /// The same architecture at toy size (2 layers — an encoder–decoder's 2 + 2 —, hidden 64, 4 heads, vocabulary 1000),
    /// keeping what makes it that architecture (grouped KV heads, local/global layers, biases, gating): for a quick check
    /// that every path runs.
    /// </summary>
    public static ModelConfig Miniature(ModelConfig config) => config with
    {
        Path = config.Path + " (miniature)",
        VocabSize = 1000,
        HiddenSize = 64,
        IntermediateSize = 128,
        NumHiddenLayers = 2,
        NumDecoderLayers = config.NumDecoderLayers is null ? null : 2,
        NumAttentionHeads = 4,
        NumKeyValueHeads = config.NumKeyValueHeads < config.NumAttentionHeads ? 2 : 4,
        HeadDim = 16,
        PadTokenId = config.PadTokenId is { } pad && pad < 1000 ? pad : 0,
        MaskTokenId = config.MaskTokenId is { } mask && mask < 1000 ? mask : null,
        GlobalAttentionEveryNLayers = Math.Min(config.GlobalAttentionEveryNLayers, 2),
    };
}
