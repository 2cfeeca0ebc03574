namespace Eval.Engine;

/// <summary>
/// The argument checks of the <see cref="IBackend"/> ops, shared by every backend so that a bad call fails the same way,
/// naming the op and the shapes, whichever backend runs it.
/// </summary>
public static class OpChecks
{
    /// <summary>x [n, k], weight [m, k], bias [m], y [n, m]; returns (n, k, m).</summary>
    public static (int N, int K, int M) Linear(Tensor x, Tensor weight, Tensor? bias, Tensor y)
    {
        int n = x.Rows, k = x.Columns, m = weight.Rows;
        if (weight.Columns != k)
            throw new ArgumentException($"Linear: input has {k} features, weight {weight} expects {weight.Columns}");
        if (y.Rows != n || y.Columns != m)
            throw new ArgumentException($"Linear: output {y} should be [{n}, {m}]");
        if (bias is not null && bias.Length != m)
            throw new ArgumentException($"Linear: bias {bias} should have {m} elements");
        return (n, k, m);
    }

    /// <summary>y is [ids, table columns] and every id is a row of the table.</summary>
    public static void Gather(Tensor table, ReadOnlySpan<int> ids, Tensor y)
    {
        if (y.Rows != ids.Length || y.Columns != table.Columns)
            throw new ArgumentException($"Gather: output {y} should be [{ids.Length}, {table.Columns}]");
        for (int i = 0; i < ids.Length; i++)
            if ((uint)ids[i] >= (uint)table.Rows)
                throw new ArgumentOutOfRangeException(nameof(ids), $"id {ids[i]} at index {i} is outside the table of {table.Rows} rows");
    }

    public static void SameShape(Tensor a, Tensor b, string op)
    {
        if (!a.Shape.SequenceEqual(b.Shape))
            throw new ArgumentException($"{op}: shapes {a} and {b} differ");
    }

    /// <summary>x is [rows, 2·inner] for y [rows, inner].</summary>
    public static void GatedActivation(Tensor x, Tensor y)
    {
        if (x.Columns != 2 * y.Columns || x.Rows != y.Rows)
            throw new ArgumentException($"GatedActivation: input {x} should be [{y.Rows}, {2 * y.Columns}] for output {y}");
    }

    public static void Rope(ColumnSlice x, int heads, int headDim, ReadOnlySpan<int> positions, ReadOnlySpan<float> invFrequencies)
    {
        var t = x.Tensor;
        if (headDim % 2 != 0 || invFrequencies.Length != headDim / 2)
            throw new ArgumentException($"Rope: head size {headDim} needs {headDim / 2} inverse frequencies, got {invFrequencies.Length}");
        if (positions.Length != t.Rows)
            throw new ArgumentException($"Rope: {positions.Length} positions for {t.Rows} rows");
        if (x.Offset + heads * headDim > t.Columns)
            throw new ArgumentException($"Rope: {heads} heads of {headDim} from column {x.Offset} exceed {t}");
    }

