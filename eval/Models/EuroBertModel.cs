using Eval.Engine;
using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>
/// EuroBertForMaskedLM (EuroBERT 210m / 610m / 2.1B, multilingual, Llama-3 tokenizer with <c>&lt;|mask|&gt;</c>): the
/// Llama layer stack (<see cref="LlamaStack"/>: RMSNorm, RoPE θ from config.json, GQA, SwiGLU, final norm) without a
/// causal mask — every query sees every real key —, then logits = lm_head.weight (never tied) · the normed states,
/// with lm_head.bias where mlp_bias is true. The id it fills is config.json's mask_token_id.
/// </summary>
public sealed class EuroBertModel : ILanguageModel
{
    private const string Architecture = "EuroBertForMaskedLM";

    private readonly ModelWeights weights;
    private readonly LlamaStack stack;
    private readonly VocabularyProjection head;

    public EuroBertModel(ModelConfig config, IWeightSource source, IBackend backend)
    {
        Config = config;
        Backend = backend;
        weights = new ModelWeights(source, backend, Architecture);
        stack = new LlamaStack(config, weights, causal: false);
        head = stack.LoadHead(weights, bias: config.MlpBias);
    }

    public ModelConfig Config { get; }
    public IBackend Backend { get; }
    public long ParameterCount => weights.ParameterCount;
    public ModelKind Kind => ModelKind.Masked;
    public int MaxSequenceLength => Config.MaxPositionEmbeddings;
    public IReadOnlyList<int[]> ForwardInputs(TokenBatch batch) => [batch.Ids, batch.Mask, batch.SlotPositions()];

    public ModelOutput Forward(TokenBatch batch, bool keepHiddenStates = false) => stack.Run(Backend, batch, null, keepHiddenStates, Architecture);

    public Tensor Logits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> vocabIds = default) =>
        LlamaStack.Logits(Backend, head, hidden, rows, vocabIds);

    public LogitSummary SummarizeLogits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> ids = default) =>
        LlamaStack.SummarizeLogits(Backend, head, hidden, rows, ids);

    public void Dispose() => weights.Dispose();
}
