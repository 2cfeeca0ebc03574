using Eval.Engine;

namespace Eval.Models;

/// <summary>
/// What XLM-R and XLM-R XL share: word + position + token-type embeddings with RoBERTa position ids
/// (pad+1 onwards for real tokens, pad for padding), BERT-style self-attention with q/k/v fused into one projection,
/// and the LM head dense → GELU → LayerNorm → decoder tied to the word embeddings.
/// </summary>
internal sealed class RobertaComponents
{
    public sealed record SelfAttention(Tensor Wqkv, Tensor Bqkv, Tensor Wo, Tensor Bo);

    private readonly Tensor wordEmbeddings, positionEmbeddings, tokenTypes;
    private readonly MaskedLmHead head;
    private readonly Tensor? lengthEmbedding;
    private readonly int padId;

    /// <summary>Rows of Instruct-XLMR's length embedding: target lengths 0..511.</summary>
    public const int LengthClasses = 512;

    public RobertaComponents(ModelConfig config, ModelWeights weights)
    {
        int h = config.HiddenSize, v = config.VocabSize;
        config.RequirePositive(("hidden_size", h), ("vocab_size", v), ("intermediate_size", config.IntermediateSize),
            ("num_hidden_layers", config.NumHiddenLayers), ("num_attention_heads", config.NumAttentionHeads),
            ("max_position_embeddings", config.MaxPositionEmbeddings));
        if (h % config.NumAttentionHeads != 0)
            throw new InvalidDataException($"{config.Path}: hidden_size {h} is not a multiple of num_attention_heads {config.NumAttentionHeads}");
        padId = config.PadTokenId ?? 1;
        wordEmbeddings = weights.Load("roberta.embeddings.word_embeddings.weight", v, h);
        positionEmbeddings = weights.Load("roberta.embeddings.position_embeddings.weight", config.MaxPositionEmbeddings, h);
        tokenTypes = weights.Load("roberta.embeddings.token_type_embeddings.weight", config.TypeVocabSize, h);

        Epsilon = (float)config.NormEpsilon;
        var decoderWeight = weights.LoadOptional("lm_head.decoder.weight", v, h) ?? wordEmbeddings;
        var decoderBias = weights.LoadOptional("lm_head.bias", v) ?? weights.Load("lm_head.decoder.bias", v);
        head = new MaskedLmHead(weights.Load("lm_head.dense.weight", h, h), weights.Load("lm_head.dense.bias", h), ActivationKind.Gelu,
            weights.Load("lm_head.layer_norm.weight", h), weights.Load("lm_head.layer_norm.bias", h), Epsilon,
            new VocabularyProjection(decoderWeight, decoderBias));
        lengthEmbedding = weights.LoadOptional("embed_length.weight", LengthClasses, h);
    }

    public bool HasLengthHead => lengthEmbedding is not null;

    public float Epsilon { get; }

    /// <summary>Real tokens take positions padding_idx + 1 onwards, so padding_idx + 1 rows are never a token's.</summary>
    public int MaxSequenceLength => positionEmbeddings.Rows - padId - 1;

    public static SelfAttention LoadSelfAttention(ModelWeights weights, string prefix, int h) => new(
        weights.LoadRows([prefix + "self.query.weight", prefix + "self.key.weight", prefix + "self.value.weight"], [[h, h], [h, h], [h, h]]),
        weights.LoadRows([prefix + "self.query.bias", prefix + "self.key.bias", prefix + "self.value.bias"], [[h], [h], [h]]),
        weights.Load(prefix + "output.dense.weight", h, h),
        weights.Load(prefix + "output.dense.bias", h));

    /// <summary>
    /// RoBERTa position ids: padding keeps padding_idx, real tokens count up from padding_idx + 1, and in the
    /// source-then-target layout the target counts from padding_idx + 1 again.
    /// </summary>
    public int[] PositionIds(TokenBatch batch)
    {
        var positions = new int[batch.Tokens];
        for (int b = 0; b < batch.Batch; b++)
        {
            int count = 0, targetStart = batch.SourceLengths?[b] ?? -1;
            for (int i = 0; i < batch.Length; i++)
            {
                if (i == targetStart) count = 0;
                int index = b * batch.Length + i;
                positions[index] = batch.Ids[index] != padId ? padId + ++count : padId;
                if (positions[index] >= positionEmbeddings.Rows)
                    throw new ArgumentException(
                        $"sequence {b} is longer than the model's {positionEmbeddings.Rows - padId - 1} positions");
            }
        }
        return positions;
    }

    /// <summary>x = word[ids] + position[pos] + tokenType[0] (before any LayerNorm): every input has token type 0.</summary>
    public void Embed(IBackend be, TokenBatch batch, Tensor x)
    {
        using var added = be.Allocate(x.Rows, x.Columns);
        be.Gather(wordEmbeddings, batch.Ids, x);
        be.Gather(positionEmbeddings, PositionIds(batch), added);
        be.Add(x, added, x);
        be.Gather(tokenTypes, new int[x.Rows], added);
        be.Add(x, added, x);
    }

    /// <summary>
    /// The attention geometry of one forward: a plain or source-then-target batch on its own, or a batch after what
    /// cache holds (its keys and values join the cache's for this call; checked to fit).
    /// </summary>
    public static (AttentionShape Shape, AttentionMask Mask) AttentionFor(TokenBatch batch, KvCache? cache, int heads, int headDim)
    {
        if (cache is null)
            return (AttentionShape.Square(batch.Batch, batch.Length, heads, headDim), new AttentionMask(batch.Mask) { SourceLengths = batch.SourceLengths });
        if (batch.SourceLengths is not null)
            throw new ArgumentException("a batch run against a cache is a source or a target, not both");
        cache.CheckFits(batch.Batch, batch.Length);
        return (new AttentionShape(batch.Batch, batch.Length, cache.Length + batch.Length, cache.Capacity, heads, heads, headDim),
            new AttentionMask(cache.KeyValidWith(batch)));
    }

    /// <summary>
    /// Self-attention of the normalised input into output, without the output projection's bias (<see cref="SelfAttention.Bo"/>):
    /// the caller adds it with the residual (<see cref="IBackend.AddLayerNorm"/>'s xBias). With a cache, the layer's keys and
    /// values go through it.
    /// </summary>
    public static void Attend(IBackend be, SelfAttention a, Tensor input, TokenBatch batch, (AttentionShape Shape, AttentionMask Mask) geometry,
        KvCache? cache, int layer, Tensor qkv, Tensor context, Tensor output)
    {
        int h = input.Columns;
        be.Linear(input, a.Wqkv, a.Bqkv, qkv);
        if (cache is null)
        {
            be.Attention(new ColumnSlice(qkv, 0), new ColumnSlice(qkv, h), new ColumnSlice(qkv, 2 * h), geometry.Shape, geometry.Mask, context);
        }
        else
        {
            cache.Write(layer, qkv, h, 2 * h, batch.Length);
            be.Attention(new ColumnSlice(qkv, 0), new ColumnSlice(cache.Keys(layer), 0), new ColumnSlice(cache.Values(layer), 0),
                geometry.Shape, geometry.Mask, context);
        }
        be.Linear(context, a.Wo, null, output);
    }

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
