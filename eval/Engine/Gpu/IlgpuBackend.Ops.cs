using ILGPU;
using ILGPU.Runtime;

namespace Eval.Engine.Gpu;

/// <summary>The element-wise and per-row ops of the GPU backend: one kernel launch each.</summary>
public sealed partial class IlgpuBackend
{
    public void Gather(Tensor table, ReadOnlySpan<int> ids, Tensor y)
    {
        OpChecks.Gather(table, ids, y);
        if (ids.Length == 0) return;
        var idView = uploads.Ids(ids);
        var config = ElementLaunch((long)ids.Length * table.Columns);
        Launches.Kernel(nameof(IlgpuKernels.Gather));
        if (table.ElementType == TensorElementType.BFloat16)
            gatherBFloat16(config, BFloat16(table), idView, Floats(y), ids.Length, table.Columns);
        else
            gather(config, Floats(table), idView, Floats(y), ids.Length, table.Columns);
    }

    public void Add(Tensor a, Tensor b, Tensor y)
    {
        OpChecks.SameShape(a, b, nameof(Add));
        OpChecks.SameShape(a, y, nameof(Add));
        Launches.Kernel(nameof(IlgpuKernels.Add));
        add(ElementLaunch(a.Length), Floats(a), Floats(b), Floats(y), (int)a.Length);
    }

    public void Softmax(Tensor x)
    {
        Launches.Kernel(nameof(IlgpuKernels.Softmax));
        softmax(RowLaunch(x.Rows), Floats(x), new RowShape(x.Rows, x.Columns, x.Columns));
    }

    public void Rope(ColumnSlice x, int heads, int headDim, ReadOnlySpan<int> positions, ReadOnlySpan<float> invFrequencies)
    {
        OpChecks.Rope(x, heads, headDim, positions, invFrequencies);
        RotateHalves(x.Tensor, x.Offset, heads, 0, 0, headDim, positions, invFrequencies);
    }

    public void Rope(ColumnSlice queries, int queryHeads, ColumnSlice keys, int keyHeads, int headDim, ReadOnlySpan<int> positions,
        ReadOnlySpan<float> invFrequencies)
    {
        OpChecks.Rope(queries, queryHeads, keys, keyHeads, headDim, positions, invFrequencies);
        if (ReferenceEquals(queries.Tensor, keys.Tensor))
        {
            RotateHalves(queries.Tensor, queries.Offset, queryHeads, keys.Offset, keyHeads, headDim, positions, invFrequencies);
            return;
        }
        RotateHalves(queries.Tensor, queries.Offset, queryHeads, 0, 0, headDim, positions, invFrequencies);
        RotateHalves(keys.Tensor, keys.Offset, keyHeads, 0, 0, headDim, positions, invFrequencies);
    }

    /// <summary>One launch over the query and key heads of t's rows, the cos/sin looked up by position in the cached table.</summary>
    private void RotateHalves(Tensor t, int queryOffset, int queryHeads, int keyOffset, int keyHeads, int headDim,
        ReadOnlySpan<int> positions, ReadOnlySpan<float> invFrequencies)
    {
        if (t.Rows == 0 || queryHeads + keyHeads == 0 || headDim == 0) return;
        int highest = 0;
        foreach (int p in positions)
        {
            if (p < 0) throw new ArgumentOutOfRangeException(nameof(positions), $"Rope: position {p} is negative");
            highest = Math.Max(highest, p);
        }
        var table = uploads.RotaryTable(invFrequencies, highest + 1);
        Launches.Kernel(nameof(IlgpuKernels.Rope));
        rope(ElementLaunch((long)t.Rows * (queryHeads + keyHeads) * headDim / 2), Floats(t), table, uploads.Positions(positions),
            new RowShape(t.Rows, t.Columns, t.Columns), queryOffset, queryHeads, keyOffset, keyHeads, headDim);
    }

    public void CopyRows(RowBlocks source, RowBlocks destination, int batches, int rows, int columns)
    {
        OpChecks.CopyRows(source, destination, batches, rows, columns);
        if (batches == 0 || rows == 0 || columns == 0) return;
        var from = Floats(source.Tensor).SubView((long)source.FirstRow * source.Tensor.Columns + source.Column);
        var to = Floats(destination.Tensor).SubView((long)destination.FirstRow * destination.Tensor.Columns + destination.Column);
        Launches.Kernel(nameof(IlgpuKernels.CopyRows));
        copyRows(ElementLaunch((long)batches * rows * columns), from, to,
            new RowShape(rows, source.BatchStride, source.Tensor.Columns), new RowShape(rows, destination.BatchStride, destination.Tensor.Columns),
            batches, columns);
    }

    public void MeanPool(Tensor x, int length, ReadOnlySpan<int> include, Tensor y)
    {
        OpChecks.MeanPool(x, length, include, y);
        Launches.Kernel(nameof(IlgpuKernels.MeanPool));
        meanPool(ElementLaunch(y.Length), Floats(x), uploads.Ids(include), Floats(y), y.Rows, length, y.Columns);
    }

    /// <summary>
    /// One launch (a group per row: maximum and first argmax, Σ exp in float32 by a tree over the group, the wanted logits),
    /// then a copy of rows·(3 + ids per row) numbers to the host: the full rows never leave the device.
    /// </summary>
    public LogitSummary SummarizeLogits(Tensor logits, ReadOnlySpan<int> ids)
    {
        int rows = logits.Rows, vocabulary = logits.Columns;
        int perRow = LogitSummary.IdsPerRowOf(rows, vocabulary, ids);
        var summary = new LogitSummary(rows, perRow, new float[rows], new double[rows], new int[rows], new float[ids.Length]);
        if (rows == 0) return summary;
        var results = scratch.Floats(IlgpuScratch.LogitSummary, 2L * rows + ids.Length);
        var argMax = scratch.Ints(IlgpuScratch.LogitArgMax, rows);
        Launches.Kernel(nameof(IlgpuKernels.SummarizeLogits));
        summarizeLogits(RowLaunch(rows, sharedFloatsPerThread: 2), Floats(logits), ids.Length == 0 ? uploads.NoInts : uploads.Ids(ids),
            results, argMax, rows, vocabulary, perRow);
        var host = new float[results.Length];
        results.CopyToCPU(accelerator.DefaultStream, host);
        argMax.CopyToCPU(accelerator.DefaultStream, summary.ArgMax);
        SynchronizeDevice();
        host.AsSpan(0, rows).CopyTo(summary.Max);
        for (int r = 0; r < rows; r++) summary.SumExp[r] = host[rows + r];
        host.AsSpan(2 * rows, ids.Length).CopyTo(summary.Gathered);
        return summary;
    }

    /// <summary>A tensor's float32 view, or the one-element placeholder for an absent optional input.</summary>
    private ArrayView<float> Optional(Tensor? t) => t is null ? uploads.NoFloats : Floats(t);
}
