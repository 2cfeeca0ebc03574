using Eval.Engine;
using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>How a ModernBERT checkpoint stores its attention projections.</summary>
internal enum QkvLayout
{
    /// <summary>ModernBERT's encoder: one <c>attn.Wqkv</c> [3·hidden, hidden], q, k and v rows stacked.</summary>
    Fused,

    /// <summary>The Ettin decoders (ModernBertDecoderForCausalLM): <c>attn.q_proj</c>, <c>attn.k_proj</c>, <c>attn.v_proj</c>.</summary>
    Separate,
}

/// <summary>
/// The body ModernBERT's encoder (<see cref="ModernBertModel"/>) and the Ettin decoder (<see cref="ModernBertDecoderModel"/>)
/// share: token embeddings → LayerNorm; layers of x += Wo·Attention(attn_norm(x)) with rotary embeddings (full attention in
/// some layers, a sliding window in the others, each kind with its own RoPE θ) and x += GeGLU MLP(mlp_norm(x)) — layer 0
/// without attn_norm —; final LayerNorm. The two differ only in their masks, their q/k/v tensors (loaded here into one
/// fused projection either way) and the name of their prediction head (<see cref="LoadHead"/>).
/// </summary>
internal sealed class ModernBertStack
{
    private sealed record Layer(
        Tensor? AttnNorm, Tensor? AttnNormBias, Tensor Wqkv, Tensor? WqkvBias, Tensor Wo, Tensor? WoBias,
        Tensor MlpNorm, Tensor? MlpNormBias, Tensor Wi, Tensor? WiBias, Tensor MlpWo, Tensor? MlpWoBias,
        bool IsGlobal, float[] InvFrequencies);

    public const string EmbeddingName = "model.embeddings.tok_embeddings.weight", DecoderName = "decoder.weight";

    private readonly ModelConfig config;
    private readonly Tensor embeddingNorm, finalNorm;
    private readonly Tensor? embeddingNormBias, finalNormBias;
    private readonly Layer[] layers;
    private readonly ActivationKind mlpActivation;
    private readonly float eps;

    /// <summary>Checks the config's dimensions and loads every tensor of the body; architecture names the model in errors.</summary>
    public ModernBertStack(ModelConfig config, ModelWeights weights, QkvLayout layout, string architecture)
    {
        this.config = config;
        int h = config.HiddenSize, v = config.VocabSize, inner = config.IntermediateSize, heads = config.NumAttentionHeads;
        config.RequirePositive(("hidden_size", h), ("vocab_size", v), ("intermediate_size", inner),
            ("num_hidden_layers", config.NumHiddenLayers), ("num_attention_heads", heads));
        if (h % heads != 0)
            throw new InvalidDataException($"{config.Path}: hidden_size {h} is not a multiple of num_attention_heads {heads}");
        if (h / heads % 2 != 0)
            throw new InvalidDataException($"{config.Path}: head size {h / heads} (hidden_size / num_attention_heads) must be even for rotary embeddings");
        if (config.LayerTypes is null && config.GlobalAttentionEveryNLayers < 1)
            throw new InvalidDataException($"{config.Path}: 'global_attn_every_n_layers' must be a positive integer (got {config.GlobalAttentionEveryNLayers})");
        eps = (float)config.NormEpsilon;
        mlpActivation = config.Activation(config.HiddenActivation);
        bool nb = config.NormBias;
        (Embeddings, Decoder) = LoadTiedMatrix(config, weights, architecture);
        embeddingNorm = weights.Load("model.embeddings.norm.weight", h);
        embeddingNormBias = weights.LoadIf(nb, "model.embeddings.norm.bias", h);

        int headDim = h / heads;
        var globalFrequencies = RotaryFrequencies.Compute(config.GlobalRopeTheta, headDim, null, config.Path);
        var localFrequencies = config.LocalRopeTheta is { } localTheta
            ? RotaryFrequencies.Compute(localTheta, headDim, null, config.Path)
            : globalFrequencies;
        layers = new Layer[config.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            string p = $"model.layers.{i}.";
            bool isGlobal = config.IsGlobalAttentionLayer(i);
            bool bias = config.AttentionBias;
            layers[i] = new Layer(
                AttnNorm: i == 0 ? null : weights.Load(p + "attn_norm.weight", h),
                AttnNormBias: i == 0 ? null : weights.LoadIf(nb, p + "attn_norm.bias", h),
                Wqkv: layout == QkvLayout.Fused
                    ? weights.Load(p + "attn.Wqkv.weight", 3 * h, h)
                    : weights.LoadRows([p + "attn.q_proj.weight", p + "attn.k_proj.weight", p + "attn.v_proj.weight"], [[h, h], [h, h], [h, h]]),
                WqkvBias: !bias ? null : layout == QkvLayout.Fused
                    ? weights.Load(p + "attn.Wqkv.bias", 3 * h)
                    : weights.LoadRows([p + "attn.q_proj.bias", p + "attn.k_proj.bias", p + "attn.v_proj.bias"], [[h], [h], [h]]),
                Wo: weights.Load(p + "attn.Wo.weight", h, h),
                WoBias: weights.LoadIf(bias, p + "attn.Wo.bias", h),
                MlpNorm: weights.Load(p + "mlp_norm.weight", h),
                MlpNormBias: weights.LoadIf(nb, p + "mlp_norm.bias", h),
                Wi: weights.Load(p + "mlp.Wi.weight", 2 * inner, h),
                WiBias: weights.LoadIf(config.MlpBias, p + "mlp.Wi.bias", 2 * inner),
                MlpWo: weights.Load(p + "mlp.Wo.weight", h, inner),
                MlpWoBias: weights.LoadIf(config.MlpBias, p + "mlp.Wo.bias", h),
                IsGlobal: isGlobal,
                InvFrequencies: isGlobal ? globalFrequencies : localFrequencies);
        }
        finalNorm = weights.Load("model.final_norm.weight", h);
        finalNormBias = weights.LoadIf(nb, "model.final_norm.bias", h);
    }

