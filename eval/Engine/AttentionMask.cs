namespace Eval.Engine;

/// <summary>How many rows of K/V each batch element occupies and how many of them are filled.</summary>
public readonly record struct AttentionShape(
    int Batch, int QueryLength, int KeyLength, int KeyRowsPerBatch, int QueryHeads, int KeyValueHeads, int HeadDim)
{
    public static AttentionShape Square(int batch, int length, int heads, int headDim) =>
        new(batch, length, length, length, heads, heads, headDim);
}

/// <summary>
/// A sliding window around each query: key j is visible to the query at position p only when p − Before ≤ j ≤ p + After.
/// ModernBERT's local layers are <see cref="Symmetric"/>(local_attention / 2); a causal decoder with a window of w keys
/// (the query's own included) is Before = w − 1, After = 0.
/// <para>With <see cref="CountsValidKeys"/> the sides count keys marked valid instead of slots: key j is visible to the
/// query in slot p only when n(p) − Before ≤ n(j) ≤ n(p) + After, n(x) being the number of valid keys before slot x (the
/// key positions ALiBi reads). That is the window each sequence has with the padding inside it taken out — a KV cache
/// that continued right-padded prompts of different lengths has invalid slots between a prompt and its continuation.
/// It needs the queries' own slots among the keys (self-attention) and no bias but ALiBi.</para>
/// </summary>
public readonly record struct AttentionWindow(int Before, int After)
{
    public static AttentionWindow Symmetric(int radius) => new(radius, radius);

    /// <summary>Before and After count valid keys rather than slots (see the type's remarks).</summary>
    public bool CountsValidKeys { get; init; }
}

/// <summary>
/// Which keys a query may attend to, how scores are scaled, and what is added to them: the mask argument of
/// <see cref="IBackend.Attention"/>, where the exact rule is written. Only <see cref="KeyValid"/> is required, e.g.
/// <c>new AttentionMask(keyValid) { Causal = true, Bias = AttentionBias.Alibi(slopes) }</c>.
/// </summary>
public sealed record AttentionMask(ReadOnlyMemory<int> KeyValid)
{
    /// <summary>Key j is hidden from the query at position p when j &gt; p.</summary>
    public bool Causal { get; init; }

    /// <summary>A sliding window (null: every key, as far as the other rules allow).</summary>
    public AttentionWindow? Window { get; init; }

    /// <summary>Position of query 0 (the number of cached keys before the new ones).</summary>
    public int QueryStart { get; init; }

    /// <summary>Per batch element, its source length in a source-then-target sequence (empty: none).</summary>
    public ReadOnlyMemory<int> SourceLengths { get; init; }

    /// <summary>The factor of q·kᵀ (null: 1/√HeadDim; T5 and mT5 use 1).</summary>
    public float? Scale { get; init; }

    /// <summary>What is added to each visible score.</summary>
    public AttentionBias Bias { get; init; } = AttentionBias.None;
}

/// <summary>The kinds of additive score bias, see <see cref="AttentionBias"/>.</summary>
public enum AttentionBiasKind
{
    None,
    Alibi,
    RelativePositionBuckets,
    Given,
}

/// <summary>
/// An additive bias on attention scores (ggml_flash_attn_ext's mask and max_bias, and T5's position bias), made by
/// one of the factories: <see cref="None"/>, <see cref="Alibi"/>, <see cref="RelativePositionBuckets"/>, <see cref="Given"/>.
/// </summary>
public sealed record AttentionBias
{
    private AttentionBias(AttentionBiasKind kind) => Kind = kind;

    public AttentionBiasKind Kind { get; }

    /// <summary>ALiBi: one slope per query head.</summary>
    public ReadOnlyMemory<float> Slopes { get; private init; }

    /// <summary>Relative position buckets: the [NumBuckets, QueryHeads] table (a model weight on the backend).</summary>
    public Tensor? Table { get; private init; }

    /// <summary>Relative position buckets: the encoder's two-directional buckets (true) or the decoder's causal ones.</summary>
    public bool Bidirectional { get; private init; }

    public int NumBuckets { get; private init; }

    public int MaxDistance { get; private init; }

    /// <summary>A given bias: the [QueryHeads, QueryLength, KeyLength] tensor, the same for every batch element.</summary>
    public Tensor? Values { get; private init; }

