using Eval.Engine;
using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>
/// XLMRobertaForMaskedLM / RobertaForMaskedLM (post-LN BERT): embeddings → LayerNorm; each layer
/// x = LN(x + Attention(x)), x = LN(x + FFN(x)) with a GELU FFN; LM head tied to the word embeddings.
/// </summary>
public sealed class XlmRobertaModel : ISourceTargetModel
{
    private sealed record Layer(RobertaComponents.SelfAttention Attention, Tensor AttnNorm, Tensor AttnNormBias,
        Tensor Wi, Tensor Bi, Tensor Wout, Tensor Bout, Tensor OutNorm, Tensor OutNormBias);

    private readonly ModelWeights weights;
    private readonly RobertaComponents parts;
    private readonly Tensor embeddingNorm, embeddingNormBias;
    private readonly Layer[] layers;
    private readonly ActivationKind activation;

    public XlmRobertaModel(ModelConfig config, IWeightSource source, IBackend backend, string architecture = "XLMRobertaForMaskedLM")
    {
        Config = config;
        Backend = backend;
        weights = new ModelWeights(source, backend, architecture);
        parts = new RobertaComponents(config, weights);
        activation = config.Activation(config.HiddenActivation);
        int h = config.HiddenSize, inner = config.IntermediateSize;
        embeddingNorm = weights.Load("roberta.embeddings.LayerNorm.weight", h);
        embeddingNormBias = weights.Load("roberta.embeddings.LayerNorm.bias", h);
        layers = new Layer[config.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            string p = $"roberta.encoder.layer.{i}.";
            layers[i] = new Layer(
                RobertaComponents.LoadSelfAttention(weights, p + "attention.", h),
                weights.Load(p + "attention.output.LayerNorm.weight", h),
                weights.Load(p + "attention.output.LayerNorm.bias", h),
                weights.Load(p + "intermediate.dense.weight", inner, h),
                weights.Load(p + "intermediate.dense.bias", inner),
                weights.Load(p + "output.dense.weight", h, inner),
                weights.Load(p + "output.dense.bias", h),
                weights.Load(p + "output.LayerNorm.weight", h),
                weights.Load(p + "output.LayerNorm.bias", h));
        }
    }

    public ModelConfig Config { get; }
    public IBackend Backend { get; }
    public long ParameterCount => weights.ParameterCount;
    public ModelKind Kind => ModelKind.SourceTarget;
    public int MaxSequenceLength => parts.MaxSequenceLength;

    public bool HasLengthHead => parts.HasLengthHead;

    public KvCache CreateCache(int batch, int capacity) => new(Backend, layers.Length, batch, capacity, Config.HiddenSize);

    public ModelOutput Forward(TokenBatch batch, bool keepHiddenStates = false) => Run(batch, null, false, keepHiddenStates);

    public ModelOutput Forward(TokenBatch batch, KvCache cache, bool append, bool keepHiddenStates = false) =>
        Run(batch, cache, append, keepHiddenStates);

    public int[]? PredictTargetLengths(Tensor sourceHidden, TokenBatch source) => parts.PredictTargetLengths(Backend, sourceHidden, source);

    public Tensor? LengthLogits(Tensor sourceHidden, TokenBatch source) => parts.LengthLogits(Backend, sourceHidden, source);

    private ModelOutput Run(TokenBatch batch, KvCache? cache, bool append, bool keepHiddenStates)
    {
        var be = Backend;
        int t = batch.Tokens, h = Config.HiddenSize;
        float eps = parts.Epsilon;
        var geometry = RobertaComponents.AttentionFor(batch, cache, Config.NumAttentionHeads, h / Config.NumAttentionHeads);
        var recorder = new HiddenStateRecorder(be, keepHiddenStates);
        var x = be.Allocate(t, h);                                  // [B·S, H]
        using var qkv = be.Allocate(t, 3 * h);
        using var context = be.Allocate(t, h);
        using var sublayer = be.Allocate(t, h);
        using var inner = be.Allocate(t, Config.IntermediateSize);

        parts.Embed(be, batch, x);
        be.LayerNorm(x, embeddingNorm, embeddingNormBias, eps, x);
        recorder.Record("hidden.embeddings", x);

        for (int l = 0; l < layers.Length; l++)
        {
            var layer = layers[l];
            RobertaComponents.Attend(be, layer.Attention, x, batch, geometry, cache, l, qkv, context, sublayer);
            be.AddLayerNorm(x, sublayer, layer.Attention.Bo, layer.AttnNorm, layer.AttnNormBias, eps, x);

            be.LinearActivation(activation, x, layer.Wi, layer.Bi, inner);
            be.Linear(inner, layer.Wout, null, sublayer);
            be.AddLayerNorm(x, sublayer, layer.Bout, layer.OutNorm, layer.OutNormBias, eps, x);
            recorder.Record($"hidden.layer.{l}", x);
        }
        if (append) cache!.Commit(batch);
        return recorder.Finish(x);
    }

    public Tensor Logits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> vocabIds = default) =>
        parts.Logits(Backend, hidden, rows, vocabIds);

    public LogitSummary SummarizeLogits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> ids = default) =>
        parts.SummarizeLogits(Backend, hidden, rows, ids);

    public void Dispose() => weights.Dispose();
}
