using Eval.Engine;

namespace Eval.Models;

/// <summary>Where the BERT family's position ids start.</summary>
internal enum PositionIdScheme
{
    /// <summary>BERT, ELECTRA: 0, 1, 2, … in every row (transformers' arange; neither padding nor the mask enters).</summary>
    FromZero,

    /// <summary>RoBERTa, XLM-R: real tokens count from padding_idx + 1, padding keeps padding_idx, a target counts again.</summary>
    AfterPadding,
}

/// <summary>
/// The BERT family's embeddings under prefix: word_embeddings[id] + position_embeddings[position] +
/// token_type_embeddings[type], width wide (hidden_size; ELECTRA's embedding_size), before any LayerNorm.
/// </summary>
internal sealed class BertEmbeddings
{
    private readonly Tensor positions, tokenTypes;
    private readonly PositionIdScheme scheme;
    private readonly int padId;
    private readonly string architecture;

    public BertEmbeddings(ModelConfig config, ModelWeights weights, string prefix, int width, PositionIdScheme scheme, string architecture)
    {
        RequireEncoderShape(config);
        this.scheme = scheme;
        this.architecture = architecture;
        padId = config.PadTokenId ?? 1;
        Words = weights.Load(prefix + "word_embeddings.weight", config.VocabSize, width);
        positions = weights.Load(prefix + "position_embeddings.weight", config.MaxPositionEmbeddings, width);
        tokenTypes = weights.LoadBecause($"{config.Path} says type_vocab_size {config.TypeVocabSize}",
            prefix + "token_type_embeddings.weight", config.TypeVocabSize, width);
    }

    /// <summary>The word embeddings [vocab, width]: the decoder of the tied MLM heads.</summary>
    public Tensor Words { get; }

    /// <summary>The longest sequence the position table covers (RoBERTa's first padding_idx + 1 rows are never a token's).</summary>
    public int MaxSequenceLength => scheme == PositionIdScheme.FromZero ? positions.Rows : positions.Rows - padId - 1;

    /// <summary>The dimensions every BERT-family encoder needs, checked against config.json.</summary>
    public static void RequireEncoderShape(ModelConfig config)
    {
        config.RequirePositive(("hidden_size", config.HiddenSize), ("vocab_size", config.VocabSize),
            ("intermediate_size", config.IntermediateSize), ("num_hidden_layers", config.NumHiddenLayers),
            ("num_attention_heads", config.NumAttentionHeads), ("max_position_embeddings", config.MaxPositionEmbeddings),
            ("type_vocab_size", config.TypeVocabSize));
        if (config.HiddenSize % config.NumAttentionHeads != 0)
            throw new InvalidDataException($"{config.Path}: hidden_size {config.HiddenSize} is not a multiple of num_attention_heads {config.NumAttentionHeads}");
    }

    /// <summary>
    /// Position ids: 0, 1, 2, … (BERT); or RoBERTa's, where padding keeps padding_idx, real tokens count up from
    /// padding_idx + 1, and in the source-then-target layout the target counts from padding_idx + 1 again.
    /// </summary>
    public int[] PositionIds(TokenBatch batch)
    {
        var ids = new int[batch.Tokens];
        for (int b = 0; b < batch.Batch; b++)
        {
            int count = 0, targetStart = batch.SourceLengths?[b] ?? -1;
            for (int i = 0; i < batch.Length; i++)
            {
                if (i == targetStart) count = 0;
                int index = b * batch.Length + i;
                ids[index] = scheme == PositionIdScheme.FromZero ? i
                    : batch.Ids[index] != padId ? padId + ++count : padId;
                if (ids[index] >= positions.Rows)
                    throw new ArgumentException($"sequence {b} is longer than the model's {MaxSequenceLength} positions");
            }
        }
        return ids;
    }

    /// <summary>What <see cref="Embed"/> uploads: the ids, the position ids and the token types.</summary>
    public int[][] Inputs(TokenBatch batch) => [batch.Ids, PositionIds(batch), batch.TokenTypesWithin(tokenTypes.Rows, architecture)];

    /// <summary>
    /// A new [tokens, width] tensor x = word[ids] + position[positions] + tokenType[types] (a batch without token types is
    /// all type 0); positions and types are checked before anything is allocated.
    /// </summary>
    public Tensor Embed(IBackend be, TokenBatch batch)
    {
        var types = batch.TokenTypesWithin(tokenTypes.Rows, architecture);
        var positionIds = PositionIds(batch);
        var x = be.Allocate(batch.Tokens, Words.Columns);
        using var added = be.Allocate(x.Rows, x.Columns);
        be.Gather(Words, batch.Ids, x);
        be.Gather(positions, positionIds, added);
        be.Add(x, added, x);
        be.Gather(tokenTypes, types, added);
        be.Add(x, added, x);
        return x;
    }
}

