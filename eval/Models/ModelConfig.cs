using System.Text.Json;
using Eval.Engine;
using Eval.Engine.IO;

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
    /// <summary>ELECTRA's embedding width (<c>embedding_size</c>); 0 when the file does not set it (= hidden_size).</summary>
    public int EmbeddingSize { get; init; }
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
    /// <summary>The id the model was trained to fill (EuroBERT's and mmBERT's <c>mask_token_id</c>); null when absent.</summary>
    public int? MaskTokenId { get; init; }
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

    /// <summary>T5: the decoder's layers (num_decoder_layers; null: as many as the encoder's NumHiddenLayers).</summary>
    public int? NumDecoderLayers { get; init; }

    /// <summary>T5: buckets of the relative position bias (relative_attention_num_buckets).</summary>
    public int RelativeAttentionNumBuckets { get; init; } = 32;

    /// <summary>T5: the distance from which relative positions share the last bucket (relative_attention_max_distance).</summary>
    public int RelativeAttentionMaxDistance { get; init; } = 128;

    /// <summary>T5: feed_forward_proj ("relu", "gated-gelu", …); see <see cref="FeedForward"/>.</summary>
    public string FeedForwardProjection { get; init; } = "relu";

    /// <summary>T5: dense_act_fn and is_gated_act when the file gives them (they override what feed_forward_proj implies).</summary>
    public string? DenseActivation { get; init; }
    public bool? IsGatedActivation { get; init; }

    /// <summary>Encoder–decoder models: the token the decoder starts from (decoder_start_token_id; else pad_token_id).</summary>
    public int? DecoderStartTokenId { get; init; }

    /// <summary>
    /// BLOOM's apply_residual_connection_post_layernorm: each sublayer's residual is its LayerNorm's output instead of
    /// its input (false in every released BLOOM and BLOOMZ).
    /// </summary>
    public bool ResidualFromNormedInput { get; init; }

    public static ModelConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: config.json not found", path);
        return Parse(LinkedFile.ReadAllBytes(path), path);
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

        // transformers' attribute_map spellings: BLOOM's files say n_embed (bigscience) or hidden_size (save_pretrained),
        // n_head or num_attention_heads, n_layer or num_hidden_layers; T5's d_model, num_heads, num_layers. A file
        // that gives two spellings of one field must agree.
        int hidden = reader.Alias("hidden_size", "d_model", "n_embed") ?? 0;
        int heads = reader.Alias("num_attention_heads", "num_heads", "n_head") ?? 0;
        var architectures = reader.Strings("architectures");
        var modelType = reader.String("model_type") ?? "";
        // transformers >= 5 writes RoPE settings as rope_parameters: one object, or one per attention kind
        // ({"full_attention": {...}, "sliding_attention": {...}}); older files use rope_theta / rope_scaling and
        // ModernBERT's global_rope_theta / local_rope_theta. Where both are present the newer form wins, as in transformers.
        var rope = reader.RopeParameters("rope_parameters");
        int layerCount = reader.Alias("num_hidden_layers", "num_layers", "n_layer") ?? 0;
        return new ModelConfig
        {
            Path = path,
            Architectures = architectures,
            ModelType = modelType,
            VocabSize = reader.Int("vocab_size") ?? 0,
            HiddenSize = hidden,
            EmbeddingSize = reader.Int("embedding_size") ?? 0,
            IntermediateSize = reader.Alias("intermediate_size", "d_ff") ?? 0,
            NumHiddenLayers = layerCount,
            NumAttentionHeads = heads,
            NumKeyValueHeads = reader.Int("num_key_value_heads") ?? heads,
            HeadDim = reader.Alias("head_dim", "d_kv") ?? (heads > 0 ? hidden / heads : 0),
            HiddenActivation = reader.String("hidden_activation") ?? reader.String("hidden_act") ?? "gelu",
            ClassifierActivation = reader.String("classifier_activation") ?? reader.String("hidden_activation") ?? "gelu",
            NormEpsilon = reader.Double("norm_eps") ?? reader.Double("rms_norm_eps") ?? reader.Double("layer_norm_eps")
                ?? reader.Double("layer_norm_epsilon") ?? (IsT5Family(modelType) ? 1e-6 : 1e-5),
            // BLOOM has no position table (ALiBi); bigscience's files give the training length as seq_length.
            MaxPositionEmbeddings = reader.Int("max_position_embeddings") ?? reader.Int("seq_length") ?? 0,
            TypeVocabSize = reader.Int("type_vocab_size") ?? 1,
            PadTokenId = reader.Int("pad_token_id"),
            BosTokenId = reader.Int("bos_token_id"),
            MaskTokenId = reader.Int("mask_token_id"),
            EosTokenIds = reader.IntOrInts("eos_token_id"),
            // MT5Config defaults to an untied head; every other config class (T5Config's included) to a tied one.
            TieWordEmbeddings = reader.Bool("tie_word_embeddings") ?? modelType != "mt5",
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
            NumDecoderLayers = reader.Int("num_decoder_layers"),
            RelativeAttentionNumBuckets = reader.Int("relative_attention_num_buckets") ?? 32,
            RelativeAttentionMaxDistance = reader.Int("relative_attention_max_distance") ?? 128,
            FeedForwardProjection = reader.String("feed_forward_proj") ?? "relu",
            DenseActivation = reader.String("dense_act_fn"),
            IsGatedActivation = reader.Bool("is_gated_act"),
            DecoderStartTokenId = reader.Int("decoder_start_token_id"),
            ResidualFromNormedInput = reader.Bool("apply_residual_connection_post_layernorm") ?? false,
        };
    }

    /// <summary>The model_types of transformers' T5 code (T5Config and MT5Config), whose defaults differ from the generic ones.</summary>
    public static bool IsT5Family(string modelType) => modelType is "t5" or "mt5";

    /// <summary>
    /// T5's feed-forward as T5Config derives it: feed_forward_proj is "ACT" or "gated-ACT" (gated: act(x·wi_0) ⊙ x·wi_1;
    /// else act(x·wi)), "gated-gelu" meaning gelu_new; a file's dense_act_fn and is_gated_act, when present, win (as
    /// config attributes they override the derived ones).
    /// </summary>
    public (ActivationKind Activation, bool Gated) FeedForward()
    {
        var parts = FeedForwardProjection.Split('-');
        if (parts.Length > 2 || (parts.Length == 2 && parts[0] != "gated") || parts[^1].Length == 0)
            throw new InvalidDataException(
                $"{Path}: 'feed_forward_proj' is '{FeedForwardProjection}'; expected an activation or 'gated-' and one (e.g. 'relu', 'gated-gelu')");
        var derived = FeedForwardProjection == "gated-gelu" ? "gelu_new" : parts[^1];
        return (Activation(DenseActivation ?? derived), IsGatedActivation ?? parts[0] == "gated");
    }

    /// <summary>The decoder's first input token: decoder_start_token_id, else pad_token_id, else 0.</summary>
    public int DecoderStart => DecoderStartTokenId ?? PadTokenId ?? 0;

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
        "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" => ActivationKind.GeluTanh,
        "relu" => ActivationKind.Relu,
        _ => throw new NotSupportedException(
            $"{Path}: activation '{name}' is not supported (supported: gelu, gelu_python, gelu_new, gelu_pytorch_tanh, gelu_fast, silu, swish, relu)"),
    };

    private readonly struct JsonFields(string path, JsonElement root)
    {
        private JsonElement? Get(string name) =>
            root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

        /// <summary>
        /// An integer a config may spell several ways (transformers' attribute_map); two spellings given with different
        /// values is an error naming both.
        /// </summary>
        public int? Alias(string name, params string[] aliases)
        {
            int? value = null;
            string? from = null;
            foreach (var spelling in aliases.Prepend(name))
            {
                if (Int(spelling) is not { } given) continue;
                if (value is { } first && first != given)
                    throw new InvalidDataException($"{path}: '{from}' is {first} but '{spelling}' is {given}; they name the same field");
                value ??= given;
                from ??= spelling;
            }
            return value;
        }

        public int? Int(string name) => Get(name) is { } v
            ? v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : throw Bad(name, "an integer")
            : null;

        /// <summary>An integer a config may spell two ways (transformers' attribute_map); both given and different is an error.</summary>
        public int? Alias(string name, string alias)
        {
            int? first = Int(name), second = Int(alias);
            if (first is { } a && second is { } b && a != b)
                throw new InvalidDataException($"{path}: '{name}' is {a} but '{alias}' is {b}; they name the same field");
            return first ?? second;
        }

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
