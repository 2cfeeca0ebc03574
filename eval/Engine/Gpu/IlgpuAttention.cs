using System.Reflection;
using ILGPU;
using ILGPU.Runtime;

namespace Eval.Engine.Gpu;

/// <summary>
/// The shape and mask of one attention call, as kernel arguments: blittable, no managed references.
/// Flags are ints (0/1) because they travel to the device as plain kernel parameters.
/// Semantics are those of <see cref="AttentionShape"/> and <see cref="AttentionMask"/>.
/// </summary>
public readonly record struct AttentionGeometry(
    int Batch, int QueryLength, int KeyLength, int KeyRowsPerBatch, int QueryHeads, int KeyValueHeads, int HeadDim,
    int Causal, int Window, int QueryStart, int HasSourceLengths, float Scale)
{
    public static AttentionGeometry Create(AttentionShape shape, bool causal, int window, int queryStart, bool hasSourceLengths) =>
        new(shape.Batch, shape.QueryLength, shape.KeyLength, shape.KeyRowsPerBatch, shape.QueryHeads, shape.KeyValueHeads,
            shape.HeadDim, causal ? 1 : 0, window, queryStart, hasSourceLengths ? 1 : 0, 1f / MathF.Sqrt(shape.HeadDim));
}

/// <summary>
/// How one launch splits the work: each thread group owns <see cref="RowsPerGroup"/> consecutive "rows" of one
/// (batch, key/value head), a row being one (query, query head of that key/value head's group) pair, and walks the
/// visible keys in blocks of <see cref="KeysPerBlock"/>.
/// </summary>
public readonly record struct AttentionTiling(int RowsPerGroup, int KeysPerBlock, int GroupsPerKeyValueHead)
{
    /// <summary>
    /// Dynamic shared memory per group, in floats (D = head size, R = rows, B = keys per block; K and Q rows are padded
    /// to D+1 floats so that threads reading different rows at the same column hit different banks):
    /// queries R·(D+1), accumulators R·D, key-or-value tile B·(D+1), probabilities R·B, running max/sum/rescale 3·R.
    /// </summary>
    public int SharedFloats(int headDim) =>
        RowsPerGroup * (2 * headDim + 1 + KeysPerBlock + 3) + KeysPerBlock * (headDim + 1);
}

/// <summary>
/// Flash-style scaled dot-product attention for the GPU backend, one explicitly grouped ILGPU kernel that is correct
/// for any group size (1 on a CPU accelerator up to 256 on CUDA): every per-thread loop is strided by the group size
/// and the phases are separated by group barriers. Softmax is online over key blocks (running max and sum, the
/// accumulator rescaled when the max grows), so shared memory depends on the head size, never on the key length.
/// </summary>
public sealed class IlgpuAttention
{
    /// <summary>
    /// Shared memory a group may use: 40 KiB, under the 48 KiB a CUDA kernel gets without opting in to more, and small
    /// enough for several resident groups per multiprocessor.
    /// </summary>
    public const int SharedFloatBudget = 40 * 1024 / sizeof(float);

    private const int MaxKeysPerBlock = 64;

    private readonly Action<AcceleratorStream, KernelConfig, ArrayView<float>, int, ArrayView<float>, int, ArrayView<float>, int,
        ArrayView<int>, ArrayView<int>, ArrayView<float>, int, AttentionGeometry, AttentionTiling> kernel;
    private readonly int groupSize;

    public IlgpuAttention(Accelerator accelerator, int groupSize)
    {
        if (groupSize < 1 || groupSize > accelerator.MaxNumThreadsPerGroup)
            throw new ArgumentOutOfRangeException(nameof(groupSize),
                $"group size {groupSize} is outside 1..{accelerator.MaxNumThreadsPerGroup} for {accelerator.Name}");
        this.groupSize = groupSize;
        // LoadKernel (not LoadStreamKernel, which binds the accelerator's default stream): the launcher takes the stream.
        kernel = accelerator.LoadKernel<ArrayView<float>, int, ArrayView<float>, int, ArrayView<float>, int,
            ArrayView<int>, ArrayView<int>, ArrayView<float>, int, AttentionGeometry, AttentionTiling>(AttentionKernel);
    }

    /// <summary>The kernel method this class loads, for compiling it ahead of time (the PTX check in the tests).</summary>
    public static MethodInfo KernelMethod => ((Delegate)AttentionKernel).Method;

