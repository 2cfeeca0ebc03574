using System.Text.Json;
using Eval.Engine;

namespace Eval.Models;

/// <summary>RoPE frequency scaling from config.json's <c>rope_scaling</c>.</summary>
public sealed record RopeScaling(string Type, double Factor, double LowFrequencyFactor, double HighFrequencyFactor, int OriginalMaxPositions);

/// <summary>
/// The fields of a Hugging Face config.json that our architectures use. This is the one place config.json is parsed;
/// a field an architecture requires but the file lacks is reported with the file's path.
/// </summary>
public sealed record ModelConfig
{
    public required string Path { get; init; }
    public required IReadOnlyList<string> Architectures { get; init; }
    public required string ModelType { get; init; }
    public int VocabSize { get; init; }
    public int HiddenSize { get; init; }
    public int IntermediateSize { get; init; }
    public int NumHiddenLayers { get; init; }
    public int NumAttentionHeads { get; init; }
    public int NumKeyValueHeads { get; init; }
    public int HeadDim { get; init; }
    public string HiddenActivation { get; init; } = "gelu";
    public string ClassifierActivation { get; init; } = "gelu";
    public double NormEpsilon { get; init; } = 1e-5;
    public int MaxPositionEmbeddings { get; init; }
    public int TypeVocabSize { get; init; } = 1;
    public int? PadTokenId { get; init; }
    public int? BosTokenId { get; init; }
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    public bool TieWordEmbeddings { get; init; } = true;
    public bool AttentionBias { get; init; }
    public bool MlpBias { get; init; }
    public bool NormBias { get; init; } = true;
    public bool ClassifierBias { get; init; }
    public bool DecoderBias { get; init; } = true;
    public double RopeTheta { get; init; } = 10000;
    public RopeScaling? RopeScaling { get; init; }
    public double GlobalRopeTheta { get; init; } = 160000;
    public double? LocalRopeTheta { get; init; }
    public int GlobalAttentionEveryNLayers { get; init; } = 1;
    public int LocalAttention { get; init; } = -1;
    public string? TorchDType { get; init; }

    public static ModelConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: config.json not found", path);
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Parses config.json content; path names it in errors (a file, or an embedded copy).</summary>
    public static ModelConfig Parse(byte[] json, string path)
    {
        // JsonDocument reads strings lazily: bad UTF-8 would surface later as InvalidOperationException.
        if (!System.Text.Unicode.Utf8.IsValid(json)) throw new InvalidDataException($"{path}: not valid UTF-8");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON: {e.Message}"); }
        using var _ = doc;
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: not a JSON object");
        var reader = new JsonFields(path, root);

        int hidden = reader.Int("hidden_size") ?? reader.Int("d_model") ?? 0;
        int heads = reader.Int("num_attention_heads") ?? 0;
        var architectures = reader.Strings("architectures");
        return new ModelConfig
        {
            Path = path,
            Architectures = architectures,
            ModelType = reader.String("model_type") ?? "",
            VocabSize = reader.Int("vocab_size") ?? 0,
            HiddenSize = hidden,
            IntermediateSize = reader.Int("intermediate_size") ?? 0,
            NumHiddenLayers = reader.Int("num_hidden_layers") ?? 0,
            NumAttentionHeads = heads,
            NumKeyValueHeads = reader.Int("num_key_value_heads") ?? heads,
            HeadDim = reader.Int("head_dim") ?? (heads > 0 ? hidden / heads : 0),
            HiddenActivation = reader.String("hidden_activation") ?? reader.String("hidden_act") ?? "gelu",
            ClassifierActivation = reader.String("classifier_activation") ?? reader.String("hidden_activation") ?? "gelu",
            NormEpsilon = reader.Double("norm_eps") ?? reader.Double("rms_norm_eps") ?? reader.Double("layer_norm_eps") ?? 1e-5,
            MaxPositionEmbeddings = reader.Int("max_position_embeddings") ?? 0,
            TypeVocabSize = reader.Int("type_vocab_size") ?? 1,
            PadTokenId = reader.Int("pad_token_id"),
            BosTokenId = reader.Int("bos_token_id"),
            EosTokenIds = reader.IntOrInts("eos_token_id"),
            TieWordEmbeddings = reader.Bool("tie_word_embeddings") ?? true,
            AttentionBias = reader.Bool("attention_bias") ?? false,
            MlpBias = reader.Bool("mlp_bias") ?? false,
            NormBias = reader.Bool("norm_bias") ?? true,
            ClassifierBias = reader.Bool("classifier_bias") ?? false,
            DecoderBias = reader.Bool("decoder_bias") ?? true,
            RopeTheta = reader.Double("rope_theta") ?? 10000,
            RopeScaling = reader.RopeScaling("rope_scaling"),
            GlobalRopeTheta = reader.Double("global_rope_theta") ?? 160000,
            LocalRopeTheta = reader.Double("local_rope_theta"),
            GlobalAttentionEveryNLayers = reader.Int("global_attn_every_n_layers") ?? 1,
            LocalAttention = reader.Int("local_attention") ?? -1,
            TorchDType = reader.String("torch_dtype") ?? reader.String("dtype"),
        };
    }

