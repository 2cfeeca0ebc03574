using Eval.Engine;
using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>
/// T5ForConditionalGeneration and MT5ForConditionalGeneration (mT5, mT0; T5 v1.0 and v1.1 — one code in transformers):
/// an encoder and a decoder stack of pre-norm blocks with T5LayerNorm (RMS without mean or bias), unscaled attention
/// (no 1/√d_kv) plus a relative position bias learnt in block 0 of each stack (bidirectional buckets in the encoder,
/// causal in the decoder) and added in every layer, cross-attention to the encoder's final states (no position bias),
/// and a feed-forward that is ACT(x·wiᵀ)·woᵀ or, gated, (ACT(x·wi_0ᵀ) ⊙ x·wi_1ᵀ)·woᵀ (feed_forward_proj). Both stacks
/// embed with <c>shared.weight</c>; the head is <c>lm_head.weight</c>, or, when tie_word_embeddings is set, the shared
/// matrix applied to the decoder states times d_model^−0.5. heads·d_kv need not equal d_model, and the decoder may have
/// another number of layers than the encoder (num_decoder_layers).
/// </summary>
public sealed class T5Model : IEncoderDecoderModel
{
    private sealed record SelfAttentionWeights(Tensor Norm, Tensor Wqkv, Tensor Wo);
    private sealed record FeedForwardWeights(Tensor Norm, Tensor In, Tensor Out);
    private sealed record EncoderLayer(SelfAttentionWeights SelfAttention, FeedForwardWeights FeedForward);
    private sealed record DecoderLayer(SelfAttentionWeights SelfAttention, Tensor CrossNorm, Tensor CrossWq, Tensor CrossWkv, Tensor CrossWo,
        FeedForwardWeights FeedForward);

    /// <summary>Where the embedding matrix may be stored: its own name, or one of the stacks' tied copies.</summary>
    public static readonly IReadOnlyList<string> EmbeddingNames = ["shared.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight"];

    private readonly ModelWeights weights;
    private readonly Tensor embeddings, encoderFinalNorm, decoderFinalNorm;
    private readonly EncoderLayer[] encoderLayers;
    private readonly DecoderLayer[] decoderLayers;
    private readonly AttentionBias encoderBias, decoderBias;
    private readonly VocabularyProjection head;
    private readonly float headScale;
    private readonly ActivationKind activation;
    private readonly bool gated;
    private readonly int heads, headDim, inner, hidden, feedForwardSize;
    private readonly float eps;