    /// <summary>
    /// Rows per group: more rows reuse each loaded key/value tile for more queries, fewer rows leave more groups for a
    /// short prefill. Keys per block: as many as fit the shared-memory budget, up to 64.
    /// </summary>
    public static AttentionTiling ChooseTiling(AttentionGeometry g)
    {
        int rowsPerHead = g.QueryLength * (g.QueryHeads / g.KeyValueHeads);
        int rows = Math.Clamp(rowsPerHead, 1, g.HeadDim <= 128 ? 16 : 8);
        int keys = MaxKeysPerBlock;
        AttentionTiling Tiling() => new(rows, keys, (rowsPerHead + rows - 1) / rows);
        while (Tiling().SharedFloats(g.HeadDim) > SharedFloatBudget && keys > 8) keys /= 2;
        while (Tiling().SharedFloats(g.HeadDim) > SharedFloatBudget && rows > 1) rows /= 2;
        while (Tiling().SharedFloats(g.HeadDim) > SharedFloatBudget && keys > 1) keys /= 2;
        if (Tiling().SharedFloats(g.HeadDim) > SharedFloatBudget)
            throw new ArgumentException($"Attention: head size {g.HeadDim} does not fit {SharedFloatBudget * sizeof(float)} bytes of shared memory");
        return Tiling();
    }

    /// <summary>
    /// Enqueues softmax(q·kᵀ·scale + mask)·v on <paramref name="stream"/>. Views start at the first element used (the
    /// column offset of a fused projection already applied); row r of q is q[r·ldq ..]. The output row b·QueryLength + i
    /// holds the heads side by side. Without source lengths pass any small dummy view: the kernel never reads it.
    /// </summary>
    public void Run(AcceleratorStream stream,
        ArrayView<float> q, int ldq,
        ArrayView<float> k, int ldk,
        ArrayView<float> v, int ldv,
        ArrayView<int> keyValid,
        ArrayView<int> sourceLengths,
        ArrayView<float> output, int ldo,
        AttentionGeometry g)
    {
        Validate(q, ldq, k, ldk, v, ldv, keyValid, sourceLengths, output, ldo, g);
        if (g.Batch == 0 || g.QueryLength == 0) return;
        var tiling = ChooseTiling(g);
        int groups = g.Batch * g.KeyValueHeads * tiling.GroupsPerKeyValueHead;
        var config = new KernelConfig(groups, groupSize, SharedMemoryConfig.RequestDynamic<float>(tiling.SharedFloats(g.HeadDim)));
        kernel(stream, config, q, ldq, k, ldk, v, ldv, keyValid, sourceLengths, output, ldo, g, tiling);
    }

    private static void Validate(ArrayView<float> q, int ldq, ArrayView<float> k, int ldk, ArrayView<float> v, int ldv,
        ArrayView<int> keyValid, ArrayView<int> sourceLengths, ArrayView<float> output, int ldo, AttentionGeometry g)
    {
        if (g.Batch < 0 || g.QueryLength < 0 || g.KeyLength < 0 || g.HeadDim < 1 || g.KeyValueHeads < 1 || g.QueryHeads < 1)
            throw new ArgumentException($"Attention: invalid geometry {g}");
        if (g.QueryHeads % g.KeyValueHeads != 0)
            throw new ArgumentException($"Attention: {g.QueryHeads} query heads are not a multiple of {g.KeyValueHeads} key/value heads");
        if (g.KeyLength > g.KeyRowsPerBatch)
            throw new ArgumentException($"Attention: key length {g.KeyLength} exceeds the {g.KeyRowsPerBatch} rows per batch element");
        if (g.Batch == 0 || g.QueryLength == 0) return;
        static void Fits(string name, long length, long rows, int ld, int width)
        {
            if (ld < width || rows > 0 && (rows - 1) * ld + width > length)
                throw new ArgumentException($"Attention: {name} ({length} elements, leading dimension {ld}) do not hold {rows} rows of {width}");
        }
        Fits("queries", q.Length, (long)g.Batch * g.QueryLength, ldq, g.QueryHeads * g.HeadDim);
        Fits("keys", k.Length, (long)g.Batch * g.KeyRowsPerBatch, ldk, g.KeyValueHeads * g.HeadDim);
        Fits("values", v.Length, (long)g.Batch * g.KeyRowsPerBatch, ldv, g.KeyValueHeads * g.HeadDim);
        Fits("output", output.Length, (long)g.Batch * g.QueryLength, ldo, g.QueryHeads * g.HeadDim);
        if (keyValid.Length < (long)g.Batch * g.KeyRowsPerBatch)
            throw new ArgumentException($"Attention: key mask has {keyValid.Length} entries, needs {g.Batch * g.KeyRowsPerBatch}");
        if (g.HasSourceLengths != 0 && sourceLengths.Length < g.Batch)
            throw new ArgumentException($"Attention: {sourceLengths.Length} source lengths for a batch of {g.Batch}");
    }