    /// <summary>The token embeddings [vocab, hidden].</summary>
    public Tensor Embeddings { get; }

    /// <summary>The decoder's matrix [vocab, hidden]: the embeddings themselves when tied.</summary>
    public Tensor Decoder { get; }

    public int LayerCount => layers.Length;

    /// <summary>
    /// The checkpoint's embedding and decoder matrices. Tied (tie_word_embeddings, the default), the one matrix is stored
    /// under either name — <c>model.embeddings.tok_embeddings.weight</c> (save_pretrained; the embeddings' name wins when
    /// both are present, as transformers ties the decoder to the embeddings) or <c>decoder.weight</c> (the jhu-clsp
    /// decoder files) — and serves both ends; untied, both are required.
    /// </summary>
    private static (Tensor Embeddings, Tensor Decoder) LoadTiedMatrix(ModelConfig config, ModelWeights weights, string architecture)
    {
        int v = config.VocabSize, h = config.HiddenSize;
        if (!config.TieWordEmbeddings)
            return (weights.Load(EmbeddingName, v, h), weights.Load(DecoderName, v, h));
        if (weights.Contains(EmbeddingName)) return Both(weights.Load(EmbeddingName, v, h));
        if (weights.Contains(DecoderName)) return Both(weights.Load(DecoderName, v, h));
        try
        {
            return Both(weights.Load(EmbeddingName, v, h));   // a source that makes any tensor (random weights)
        }
        catch (CheckpointFormatException)
        {
            throw new CheckpointFormatException(
                $"{weights.Description}: neither '{EmbeddingName}' nor '{DecoderName}' is in the checkpoint (the tied embedding and decoder matrix [{v}, {h}], required by {architecture})");
        }

        static (Tensor, Tensor) Both(Tensor matrix) => (matrix, matrix);
    }

    /// <summary>
    /// The prediction head under <paramref name="prefix"/> (<c>head.</c> in the encoder, <c>lm_head.</c> in the decoder):
    /// dense → classifier activation → LayerNorm, then the decoder matrix with <c>decoder.bias</c>.
    /// </summary>
    public MaskedLmHead LoadHead(ModelWeights weights, string prefix)
    {
        int h = config.HiddenSize, v = config.VocabSize;
        return new MaskedLmHead(
            weights.Load(prefix + "dense.weight", h, h), weights.LoadIf(config.ClassifierBias, prefix + "dense.bias", h),
            config.Activation(config.ClassifierActivation),
            weights.Load(prefix + "norm.weight", h), weights.LoadIf(config.NormBias, prefix + "norm.bias", h), eps,
            new VocabularyProjection(Decoder, weights.LoadIf(config.DecoderBias, "decoder.bias", v)));
    }