    public T5Model(ModelConfig config, IWeightSource source, IBackend backend, string architecture)
    {
        Config = config;
        Backend = backend;
        hidden = config.HiddenSize;
        heads = config.NumAttentionHeads;
        headDim = config.HeadDim;
        feedForwardSize = config.IntermediateSize;
        int vocab = config.VocabSize, encoderCount = config.NumHiddenLayers, decoderCount = config.NumDecoderLayers ?? encoderCount;
        config.RequirePositive(("d_model", hidden), ("vocab_size", vocab), ("d_ff", feedForwardSize), ("num_layers", encoderCount),
            ("num_decoder_layers", decoderCount), ("num_heads", heads), ("d_kv", headDim),
            ("relative_attention_num_buckets", config.RelativeAttentionNumBuckets), ("relative_attention_max_distance", config.RelativeAttentionMaxDistance));
        if (config.RelativeAttentionNumBuckets < 4)
            throw new InvalidDataException($"{config.Path}: 'relative_attention_num_buckets' is {config.RelativeAttentionNumBuckets}; the encoder's two directions need at least 4");
        if (config.RelativeAttentionMaxDistance <= config.RelativeAttentionNumBuckets / 2)
            throw new InvalidDataException($"{config.Path}: 'relative_attention_max_distance' {config.RelativeAttentionMaxDistance} must exceed the decoder's " +
                                           $"{config.RelativeAttentionNumBuckets / 2} exact buckets (half of relative_attention_num_buckets)");
        inner = heads * headDim;
        eps = (float)config.NormEpsilon;
        (activation, gated) = config.FeedForward();
        DecoderStartTokenId = config.DecoderStart;
        if ((uint)DecoderStartTokenId >= (uint)vocab)
            throw new InvalidDataException($"{config.Path}: 'decoder_start_token_id' {DecoderStartTokenId} is outside the vocabulary of {vocab}");
        weights = new ModelWeights(source, backend, architecture);
        try
        {
            // A source that lists its tensors names one of the three; random weights list none and make shared.weight.
            embeddings = LoadOrExplain(EmbeddingNames.FirstOrDefault(weights.Contains) ?? EmbeddingNames[0], [vocab, hidden],
                $"{source.Description}: no embedding matrix: none of {string.Join(", ", EmbeddingNames.Select(n => $"'{n}'"))} (required by {architecture})");
            encoderLayers = new EncoderLayer[encoderCount];
            for (int i = 0; i < encoderCount; i++)
            {
                string p = $"encoder.block.{i}.";
                encoderLayers[i] = new EncoderLayer(LoadSelfAttention(p + "layer.0."), LoadFeedForward(p + "layer.1."));
            }
            encoderFinalNorm = weights.Load("encoder.final_layer_norm.weight", hidden);
            decoderLayers = new DecoderLayer[decoderCount];
            for (int i = 0; i < decoderCount; i++)
            {
                string p = $"decoder.block.{i}.";
                decoderLayers[i] = new DecoderLayer(
                    SelfAttention: LoadSelfAttention(p + "layer.0."),
                    CrossNorm: weights.Load(p + "layer.1.layer_norm.weight", hidden),
                    CrossWq: weights.Load(p + "layer.1.EncDecAttention.q.weight", inner, hidden),
                    CrossWkv: weights.LoadRows([p + "layer.1.EncDecAttention.k.weight", p + "layer.1.EncDecAttention.v.weight"], [[inner, hidden], [inner, hidden]]),
                    CrossWo: weights.Load(p + "layer.1.EncDecAttention.o.weight", hidden, inner),
                    FeedForward: LoadFeedForward(p + "layer.2."));
            }
            decoderFinalNorm = weights.Load("decoder.final_layer_norm.weight", hidden);
            int buckets = config.RelativeAttentionNumBuckets, distance = config.RelativeAttentionMaxDistance;
            encoderBias = AttentionBias.RelativePositionBuckets(
                weights.Load("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", buckets, heads), true, buckets, distance);
            decoderBias = AttentionBias.RelativePositionBuckets(
                weights.Load("decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", buckets, heads), false, buckets, distance);
            if (config.TieWordEmbeddings)
            {
                // transformers ties lm_head to shared (a stored lm_head.weight is overwritten) and rescales the states.
                head = new VocabularyProjection(embeddings, null);
                headScale = 1f / MathF.Sqrt(hidden);
            }
            else
            {
                head = new VocabularyProjection(LoadOrExplain("lm_head.weight", [vocab, hidden],
                    $"{source.Description}: tensor 'lm_head.weight' required by {architecture} is missing and tie_word_embeddings is false"), null);
                headScale = 1f;
            }
        }
        catch
        {
            weights.Dispose();
            throw;
        }

        // A required tensor whose absence deserves more than "missing": the message says what else would have done.
        Tensor LoadOrExplain(string name, int[] shape, string missing)
        {
            try
            {
                return weights.Load(name, shape);
            }
            catch (CheckpointFormatException) when (!weights.Contains(name))
            {
                throw new CheckpointFormatException(missing);
            }
        }

        SelfAttentionWeights LoadSelfAttention(string prefix) => new(
            weights.Load(prefix + "layer_norm.weight", hidden),
            weights.LoadRows([prefix + "SelfAttention.q.weight", prefix + "SelfAttention.k.weight", prefix + "SelfAttention.v.weight"],
                [[inner, hidden], [inner, hidden], [inner, hidden]]),
            weights.Load(prefix + "SelfAttention.o.weight", hidden, inner));

        FeedForwardWeights LoadFeedForward(string prefix) => new(
            weights.Load(prefix + "layer_norm.weight", hidden),
            gated
                ? weights.LoadRows([prefix + "DenseReluDense.wi_0.weight", prefix + "DenseReluDense.wi_1.weight"], [[feedForwardSize, hidden], [feedForwardSize, hidden]])
                : weights.Load(prefix + "DenseReluDense.wi.weight", feedForwardSize, hidden),
            weights.Load(prefix + "DenseReluDense.wo.weight", hidden, feedForwardSize));
    }