    /// <summary>
    /// One group per (batch, key/value head, block of rows). Per key block: load K, score, update the running softmax
    /// while V loads into the same tile, then add P·V to the accumulators. All loop bounds that contain a barrier depend
    /// only on the group index, so every thread of the group reaches every barrier.
    /// </summary>
    private static void AttentionKernel(
        ArrayView<float> q, int ldq, ArrayView<float> k, int ldk, ArrayView<float> v, int ldv,
        ArrayView<int> keyValid, ArrayView<int> sourceLengths, ArrayView<float> output, int ldo,
        AttentionGeometry g, AttentionTiling t)
    {
        int thread = Group.IdxX, threads = Group.DimX;
        int d = g.HeadDim, padded = d + 1, rowCount = t.RowsPerGroup, blockKeys = t.KeysPerBlock;
        int headsPerKv = g.QueryHeads / g.KeyValueHeads;
        int rowBlock = Grid.IdxX % t.GroupsPerKeyValueHead;
        int kvHead = Grid.IdxX / t.GroupsPerKeyValueHead % g.KeyValueHeads;
        int b = Grid.IdxX / t.GroupsPerKeyValueHead / g.KeyValueHeads;
        int firstRow = rowBlock * rowCount;
        int rows = Math.Min(rowCount, g.QueryLength * headsPerKv - firstRow);

        var shared = SharedMemory.GetDynamic<float>();
        int accumulatorsAt = rowCount * padded, tileAt = accumulatorsAt + rowCount * d;
        int probabilitiesAt = tileAt + blockKeys * padded, statsAt = probabilitiesAt + rowCount * blockKeys;
        var queries = shared.SubView(0, accumulatorsAt);
        var accumulators = shared.SubView(accumulatorsAt, rowCount * d);
        var tile = shared.SubView(tileAt, blockKeys * padded);
        var probabilities = shared.SubView(probabilitiesAt, rowCount * blockKeys);
        var runningMax = shared.SubView(statsAt, rowCount);
        var runningSum = shared.SubView(statsAt + rowCount, rowCount);
        var rescale = shared.SubView(statsAt + 2 * rowCount, rowCount);

        // Keys any row of this group may see (the CPU backend's per-chunk range): rows are query-major.
        int firstPosition = g.QueryStart + firstRow / headsPerKv;
        int lastPosition = g.QueryStart + (firstRow + rows - 1) / headsPerKv;
        int source = g.HasSourceLengths != 0 ? sourceLengths[b] : int.MaxValue;
        int keyLo = 0, keyHi = g.KeyLength;
        if (g.Causal != 0) keyHi = Math.Min(keyHi, lastPosition + 1);
        if (lastPosition < source) keyHi = Math.Min(keyHi, source);
        if (g.Window >= 0)
        {
            keyLo = Math.Max(keyLo, firstPosition - g.Window);
            keyHi = Math.Min(keyHi, lastPosition + g.Window + 1);
        }

        for (int e = thread; e < rowCount * d; e += threads)
        {
            int r = e / d, c = e % d;
            queries[r * padded + c] = r < rows ? q[QueryRow(g, b, firstRow + r, headsPerKv) * ldq + HeadColumn(g, kvHead, firstRow + r, headsPerKv) + c] : 0f;
            accumulators[e] = 0f;
        }
        for (int r = thread; r < rowCount; r += threads)
        {
            runningMax[r] = float.NegativeInfinity;
            runningSum[r] = 0f;
        }

        // Scores are kept in base 2, softmax(s) = 2^(s·log2 e − max) / Σ, because PTX has ex2 but no exp instruction
        // (ILGPU's MathF.Exp needs the Algorithms library on CUDA). "CPUOnly" names only where the managed body runs.
        float scoreScale = g.Scale * 1.4426950408889634f;
        long kvRowBase = (long)b * g.KeyRowsPerBatch;
        int kvColumn = kvHead * d;
        for (int key0 = keyLo; key0 < keyHi; key0 += blockKeys)
        {
            int keys = Math.Min(blockKeys, keyHi - key0);
            Group.Barrier(); // the previous block's P·V is done with the tile and the probabilities
            for (int e = thread; e < keys * d; e += threads)
            {
                int j = e / d, c = e % d;
                tile[j * padded + c] = k[(kvRowBase + key0 + j) * ldk + kvColumn + c];
            }
            Group.Barrier();

            for (int e = thread; e < rowCount * blockKeys; e += threads)
            {
                int r = e / blockKeys, j = e % blockKeys;
                float score = float.NegativeInfinity;
                if (r < rows && j < keys)
                {
                    int key = key0 + j, position = g.QueryStart + (firstRow + r) / headsPerKv;
                    bool visible = keyValid[kvRowBase + key] != 0
                        && (g.Causal == 0 || key <= position)
                        && (g.Window < 0 || Math.Abs(position - key) <= g.Window)
                        && (position >= source || key < source);
                    if (visible)
                    {
                        float dot = 0f;
                        for (int c = 0; c < d; c++) dot += queries[r * padded + c] * tile[j * padded + c];
                        score = dot * scoreScale;
                    }
                }
                probabilities[e] = score;
            }
            Group.Barrier(); // scores complete, K no longer needed

            // Online softmax, one thread per row (a block has at most 64 keys, so a serial pass is cheap), while the
            // other threads (and these, after) load V over K.
            for (int r = thread; r < rowCount; r += threads)
            {
                float previousMax = runningMax[r], blockMax = float.NegativeInfinity;
                for (int j = 0; j < keys; j++) blockMax = Math.Max(blockMax, probabilities[r * blockKeys + j]);
                float newMax = Math.Max(previousMax, blockMax);
                if (newMax == float.NegativeInfinity)
                {
                    // Nothing visible yet: keep the zero accumulator; exp(-inf - -inf) would be NaN.
                    for (int j = 0; j < keys; j++) probabilities[r * blockKeys + j] = 0f;
                    rescale[r] = 1f;
                }
                else
                {
                    float sum = 0f;
                    for (int j = 0; j < keys; j++)
                    {
                        float p = IntrinsicMath.CPUOnly.Exp2(probabilities[r * blockKeys + j] - newMax);
                        probabilities[r * blockKeys + j] = p;
                        sum += p;
                    }
                    float factor = IntrinsicMath.CPUOnly.Exp2(previousMax - newMax);
                    rescale[r] = factor;
                    runningSum[r] = runningSum[r] * factor + sum;
                    runningMax[r] = newMax;
                }
            }
            for (int e = thread; e < keys * d; e += threads)
            {
                int j = e / d, c = e % d;
                tile[j * padded + c] = v[(kvRowBase + key0 + j) * ldv + kvColumn + c];
            }
            Group.Barrier();

            for (int e = thread; e < rowCount * d; e += threads)
            {
                int r = e / d, c = e % d;
                float sum = accumulators[e] * rescale[r];
                for (int j = 0; j < keys; j++) sum += probabilities[r * blockKeys + j] * tile[j * padded + c];
                accumulators[e] = sum;
            }
        }
        Group.Barrier();

        for (int e = thread; e < rows * d; e += threads)
        {
            int r = e / d, c = e % d;
            float total = runningSum[r];
            output[QueryRow(g, b, firstRow + r, headsPerKv) * ldo + HeadColumn(g, kvHead, firstRow + r, headsPerKv) + c] =
                total > 0f ? accumulators[e] / total : 0f;
        }
    }

    /// <summary>Row of q and of the output that holds row <paramref name="row"/> (query-major) of this group.</summary>
    private static long QueryRow(AttentionGeometry g, int b, int row, int headsPerKv) => (long)b * g.QueryLength + row / headsPerKv;

    /// <summary>First column of the query head of row <paramref name="row"/>: heads of one key/value head are adjacent.</summary>
    private static int HeadColumn(AttentionGeometry g, int kvHead, int row, int headsPerKv) =>
        (kvHead * headsPerKv + row % headsPerKv) * g.HeadDim;
}
