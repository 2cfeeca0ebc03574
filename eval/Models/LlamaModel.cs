using Eval.Engine;
using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>
/// LlamaForCausalLM and Qwen2ForCausalLM: the Llama layer stack (<see cref="LlamaStack"/>: RMSNorm, RoPE, grouped-query
/// heads, optional q/k/v bias for Qwen2, SwiGLU, final RMSNorm) under a causal mask; lm_head tied to the embeddings or
/// not. Incremental decoding appends keys and values to a <see cref="KvCache"/>.
/// </summary>
public sealed class LlamaModel : ICausalLanguageModel
{
    private readonly ModelWeights weights;
    private readonly LlamaStack stack;
    private readonly VocabularyProjection head;
    private readonly string architecture;

    public LlamaModel(ModelConfig config, IWeightSource source, IBackend backend, string architecture)
    {
        Config = config;
        Backend = backend;
        this.architecture = architecture;
        weights = new ModelWeights(source, backend, architecture);
        stack = new LlamaStack(config, weights, causal: true);
        head = stack.LoadHead(weights, bias: false);
    }

    public ModelConfig Config { get; }
    public IBackend Backend { get; }
    public long ParameterCount => weights.ParameterCount;
    public ModelKind Kind => ModelKind.Causal;
    public int MaxSequenceLength => Config.MaxPositionEmbeddings;
    public IReadOnlyList<int[]> ForwardInputs(TokenBatch batch) => [batch.Ids, batch.Mask, batch.SlotPositions()];

    public KvCache CreateCache(int batch, int capacity) => new(Backend, stack.LayerCount, batch, capacity, stack.KeyValueWidth);

    public ModelOutput Forward(TokenBatch batch, bool keepHiddenStates = false) => stack.Run(Backend, batch, null, keepHiddenStates, architecture);

    public ModelOutput Forward(TokenBatch batch, KvCache cache, bool keepHiddenStates = false) =>
        stack.Run(Backend, batch, cache, keepHiddenStates, architecture);

    public Tensor Logits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> vocabIds = default) =>
        LlamaStack.Logits(Backend, head, hidden, rows, vocabIds);

    public LogitSummary SummarizeLogits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> ids = default) =>
        LlamaStack.SummarizeLogits(Backend, head, hidden, rows, ids);

    public void Dispose() => weights.Dispose();
}
