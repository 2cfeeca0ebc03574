using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Eval.Engine;
using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>Settings a fairseq checkpoint may not say (or say wrongly), given on the command line.</summary>
public sealed record FairseqOverrides(int? Heads = null, bool? NormalizeBefore = null);

/// <summary>
/// A fairseq folder without config.json — stock RoBERTa/XLM-R <c>model.pt</c> (<c>encoder.sentence_encoder.*</c>,
/// <c>encoder.lm_head.*</c>) or Instruct-XLMR's <c>checkpoint_last.pt</c> (<c>decoder.*</c>, <c>decoder.lm_head.*</c>,
/// <c>decoder.embed_length.weight</c>) — as our XLM-R models: a config synthesised from <c>args</c> (argparse.Namespace)
/// or <c>cfg</c> (falling back to tensor shapes) and parsed by <see cref="ModelConfig"/>, and the weights under Hugging
/// Face names. Post-LN (normalize_before false) maps to XLMRobertaForMaskedLM, pre-LN to XLMRobertaXLForMaskedLM. fairseq
/// has no token-type embedding: a zero row stands in for it.
/// </summary>
public sealed partial class FairseqCheckpoint : IWeightSource, ITensorCatalog, IDisposable
{
    public static readonly IReadOnlyList<string> FileNames = ["model.pt", "checkpoint_last.pt", "checkpoint_best.pt"];
    private const string TokenTypes = "roberta.embeddings.token_type_embeddings.weight";

    private readonly TorchCheckpoint file;
    private readonly Checkpoint weights;
    private readonly Dictionary<string, string> fairseqName = new(StringComparer.Ordinal);

    private FairseqCheckpoint(TorchCheckpoint file, FairseqOverrides overrides)
    {
        this.file = file;
        weights = Checkpoint.Of(file);
        var names = file.TensorNames;
        bool instruct = names.Contains("decoder.embed_tokens.weight");
        if (!instruct && !names.Contains("encoder.sentence_encoder.embed_tokens.weight"))
            throw Error("neither encoder.sentence_encoder.embed_tokens.weight (fairseq RoBERTa/XLM-R) nor decoder.embed_tokens.weight (Instruct-XLMR): not a supported fairseq model");
        Layout = instruct ? "Instruct-XLMR" : "fairseq RoBERTa";
        string body = instruct ? "decoder." : "encoder.sentence_encoder.", head = instruct ? "decoder.lm_head." : "encoder.lm_head.";
        string side = instruct ? "decoder" : "encoder";
        var settings = new FairseqSettings(file.Root, Path);

        var embeddings = file.Info(body + "embed_tokens.weight").Shape;
        int vocab = Dimension(body + "embed_tokens.weight", 0), hidden = Dimension(body + "embed_tokens.weight", 1);
        int positions = names.Contains(body + "embed_positions.weight") ? Dimension(body + "embed_positions.weight", 0)
            : throw Error($"{body}embed_positions.weight is missing (sinusoidal positions are not supported)");
        var layerIndices = names.Select(n => LayerIndex().Match(n)).Where(m => m.Success && m.Groups[1].Value == body)
            .Select(m => int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)).Distinct().ToList();
        int layers = settings.Int($"{side}_layers") ?? layerIndices.Count;
        if (layers > layerIndices.Count)
            throw Error($"args/cfg say {side}_layers {layers} but the checkpoint holds weights for {layerIndices.Count} layers ({body}layers.N.*)");
        int ffn = settings.Int($"{side}_ffn_embed_dim")
            ?? (names.Contains(body + "layers.0.fc1.weight") ? Dimension(body + "layers.0.fc1.weight", 0) : 0);
        int heads = overrides.Heads ?? settings.Int($"{side}_attention_heads")
            ?? throw Error($"the number of attention heads cannot be known: args/cfg has no {side}_attention_heads and shapes do not say it (pass --heads)");
        if (settings.Int($"{side}_embed_dim") is { } declared && declared != hidden)
            throw Error($"args say {side}_embed_dim {declared} but {body}embed_tokens.weight is {Tensor.FormatShape(embeddings)}");

        // Pre-LN: the one final layer_norm follows the last layer; post-LN: a LayerNorm on the embeddings.
        string? embeddingNorm = new[] { "layernorm_embedding", "emb_layer_norm" }.Select(n => body + n).FirstOrDefault(n => names.Contains(n + ".weight"));
        bool? fromShapes = instruct ? null : names.Contains(body + "layer_norm.weight") ? true : embeddingNorm is not null ? false : null;
        bool normalizeBefore = overrides.NormalizeBefore ?? settings.Bool($"{side}_normalize_before") ?? fromShapes
            ?? throw Error($"whether the model is pre-LN cannot be known: args/cfg has no {side}_normalize_before (pass it as an override)");
        if (instruct) embeddingNorm = normalizeBefore ? null : body + "layer_norm";
        var activation = settings.String("activation_fn") ?? "gelu";

