using Eval.Engine;

namespace Eval.Models;

/// <summary>
/// The Llama layer stack that Llama, Qwen2 and EuroBERT share, under Llama's names: model.embed_tokens; layers of
/// x += Attention(RMSNorm(x)) with rotate-half RoPE, grouped-query heads and optional q/k/v bias (Qwen2),
/// x += SwiGLU(RMSNorm(x)); model.norm. Causal for the decoders (which extend a <see cref="KvCache"/>), bidirectional
/// for EuroBERT; the output projection to the vocabulary is lm_head.weight or the tied embeddings.
/// </summary>
internal sealed class LlamaStack
{
    private sealed record Layer(Tensor InputNorm, Tensor Wqkv, Tensor? Bqkv, Tensor Wo, Tensor? Bo,
        Tensor PostNorm, Tensor WGateUp, Tensor? BGateUp, Tensor WDown, Tensor? BDown);

    private readonly ModelConfig config;
    private readonly Tensor embeddings, finalNorm;
    private readonly Layer[] layers;
    private readonly float[] invFrequencies;
    private readonly ActivationKind activation;
    private readonly int heads, kvHeads, headDim;
    private readonly float eps;
    private readonly bool causal;

    public LlamaStack(ModelConfig config, ModelWeights weights, bool causal)
    {
        this.config = config;
        this.causal = causal;
        int h = config.HiddenSize, v = config.VocabSize, inner = config.IntermediateSize;
        heads = config.NumAttentionHeads;
        kvHeads = config.NumKeyValueHeads;
        headDim = config.HeadDim;
        config.RequirePositive(("hidden_size", h), ("vocab_size", v), ("intermediate_size", inner),
            ("num_hidden_layers", config.NumHiddenLayers), ("num_attention_heads", heads),
            ("num_key_value_heads", kvHeads), ("head_dim", headDim));
        if (heads % kvHeads != 0)
            throw new InvalidDataException($"{config.Path}: num_attention_heads {heads} is not a multiple of num_key_value_heads {kvHeads}");
        eps = (float)config.NormEpsilon;
        activation = config.Activation(config.HiddenActivation);
        invFrequencies = RotaryFrequencies.Compute(config.RopeTheta, headDim, config.RopeScaling, config.Path);
        // Qwen2 always has q/k/v biases; Llama and EuroBERT have them when attention_bias is set.
        bool qkvBias = config.AttentionBias || config.ModelType == "qwen2";
        bool outBias = config.AttentionBias && config.ModelType != "qwen2";
        int q = heads * headDim, kv = kvHeads * headDim;

        embeddings = weights.Load("model.embed_tokens.weight", v, h);
        layers = new Layer[config.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            string p = $"model.layers.{i}.";
            layers[i] = new Layer(
                InputNorm: weights.Load(p + "input_layernorm.weight", h),
                Wqkv: weights.LoadRows([p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight", p + "self_attn.v_proj.weight"],
                    [[q, h], [kv, h], [kv, h]]),
                Bqkv: qkvBias
                    ? weights.LoadRows([p + "self_attn.q_proj.bias", p + "self_attn.k_proj.bias", p + "self_attn.v_proj.bias"], [[q], [kv], [kv]])
                    : null,
                Wo: weights.Load(p + "self_attn.o_proj.weight", h, q),
                Bo: weights.LoadIf(outBias, p + "self_attn.o_proj.bias", h),
                PostNorm: weights.Load(p + "post_attention_layernorm.weight", h),
                WGateUp: weights.LoadRows([p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"], [[inner, h], [inner, h]]),
                BGateUp: config.MlpBias ? weights.LoadRows([p + "mlp.gate_proj.bias", p + "mlp.up_proj.bias"], [[inner], [inner]]) : null,
                WDown: weights.Load(p + "mlp.down_proj.weight", h, inner),
                BDown: weights.LoadIf(config.MlpBias, p + "mlp.down_proj.bias", h));
        }
        finalNorm = weights.Load("model.norm.weight", h);
    }

    public int LayerCount => layers.Length;

    /// <summary>Width of a layer's keys (and values) in a <see cref="KvCache"/>.</summary>
    public int KeyValueWidth => kvHeads * headDim;

    /// <summary>
    /// The projection to the vocabulary: lm_head.weight, or the embeddings when the checkpoint has none and
    /// tie_word_embeddings is true (the default); with bias, lm_head.bias too.
    /// </summary>
    public VocabularyProjection LoadHead(ModelWeights weights, bool bias)
    {
        int v = config.VocabSize, h = config.HiddenSize;
        var headWeight = config.TieWordEmbeddings
            ? weights.LoadOptional("lm_head.weight", v, h) ?? embeddings
            : weights.LoadBecause($"{config.Path} says tie_word_embeddings is false", "lm_head.weight", v, h);
        return new VocabularyProjection(headWeight, weights.LoadIf(bias, "lm_head.bias", v));
    }

    /// <summary>
    /// Runs the stack over batch (after what cache holds, when given; its keys and values are appended to it) and applies
    /// the final norm; positions are 0, 1, 2, … in every row, or follow the cache.
    /// </summary>
    public ModelOutput Run(IBackend be, TokenBatch batch, KvCache? cache, bool keepHiddenStates, string architecture)
    {
        int t = batch.Tokens, h = config.HiddenSize, q = heads * headDim, kv = kvHeads * headDim;
        int past = cache?.Length ?? 0;
        batch.RequireSingleSegment(architecture);
        batch.RequireNoTokenTypes(architecture);
        cache?.CheckFits(batch.Batch, batch.Length);
        var recorder = new HiddenStateRecorder(be, keepHiddenStates);
        var positions = cache?.PositionsOf(batch) ?? batch.SlotPositions();
        var mask = new AttentionMask(cache?.KeyValidWith(batch) ?? batch.Mask) { Causal = causal, QueryStart = past };
        var shape = cache is null
            ? new AttentionShape(batch.Batch, batch.Length, batch.Length, batch.Length, heads, kvHeads, headDim)
            : new AttentionShape(batch.Batch, batch.Length, past + batch.Length, cache.Capacity, heads, kvHeads, headDim);

        var x = be.Allocate(t, h);                                  // residual stream [B·S, H]
        // normed and gated are read only by a Linear: GEMM inputs, stored as the GEMM reads them.
        using var normed = be.AllocateGemmInput(t, h);
        using var qkv = be.Allocate(t, q + 2 * kv);
        using var context = be.Allocate(t, q);
        using var sublayer = be.Allocate(t, h);
        using var gateUp = be.Allocate(t, 2 * config.IntermediateSize);
        using var gated = be.AllocateGemmInput(t, config.IntermediateSize);

        be.Gather(embeddings, batch.Ids, x);
        recorder.Record("hidden.embeddings", x);
        for (int l = 0; l < layers.Length; l++)
        {
            var layer = layers[l];
            if (l == 0)
            {
                be.RmsNorm(x, layer.InputNorm, eps, normed);
            }
            else
            {
                // The previous layer's MLP output joins the residual as this layer's input norm reads it.
                be.AddRmsNorm(x, sublayer, layer.InputNorm, eps, normed);
                recorder.Record($"hidden.layer.{l - 1}", x);
            }
            be.Linear(normed, layer.Wqkv, layer.Bqkv, qkv);
            be.Rope(new ColumnSlice(qkv, 0), heads, new ColumnSlice(qkv, q), kvHeads, headDim, positions, invFrequencies);
            if (cache is null)
            {
                be.Attention(new ColumnSlice(qkv, 0), new ColumnSlice(qkv, q), new ColumnSlice(qkv, q + kv), shape, mask, context);
            }
            else
            {
                cache.Write(l, qkv, q, q + kv, batch.Length);
                be.Attention(new ColumnSlice(qkv, 0), new ColumnSlice(cache.Keys(l), 0), new ColumnSlice(cache.Values(l), 0), shape, mask, context);
            }
            be.Linear(context, layer.Wo, layer.Bo, sublayer);
            be.AddRmsNorm(x, sublayer, layer.PostNorm, eps, normed);
            be.Linear(normed, layer.WGateUp, layer.BGateUp, gateUp);
            be.GatedActivation(activation, gateUp, gated);
            be.Linear(gated, layer.WDown, layer.BDown, sublayer);
        }
        cache?.Commit(batch);
        if (layers.Length == 0)
        {
            be.RmsNorm(x, finalNorm, eps, x);
            return recorder.Finish(x);
        }
        var output = be.Allocate(t, h);
        try
        {
            be.AddRmsNorm(x, sublayer, finalNorm, eps, output);
            recorder.Record($"hidden.layer.{layers.Length - 1}", x);
        }
        catch
        {
            output.Dispose();
            throw;
        }
        finally
        {
            x.Dispose();
        }
        return recorder.Finish(output);
    }

    /// <summary>Logits of the chosen rows of the final states through head (only those rows are projected).</summary>
    public static Tensor Logits(IBackend be, VocabularyProjection head, Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> vocabIds)
    {
        using var selected = be.Allocate(rows.Length, hidden.Columns);
        be.Gather(hidden, rows, selected);
        return head.Project(be, selected, vocabIds);
    }

    /// <summary><see cref="ILanguageModel.SummarizeLogits"/> of the chosen rows of the final states through head.</summary>
    public static LogitSummary SummarizeLogits(IBackend be, VocabularyProjection head, Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> ids)
    {
        using var selected = be.Allocate(rows.Length, hidden.Columns);
        be.Gather(hidden, rows, selected);
        return head.Summarize(be, selected, ids);
    }
}
