using Eval.Engine;
using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>
/// ModernBertForMaskedLM: token embeddings → LayerNorm; layers of pre-norm attention with rotary embeddings
/// (global every n-th layer, sliding window ±local_attention/2 otherwise, each with its own RoPE θ) and a GeGLU MLP;
/// final norm; head dense → GELU → norm; decoder tied to the embeddings, with bias.
/// </summary>
public sealed class ModernBertModel : ILanguageModel
{
    private sealed record Layer(
        Tensor? AttnNorm, Tensor? AttnNormBias, Tensor Wqkv, Tensor? WqkvBias, Tensor Wo, Tensor? WoBias,
        Tensor MlpNorm, Tensor? MlpNormBias, Tensor Wi, Tensor? WiBias, Tensor MlpWo, Tensor? MlpWoBias,
        bool IsGlobal, float[] InvFrequencies);

    private readonly ModelWeights weights;
    private readonly Tensor embeddings, embeddingNorm, finalNorm;
    private readonly Tensor? embeddingNormBias, finalNormBias;
    private readonly Layer[] layers;
    private readonly MaskedLmHead head;
    private readonly ActivationKind mlpActivation;
    private readonly float eps;

    public ModernBertModel(ModelConfig config, IWeightSource source, IBackend backend)
    {
        Config = config;
        Backend = backend;
        int h = config.HiddenSize, v = config.VocabSize, inner = config.IntermediateSize;
        config.RequirePositive(("hidden_size", h), ("vocab_size", v), ("intermediate_size", inner),
            ("num_hidden_layers", config.NumHiddenLayers), ("num_attention_heads", config.NumAttentionHeads));
        if (h % config.NumAttentionHeads != 0)
            throw new InvalidDataException($"{config.Path}: hidden_size {h} is not a multiple of num_attention_heads {config.NumAttentionHeads}");
        eps = (float)config.NormEpsilon;
        mlpActivation = config.Activation(config.HiddenActivation);
        bool nb = config.NormBias;
        weights = new ModelWeights(source, backend, "ModernBertForMaskedLM");

        embeddings = weights.Load("model.embeddings.tok_embeddings.weight", v, h);
        embeddingNorm = weights.Load("model.embeddings.norm.weight", h);
        embeddingNormBias = weights.LoadIf(nb, "model.embeddings.norm.bias", h);

        int headDim = h / config.NumAttentionHeads;
        var globalFrequencies = RotaryFrequencies.Compute(config.GlobalRopeTheta, headDim, null, config.Path);
        var localFrequencies = config.LocalRopeTheta is { } localTheta
            ? RotaryFrequencies.Compute(localTheta, headDim, null, config.Path)
            : globalFrequencies;
        layers = new Layer[config.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            string p = $"model.layers.{i}.";
            bool isGlobal = config.IsGlobalAttentionLayer(i);
            layers[i] = new Layer(
                AttnNorm: i == 0 ? null : weights.Load(p + "attn_norm.weight", h),
                AttnNormBias: i == 0 ? null : weights.LoadIf(nb, p + "attn_norm.bias", h),
                Wqkv: weights.Load(p + "attn.Wqkv.weight", 3 * h, h),
                WqkvBias: weights.LoadIf(config.AttentionBias, p + "attn.Wqkv.bias", 3 * h),
                Wo: weights.Load(p + "attn.Wo.weight", h, h),
                WoBias: weights.LoadIf(config.AttentionBias, p + "attn.Wo.bias", h),
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
        // ModernBERT-large ships without decoder.weight: the decoder shares the token embeddings.
        var decoderWeight = weights.LoadOptional("decoder.weight", v, h) ?? embeddings;
        head = new MaskedLmHead(
            weights.Load("head.dense.weight", h, h), weights.LoadIf(config.ClassifierBias, "head.dense.bias", h),
            config.Activation(config.ClassifierActivation),
            weights.Load("head.norm.weight", h), weights.LoadIf(nb, "head.norm.bias", h), eps,
            new VocabularyProjection(decoderWeight, weights.LoadIf(config.DecoderBias, "decoder.bias", v)));
    }

    public ModelConfig Config { get; }
    public IBackend Backend { get; }
    public long ParameterCount => weights.ParameterCount;
    public ModelKind Kind => ModelKind.Masked;
    public int MaxSequenceLength => Config.MaxPositionEmbeddings;

    public ModelOutput Forward(TokenBatch batch, bool keepHiddenStates = false)
    {
        var be = Backend;
        int t = batch.Tokens, h = Config.HiddenSize, heads = Config.NumAttentionHeads, headDim = h / heads;
        batch.RequireSingleSegment("ModernBertForMaskedLM");
        batch.RequireNoTokenTypes("ModernBertForMaskedLM");
        var recorder = new HiddenStateRecorder(be, keepHiddenStates);
        var positions = new int[t];
        for (int i = 0; i < t; i++) positions[i] = i % batch.Length;
        var shape = AttentionShape.Square(batch.Batch, batch.Length, heads, headDim);
        var globalMask = new AttentionMask(batch.Mask);
        var localMask = globalMask with { Window = AttentionWindow.Symmetric(Config.LocalAttention / 2) };

        var x = be.Allocate(t, h);                                  // residual stream [B·S, H]
        using var normed = be.Allocate(t, h);
        using var qkv = be.Allocate(t, 3 * h);
        using var attention = be.Allocate(t, h);
        using var projected = be.Allocate(t, h);
        using var gated = be.Allocate(t, 2 * Config.IntermediateSize);
        using var activated = be.Allocate(t, Config.IntermediateSize);

        be.Gather(embeddings, batch.Ids, x);
        be.LayerNorm(x, embeddingNorm, embeddingNormBias, eps, x);
        recorder.Record("hidden.embeddings", x);

        for (int l = 0; l < layers.Length; l++)
        {
            var layer = layers[l];
            var attentionInput = x;
            if (layer.AttnNorm is not null)
            {
                be.LayerNorm(x, layer.AttnNorm, layer.AttnNormBias, eps, normed);
                attentionInput = normed;
            }
            be.Linear(attentionInput, layer.Wqkv, layer.WqkvBias, qkv);
            be.Rope(new ColumnSlice(qkv, 0), heads, headDim, positions, layer.InvFrequencies);
            be.Rope(new ColumnSlice(qkv, h), heads, headDim, positions, layer.InvFrequencies);
            be.Attention(new ColumnSlice(qkv, 0), new ColumnSlice(qkv, h), new ColumnSlice(qkv, 2 * h), shape,
                layer.IsGlobal ? globalMask : localMask, attention);
            be.Linear(attention, layer.Wo, layer.WoBias, projected);
            be.Add(x, projected, x);

            be.LayerNorm(x, layer.MlpNorm, layer.MlpNormBias, eps, normed);
            be.Linear(normed, layer.Wi, layer.WiBias, gated);
            be.GatedActivation(mlpActivation, gated, activated);
            be.Linear(activated, layer.MlpWo, layer.MlpWoBias, projected);
            be.Add(x, projected, x);
            recorder.Record($"hidden.layer.{l}", x);
        }
        be.LayerNorm(x, finalNorm, finalNormBias, eps, x);
        return recorder.Finish(x);
    }

    public Tensor Logits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> vocabIds = default) =>
        head.Logits(Backend, hidden, rows, vocabIds);

    public void Dispose() => weights.Dispose();
}
