using Eval.Engine;
using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>
/// ModernBertForMaskedLM: the <see cref="ModernBertStack"/> (fused Wqkv) read bidirectionally — full attention in the
/// global layers, a window of ±local_attention/2 in the others —, then the head dense → GELU → norm and the decoder tied
/// to the embeddings, with bias.
/// </summary>
public sealed class ModernBertModel : ILanguageModel
{
    private const string Architecture = "ModernBertForMaskedLM";
    private readonly ModelWeights weights;
    private readonly ModernBertStack stack;
    private readonly MaskedLmHead head;

    public ModernBertModel(ModelConfig config, IWeightSource source, IBackend backend)
    {
        Config = config;
        Backend = backend;
        weights = new ModelWeights(source, backend, Architecture);
        try
        {
            stack = new ModernBertStack(config, weights, QkvLayout.Fused, Architecture);
            head = stack.LoadHead(weights, "head.");
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    public ModelConfig Config { get; }
    public IBackend Backend { get; }
    public long ParameterCount => weights.ParameterCount;
    public ModelKind Kind => ModelKind.Masked;
    public int MaxSequenceLength => Config.MaxPositionEmbeddings;
    public IReadOnlyList<int[]> ForwardInputs(TokenBatch batch) => [batch.Ids, batch.Mask, batch.SlotPositions()];

    public ModelOutput Forward(TokenBatch batch, bool keepHiddenStates = false)
    {
        batch.RequireSingleSegment(Architecture);
        batch.RequireNoTokenTypes(Architecture);
        int heads = Config.NumAttentionHeads;
        var positions = batch.SlotPositions();
        var shape = AttentionShape.Square(batch.Batch, batch.Length, heads, Config.HiddenSize / heads);
        var globalMask = new AttentionMask(batch.Mask);
        var localMask = globalMask with { Window = AttentionWindow.Symmetric(Config.LocalAttention / 2) };
        var recorder = new HiddenStateRecorder(Backend, keepHiddenStates);
        return recorder.Finish(stack.Run(Backend, batch, positions, shape, globalMask, localMask, cache: null, recorder));
    }

    public Tensor Logits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> vocabIds = default) =>
        head.Logits(Backend, hidden, rows, vocabIds);

    public LogitSummary SummarizeLogits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> ids = default) =>
        head.Summarize(Backend, hidden, rows, ids);

    public void Dispose() => weights.Dispose();
}