/// <summary>
/// BERT's self-attention (query, key and value fused into one projection, with biases; output dense with bias), as
/// BERT, ELECTRA, RoBERTa, XLM-R and XLM-R XL store it under <c>{prefix}self.*</c> and <c>{prefix}output.dense.*</c>.
/// </summary>
internal static class BertAttention
{
    public sealed record Weights(Tensor Wqkv, Tensor Bqkv, Tensor Wo, Tensor Bo);

    public static Weights Load(ModelWeights weights, string prefix, int h) => new(
        weights.LoadRows([prefix + "self.query.weight", prefix + "self.key.weight", prefix + "self.value.weight"], [[h, h], [h, h], [h, h]]),
        weights.LoadRows([prefix + "self.query.bias", prefix + "self.key.bias", prefix + "self.value.bias"], [[h], [h], [h]]),
        weights.Load(prefix + "output.dense.weight", h, h),
        weights.Load(prefix + "output.dense.bias", h));

    /// <summary>
    /// The attention geometry of one forward: a plain or source-then-target batch on its own, or a batch after what
    /// cache holds (its keys and values join the cache's for this call; checked to fit).
    /// </summary>
    public static (AttentionShape Shape, AttentionMask Mask) Geometry(TokenBatch batch, KvCache? cache, int heads, int headDim)
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
    /// Self-attention of the normalised input into output (before the residual), without the output projection's bias
    /// (<see cref="Weights.Bo"/>): the caller adds it with the residual (<see cref="IBackend.AddLayerNorm"/>'s xBias). With a
    /// cache, layer's keys and values go through it.
    /// </summary>
    public static void Attend(IBackend be, Weights a, Tensor input, TokenBatch batch, (AttentionShape Shape, AttentionMask Mask) geometry,
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
}

/// <summary>
/// The post-LN layer stack of BERT, ELECTRA, RoBERTa and XLM-R under <c>{prefix}{i}.</c>: each layer
/// x = attention.output.LayerNorm(x + Attention(x)), then x = output.LayerNorm(x + output.dense(act(intermediate.dense(x)))),
/// every LayerNorm with eps from config.json (LayerNorm.weight / .bias, or the gamma / beta of Google's checkpoints).
/// </summary>
internal sealed class PostLayerNormEncoder
{
    private sealed record Layer(BertAttention.Weights Attention, Tensor AttnNorm, Tensor AttnNormBias,
        Tensor Wi, Tensor Bi, Tensor Wout, Tensor Bout, Tensor OutNorm, Tensor OutNormBias);

    private readonly Layer[] layers;
    private readonly ActivationKind activation;
    private readonly int hidden, intermediate, heads;
    private readonly float eps;

    public PostLayerNormEncoder(ModelConfig config, ModelWeights weights, string prefix)
    {
        BertEmbeddings.RequireEncoderShape(config);
        int h = hidden = config.HiddenSize, inner = intermediate = config.IntermediateSize;
        heads = config.NumAttentionHeads;
        eps = (float)config.NormEpsilon;
        activation = config.Activation(config.HiddenActivation);
        layers = new Layer[config.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            string p = $"{prefix}{i}.";
            var (attnNorm, attnNormBias) = weights.LoadLayerNorm(p + "attention.output.LayerNorm.", h);
            var attention = BertAttention.Load(weights, p + "attention.", h);
            var (outNorm, outNormBias) = weights.LoadLayerNorm(p + "output.LayerNorm.", h);
            layers[i] = new Layer(attention, attnNorm, attnNormBias,
                weights.Load(p + "intermediate.dense.weight", inner, h),
                weights.Load(p + "intermediate.dense.bias", inner),
                weights.Load(p + "output.dense.weight", h, inner),
                weights.Load(p + "output.dense.bias", h),
                outNorm, outNormBias);
        }
    }

    public int LayerCount => layers.Length;

    /// <summary>The attention geometry of a batch for these layers (with what cache holds, when given).</summary>
    public (AttentionShape Shape, AttentionMask Mask) Geometry(TokenBatch batch, KvCache? cache) =>
        BertAttention.Geometry(batch, cache, heads, hidden / heads);

