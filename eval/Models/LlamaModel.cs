using Eval.Engine;
using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>
/// LlamaForCausalLM and Qwen2ForCausalLM: token embeddings; layers of x += Attention(RMSNorm(x)) with RoPE,
/// grouped-query heads and optional q/k/v bias (Qwen2), x += SwiGLU(RMSNorm(x)); final RMSNorm; lm_head tied to the
/// embeddings or not. Incremental decoding appends keys and values to a <see cref="KvCache"/>.
/// </summary>
public sealed class LlamaModel : ICausalLanguageModel
{
    private sealed record Layer(Tensor InputNorm, Tensor Wqkv, Tensor? Bqkv, Tensor Wo, Tensor? Bo,
        Tensor PostNorm, Tensor WGateUp, Tensor? BGateUp, Tensor WDown, Tensor? BDown);

    private readonly ModelWeights weights;
    private readonly Tensor embeddings, finalNorm;
    private readonly Layer[] layers;
    private readonly VocabularyProjection head;
    private readonly float[] invFrequencies;
    private readonly ActivationKind activation;
    private readonly int heads, kvHeads, headDim;
    private readonly float eps;

    public LlamaModel(ModelConfig config, IWeightSource source, IBackend backend, string architecture)
    {
        Config = config;
        Backend = backend;
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
        // Qwen2 always has q/k/v biases; Llama has them when attention_bias is set.
        bool qkvBias = config.AttentionBias || config.ModelType == "qwen2";
        bool outBias = config.AttentionBias && config.ModelType != "qwen2";
        int q = heads * headDim, kv = kvHeads * headDim;
        weights = new ModelWeights(source, backend, architecture);

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
        var headWeight = weights.LoadOptional("lm_head.weight", v, h)
            ?? (config.TieWordEmbeddings
                ? embeddings
                : throw new CheckpointFormatException(
                    $"{source.Description}: tensor 'lm_head.weight' required by {architecture} is missing and tie_word_embeddings is false"));
        head = new VocabularyProjection(headWeight, null);
    }

    public ModelConfig Config { get; }
    public IBackend Backend { get; }
    public long ParameterCount => weights.ParameterCount;
    public ModelKind Kind => ModelKind.Causal;
    public int MaxSequenceLength => Config.MaxPositionEmbeddings;

    public KvCache CreateCache(int batch, int capacity) =>
        new(Backend, layers.Length, batch, capacity, kvHeads * headDim);

    public ModelOutput Forward(TokenBatch batch, bool keepHiddenStates = false) => Run(batch, null, keepHiddenStates);

    public ModelOutput Forward(TokenBatch batch, KvCache cache, bool keepHiddenStates = false) => Run(batch, cache, keepHiddenStates);

    private ModelOutput Run(TokenBatch batch, KvCache? cache, bool keepHiddenStates)
    {
        var be = Backend;
        int t = batch.Tokens, h = Config.HiddenSize, q = heads * headDim, kv = kvHeads * headDim;
        int past = cache?.Length ?? 0;
        cache?.CheckFits(batch.Batch, batch.Length);
        var recorder = new HiddenStateRecorder(be, keepHiddenStates);
        batch.RequireSingleSegment(Config.Architectures.FirstOrDefault() ?? Config.ModelType);
        var positions = cache?.PositionsOf(batch) ?? Enumerable.Range(0, t).Select(i => i % batch.Length).ToArray();
        var mask = new AttentionMask(cache?.KeyValidWith(batch) ?? batch.Mask) { Causal = true, QueryStart = past };
        var shape = cache is null
            ? new AttentionShape(batch.Batch, batch.Length, batch.Length, batch.Length, heads, kvHeads, headDim)
            : new AttentionShape(batch.Batch, batch.Length, past + batch.Length, cache.Capacity, heads, kvHeads, headDim);

        var x = be.Allocate(t, h);                                  // residual stream [B·S, H]
        using var normed = be.Allocate(t, h);
        using var qkv = be.Allocate(t, q + 2 * kv);
        using var context = be.Allocate(t, q);
        using var sublayer = be.Allocate(t, h);
        using var gateUp = be.Allocate(t, 2 * Config.IntermediateSize);
        using var gated = be.Allocate(t, Config.IntermediateSize);

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