    /// <summary>
    /// Runs the body over batch: token i at positions[i], full-attention layers under globalMask, sliding layers under
    /// localMask, with shape's key layout. With a cache each layer appends the new keys and values to it and attends over
    /// all it holds (the caller commits the cache). Returns the final normed hidden states [Batch·Length, hidden].
    /// </summary>
    public Tensor Run(IBackend be, TokenBatch batch, int[] positions, AttentionShape shape, AttentionMask globalMask, AttentionMask localMask,
        KvCache? cache, HiddenStateRecorder recorder)
    {
        int t = batch.Tokens, h = config.HiddenSize, heads = config.NumAttentionHeads, headDim = h / heads;
        var x = be.Allocate(t, h);                                  // residual stream [B·S, H]
        try
        {
            // normed and activated are read only by a Linear: GEMM inputs, stored as the GEMM reads them.
            using var normed = be.AllocateGemmInput(t, h);
            using var qkv = be.Allocate(t, 3 * h);
            using var attention = be.Allocate(t, h);
            using var projected = be.Allocate(t, h);                   // a sublayer's output, before it joins the residual
            using var gated = be.Allocate(t, 2 * config.IntermediateSize);
            using var activated = be.AllocateGemmInput(t, config.IntermediateSize);

            be.Gather(Embeddings, batch.Ids, x);
            be.LayerNorm(x, embeddingNorm, embeddingNormBias, eps, x);
            recorder.Record("hidden.embeddings", x);
            for (int l = 0; l < layers.Length; l++)
            {
                var layer = layers[l];
                var attentionInput = x;
                if (l > 0)
                {
                    // The previous layer's MLP output joins the residual as this layer's attention norm reads it (one launch).
                    if (layer.AttnNorm is not null)
                    {
                        be.AddLayerNorm(x, projected, null, layer.AttnNorm, layer.AttnNormBias, eps, normed);
                        attentionInput = normed;
                    }
                    else
                    {
                        be.Add(x, projected, x);
                    }
                    recorder.Record($"hidden.layer.{l - 1}", x);
                }
                else if (layer.AttnNorm is not null)
                {
                    be.LayerNorm(x, layer.AttnNorm, layer.AttnNormBias, eps, normed);
                    attentionInput = normed;
                }
                be.Linear(attentionInput, layer.Wqkv, layer.WqkvBias, qkv);
                be.Rope(new ColumnSlice(qkv, 0), heads, new ColumnSlice(qkv, h), heads, headDim, positions, layer.InvFrequencies);
                var mask = layer.IsGlobal ? globalMask : localMask;
                if (cache is null)
                {
                    be.Attention(new ColumnSlice(qkv, 0), new ColumnSlice(qkv, h), new ColumnSlice(qkv, 2 * h), shape, mask, attention);
                }
                else
                {
                    cache.Write(l, qkv, h, 2 * h, batch.Length);
                    be.Attention(new ColumnSlice(qkv, 0), new ColumnSlice(cache.Keys(l), 0), new ColumnSlice(cache.Values(l), 0), shape, mask, attention);
                }
                be.Linear(attention, layer.Wo, layer.WoBias, projected);
                be.AddLayerNorm(x, projected, null, layer.MlpNorm, layer.MlpNormBias, eps, normed);
                be.Linear(normed, layer.Wi, layer.WiBias, gated);
                be.GatedActivation(mlpActivation, gated, activated);
                be.Linear(activated, layer.MlpWo, layer.MlpWoBias, projected);
            }
            var output = be.Allocate(t, h);
            try
            {
                be.AddLayerNorm(x, projected, null, finalNorm, finalNormBias, eps, output);
                recorder.Record($"hidden.layer.{layers.Length - 1}", x);
            }
            catch
            {
                output.Dispose();
                throw;
            }
            x.Dispose();
            return output;
        }
        catch
        {
            x.Dispose();
            throw;
        }
    }
}