        var architecture = normalizeBefore ? "XLMRobertaXLForMaskedLM" : "XLMRobertaForMaskedLM";
        var json = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["architectures"] = new[] { architecture },
            ["model_type"] = normalizeBefore ? "xlm-roberta-xl" : "xlm-roberta",
            ["vocab_size"] = vocab, ["hidden_size"] = hidden, ["intermediate_size"] = ffn, ["num_hidden_layers"] = layers,
            ["num_attention_heads"] = heads, ["max_position_embeddings"] = positions, ["type_vocab_size"] = 1,
            ["pad_token_id"] = 1, ["bos_token_id"] = 0, ["eos_token_id"] = 2, ["layer_norm_eps"] = 1e-5, ["hidden_act"] = activation,
        });
        ConfigJson = json;
        Config = ModelConfig.Parse(json, $"{Path} (config from the fairseq {(settings.HasArgs ? "args" : "cfg/shapes")})");

        Map("roberta.embeddings.word_embeddings.weight", body + "embed_tokens.weight");
        Map("roberta.embeddings.position_embeddings.weight", body + "embed_positions.weight");
        for (int i = 0; i < layers; i++)
        {
            string ours = $"roberta.encoder.layer.{i}.", theirs = $"{body}layers.{i}.";
            foreach (var (q, p) in new[] { ("query", "q_proj"), ("key", "k_proj"), ("value", "v_proj") })
                MapLinear(ours + "attention.self." + q, theirs + "self_attn." + p);
            MapLinear(ours + "attention.output.dense", theirs + "self_attn.out_proj");
            MapLinear(ours + "intermediate.dense", theirs + "fc1");
            MapLinear(ours + "output.dense", theirs + "fc2");
            MapLinear(ours + (normalizeBefore ? "attention.self_attn_layer_norm" : "attention.output.LayerNorm"), theirs + "self_attn_layer_norm");
            MapLinear(ours + (normalizeBefore ? "LayerNorm" : "output.LayerNorm"), theirs + "final_layer_norm");
        }
        if (normalizeBefore) MapLinear("roberta.encoder.LayerNorm", body + "layer_norm");
        else if (embeddingNorm is not null) MapLinear("roberta.embeddings.LayerNorm", embeddingNorm);
        MapLinear("lm_head.dense", head + "dense");
        MapLinear("lm_head.layer_norm", head + "layer_norm");
        Map("lm_head.decoder.weight", head + "weight");
        Map("lm_head.bias", head + "bias");
        Map("embed_length.weight", body + "embed_length.weight");
    }

    public ModelConfig Config { get; }

    /// <summary>The synthesised config.json (what `convert` writes beside the renamed tensors).</summary>
    public byte[] ConfigJson { get; }

    /// <summary>The tensors under their Hugging Face names, in the checkpoint's dtypes, with the zero token-type row.</summary>
    public IEnumerable<StoredTensor> Tensors =>
        fairseqName.Where(p => weights.Contains(p.Value)).Select(p => file.Info(p.Value) with { Name = p.Key })
            .Append(new StoredTensor(TokenTypes, file.Info(fairseqName["roberta.embeddings.word_embeddings.weight"]).DType, [1, Config.HiddenSize]));

    public void ReadRaw(string name, long offset, Span<byte> destination)
    {
        if (name == TokenTypes)
        {
            var zero = Tensors.Last();
            if (offset < 0 || offset > zero.ByteCount || destination.Length > zero.ByteCount - offset)
                throw new CheckpointFormatException($"{Description}: bytes [{offset}, {offset + destination.Length}) are outside '{name}'");
            destination.Clear();
            return;
        }
        if (!fairseqName.TryGetValue(name, out var theirs) || !weights.Contains(theirs))
            throw new CheckpointFormatException($"{Description}: no fairseq tensor stands for '{name}'");
        file.ReadRaw(theirs, offset, destination);
    }

    /// <summary>"fairseq RoBERTa" or "Instruct-XLMR".</summary>
    public string Layout { get; }

    public string Path => file.Path;

    public string Description => $"{Path} ({Layout})";

    /// <summary>The fairseq checkpoint file of a folder (model.pt, checkpoint_last.pt, checkpoint_best.pt), or null.</summary>
    public static string? FindFile(string directory) =>
        FileNames.Select(n => System.IO.Path.Combine(directory, n)).FirstOrDefault(File.Exists);

    public static FairseqCheckpoint Open(string path, FairseqOverrides? overrides = null)
    {
        var file = new TorchCheckpoint(path);
        try
        {
            return new FairseqCheckpoint(file, overrides ?? new FairseqOverrides());
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public bool Contains(string name) => name == TokenTypes || fairseqName.TryGetValue(name, out var f) && weights.Contains(f);

    public void Read(string name, ReadOnlySpan<int> expectedShape, Span<float> destination)
    {
        if (name == TokenTypes && expectedShape.Length == 2 && expectedShape[0] == 1 && expectedShape[1] == Config.HiddenSize)
        {
            destination.Clear();   // fairseq has no token types; the row is folded into the position embeddings
            return;
        }
        if (!fairseqName.TryGetValue(name, out var theirs))
            throw new CheckpointFormatException($"{Description}: no fairseq tensor stands for '{name}' (expected shape {Tensor.FormatShape(expectedShape)})");
        if (!weights.Contains(theirs))
            throw new CheckpointFormatException($"{Description}: tensor '{theirs}' (for '{name}') is missing (expected shape {Tensor.FormatShape(expectedShape)})");
        weights.Read(theirs, expectedShape, destination);
    }

    public void Dispose() => weights.Dispose();

    private void Map(string ours, string theirs) => fairseqName[ours] = theirs;

    private void MapLinear(string ours, string theirs)
    {
        Map(ours + ".weight", theirs + ".weight");
        Map(ours + ".bias", theirs + ".bias");
    }

    private CheckpointFormatException Error(string message) => new($"{Path}: {message}");

    /// <summary>A dimension of a matrix the config is derived from, which must be a matrix of at most int.MaxValue rows and columns.</summary>
    private int Dimension(string tensor, int axis)
    {
        var shape = file.Info(tensor).Shape;
        if (shape.Length != 2) throw Error($"tensor '{tensor}' has shape {Tensor.FormatShape(shape)}, not [rows, columns]");
        return shape[axis] <= int.MaxValue ? (int)shape[axis]
            : throw Error($"tensor '{tensor}' has shape {Tensor.FormatShape(shape)}: {(axis == 0 ? "rows" : "columns")} beyond {int.MaxValue}, more than a model can have");
    }

    [GeneratedRegex(@"^(.*?)layers\.(\d+)\.")]
    private static partial Regex LayerIndex();

    /// <summary>fairseq's settings: <c>args</c> (argparse.Namespace) or <c>cfg</c> (a dict or omegaconf DictConfig; its "model" section).</summary>
    private sealed class FairseqSettings(object? root, string path)
    {
        private readonly PickleDict? rootDict = root as PickleDict;

        public bool HasArgs => rootDict?.GetValueOrDefault("args") is PickleObject;

        public int? Int(string name) => Get(name) switch
        {
            null => null,
            long l and > 0 and <= int.MaxValue => (int)l,
            var v => throw new CheckpointFormatException($"{path}: setting '{name}' is {PickleText.Describe(v)}, not a positive integer"),
        };

        public bool? Bool(string name) => Get(name) switch
        {
            null => null,
            bool b => b,
            var v => throw new CheckpointFormatException($"{path}: setting '{name}' is {PickleText.Describe(v)}, not True or False"),
        };

        public string? String(string name) => Get(name) as string;

        private object? Get(string name)
        {
            if (rootDict?.GetValueOrDefault("args") is PickleObject args && args.TryGetField(name, out var value)) return value;
            var cfg = Unwrap(rootDict?.GetValueOrDefault("cfg"));
            if (cfg is PickleDict cfgDict && Unwrap(cfgDict.GetValueOrDefault("model")) is { } model)
            {
                if (model is PickleDict modelDict && modelDict.TryGet(name, out var v)) return Unwrap(v);
                if (model is PickleObject namespaceModel && namespaceModel.TryGetField(name, out var f)) return Unwrap(f);
            }
            return null;
        }

        /// <summary>omegaconf nodes: a DictConfig's "_content", a value node's "_val".</summary>
        private static object? Unwrap(object? value)
        {
            for (int i = 0; i < 4 && value is PickleObject node; i++)
            {
                if (node.TryGetField("_content", out var content)) value = content;
                else if (node.TryGetField("_val", out var inner)) value = inner;
                else break;
            }
            return value;
        }
    }
}