    public ModelConfig Config { get; }
    public IBackend Backend { get; }
    public long ParameterCount => weights.ParameterCount;
    public ModelKind Kind => ModelKind.EncoderDecoder;
    public int DecoderStartTokenId { get; }

    /// <summary>
    /// Relative position buckets set no hard limit; 1024 source tokens is t-zero's default input length
    /// (evaluation/run_eval.py --max_length), the one mT0's rank evaluation used.
    /// </summary>
    public int MaxSequenceLength => 1024;

    public int EncoderLayers => encoderLayers.Length;
    public int DecoderLayers => decoderLayers.Length;

    /// <summary>The encoder alone (see <see cref="IEncoderDecoderModel"/>): its final states and, when asked, "hidden.embeddings" and "hidden.layer.{i}".</summary>
    public ModelOutput Forward(TokenBatch batch, bool keepHiddenStates = false)
    {
        var shape = AttentionShape.Square(batch.Batch, batch.Length, heads, headDim);
        var mask = new AttentionMask(batch.Mask) { Scale = 1f, Bias = encoderBias };
        return RunStack(batch, encoderLayers.Length, l => encoderLayers[l].SelfAttention.Norm, encoderFinalNorm, keepHiddenStates, (l, x, work) =>
        {
            var layer = encoderLayers[l];
            SelfAttention(layer.SelfAttention, shape, mask, work, null, l);
            FeedForward(layer.FeedForward, x, work);
        });
    }

    public EncoderStates Encode(TokenBatch source, bool keepHiddenStates = false)
    {
        var output = Forward(source, keepHiddenStates);
        var crossKeyValues = new List<Tensor>(decoderLayers.Length);
        try
        {
            foreach (var layer in decoderLayers)
            {
                var keyValues = Backend.Allocate(source.Tokens, 2 * inner);
                crossKeyValues.Add(keyValues);
                Backend.Linear(output.LastHidden, layer.CrossWkv, null, keyValues);
            }
        }
        catch
        {
            output.Dispose();
            foreach (var t in crossKeyValues) t.Dispose();
            throw;
        }
        return new EncoderStates(source, output, crossKeyValues);
    }

    public KvCache CreateDecoderCache(int batch, int capacity) => new(Backend, decoderLayers.Length, batch, capacity, inner);

    public ModelOutput Decode(TokenBatch target, EncoderStates encoder, KvCache? cache = null, bool keepHiddenStates = false)
    {
        int perSource = encoder.TargetsPerSource(target.Batch);
        int past = cache?.Length ?? 0, sourceLength = encoder.Source.Length;
        cache?.CheckFits(target.Batch, target.Length);
        // Self-attention: causal over slot positions (T5 counts positions by index, padding included), the cached keys first.
        var selfShape = cache is null
            ? AttentionShape.Square(target.Batch, target.Length, heads, headDim)
            : new AttentionShape(target.Batch, target.Length, past + target.Length, cache.Capacity, heads, heads, headDim);
        var selfMask = new AttentionMask(cache?.KeyValidWith(target) ?? target.Mask) { Causal = true, QueryStart = past, Scale = 1f, Bias = decoderBias };
        // Cross-attention has no position bias or causality, so the perSource targets of a source are one long query block.
        var crossShape = new AttentionShape(encoder.Batch, perSource * target.Length, sourceLength, sourceLength, heads, heads, headDim);
        var crossMask = new AttentionMask(encoder.Source.Mask) { Scale = 1f };
        var output = RunStack(target, decoderLayers.Length, l => decoderLayers[l].SelfAttention.Norm, decoderFinalNorm, keepHiddenStates, (l, y, work) =>
        {
            var be = Backend;
            var layer = decoderLayers[l];
            SelfAttention(layer.SelfAttention, selfShape, selfMask, work, cache, l);
            be.AddRmsNorm(y, work.Sublayer, layer.CrossNorm, eps, work.Normed);
            be.Linear(work.Normed, layer.CrossWq, null, work.Query);
            var keyValues = encoder.CrossKeyValues(l);
            be.Attention(new ColumnSlice(work.Query, 0), new ColumnSlice(keyValues, 0), new ColumnSlice(keyValues, inner), crossShape, crossMask, work.Context);
            be.Linear(work.Context, layer.CrossWo, null, work.Sublayer);
            FeedForward(layer.FeedForward, y, work);
        });
        cache?.Commit(target);
        return output;
    }

