using System.Text.Json;
using Eval.Engine;

namespace Eval.Models;

/// <summary>RoPE frequency scaling from config.json's <c>rope_scaling</c> (or a <c>rope_parameters</c> entry).</summary>
public sealed record RopeScaling(string Type, double Factor, double LowFrequencyFactor, double HighFrequencyFactor, int OriginalMaxPositions);

/// <summary>One <c>rope_parameters</c> entry: its base (when given) and its scaling (null for "default").</summary>
public sealed record RopeSetting(double? Theta, RopeScaling? Scaling);

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
    /// <summary>transformers 5's per-layer attention kinds ("full_attention" / "sliding_attention"); null when absent.</summary>
    public IReadOnlyList<string>? LayerTypes { get; init; }
    public int LocalAttention { get; init; } = -1;
    /// <summary>The decoder's window as a file states it (transformers derives it as local_attention // 2); null when absent.</summary>
    public int? SlidingWindow { get; init; }
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
        // transformers >= 5 writes RoPE settings as rope_parameters: one object, or one per attention kind
        // ({"full_attention": {...}, "sliding_attention": {...}}); older files use rope_theta / rope_scaling and
        // ModernBERT's global_rope_theta / local_rope_theta. Where both are present the newer form wins, as in transformers.
        var rope = reader.RopeParameters("rope_parameters");
        int layerCount = reader.Int("num_hidden_layers") ?? 0;
        return new ModelConfig
        {
            Path = path,
            Architectures = architectures,
            ModelType = reader.String("model_type") ?? "",
            VocabSize = reader.Int("vocab_size") ?? 0,
            HiddenSize = hidden,
            IntermediateSize = reader.Int("intermediate_size") ?? 0,
            NumHiddenLayers = layerCount,
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
            RopeTheta = rope.Full?.Theta ?? reader.Double("rope_theta") ?? 10000,
            RopeScaling = rope.Full is { } full ? full.Scaling : reader.RopeScaling("rope_scaling"),
            GlobalRopeTheta = rope.Full?.Theta ?? reader.Double("global_rope_theta") ?? 160000,
            // transformers 5 gives a sliding_attention entry without a base 10,000; transformers 4's ModernBERT had
            // local layers fall back to the global base when local_rope_theta was absent.
            LocalRopeTheta = rope.Sliding?.Theta ?? reader.Double("local_rope_theta") ?? (rope.Sliding is null ? null : 10000),
            GlobalAttentionEveryNLayers = reader.Int("global_attn_every_n_layers") ?? 1,
            LayerTypes = reader.LayerTypes("layer_types", layerCount),
            LocalAttention = reader.Int("local_attention") ?? -1,
            SlidingWindow = reader.Int("sliding_window"),
            TorchDType = reader.String("torch_dtype") ?? reader.String("dtype"),
        };
    }

    /// <summary>
    /// Whether layer i attends globally: layer_types when the file has it (transformers >= 5), else ModernBERT's
    /// every-n-th-layer rule.
    /// </summary>
    public bool IsGlobalAttentionLayer(int layer) => LayerTypes is { } types
        ? types[layer] == "full_attention"
        : layer % Math.Max(1, GlobalAttentionEveryNLayers) == 0;

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
            if (v.ValueKind != JsonValueKind.Array || !v.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String))
                throw Bad(name, "a list of strings");
            var result = new List<string>();
            foreach (var e in v.EnumerateArray()) result.Add(Text(e, name));
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
            return new JsonFields(path, v).ScalingFields();
        }

        private RopeScaling ScalingFields()
        {
            var type = String("rope_type") ?? String("type") ?? "default";
            return new RopeScaling(type, Double("factor") ?? 1, Double("low_freq_factor") ?? 1,
                Double("high_freq_factor") ?? 4, Int("original_max_position_embeddings") ?? 8192);
        }

        /// <summary>
        /// rope_parameters as transformers 5 writes it: {"rope_type", "rope_theta", scaling fields} for every layer,
        /// or one such object per attention kind. Full is the global (or only) setting, Sliding the local one.
        /// </summary>
        public (RopeSetting? Full, RopeSetting? Sliding) RopeParameters(string name)
        {
            if (Get(name) is not { } v) return (null, null);
            if (v.ValueKind != JsonValueKind.Object) throw Bad(name, "an object");
            bool perKind = v.TryGetProperty("full_attention", out _) || v.TryGetProperty("sliding_attention", out _);
            if (!perKind) return (new JsonFields($"{path}: '{name}'", v).Setting(), null);
            foreach (var kind in v.EnumerateObject())
                if (kind.Name is not ("full_attention" or "sliding_attention"))
                    throw new InvalidDataException($"{path}: '{name}' has an entry '{kind.Name}' (expected full_attention and sliding_attention)");
            return (KindSetting(v, name, "full_attention"), KindSetting(v, name, "sliding_attention"));
        }

        private RopeSetting? KindSetting(JsonElement parameters, string name, string kind) =>
            parameters.TryGetProperty(kind, out var k) && k.ValueKind != JsonValueKind.Null
                ? k.ValueKind == JsonValueKind.Object ? new JsonFields($"{path}: '{name}.{kind}'", k).Setting() : throw Bad($"{name}.{kind}", "an object")
                : null;

        private RopeSetting Setting()
        {
            var scaling = ScalingFields();
            return new RopeSetting(Double("rope_theta"), scaling.Type == "default" ? null : scaling);
        }

        /// <summary>layer_types: one "full_attention" or "sliding_attention" per hidden layer.</summary>
        public IReadOnlyList<string>? LayerTypes(string name, int layerCount)
        {
            if (Get(name) is not { } v) return null;
            var types = Strings(name);
            if (types.Count != layerCount)
                throw new InvalidDataException($"{path}: '{name}' lists {types.Count} layers but num_hidden_layers is {layerCount}");
            for (int i = 0; i < types.Count; i++)
                if (types[i] is not ("full_attention" or "sliding_attention"))
                    throw new InvalidDataException($"{path}: '{name}'[{i}] is '{types[i]}' (supported: full_attention, sliding_attention)");
            return types;
        }

        private InvalidDataException Bad(string name, string expected) =>
            new($"{path}: '{name}' should be {expected}");
    }
}
