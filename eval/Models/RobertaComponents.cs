using Eval.Engine;

namespace Eval.Models;

/// <summary>
/// What XLM-R and XLM-R XL share: the BERT family's word + position + token-type embeddings with RoBERTa position ids
/// (pad+1 onwards for real tokens, pad for padding), and the LM head dense → GELU → LayerNorm → decoder tied to the
/// word embeddings; and Instruct-XLMR's length head where the checkpoint has one.
/// </summary>
internal sealed class RobertaComponents
{
    private readonly BertEmbeddings embeddings;
    private readonly MaskedLmHead head;
    private readonly Tensor? lengthEmbedding;

    /// <summary>Rows of Instruct-XLMR's length embedding: target lengths 0..511.</summary>
    public const int LengthClasses = 512;

    public RobertaComponents(ModelConfig config, ModelWeights weights, string architecture)
    {
        int h = config.HiddenSize, v = config.VocabSize;
        embeddings = new BertEmbeddings(config, weights, "roberta.embeddings.", h, PositionIdScheme.AfterPadding, architecture);
        Epsilon = (float)config.NormEpsilon;
        var decoderWeight = weights.LoadOptional("lm_head.decoder.weight", v, h) ?? embeddings.Words;
        var decoderBias = weights.LoadOptional("lm_head.bias", v) ?? weights.Load("lm_head.decoder.bias", v);
        var (norm, normBias) = weights.LoadLayerNorm("lm_head.layer_norm.", h);
        head = new MaskedLmHead(weights.Load("lm_head.dense.weight", h, h), weights.Load("lm_head.dense.bias", h), ActivationKind.Gelu,
            norm, normBias, Epsilon, new VocabularyProjection(decoderWeight, decoderBias));
        lengthEmbedding = weights.LoadOptional("embed_length.weight", LengthClasses, h);
    }

    public bool HasLengthHead => lengthEmbedding is not null;

    public float Epsilon { get; }

    /// <summary>Real tokens take positions padding_idx + 1 onwards, so padding_idx + 1 rows are never a token's.</summary>
    public int MaxSequenceLength => embeddings.MaxSequenceLength;

    /// <summary>
    /// What a forward uploads (<see cref="ILanguageModel.ForwardInputs"/>): the embeddings' ids, position ids and token
    /// types, the mask, and a source-then-target batch's source lengths.
    /// </summary>
    public IReadOnlyList<int[]> ForwardInputs(TokenBatch batch) =>
        batch.SourceLengths is { } sources ? [.. embeddings.Inputs(batch), batch.Mask, sources] : [.. embeddings.Inputs(batch), batch.Mask];

    /// <summary>A new tensor x = word[ids] + position[RoBERTa positions] + tokenType[types] (before any LayerNorm).</summary>
    public Tensor Embed(IBackend be, TokenBatch batch) => embeddings.Embed(be, batch);

    /// <summary>
    /// Instruct-XLMR's length head, when the checkpoint has one (embed_length.weight, [512, hidden]): the mean of the
    /// source's final hidden states over its real tokens, times the length embeddings, argmax — the target length
    /// counting its &lt;s&gt; and &lt;/s&gt;.
    /// </summary>
    public int[]? PredictTargetLengths(IBackend be, Tensor sourceHidden, TokenBatch source)
    {
        using var scores = LengthLogits(be, sourceHidden, source);
        if (scores is null) return null;
        return Enumerable.Range(0, source.Batch)
            .Select(b => System.Numerics.Tensors.TensorPrimitives.IndexOfMax(scores.Row(b))).ToArray();
    }

    /// <summary>The length head's scores on the host, [batch, 512] (before the argmax), or null without a length head.</summary>
    public Tensor? LengthLogits(IBackend be, Tensor sourceHidden, TokenBatch source)
    {
        if (lengthEmbedding is null) return null;
        var include = new int[source.Tokens];
        for (int b = 0; b < source.Batch; b++)
        {
            int end = source.SourceLengths?[b] ?? source.Length;
            for (int i = 0; i < end; i++) include[b * source.Length + i] = source.Mask[b * source.Length + i];
        }
        using var pooled = be.Allocate(source.Batch, sourceHidden.Columns);
        be.MeanPool(sourceHidden, source.Length, include, pooled);
        var deviceScores = be.Allocate(source.Batch, lengthEmbedding.Rows);
        try
        {
            be.Linear(pooled, lengthEmbedding, null, deviceScores);
        }
        catch
        {
            deviceScores.Dispose();
            throw;
        }
        return be.TakeToHost(deviceScores);   // takes ownership: the CPU backend returns the tensor itself
    }

    public Tensor Logits(IBackend be, Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> vocabIds) =>
        head.Logits(be, hidden, rows, vocabIds);

    public LogitSummary SummarizeLogits(IBackend be, Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> ids) =>
        head.Summarize(be, hidden, rows, ids);
}