    /// <summary>Logits of decoder states (a <see cref="Decode"/> output's rows): lm_head, or the tied matrix after the d_model^−0.5 rescale.</summary>
    public Tensor Logits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> vocabIds = default)
    {
        using var selected = Backend.Allocate(rows.Length, hidden.Columns);
        Backend.Gather(hidden, rows, selected);
        var logits = head.Project(Backend, selected, vocabIds);
        // (s·h)·Eᵀ = s·(h·Eᵀ): scaled on the host copy, rows × ids values, instead of the states on the backend.
        if (headScale != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(logits.Span, headScale, logits.Span);
        return logits;
    }

    /// <summary>
    /// <see cref="ILanguageModel.SummarizeLogits"/>: on the backend (<see cref="VocabularyProjection.Summarize"/>) when the
    /// head is not scaled (mT5, mT0, T5 v1.1: an untied lm_head); T5 v1.0's tied head scales its logits, which the backend
    /// has no op for, so its rows' logits are scaled and summarised on the host.
    /// </summary>
    public LogitSummary SummarizeLogits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> ids = default)
    {
        if (headScale != 1f)
        {
            using var logits = Logits(hidden, rows);
            return Eval.Engine.Cpu.CpuBackend.SummarizeHostLogits(logits, ids);
        }
        using var selected = Backend.Allocate(rows.Length, hidden.Columns);
        Backend.Gather(hidden, rows, selected);
        return head.Summarize(Backend, selected, ids);
    }

    /// <summary>
    /// One stack over tokens: the shared embedding, then each layer (its output recorded as "hidden.layer.{l}"), then the
    /// stack's final T5LayerNorm. Every sublayer leaves its output in the workspace's Sublayer for the next norm to add to
    /// the residual stream in the same launch (<see cref="IBackend.AddRmsNorm"/>): RunStack normalises each layer's input
    /// by its first norm (firstNorm(l)) into Normed before layer(l, states, workspace) runs, and the final norm takes the
    /// last sublayer's output.
    /// </summary>
    private ModelOutput RunStack(TokenBatch tokens, int layerCount, Func<int, Tensor> firstNorm, Tensor finalNorm, bool keepHiddenStates,
        Action<int, Tensor, Workspace> layer)
    {
        var be = Backend;
        tokens.RequireSingleSegment(Config.Architectures.FirstOrDefault() ?? Config.ModelType);
        var recorder = new HiddenStateRecorder(be, keepHiddenStates);
        var x = be.Allocate(tokens.Tokens, hidden);
        Tensor output;
        try
        {
            using var work = new Workspace(be, tokens.Tokens, hidden, inner, feedForwardSize, gated);
            be.Gather(embeddings, tokens.Ids, x);
            recorder.Record("hidden.embeddings", x);
            for (int l = 0; l < layerCount; l++)
            {
                if (l == 0)
                {
                    be.RmsNorm(x, firstNorm(l), eps, work.Normed);
                }
                else
                {
                    // The previous layer's feed-forward output joins the residual as this layer's first norm reads it.
                    be.AddRmsNorm(x, work.Sublayer, firstNorm(l), eps, work.Normed);
                    recorder.Record($"hidden.layer.{l - 1}", x);
                }
                layer(l, x, work);
            }
            if (layerCount == 0)
            {
                be.RmsNorm(x, finalNorm, eps, x);
                return recorder.Finish(x);
            }
            output = be.Allocate(tokens.Tokens, hidden);
            try
            {
                be.AddRmsNorm(x, work.Sublayer, finalNorm, eps, output);
                recorder.Record($"hidden.layer.{layerCount - 1}", x);
            }
            catch
            {
                output.Dispose();
                throw;
            }
        }
        catch
        {
            x.Dispose();
            throw;
        }
        x.Dispose();
        return recorder.Finish(output);
    }

    /// <summary>
    /// Attention over the layer's normed input (work.Normed) — over its own keys, or (with a cache) the cached ones and
    /// its own, which it appends — projected into work.Sublayer, which the next norm adds to the residual.
    /// </summary>
    private void SelfAttention(SelfAttentionWeights w, AttentionShape shape, AttentionMask mask, Workspace work, KvCache? cache, int layer)
    {
        var be = Backend;
        be.Linear(work.Normed, w.Wqkv, null, work.Qkv);
        if (cache is null)
        {
            be.Attention(new ColumnSlice(work.Qkv, 0), new ColumnSlice(work.Qkv, inner), new ColumnSlice(work.Qkv, 2 * inner), shape, mask, work.Context);
        }
        else
        {
            cache.Write(layer, work.Qkv, inner, 2 * inner, shape.QueryLength);
            be.Attention(new ColumnSlice(work.Qkv, 0), new ColumnSlice(cache.Keys(layer), 0), new ColumnSlice(cache.Values(layer), 0), shape, mask, work.Context);
        }
        be.Linear(work.Context, w.Wo, null, work.Sublayer);
    }

    /// <summary>
    /// The previous sublayer's output (work.Sublayer) added to x as the feed-forward's T5LayerNorm reads it, then FF of the
    /// normed states into work.Sublayer, for the next norm to add.
    /// </summary>
    private void FeedForward(FeedForwardWeights ff, Tensor x, Workspace work)
    {
        var be = Backend;
        be.AddRmsNorm(x, work.Sublayer, ff.Norm, eps, work.Normed);
        if (gated)
        {
            be.Linear(work.Normed, ff.In, null, work.Projected);
            be.GatedActivation(activation, work.Projected, work.Activated);
        }
        else
        {
            be.LinearActivation(activation, work.Normed, ff.In, null, work.Activated);
        }
        be.Linear(work.Activated, ff.Out, null, work.Sublayer);
    }

    /// <summary>
    /// A stack's intermediates for t tokens: the normed states, q/k/v, the cross-attention's queries, the attention
    /// output, a sublayer's output, the feed-forward's input projection ([t, 2·d_ff] gated, else [t, d_ff]) and its
    /// activation [t, d_ff].
    /// </summary>
    private sealed class Workspace(IBackend backend, int tokens, int hidden, int inner, int feedForward, bool gated) : IDisposable
    {
        // Normed and Activated are read only by a Linear: GEMM inputs, stored as the GEMM reads them.
        public Tensor Normed { get; } = backend.AllocateGemmInput(tokens, hidden);
        public Tensor Qkv { get; } = backend.Allocate(tokens, 3 * inner);
        public Tensor Query { get; } = backend.Allocate(tokens, inner);
        public Tensor Context { get; } = backend.Allocate(tokens, inner);
        public Tensor Sublayer { get; } = backend.Allocate(tokens, hidden);
        // Gated, the projection feeds the gate (float32); ungated, LinearActivation writes it for the output Linear alone.
        public Tensor Projected { get; } = gated ? backend.Allocate(tokens, 2 * feedForward) : backend.AllocateGemmInput(tokens, feedForward);
        private readonly Tensor? activated = gated ? backend.AllocateGemmInput(tokens, feedForward) : null;
        public Tensor Activated => activated ?? Projected;

        public void Dispose()
        {
            foreach (var t in new[] { Normed, Qkv, Query, Context, Sublayer, Projected, activated }) t?.Dispose();
        }
    }

    public void Dispose() => weights.Dispose();
}
