using Eval.Engine;
using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>
/// ElectraForMaskedLM, the ELECTRA generators (google/electra-*-generator): BERT's encoder (<see cref="BertEncoderStack"/>)
/// with embeddings embedding_size wide, projected by electra.embeddings_project up to hidden_size where the two differ
/// (small 128 → 256, base 768 → 256, large 1024 → 256); the generator head generator_predictions.dense
/// (hidden_size → embedding_size) → GELU → LayerNorm, then the decoder tied to the word embeddings + generator_lm_head.bias
/// (a generator_lm_head.weight copy in pickles is not read).
/// </summary>
public sealed class ElectraModel : ILanguageModel
{
    private const string Architecture = "ElectraForMaskedLM";

    private readonly ModelWeights weights;
    private readonly BertEncoderStack stack;
    private readonly MaskedLmHead head;

    public ElectraModel(ModelConfig config, IWeightSource source, IBackend backend)
    {
        Config = config;
        Backend = backend;
        weights = new ModelWeights(source, backend, Architecture);
        stack = new BertEncoderStack(config, weights, "electra.", Architecture);
        int h = config.HiddenSize, v = config.VocabSize, e = stack.EmbeddingWidth;
        var (norm, normBias) = weights.LoadLayerNorm("generator_predictions.LayerNorm.", e);
        // ElectraGeneratorPredictions applies the exact GELU whatever hidden_act says.
        head = new MaskedLmHead(
            weights.Load("generator_predictions.dense.weight", e, h), weights.Load("generator_predictions.dense.bias", e),
            ActivationKind.Gelu, norm, normBias, (float)config.NormEpsilon,
            new VocabularyProjection(stack.Words, weights.Load("generator_lm_head.bias", v)));
    }

    public ModelConfig Config { get; }
    public IBackend Backend { get; }
    public long ParameterCount => weights.ParameterCount;
    public ModelKind Kind => ModelKind.Masked;
    public int MaxSequenceLength => stack.MaxSequenceLength;
    public IReadOnlyList<int[]> ForwardInputs(TokenBatch batch) => stack.ForwardInputs(batch);

    public ModelOutput Forward(TokenBatch batch, bool keepHiddenStates = false) => stack.Run(Backend, batch, keepHiddenStates);

    public Tensor Logits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> vocabIds = default) =>
        head.Logits(Backend, hidden, rows, vocabIds);

    public LogitSummary SummarizeLogits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> ids = default) =>
        head.Summarize(Backend, hidden, rows, ids);

    public void Dispose() => weights.Dispose();
}