    /// <summary>Throws unless every named dimension is positive; names the file and field.</summary>
    public void RequirePositive(params (string Field, int Value)[] fields)
    {
        foreach (var (field, value) in fields)
            if (value <= 0) throw new InvalidDataException($"{Path}: '{field}' must be a positive integer (got {value})");
    }

    public ActivationKind Activation(string name) => name switch
    {
        "gelu" or "gelu_python" => ActivationKind.Gelu,
        "silu" or "swish" => ActivationKind.Silu,
        _ => throw new NotSupportedException($"{Path}: activation '{name}' is not supported (supported: gelu, silu)"),
    };

    private readonly struct JsonFields(string path, JsonElement root)
    {
        private JsonElement? Get(string name) =>
            root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

        public int? Int(string name) => Get(name) is { } v
            ? v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : throw Bad(name, "an integer")
            : null;

        public double? Double(string name) => Get(name) is { } v
            ? v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw Bad(name, "a number")
            : null;

        public bool? Bool(string name) => Get(name) is { } v
            ? v.ValueKind switch { JsonValueKind.True => true, JsonValueKind.False => false, _ => throw Bad(name, "true or false") }
            : null;

        public string? String(string name) => Get(name) is { } v
            ? v.ValueKind == JsonValueKind.String ? Text(v, name) : throw Bad(name, "a string")
            : null;

        public IReadOnlyList<string> Strings(string name)
        {
            if (Get(name) is not { } v) return [];
            if (v.ValueKind != JsonValueKind.Array || !v.EnumerateArray().All(e => e.ValueKind is JsonValueKind.String or JsonValueKind.Null))
                throw Bad(name, "a list of strings");
            var result = new List<string>();
            foreach (var e in v.EnumerateArray()) result.Add(e.ValueKind == JsonValueKind.Null ? "" : Text(e, name));
            return result;
        }

        public IReadOnlyList<int> IntOrInts(string name)
        {
            if (Get(name) is not { } v) return [];
            var items = v.ValueKind switch
            {
                JsonValueKind.Number => [v],
                JsonValueKind.Array => v.EnumerateArray().ToArray(),
                _ => throw Bad(name, "an integer or a list of integers"),
            };
            var result = new List<int>();
            foreach (var e in items)
                result.Add(e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var i) ? i : throw Bad(name, "an integer or a list of integers"));
            return result;
        }

        /// <summary>A string value; a lone surrogate escape (\ud800) cannot become a .NET string and is refused.</summary>
        private string Text(JsonElement e, string name)
        {
            try { return e.GetString()!; }
            catch (InvalidOperationException) { throw Bad(name, "valid text"); }
        }

        public RopeScaling? RopeScaling(string name)
        {
            if (Get(name) is not { } v) return null;
            if (v.ValueKind != JsonValueKind.Object) throw Bad(name, "an object");
            var fields = new JsonFields(path, v);
            var type = fields.String("rope_type") ?? fields.String("type") ?? "default";
            return new RopeScaling(type, fields.Double("factor") ?? 1, fields.Double("low_freq_factor") ?? 1,
                fields.Double("high_freq_factor") ?? 4, fields.Int("original_max_position_embeddings") ?? 8192);
        }

        private InvalidDataException Bad(string name, string expected) =>
            new($"{path}: '{name}' should be {expected}");
    }
}
