using Eval.Engine;
using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>
/// XLMRobertaForMaskedLM / RobertaForMaskedLM (post-LN BERT): embeddings → LayerNorm; each layer
/// x = LN(x + Attention(x)), x = LN(x + FFN(x)) with a GELU FFN; LM head tied to the word embeddings.
/// </summary>
public sealed class XlmRobertaModel : ISourceTargetModel
{
    private readonly ModelWeights weights;
    private readonly RobertaComponents parts;
    private readonly Tensor embeddingNorm, embeddingNormBias;
    private readonly PostLayerNormEncoder encoder;

    public XlmRobertaModel(ModelConfig config, IWeightSource source, IBackend backend, string architecture = "XLMRobertaForMaskedLM")
    {
        Config = config;
        Backend = backend;
        weights = new ModelWeights(source, backend, architecture);
        parts = new RobertaComponents(config, weights, architecture);
        (embeddingNorm, embeddingNormBias) = weights.LoadLayerNorm("roberta.embeddings.LayerNorm.", config.HiddenSize);
        encoder = new PostLayerNormEncoder(config, weights, "roberta.encoder.layer.");
    }

    public ModelConfig Config { get; }
    public IBackend Backend { get; }
    public long ParameterCount => weights.ParameterCount;
    public ModelKind Kind => ModelKind.SourceTarget;
    public int MaxSequenceLength => parts.MaxSequenceLength;
    public IReadOnlyList<int[]> ForwardInputs(TokenBatch batch) => parts.ForwardInputs(batch);

    public bool HasLengthHead => parts.HasLengthHead;

    public KvCache CreateCache(int batch, int capacity) => new(Backend, encoder.LayerCount, batch, capacity, Config.HiddenSize);

    public ModelOutput Forward(TokenBatch batch, bool keepHiddenStates = false) => Run(batch, null, false, keepHiddenStates);

    public ModelOutput Forward(TokenBatch batch, KvCache cache, bool append, bool keepHiddenStates = false) =>
        Run(batch, cache, append, keepHiddenStates);

    public int[]? PredictTargetLengths(Tensor sourceHidden, TokenBatch source) => parts.PredictTargetLengths(Backend, sourceHidden, source);

    public Tensor? LengthLogits(Tensor sourceHidden, TokenBatch source) => parts.LengthLogits(Backend, sourceHidden, source);

    private ModelOutput Run(TokenBatch batch, KvCache? cache, bool append, bool keepHiddenStates)
    {
        var be = Backend;
        var geometry = encoder.Geometry(batch, cache);
        var recorder = new HiddenStateRecorder(be, keepHiddenStates);
        var x = parts.Embed(be, batch);                             // [B·S, H]
        be.LayerNorm(x, embeddingNorm, embeddingNormBias, parts.Epsilon, x);
        recorder.Record("hidden.embeddings", x);
        encoder.Run(be, x, batch, geometry, cache, recorder);
        if (append) cache!.Commit(batch);
        return recorder.Finish(x);
    }

    public Tensor Logits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> vocabIds = default) =>
        parts.Logits(Backend, hidden, rows, vocabIds);

    public LogitSummary SummarizeLogits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> ids = default) =>
        parts.SummarizeLogits(Backend, hidden, rows, ids);

    public void Dispose() => weights.Dispose();
}