    /// <summary>Runs every layer over x in place (geometry from <see cref="Geometry"/>), recording "hidden.layer.{i}" after each.</summary>
    public void Run(IBackend be, Tensor x, TokenBatch batch, (AttentionShape Shape, AttentionMask Mask) geometry, KvCache? cache,
        HiddenStateRecorder recorder)
    {
        int t = batch.Tokens;
        using var qkv = be.Allocate(t, 3 * hidden);
        using var context = be.Allocate(t, hidden);
        using var sublayer = be.Allocate(t, hidden);
        using var inner = be.AllocateGemmInput(t, intermediate);   // read only by the output Linear
        for (int l = 0; l < layers.Length; l++)
        {
            var layer = layers[l];
            // Each residual add runs with the LayerNorm after it, the sublayer's output bias folded in (AddLayerNorm).
            BertAttention.Attend(be, layer.Attention, x, batch, geometry, cache, l, qkv, context, sublayer);
            be.AddLayerNorm(x, sublayer, layer.Attention.Bo, layer.AttnNorm, layer.AttnNormBias, eps, x);

            be.LinearActivation(activation, x, layer.Wi, layer.Bi, inner);
            be.Linear(inner, layer.Wout, null, sublayer);
            be.AddLayerNorm(x, sublayer, layer.Bout, layer.OutNorm, layer.OutNormBias, eps, x);
            recorder.Record($"hidden.layer.{l}", x);
        }
    }
}

/// <summary>
/// The encoder of BertModel and ElectraModel under prefix ("bert.", "electra."): embeddings (positions from 0, token types)
/// embedding_size wide → embeddings.LayerNorm → embeddings_project up to hidden_size where the two sizes differ (ELECTRA's
/// generators; present exactly then, as in transformers) → the post-LN layers; no final norm.
/// </summary>
internal sealed class BertEncoderStack
{
    private readonly BertEmbeddings embeddings;
    private readonly Tensor embeddingNorm, embeddingNormBias;
    private readonly Tensor? projection, projectionBias;
    private readonly PostLayerNormEncoder encoder;
    private readonly string architecture;
    private readonly int hidden;
    private readonly float eps;

    public BertEncoderStack(ModelConfig config, ModelWeights weights, string prefix, string architecture)
    {
        this.architecture = architecture;
        int h = hidden = config.HiddenSize;
        EmbeddingWidth = config.EmbeddingSize > 0 ? config.EmbeddingSize : h;
        int e = EmbeddingWidth;
        eps = (float)config.NormEpsilon;
        embeddings = new BertEmbeddings(config, weights, prefix + "embeddings.", e, PositionIdScheme.FromZero, architecture);
        (embeddingNorm, embeddingNormBias) = weights.LoadLayerNorm(prefix + "embeddings.LayerNorm.", e);
        if (e != h)
        {
            var reason = $"{config.Path} has embedding_size {e} and hidden_size {h}, so the embeddings are projected";
            projection = weights.LoadBecause(reason, prefix + "embeddings_project.weight", h, e);
            projectionBias = weights.LoadBecause(reason, prefix + "embeddings_project.bias", h);
        }
        encoder = new PostLayerNormEncoder(config, weights, prefix + "encoder.layer.");
    }

    /// <summary>The embeddings' width: embedding_size where config.json sets it, else hidden_size.</summary>
    public int EmbeddingWidth { get; }

    /// <summary>The word embeddings [vocab, embedding width]: the decoder of the tied MLM heads.</summary>
    public Tensor Words => embeddings.Words;

    public int MaxSequenceLength => embeddings.MaxSequenceLength;

    /// <summary>What a forward uploads (<see cref="ILanguageModel.ForwardInputs"/>): the embeddings' ids, position ids and token types, and the mask.</summary>
    public IReadOnlyList<int[]> ForwardInputs(TokenBatch batch) => [.. embeddings.Inputs(batch), batch.Mask];

    /// <summary>The final hidden states; "hidden.embeddings" is the layers' input (after the projection, where there is one).</summary>
    public ModelOutput Run(IBackend be, TokenBatch batch, bool keepHiddenStates)
    {
        batch.RequireSingleSegment(architecture);
        var geometry = encoder.Geometry(batch, null);
        var recorder = new HiddenStateRecorder(be, keepHiddenStates);
        var x = embeddings.Embed(be, batch);                        // [B·S, embedding width]
        be.LayerNorm(x, embeddingNorm, embeddingNormBias, eps, x);
        if (projection is not null)
        {
            using var narrow = x;
            x = be.Allocate(batch.Tokens, hidden);
            be.Linear(narrow, projection, projectionBias, x);
        }
        recorder.Record("hidden.embeddings", x);
        encoder.Run(be, x, batch, geometry, null, recorder);
        return recorder.Finish(x);
    }
}
