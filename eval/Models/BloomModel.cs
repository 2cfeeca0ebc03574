using Eval.Engine;
using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>
/// BloomForCausalLM (BLOOM, BLOOMZ): word embeddings followed by a LayerNorm; layers of
/// x += dense(Attention(LayerNorm(x))) with ALiBi and a causal mask, x += dense_4h_to_h(tanh-GELU(dense_h_to_4h(LayerNorm(x))));
/// a final LayerNorm; the head is the word embedding matrix. ALiBi's key positions count the real keys before each key
/// (the attention mask's cumulative sum, cached slots included), so left or right padding changes nothing.
/// <para>bigscience's files store the bare BloomModel's names (<c>word_embeddings.weight</c>, <c>h.{i}.…</c>, <c>ln_f.*</c>);
/// save_pretrained prefixes them with <c>transformer.</c>; either loads. The fused query_key_value is stored per head
/// (rows h·3d … h·3d + 3d are head h's query, key and value) and is regrouped at load into all queries, all keys, all
/// values, the layout of the other models' fused projections.</para>
/// </summary>
public sealed class BloomModel : ICausalLanguageModel
{
    private const string Architecture = "BloomForCausalLM";

    /// <summary>lm-evaluation-harness's default maximum length, for configs that name no training length (seq_length).</summary>
    private const int DefaultMaxLength = 2048;

    private sealed record Layer(Tensor InputNorm, Tensor InputNormBias, Tensor Wqkv, Tensor Bqkv, Tensor Wo, Tensor Bo,
        Tensor PostNorm, Tensor PostNormBias, Tensor WUp, Tensor BUp, Tensor WDown, Tensor BDown);

    private readonly ModelWeights weights;
    private readonly Tensor embeddings, embeddingNorm, embeddingNormBias, finalNorm, finalNormBias;
    private readonly Layer[] layers;
    private readonly VocabularyProjection head;
    private readonly float[] slopes;
    private readonly int heads, headDim;
    private readonly float eps;

    public BloomModel(ModelConfig config, IWeightSource source, IBackend backend)
    {
        Config = config;
        Backend = backend;
        int h = config.HiddenSize, v = config.VocabSize;
        heads = config.NumAttentionHeads;
        config.RequirePositive(("hidden_size (n_embed)", h), ("vocab_size", v), ("n_layer", config.NumHiddenLayers), ("n_head", heads));
        if (h % heads != 0)
            throw new InvalidDataException($"{config.Path}: hidden_size {h} is not a multiple of n_head {heads}");
        headDim = h / heads;
        eps = (float)config.NormEpsilon;
        slopes = AttentionBias.AlibiSlopes(heads);
        weights = new ModelWeights(source, backend, Architecture);
        // bigscience's own files: no prefix; save_pretrained of a BloomForCausalLM: "transformer.".
        string p = source.Contains("transformer.word_embeddings.weight") ? "transformer." : "";
        int inner = 4 * h;   // BLOOM's MLP is always 4·hidden wide (n_inner is not read)
        var qkvRows = FusedQkvRows(heads, headDim);

        embeddings = weights.Load(p + "word_embeddings.weight", v, h);
        embeddingNorm = weights.Load(p + "word_embeddings_layernorm.weight", h);
        embeddingNormBias = weights.Load(p + "word_embeddings_layernorm.bias", h);
        layers = new Layer[config.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            string l = $"{p}h.{i}.";
            layers[i] = new Layer(
                InputNorm: weights.Load(l + "input_layernorm.weight", h),
                InputNormBias: weights.Load(l + "input_layernorm.bias", h),
                Wqkv: weights.LoadReordered(l + "self_attention.query_key_value.weight", [3 * h, h], qkvRows),
                Bqkv: weights.LoadReordered(l + "self_attention.query_key_value.bias", [3 * h], qkvRows),
                Wo: weights.Load(l + "self_attention.dense.weight", h, h),
                Bo: weights.Load(l + "self_attention.dense.bias", h),
                PostNorm: weights.Load(l + "post_attention_layernorm.weight", h),
                PostNormBias: weights.Load(l + "post_attention_layernorm.bias", h),
                WUp: weights.Load(l + "mlp.dense_h_to_4h.weight", inner, h),
                BUp: weights.Load(l + "mlp.dense_h_to_4h.bias", inner),
                WDown: weights.Load(l + "mlp.dense_4h_to_h.weight", h, inner),
                BDown: weights.Load(l + "mlp.dense_4h_to_h.bias", h));
        }
        finalNorm = weights.Load(p + "ln_f.weight", h);
        finalNormBias = weights.Load(p + "ln_f.bias", h);
        // BloomForCausalLM ties its head to word_embeddings (no lm_head.weight in bigscience's files nor in save_pretrained's).
        var headWeight = config.TieWordEmbeddings
            ? embeddings
            : weights.LoadOptional("lm_head.weight", v, h) ?? throw new CheckpointFormatException(
                $"{source.Description}: tensor 'lm_head.weight' required by {Architecture} is missing and tie_word_embeddings is false");
        head = new VocabularyProjection(headWeight, null);
    }

    /// <summary>
    /// Stored row of each row of the regrouped query_key_value: the stored output is viewed as (n_head, 3, d), so query
    /// row h·d + c is stored row h·3d + c, key row H + h·d + c is h·3d + d + c and value row 2H + h·d + c is h·3d + 2d + c.
    /// </summary>
    public static int[] FusedQkvRows(int heads, int headDim)
    {
        int hidden = heads * headDim;
        var rows = new int[3 * hidden];
        for (int part = 0; part < 3; part++)
            for (int h = 0; h < heads; h++)
                for (int c = 0; c < headDim; c++)
                    rows[part * hidden + h * headDim + c] = h * 3 * headDim + part * headDim + c;
        return rows;
    }

