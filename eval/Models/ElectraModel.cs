using Eval.Engine;
using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>
/// ElectraForMaskedLM, the ELECTRA generators (google/electra-*-generator): BERT's embeddings embedding_size wide
/// (positions from 0, token types) → LayerNorm → electra.embeddings_project up to hidden_size (present exactly when the
/// two sizes differ: small 128 → 256, base 768 → 256, large 1024 → 256); BERT's post-LN layers; the generator head
/// generator_predictions.dense (hidden_size → embedding_size) → GELU → LayerNorm, then the decoder tied to the word
/// embeddings + generator_lm_head.bias (a generator_lm_head.weight copy in pickles is not read).
/// </summary>
public sealed class ElectraModel : ILanguageModel
{
    private const string Architecture = "ElectraForMaskedLM";

    private readonly ModelWeights weights;
    private readonly BertEmbeddings embeddings;
    private readonly Tensor embeddingNorm, embeddingNormBias;
    private readonly Tensor? projection, projectionBias;
    private readonly PostLayerNormEncoder encoder;
    private readonly MaskedLmHead head;
    private readonly float eps;

    public ElectraModel(ModelConfig config, IWeightSource source, IBackend backend)
    {
        Config = config;
        Backend = backend;
        int h = config.HiddenSize, v = config.VocabSize;
        int e = config.EmbeddingSize > 0 ? config.EmbeddingSize : h;
        eps = (float)config.NormEpsilon;
        weights = new ModelWeights(source, backend, Architecture);
        embeddings = new BertEmbeddings(config, weights, "electra.embeddings.", e, PositionIdScheme.FromZero, Architecture);
        (embeddingNorm, embeddingNormBias) = weights.LoadLayerNorm("electra.embeddings.LayerNorm.", e);
        if (e != h)
        {
            var reason = $"{config.Path} has embedding_size {e} and hidden_size {h}, so the embeddings are projected";
            projection = weights.LoadBecause(reason, "electra.embeddings_project.weight", h, e);
            projectionBias = weights.LoadBecause(reason, "electra.embeddings_project.bias", h);
        }
        encoder = new PostLayerNormEncoder(config, weights, "electra.encoder.layer.");
        var (norm, normBias) = weights.LoadLayerNorm("generator_predictions.LayerNorm.", e);
        // ElectraGeneratorPredictions applies the exact GELU whatever hidden_act says.
        head = new MaskedLmHead(
            weights.Load("generator_predictions.dense.weight", e, h), weights.Load("generator_predictions.dense.bias", e),
            ActivationKind.Gelu, norm, normBias, eps,
            new VocabularyProjection(embeddings.Words, weights.Load("generator_lm_head.bias", v)));
    }

    public ModelConfig Config { get; }
    public IBackend Backend { get; }
    public long ParameterCount => weights.ParameterCount;
    public ModelKind Kind => ModelKind.Masked;
    public int MaxSequenceLength => embeddings.MaxSequenceLength;

    public ModelOutput Forward(TokenBatch batch, bool keepHiddenStates = false)
    {
        var be = Backend;
        batch.RequireSingleSegment(Architecture);
        var geometry = encoder.Geometry(batch, null);
        var recorder = new HiddenStateRecorder(be, keepHiddenStates);
        var x = embeddings.Embed(be, batch);                        // [B·S, embedding_size]
        be.LayerNorm(x, embeddingNorm, embeddingNormBias, eps, x);
        if (projection is not null)
        {
            var projected = be.Allocate(batch.Tokens, Config.HiddenSize);
            be.Linear(x, projection, projectionBias, projected);
            x.Dispose();
            x = projected;
        }
        recorder.Record("hidden.embeddings", x);
        encoder.Run(be, x, batch, geometry, null, recorder);
        return recorder.Finish(x);
    }

    public Tensor Logits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> vocabIds = default) =>
        head.Logits(Backend, hidden, rows, vocabIds);

    public void Dispose() => weights.Dispose();
}
