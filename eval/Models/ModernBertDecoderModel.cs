using Eval.Engine;
using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>
/// ModernBertDecoderForCausalLM (model_type <c>modernbert-decoder</c>, the jhu-clsp Ettin decoders): ModernBERT's body
/// (<see cref="ModernBertStack"/>; separate q/k/v projections) under a causal mask, the sliding layers seeing only the
/// last <see cref="SlidingWindow"/> keys (the query's own included), then <c>lm_head</c> dense → GELU → norm and the tied
/// decoder with its bias. Incremental decoding appends keys and values to a <see cref="KvCache"/>.
/// <para>The cache keeps every key and masks those older than the window rather than keeping only the window's: a
/// decoding step of a sliding layer reads only the window's slots when every cached sequence is gapless (each slot up to
/// the cache's length a real token). When some are not — right-padded prompts of different lengths continued together,
/// as log-likelihood scoring and batched greedy decoding do — the window counts real tokens
/// (<see cref="AttentionWindow.CountsValidKeys"/>), so every sequence sees the last w of its own tokens, as it would
/// alone; such a step reads all cached slots of those layers.</para>
/// </summary>
public sealed class ModernBertDecoderModel : ICausalLanguageModel
{
    private const string Architecture = "ModernBertDecoderForCausalLM";

    /// <summary>transformers' default <c>local_attention</c> when a config gives neither it nor <c>sliding_window</c>.</summary>
    public const int DefaultLocalAttention = 128;

    private readonly ModelWeights weights;
    private readonly ModernBertStack stack;
    private readonly MaskedLmHead head;

    public ModernBertDecoderModel(ModelConfig config, IWeightSource source, IBackend backend)
    {
        Config = config;
        Backend = backend;
        SlidingWindow = WindowOf(config);
        weights = new ModelWeights(source, backend, Architecture);
        try
        {
            stack = new ModernBertStack(config, weights, QkvLayout.Separate, Architecture);
            head = stack.LoadHead(weights, "lm_head.");
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
    public ModelKind Kind => ModelKind.Causal;
    public int MaxSequenceLength => Config.MaxPositionEmbeddings;
    public IReadOnlyList<int[]> ForwardInputs(TokenBatch batch) => [batch.Ids, batch.Mask, batch.SlotPositions()];

    /// <summary>How many keys a query of a sliding layer sees, its own included: <c>local_attention</c> // 2.</summary>
    public int SlidingWindow { get; }

    /// <summary>
    /// <c>local_attention</c> // 2, as transformers' ModernBertDecoderConfig derives <c>sliding_window</c>. A file that
    /// carries both must agree; one with only <c>sliding_window</c> means it; one with neither gets transformers' default
    /// local_attention of 128.
    /// </summary>
    private static int WindowOf(ModelConfig config)
    {
        int local = config.LocalAttention;   // −1: absent
        if (local != -1 && local <= 0)
            throw new InvalidDataException($"{config.Path}: 'local_attention' must be a positive integer (got {local})");
        int? fromLocal = local > 0 ? local / 2 : null;
        if (fromLocal is { } a && config.SlidingWindow is { } b && a != b)
            throw new InvalidDataException(
                $"{config.Path}: 'sliding_window' {b} disagrees with 'local_attention' {config.LocalAttention} (the decoder's window is local_attention // 2 = {a})");
        int window = fromLocal ?? config.SlidingWindow ?? DefaultLocalAttention / 2;
        bool anySliding = Enumerable.Range(0, Math.Max(0, config.NumHiddenLayers)).Any(l => !config.IsGlobalAttentionLayer(l));
        if (window < 1 && anySliding)
            throw new InvalidDataException($"{config.Path}: a sliding window of {window} keys (local_attention {config.LocalAttention} // 2) leaves the sliding layers nothing to attend to");
        return window;
    }

    public KvCache CreateCache(int batch, int capacity) =>
        new(Backend, stack.LayerCount, batch, capacity, Config.HiddenSize);

    public ModelOutput Forward(TokenBatch batch, bool keepHiddenStates = false) => Run(batch, null, keepHiddenStates);

    public ModelOutput Forward(TokenBatch batch, KvCache cache, bool keepHiddenStates = false) => Run(batch, cache, keepHiddenStates);

    private ModelOutput Run(TokenBatch batch, KvCache? cache, bool keepHiddenStates)
    {
        batch.RequireSingleSegment(Architecture);
        batch.RequireNoTokenTypes(Architecture);
        int heads = Config.NumAttentionHeads, headDim = Config.HiddenSize / heads;
        int past = cache?.Length ?? 0;
        cache?.CheckFits(batch.Batch, batch.Length);
        // Positions 0, 1, 2, … in every row as transformers takes them (the same as the real-token count under right
        // padding); through the cache, each sequence's own count of real tokens.
        int[] positions = cache?.PositionsOf(batch) ?? batch.SlotPositions();
        var globalMask = new AttentionMask(cache?.KeyValidWith(batch) ?? batch.Mask) { Causal = true, QueryStart = past };
        var window = new AttentionWindow(SlidingWindow - 1, 0) { CountsValidKeys = cache is not null && !IsGapless(cache, batch) };
        var localMask = globalMask with { Window = window };
        var shape = cache is null
            ? AttentionShape.Square(batch.Batch, batch.Length, heads, headDim)
            : new AttentionShape(batch.Batch, batch.Length, past + batch.Length, cache.Capacity, heads, heads, headDim);
        var recorder = new HiddenStateRecorder(Backend, keepHiddenStates);
        var hidden = stack.Run(Backend, batch, positions, shape, globalMask, localMask, cache, recorder);
        cache?.Commit(batch);
        return recorder.Finish(hidden);
    }

    /// <summary>
    /// Whether every sequence's real tokens fill its first slots, the cached ones and batch's new ones alike (every
    /// cached slot real, the new tokens right-padded): then slots and real-token positions agree.
    /// </summary>
    private static bool IsGapless(KvCache cache, TokenBatch batch)
    {
        for (int b = 0; b < batch.Batch; b++)
        {
            if (cache.NextPosition[b] != cache.Length) return false;
            var mask = batch.Mask.AsSpan(b * batch.Length, batch.Length);
            int real = mask.IndexOf(0) is var end and >= 0 ? end : batch.Length;
            if (mask[real..].ContainsAnyExcept(0)) return false;
        }
        return true;
    }

    public Tensor Logits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> vocabIds = default) =>
        head.Logits(Backend, hidden, rows, vocabIds);

    public LogitSummary SummarizeLogits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> ids = default) =>
        head.Summarize(Backend, hidden, rows, ids);

    public void Dispose() => weights.Dispose();
}