    public ModelConfig Config { get; }
    public IBackend Backend { get; }
    public long ParameterCount => weights.ParameterCount;
    public ModelKind Kind => ModelKind.Causal;

    /// <summary>ALiBi has no position table: the training length (seq_length, 2048 in bigscience's files), else 2048.</summary>
    public int MaxSequenceLength => Config.MaxPositionEmbeddings > 0 ? Config.MaxPositionEmbeddings : DefaultMaxLength;

    public KvCache CreateCache(int batch, int capacity) => new(Backend, layers.Length, batch, capacity, Config.HiddenSize);

    public ModelOutput Forward(TokenBatch batch, bool keepHiddenStates = false) => Run(batch, null, keepHiddenStates);

    public ModelOutput Forward(TokenBatch batch, KvCache cache, bool keepHiddenStates = false) => Run(batch, cache, keepHiddenStates);

    private ModelOutput Run(TokenBatch batch, KvCache? cache, bool keepHiddenStates)
    {
        var be = Backend;
        int t = batch.Tokens, h = Config.HiddenSize;
        int past = cache?.Length ?? 0;
        batch.RequireSingleSegment(Architecture);
        cache?.CheckFits(batch.Batch, batch.Length);
        var recorder = new HiddenStateRecorder(be, keepHiddenStates);
        // The ALiBi bias counts real keys from KeyValid, which spans the cached slots too.
        var mask = new AttentionMask(cache?.KeyValidWith(batch) ?? batch.Mask)
        {
            Causal = true, QueryStart = past, Bias = AttentionBias.Alibi(slopes),
        };
        var shape = cache is null
            ? AttentionShape.Square(batch.Batch, batch.Length, heads, headDim)
            : new AttentionShape(batch.Batch, batch.Length, past + batch.Length, cache.Capacity, heads, heads, headDim);

        var x = be.Allocate(t, h);                                  // residual stream [B·S, H]
        using var normed = be.Allocate(t, h);
        using var qkv = be.Allocate(t, 3 * h);
        using var context = be.Allocate(t, h);
        using var sublayer = be.Allocate(t, h);
        using var up = be.AllocateGemmInput(t, 4 * h);              // read only by the down projection

        be.Gather(embeddings, batch.Ids, x);
        be.LayerNorm(x, embeddingNorm, embeddingNormBias, eps, x);
        recorder.Record("hidden.embeddings", x);
        // Each residual add runs with the norm after it (AddLayerNorm, the sublayer's output bias folded in) unless
        // apply_residual_connection_post_layernorm makes the residual the normed input; the last layer's add stays
        // apart from the final norm, so that hidden.layer.{L-1} is the un-normed stream.
        bool fused = !Config.ResidualFromNormedInput;
        if (layers.Length > 0) be.LayerNorm(x, layers[0].InputNorm, layers[0].InputNormBias, eps, normed);
        for (int l = 0; l < layers.Length; l++)
        {
            var layer = layers[l];
            be.Linear(normed, layer.Wqkv, layer.Bqkv, qkv);
            if (cache is null)
            {
                be.Attention(new ColumnSlice(qkv, 0), new ColumnSlice(qkv, h), new ColumnSlice(qkv, 2 * h), shape, mask, context);
            }
            else
            {
                cache.Write(l, qkv, h, 2 * h, batch.Length);
                be.Attention(new ColumnSlice(qkv, 0), new ColumnSlice(cache.Keys(l), 0), new ColumnSlice(cache.Values(l), 0), shape, mask, context);
            }
            if (fused)
            {
                be.Linear(context, layer.Wo, null, sublayer);
                be.AddLayerNorm(x, sublayer, layer.Bo, layer.PostNorm, layer.PostNormBias, eps, normed);
            }
            else
            {
                be.Linear(context, layer.Wo, layer.Bo, sublayer);
                be.Add(normed, sublayer, x);
                be.LayerNorm(x, layer.PostNorm, layer.PostNormBias, eps, normed);
            }

            be.LinearActivation(ActivationKind.GeluTanh, normed, layer.WUp, layer.BUp, up);
            bool last = l + 1 == layers.Length;
            if (fused && !last)
            {
                be.Linear(up, layer.WDown, null, sublayer);
                be.AddLayerNorm(x, sublayer, layer.BDown, layers[l + 1].InputNorm, layers[l + 1].InputNormBias, eps, normed);
            }
            else
            {
                be.Linear(up, layer.WDown, layer.BDown, sublayer);
                be.Add(fused ? x : normed, sublayer, x);
                if (!last) be.LayerNorm(x, layers[l + 1].InputNorm, layers[l + 1].InputNormBias, eps, normed);
            }
            recorder.Record($"hidden.layer.{l}", x);
        }
        cache?.Commit(batch);
        be.LayerNorm(x, finalNorm, finalNormBias, eps, x);
        return recorder.Finish(x);
    }

    public Tensor Logits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> vocabIds = default)
    {
        using var selected = Backend.Allocate(rows.Length, hidden.Columns);
        Backend.Gather(hidden, rows, selected);
        return head.Project(Backend, selected, vocabIds);
    }

    public LogitSummary SummarizeLogits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> ids = default)
    {
        using var selected = Backend.Allocate(rows.Length, hidden.Columns);
        Backend.Gather(hidden, rows, selected);
        return head.Summarize(Backend, selected, ids);
    }

    public void Dispose() => weights.Dispose();
}