    public static void Attention(ColumnSlice q, ColumnSlice k, ColumnSlice v, AttentionShape s, AttentionMask mask, Tensor output)
    {
        if (s.QueryHeads % s.KeyValueHeads != 0)
            throw new ArgumentException($"Attention: {s.QueryHeads} query heads are not a multiple of {s.KeyValueHeads} key/value heads");
        if (q.Tensor.Rows < s.Batch * s.QueryLength || q.Offset + s.QueryHeads * s.HeadDim > q.Tensor.Columns)
            throw new ArgumentException($"Attention: queries {q.Tensor} (from column {q.Offset}) do not hold {s}");
        foreach (var (name, slice) in new[] { ("keys", k), ("values", v) })
            if (slice.Tensor.Rows < s.Batch * s.KeyRowsPerBatch || slice.Offset + s.KeyValueHeads * s.HeadDim > slice.Tensor.Columns)
                throw new ArgumentException($"Attention: {name} {slice.Tensor} (from column {slice.Offset}) do not hold {s}");
        if (s.KeyLength > s.KeyRowsPerBatch)
            throw new ArgumentException($"Attention: key length {s.KeyLength} exceeds the {s.KeyRowsPerBatch} rows per batch element");
        if (!mask.SourceLengths.IsEmpty && mask.SourceLengths.Length != s.Batch)
            throw new ArgumentException($"Attention: {mask.SourceLengths.Length} source lengths for a batch of {s.Batch}");
        if (mask.KeyValid.Length < s.Batch * s.KeyRowsPerBatch)
            throw new ArgumentException($"Attention: key mask has {mask.KeyValid.Length} entries, needs {s.Batch * s.KeyRowsPerBatch}");
        if (output.Rows != s.Batch * s.QueryLength || output.Columns != s.QueryHeads * s.HeadDim)
            throw new ArgumentException($"Attention: output {output} should be [{s.Batch * s.QueryLength}, {s.QueryHeads * s.HeadDim}]");
        if (mask.QueryStart < 0)
            throw new ArgumentException($"Attention: query start {mask.QueryStart} is negative");
        if (mask.Scale is { } scale && !float.IsFinite(scale))
            throw new ArgumentException($"Attention: scale {scale} is not finite");
        if (mask.Window is { } window && (window.Before < 0 || window.After < 0))
            throw new ArgumentException($"Attention: window sides must be ≥ 0, got {window.Before} before and {window.After} after");
        if (mask.Window is { CountsValidKeys: true })
        {
            // The window then reads the key positions ALiBi reads, at the queries' own slots.
            if (mask.Bias.Kind is not (AttentionBiasKind.None or AttentionBiasKind.Alibi))
                throw new ArgumentException($"Attention: a window over valid keys cannot be combined with a {mask.Bias.Kind} bias");
            if (mask.QueryStart + s.QueryLength > s.KeyLength)
                throw new ArgumentException(
                    $"Attention: a window over valid keys needs the queries among the keys, but queries {mask.QueryStart}…{mask.QueryStart + s.QueryLength - 1} pass the {s.KeyLength} keys");
        }
        BiasFits(s, mask.Bias);
    }

    private static void BiasFits(AttentionShape s, AttentionBias bias)
    {
        switch (bias.Kind)
        {
            case AttentionBiasKind.Alibi:
                if (bias.Slopes.Length != s.QueryHeads)
                    throw new ArgumentException($"Attention: {bias.Slopes.Length} ALiBi slopes for {s.QueryHeads} query heads");
                foreach (float slope in bias.Slopes.Span)
                    if (!float.IsFinite(slope))
                        throw new ArgumentException($"Attention: ALiBi slope {slope} is not finite");
                break;
            case AttentionBiasKind.RelativePositionBuckets:
                var table = bias.Table!;
                if (table.Rank != 2 || table.Rows != bias.NumBuckets || table.Columns != s.QueryHeads)
                    throw new ArgumentException(
                        $"Attention: relative position bias table {table} should be [{bias.NumBuckets} buckets, {s.QueryHeads} query heads]");
                break;
            case AttentionBiasKind.Given:
                var values = bias.Values!;
                if (values.Rank != 3 || values.Dim(0) != s.QueryHeads || values.Dim(1) != s.QueryLength || values.Dim(2) != s.KeyLength)
                    throw new ArgumentException(
                        $"Attention: bias {values} should be [{s.QueryHeads} query heads, {s.QueryLength} queries, {s.KeyLength} keys]");
                break;
        }
    }

    /// <summary>Both block sets of a CopyRows lie inside their tensors.</summary>
    public static void CopyRows(RowBlocks source, RowBlocks destination, int batches, int rows, int columns)
    {
        Blocks(source, batches, rows, columns, nameof(source));
        Blocks(destination, batches, rows, columns, nameof(destination));
    }

    public static void MeanPool(Tensor x, int length, ReadOnlySpan<int> include, Tensor y)
    {
        if (length <= 0 || x.Rows != y.Rows * length || x.Columns != y.Columns || include.Length != x.Rows)
            throw new ArgumentException($"MeanPool: input {x} with {include.Length} flags does not pool into {y} over {length} rows each");
    }

    private static void Blocks(RowBlocks blocks, int batches, int rows, int columns, string name)
    {
        var t = blocks.Tensor;
        long lastRow = blocks.FirstRow + (long)(batches - 1) * blocks.BatchStride + rows;
        if (batches < 0 || rows < 0 || columns < 0 || blocks.FirstRow < 0 || blocks.Column < 0
            || (batches > 0 && rows > 0 && (lastRow > t.Rows || blocks.FirstRow + (long)blocks.BatchStride * (batches - 1) < 0))
            || blocks.Column + columns > t.Columns)
            throw new ArgumentException(
                $"CopyRows: {name} blocks of {rows}×{columns} from row {blocks.FirstRow} (stride {blocks.BatchStride}, column {blocks.Column}) × {batches} do not fit {t}");
    }
}
