using System.Runtime.CompilerServices;

namespace Eval.Engine;

/// <summary>
/// The per-call arrays the rule of <see cref="AttentionRule"/> reads, as each backend holds them (host pointers on the CPU,
/// device views in the ILGPU kernel). Indices are those <see cref="AttentionRule"/> computes.
/// </summary>
public interface IAttentionInputs
{
    /// <summary>KeyValid[row], row = b·KeyRowsPerBatch + j.</summary>
    int KeyValid(long row);

    /// <summary>SourceLengths[batch]; only read when the mask has source lengths.</summary>
    int SourceLength(int batch);

    /// <summary>The bias's floats: ALiBi slopes, the bucket table, or the given bias tensor.</summary>
    float BiasValue(long index);

    /// <summary>The bias's host-computed ints (<see cref="AttentionRule.BiasIndices"/>): ALiBi key positions or buckets.</summary>
    int BiasIndex(long index);
}

/// <summary>
/// The visibility and bias rule of <see cref="IBackend.Attention"/>, written once for the CPU backend and the ILGPU kernel:
/// a blittable struct (flags as ints, no managed references, no math beyond + − × and comparisons) that ILGPU compiles to
/// PTX. Host-only work (ALiBi positions from the key mask, T5 buckets, which need log) happens in
/// <see cref="BiasIndices"/> before the call.
/// </summary>
public readonly record struct AttentionRule(
    AttentionShape Shape, float Scale, int Causal, int Windowed, int WindowBefore, int WindowAfter, int WindowCountsValidKeys,
    int QueryStart, int HasSourceLengths, AttentionBiasKind Bias)
{
    /// <summary>The rule of one call; the mask must have passed <see cref="OpChecks.Attention"/>.</summary>
    public static AttentionRule Create(AttentionShape shape, AttentionMask mask) =>
        new(shape, mask.Scale ?? 1f / MathF.Sqrt(shape.HeadDim), mask.Causal ? 1 : 0, mask.Window is null ? 0 : 1,
            mask.Window?.Before ?? 0, mask.Window?.After ?? 0, mask.Window is { CountsValidKeys: true } ? 1 : 0, mask.QueryStart,
            mask.SourceLengths.IsEmpty ? 0 : 1, mask.Bias.Kind);

    /// <summary>
    /// Whether the call reads host-computed <see cref="BiasIndices"/>: ALiBi and a window over valid keys read key
    /// positions, relative position buckets their buckets.
    /// </summary>
    public static bool ReadsBiasIndices(AttentionMask mask) =>
        mask.Bias.Kind is AttentionBiasKind.Alibi or AttentionBiasKind.RelativePositionBuckets || mask.Window is { CountsValidKeys: true };

    /// <summary>The source length of batch element <paramref name="batch"/>, or int.MaxValue without source lengths.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Source<TInputs>(TInputs inputs, int batch) where TInputs : struct, IAttentionInputs =>
        HasSourceLengths != 0 ? inputs.SourceLength(batch) : int.MaxValue;

    /// <summary>
    /// The keys [Start, End) that may be visible to any of the queries firstQuery…lastQuery of one batch element whose
    /// source length is <paramref name="source"/> (padding aside): what a backend needs to score.
    /// </summary>
    public KeyRange VisibleKeys(int firstQuery, int lastQuery, int source)
    {
        int first = QueryStart + firstQuery, last = QueryStart + lastQuery;
        int start = 0, end = Shape.KeyLength;
        if (Causal != 0) end = Math.Min(end, last + 1);
        if (last < source) end = Math.Min(end, source);
        // A window over valid keys reaches further back in slots wherever there are invalid ones: only slots narrow it.
        if (Windowed != 0 && WindowCountsValidKeys == 0)
        {
            // Written as differences so that a side of int.MaxValue cannot overflow.
            if (first - start > WindowBefore) start = first - WindowBefore;
            if (end - last - 1 > WindowAfter) end = last + WindowAfter + 1;
        }
        return new KeyRange(start, Math.Max(start, end));
    }

    /// <summary>
    /// Whether key <paramref name="key"/> is visible to query <paramref name="query"/> (at position QueryStart + query) of
    /// batch element <paramref name="batch"/> whose source length is <paramref name="source"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsVisible<TInputs>(TInputs inputs, int batch, int query, int key, int source) where TInputs : struct, IAttentionInputs
    {
        int position = QueryStart + query;
        return inputs.KeyValid((long)batch * Shape.KeyRowsPerBatch + key) != 0
            && (Causal == 0 || key <= position)
            && (Windowed == 0 || InWindow(inputs, batch, position, key))
            && (position >= source || key < source);
    }

    /// <summary>Whether key is inside the window of the query in slot position: slots apart, or valid keys apart.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool InWindow<TInputs>(TInputs inputs, int batch, int position, int key) where TInputs : struct, IAttentionInputs
    {
        int behind = position - key;
        if (WindowCountsValidKeys != 0)
        {
            long row = (long)batch * Shape.KeyRowsPerBatch;
            behind = inputs.BiasIndex(row + position) - inputs.BiasIndex(row + key);
        }
        return behind <= WindowBefore && -behind <= WindowAfter;
    }

    /// <summary>What is added to the scaled score of (batch, query head, query, key).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float BiasOf<TInputs>(TInputs inputs, int batch, int head, int query, int key) where TInputs : struct, IAttentionInputs
    {
        if (Bias == AttentionBiasKind.Alibi)
            return inputs.BiasValue(head) * inputs.BiasIndex((long)batch * Shape.KeyRowsPerBatch + key);
        if (Bias == AttentionBiasKind.RelativePositionBuckets)
            return inputs.BiasValue((long)inputs.BiasIndex(key - query + Shape.QueryLength - 1) * Shape.QueryHeads + head);
        if (Bias == AttentionBiasKind.Given)
            return inputs.BiasValue(((long)head * Shape.QueryLength + query) * Shape.KeyLength + key);
        return 0f;
    }

    /// <summary>
    /// The host-computed ints the bias and the window read through <see cref="IAttentionInputs.BiasIndex"/>: for ALiBi or
    /// a window over valid keys, per key row b·KeyRowsPerBatch + j, the number of real keys before it in its batch element
    /// (BLOOM's cumsum − 1 on real keys; a padding slot gets the count before it too, which ALiBi never reads — padded keys
    /// are masked — and which places a query in a padding slot where the window over valid keys expects it); for relative
    /// position buckets, per offset key − position, the
    /// bucket, at index key − query + QueryLength − 1 (QueryLength + KeyLength − 1 entries); otherwise none.
    /// </summary>
    public static int[] BiasIndices(AttentionShape shape, AttentionMask mask)
    {
        var bias = mask.Bias;
        if (bias.Kind == AttentionBiasKind.Alibi || mask.Window is { CountsValidKeys: true })
        {
            var valid = mask.KeyValid.Span;
            var positions = new int[shape.Batch * shape.KeyRowsPerBatch];
            for (int b = 0; b < shape.Batch; b++)
                for (int j = 0, seen = 0; j < shape.KeyRowsPerBatch; j++)
                {
                    int row = b * shape.KeyRowsPerBatch + j;
                    positions[row] = valid[row] != 0 ? seen++ : seen;
                }
            return positions;
        }
        if (bias.Kind == AttentionBiasKind.RelativePositionBuckets)
        {
            var buckets = new int[Math.Max(0, shape.QueryLength + shape.KeyLength - 1)];
            int firstOffset = -(mask.QueryStart + shape.QueryLength - 1);
            for (int i = 0; i < buckets.Length; i++)
                buckets[i] = AttentionBias.RelativePositionBucket(firstOffset + i, bias.Bidirectional, bias.NumBuckets, bias.MaxDistance);
            return buckets;
        }
        return [];
    }
}

/// <summary>Keys Start ≤ j &lt; End.</summary>
public readonly record struct KeyRange(int Start, int End)
{
    public int Count => End - Start;
}
