using Eval.Engine;
using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>
/// BertForMaskedLM (bert-base/large cased/uncased, bert-base-multilingual-cased): word + position (0, 1, 2, … in every
/// row) + token-type embeddings → LayerNorm; XLM-R's post-LN layers; no final norm (<see cref="BertEncoderStack"/>); the
/// head cls.predictions.transform (dense → hidden_act → LayerNorm) → decoder tied to the word embeddings +
/// cls.predictions.bias. Tensors as save_pretrained writes them or as Google's converted checkpoints store them (LayerNorm
/// gamma / beta); the pretraining extras (pooler, seq_relationship, a copy of the decoder weight) are not read.
/// </summary>
public sealed class BertModel : ILanguageModel
{
    private const string Architecture = "BertForMaskedLM";

    private readonly ModelWeights weights;
    private readonly BertEncoderStack stack;
    private readonly MaskedLmHead head;

    public BertModel(ModelConfig config, IWeightSource source, IBackend backend)
    {
        Config = config;
        Backend = backend;
        int h = config.HiddenSize, v = config.VocabSize;
        weights = new ModelWeights(source, backend, Architecture);
        stack = new BertEncoderStack(config, weights, "bert.", Architecture);
        var (norm, normBias) = weights.LoadLayerNorm("cls.predictions.transform.LayerNorm.", h);
        head = new MaskedLmHead(
            weights.Load("cls.predictions.transform.dense.weight", h, h), weights.Load("cls.predictions.transform.dense.bias", h),
            config.Activation(config.HiddenActivation), norm, normBias, (float)config.NormEpsilon,
            new VocabularyProjection(stack.Words, weights.LoadEither("cls.predictions.bias", "cls.predictions.decoder.bias", v)));
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
