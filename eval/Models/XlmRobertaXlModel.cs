using Eval.Engine;
using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>
/// XLMRobertaXLForMaskedLM (XL and XXL, pre-LN): embeddings without LayerNorm; each layer
/// x += Attention(LN(x)), x += FFN(LN(x)); a final encoder LayerNorm; the same LM head as XLM-R.
/// </summary>
public sealed class XlmRobertaXlModel : ISourceTargetModel
{
    private sealed record Layer(Tensor AttnNorm, Tensor AttnNormBias, BertAttention.Weights Attention,
        Tensor FfnNorm, Tensor FfnNormBias, Tensor Wi, Tensor Bi, Tensor Wout, Tensor Bout);

    private readonly ModelWeights weights;
    private readonly RobertaComponents parts;
    private readonly Tensor finalNorm, finalNormBias;
    private readonly Layer[] layers;
    private readonly ActivationKind activation;

    public XlmRobertaXlModel(ModelConfig config, IWeightSource source, IBackend backend)
    {
        Config = config;
        Backend = backend;
        weights = new ModelWeights(source, backend, "XLMRobertaXLForMaskedLM");
        parts = new RobertaComponents(config, weights, "XLMRobertaXLForMaskedLM");
        activation = config.Activation(config.HiddenActivation);
        int h = config.HiddenSize, inner = config.IntermediateSize;
        layers = new Layer[config.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            string p = $"roberta.encoder.layer.{i}.";
            layers[i] = new Layer(
                weights.Load(p + "attention.self_attn_layer_norm.weight", h),
                weights.Load(p + "attention.self_attn_layer_norm.bias", h),
                BertAttention.Load(weights, p + "attention.", h),
                weights.Load(p + "LayerNorm.weight", h),
                weights.Load(p + "LayerNorm.bias", h),
                weights.Load(p + "intermediate.dense.weight", inner, h),
                weights.Load(p + "intermediate.dense.bias", inner),
                weights.Load(p + "output.dense.weight", h, inner),
                weights.Load(p + "output.dense.bias", h));
        }
        finalNorm = weights.Load("roberta.encoder.LayerNorm.weight", h);
        finalNormBias = weights.Load("roberta.encoder.LayerNorm.bias", h);
    }

    public ModelConfig Config { get; }
    public IBackend Backend { get; }
    public long ParameterCount => weights.ParameterCount;
    public ModelKind Kind => ModelKind.SourceTarget;
    public int MaxSequenceLength => parts.MaxSequenceLength;
    public IReadOnlyList<int[]> ForwardInputs(TokenBatch batch) => parts.ForwardInputs(batch);

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
        var geometry = BertAttention.Geometry(batch, cache, Config.NumAttentionHeads, h / Config.NumAttentionHeads);
        var recorder = new HiddenStateRecorder(be, keepHiddenStates);
        var x = parts.Embed(be, batch);                             // [B·S, H]
        // normed and inner are read only by a Linear: GEMM inputs, stored as the GEMM reads them.
        using var normed = be.AllocateGemmInput(t, h);
        using var qkv = be.Allocate(t, 3 * h);
        using var context = be.Allocate(t, h);
        using var sublayer = be.Allocate(t, h);
        using var inner = be.AllocateGemmInput(t, Config.IntermediateSize);

        recorder.Record("hidden.embeddings", x);

        for (int l = 0; l < layers.Length; l++)
        {
            var layer = layers[l];
            if (l == 0)
            {
                be.LayerNorm(x, layer.AttnNorm, layer.AttnNormBias, eps, normed);
            }
            else
            {
                // The previous layer's FFN output (and its bias) joins the residual as this layer's attention norm reads it.
                be.AddLayerNorm(x, sublayer, layers[l - 1].Bout, layer.AttnNorm, layer.AttnNormBias, eps, normed);
                recorder.Record($"hidden.layer.{l - 1}", x);
            }
            BertAttention.Attend(be, layer.Attention, normed, batch, geometry, cache, l, qkv, context, sublayer);
            be.AddLayerNorm(x, sublayer, layer.Attention.Bo, layer.FfnNorm, layer.FfnNormBias, eps, normed);
            be.LinearActivation(activation, normed, layer.Wi, layer.Bi, inner);
            be.Linear(inner, layer.Wout, null, sublayer);
        }
        if (append) cache!.Commit(batch);
        if (layers.Length == 0)
        {
            be.LayerNorm(x, finalNorm, finalNormBias, eps, x);
            return recorder.Finish(x);
        }
        var output = be.Allocate(t, h);
        try
        {
            be.AddLayerNorm(x, sublayer, layers[^1].Bout, finalNorm, finalNormBias, eps, output);
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

    public Tensor Logits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> vocabIds = default) =>
        parts.Logits(Backend, hidden, rows, vocabIds);

    public LogitSummary SummarizeLogits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> ids = default) =>
        parts.SummarizeLogits(Backend, hidden, rows, ids);

    public void Dispose() => weights.Dispose();
}