    public static AttentionBias None { get; } = new(AttentionBiasKind.None);

    /// <summary>
    /// BLOOM's ALiBi: slope_h · p(key), p(key) the number of real keys (KeyValid ≠ 0) before key j in its batch
    /// element's key rows. <see cref="AlibiSlopes"/> gives BLOOM's slopes.
    /// </summary>
    public static AttentionBias Alibi(ReadOnlyMemory<float> slopes) => new(AttentionBiasKind.Alibi) { Slopes = slopes };

    /// <summary>
    /// T5's relative position bias: table[<see cref="RelativePositionBucket"/>(j − (QueryStart + i)), head], from a
    /// [numBuckets, heads] table (relative_attention_bias.weight).
    /// </summary>
    public static AttentionBias RelativePositionBuckets(Tensor table, bool bidirectional, int numBuckets, int maxDistance)
    {
        CheckBuckets(bidirectional, numBuckets, maxDistance);
        return new(AttentionBiasKind.RelativePositionBuckets)
        {
            Table = table, Bidirectional = bidirectional, NumBuckets = numBuckets, MaxDistance = maxDistance,
        };
    }

    /// <summary>A bias tensor [QueryHeads, QueryLength, KeyLength] added to the scores of every batch element.</summary>
    public static AttentionBias Given(Tensor values) => new(AttentionBiasKind.Given) { Values = values };

    /// <summary>
    /// BLOOM's ALiBi slopes (transformers' build_alibi_tensor): with c the largest power of two ≤ heads, 2^(−8i/c) for
    /// i = 1…c, then for the other heads − c heads 2^(−4(2j−1)/c), j = 1, 2, …; as torch computes them, a float32 base
    /// raised to integer powers.
    /// </summary>
    public static float[] AlibiSlopes(int heads)
    {
        if (heads < 1) throw new ArgumentOutOfRangeException(nameof(heads), heads, "ALiBi needs at least one head");
        int closest = 1 << (31 - int.LeadingZeroCount(heads));
        var slopes = new float[heads];
        float first = (float)Math.Pow(2, -8.0 / closest);
        for (int i = 0; i < closest; i++) slopes[i] = MathF.Pow(first, i + 1);
        float extra = (float)Math.Pow(2, -4.0 / closest);
        for (int j = 0; j < heads - closest; j++) slopes[closest + j] = MathF.Pow(extra, 2 * j + 1);
        return slopes;
    }

    /// <summary>
    /// transformers' T5 _relative_position_bucket of key − query, in float32 as torch computes it. Bidirectional: n =
    /// numBuckets / 2 buckets per direction, keys after the query add n; causal: n = numBuckets and keys after the query
    /// fall in bucket 0. Distances below n/2 get their own bucket, larger ones log-spaced buckets up to maxDistance, at
    /// most n − 1.
    /// </summary>
    public static int RelativePositionBucket(int relativePosition, bool bidirectional, int numBuckets, int maxDistance)
    {
        CheckBuckets(bidirectional, numBuckets, maxDistance);
        int bucket = 0, n = numBuckets, distance;
        if (bidirectional)
        {
            n /= 2;
            if (relativePosition > 0) bucket = n;
            distance = Math.Abs(relativePosition);
        }
        else
        {
            distance = relativePosition < 0 ? -relativePosition : 0;
        }
        int exact = n / 2;
        if (distance < exact) return bucket + distance;
        // torch: log(float(distance) / exact) / math.log(max_distance / exact) * (n - exact), each step in float32.
        float ratio = MathF.Log((float)distance / exact) / (float)Math.Log((double)maxDistance / exact);
        int large = exact + (int)(ratio * (n - exact));
        return bucket + Math.Min(large, n - 1);
    }

    private static void CheckBuckets(bool bidirectional, int numBuckets, int maxDistance)
    {
        int perDirection = bidirectional ? numBuckets / 2 : numBuckets;
        if (perDirection < 2)
            throw new ArgumentOutOfRangeException(nameof(numBuckets), numBuckets,
                $"relative position buckets: {numBuckets} buckets leave fewer than 2 per direction");
        if (maxDistance <= perDirection / 2)
            throw new ArgumentOutOfRangeException(nameof(maxDistance), maxDistance,
                $"relative position buckets: max distance {maxDistance} must exceed the {perDirection / 2} exact buckets");
    }
}
