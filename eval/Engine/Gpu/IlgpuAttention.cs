using System.Reflection;
using ILGPU;
using ILGPU.Runtime;

namespace Eval.Engine.Gpu;

/// <summary>Leading dimensions (row strides, in elements) of the attention kernel's q, k, v and output views.</summary>
public readonly record struct AttentionStrides(int Queries, int Keys, int Values, int Output);

/// <summary>The attention call's device arrays, as <see cref="AttentionRule"/> reads them in the kernel.</summary>
internal readonly struct DeviceAttentionInputs : IAttentionInputs
{
    private readonly ArrayView<int> keyValid, sourceLengths, biasIndices;
    private readonly ArrayView<float> biasValues;

    public DeviceAttentionInputs(ArrayView<int> keyValid, ArrayView<int> sourceLengths, ArrayView<float> biasValues, ArrayView<int> biasIndices)
    {
        this.keyValid = keyValid;
        this.sourceLengths = sourceLengths;
        this.biasValues = biasValues;
        this.biasIndices = biasIndices;
    }

    public int KeyValid(long row) => keyValid[row];
    public int SourceLength(int batch) => sourceLengths[batch];
    public float BiasValue(long index) => biasValues[index];
    public int BiasIndex(long index) => biasIndices[index];
}

/// <summary>
/// How one launch splits the work: each thread group owns <see cref="RowsPerGroup"/> consecutive "rows" of one
/// (batch, key/value head), a row being one (query, query head of that key/value head's group) pair, and walks the
/// visible keys in blocks of <see cref="KeysPerBlock"/>. In the score and softmax phases <see cref="LanesPerRow"/>
/// threads share a row, lane l taking the block's keys l, l + L, l + 2L, … (L a power of two dividing KeysPerBlock).
/// </summary>
public readonly record struct AttentionTiling(int RowsPerGroup, int KeysPerBlock, int GroupsPerKeyValueHead, int LanesPerRow)
{
    /// <summary>
    /// Dynamic shared memory per group, in floats (D = head size, R = rows, B = keys per block, L = lanes per row; K and
    /// Q rows are padded to D+1 floats so that threads reading different rows at the same column hit different banks):
    /// queries R·(D+1), accumulators R·D, key-or-value tile B·(D+1), probabilities R·B, each lane's partial max and sum
    /// 2·R·L, running max/sum, the block's max and the rescale factor 4·R.
    /// </summary>
    public int SharedFloats(int headDim) =>
        RowsPerGroup * (2 * headDim + 1 + KeysPerBlock + 2 * LanesPerRow + 4) + KeysPerBlock * (headDim + 1);
}

/// <summary>
/// Flash-style scaled dot-product attention for the GPU backend, one explicitly grouped ILGPU kernel that is correct
/// for any group size (1 on a CPU accelerator up to 256 on CUDA): every per-thread loop is strided by the group size
/// and the phases are separated by group barriers. Softmax is online over key blocks (running max and sum, the
/// accumulator rescaled when the max grows), so shared memory depends on the head size, never on the key length.
/// Which keys are visible and what bias they get is <see cref="AttentionRule"/>'s, shared with the CPU backend.
/// </summary>
public sealed class IlgpuAttention
{
    /// <summary>
    /// Shared memory a group may use: 40 KiB, under the 48 KiB a CUDA kernel gets without opting in to more, and small
    /// enough for several resident groups per multiprocessor.
    /// </summary>
    public const int SharedFloatBudget = 40 * 1024 / sizeof(float);

    private const int MaxKeysPerBlock = 64;

    /// <summary>log2(e): scores are kept in base 2 (see the kernel).</summary>
    private const float Log2E = 1.4426950408889634f;

    private readonly Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<int>, ArrayView<float>, AttentionRule, AttentionStrides, AttentionTiling, int> kernel;
    private readonly int groupSize;

    public IlgpuAttention(Accelerator accelerator, int groupSize)
    {
        if (groupSize < 1 || groupSize > accelerator.MaxNumThreadsPerGroup)
            throw new ArgumentOutOfRangeException(nameof(groupSize),
                $"group size {groupSize} is outside 1..{accelerator.MaxNumThreadsPerGroup} for {accelerator.Name}");
        this.groupSize = groupSize;
        // LoadKernel (not LoadStreamKernel, which binds the accelerator's default stream): the launcher takes the stream.
        kernel = accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<int>, ArrayView<float>, AttentionRule, AttentionStrides, AttentionTiling, int>(AttentionKernel);
    }

    /// <summary>The kernel method this class loads, for compiling it ahead of time (the PTX check in the tests).</summary>
    public static MethodInfo KernelMethod => ((Delegate)AttentionKernel).Method;

    /// <summary>
    /// Rows per group: more rows reuse each loaded key/value tile for more queries, fewer rows leave more groups for a
    /// short prefill. Keys per block: as many as fit the shared-memory budget, up to 64. Lanes per row: the largest power
    /// of two with every lane of every row a thread of the group, at most the keys per block.
    /// </summary>
    public static AttentionTiling ChooseTiling(AttentionShape s, int groupSize)
    {
        int rowsPerHead = s.QueryLength * (s.QueryHeads / s.KeyValueHeads);
        int rows = Math.Clamp(rowsPerHead, 1, s.HeadDim <= 128 ? 16 : 8);
        int keys = MaxKeysPerBlock;
        AttentionTiling Tiling()
        {
            int lanes = 1;
            while (lanes * 2 <= keys && lanes * 2 * rows <= groupSize) lanes *= 2;
            return new(rows, keys, (rowsPerHead + rows - 1) / rows, lanes);
        }
        while (Tiling().SharedFloats(s.HeadDim) > SharedFloatBudget && keys > 8) keys /= 2;
        while (Tiling().SharedFloats(s.HeadDim) > SharedFloatBudget && rows > 1) rows /= 2;
        while (Tiling().SharedFloats(s.HeadDim) > SharedFloatBudget && keys > 1) keys /= 2;
        if (Tiling().SharedFloats(s.HeadDim) > SharedFloatBudget)
            throw new ArgumentException($"Attention: head size {s.HeadDim} does not fit {SharedFloatBudget * sizeof(float)} bytes of shared memory");
        return Tiling();
    }

    /// <summary>
    /// Enqueues the attention of <paramref name="rule"/> (<see cref="IBackend.Attention"/>'s semantics) on
    /// <paramref name="stream"/>. Views start at the first element used (the column offset of a fused projection already
    /// applied); row r of q is q[r·ldq ..]. The output row b·QueryLength + i holds the heads side by side. Bias values
    /// are the ALiBi slopes, the bucket table or the given bias; bias indices <see cref="AttentionRule.BiasIndices"/>.
    /// An input the rule does not read (source lengths, bias) may be any small placeholder view. With
    /// <paramref name="bfloat16Operands"/> q, k, v and the probabilities are rounded to bfloat16 before their products, as
    /// the tensor-core path's bfloat16 GEMMs get them (<see cref="Precision.Bf16"/>).
    /// </summary>
    public void Run(AcceleratorStream stream,
        ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<int> keyValid, ArrayView<int> sourceLengths, ArrayView<float> biasValues, ArrayView<int> biasIndices,
        ArrayView<float> output, AttentionRule rule, AttentionStrides strides, bool bfloat16Operands = false)
    {
        Validate(q, k, v, keyValid, sourceLengths, biasValues, biasIndices, output, rule, strides);
        var s = rule.Shape;
        if (s.Batch == 0 || s.QueryLength == 0) return;
        var tiling = ChooseTiling(s, groupSize);
        int groups = s.Batch * s.KeyValueHeads * tiling.GroupsPerKeyValueHead;
        var config = new KernelConfig(groups, groupSize, SharedMemoryConfig.RequestDynamic<float>(tiling.SharedFloats(s.HeadDim)));
        kernel(stream, config, q, k, v, keyValid, sourceLengths, biasValues, biasIndices, output, rule, strides, tiling, bfloat16Operands ? 1 : 0);
    }

    private static void Validate(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> keyValid,
        ArrayView<int> sourceLengths, ArrayView<float> biasValues, ArrayView<int> biasIndices, ArrayView<float> output,
        AttentionRule rule, AttentionStrides ld)
    {
        var g = rule.Shape;
        if (g.Batch < 0 || g.QueryLength < 0 || g.KeyLength < 0 || g.HeadDim < 1 || g.KeyValueHeads < 1 || g.QueryHeads < 1)
            throw new ArgumentException($"Attention: invalid shape {g}");
        if (g.QueryHeads % g.KeyValueHeads != 0)
            throw new ArgumentException($"Attention: {g.QueryHeads} query heads are not a multiple of {g.KeyValueHeads} key/value heads");
        if (g.KeyLength > g.KeyRowsPerBatch)
            throw new ArgumentException($"Attention: key length {g.KeyLength} exceeds the {g.KeyRowsPerBatch} rows per batch element");
        if (rule.Windowed != 0 && (rule.WindowBefore < 0 || rule.WindowAfter < 0))
            throw new ArgumentException($"Attention: window sides must be ≥ 0, got {rule.WindowBefore} before and {rule.WindowAfter} after");
        if (g.Batch == 0 || g.QueryLength == 0) return;
        static void Fits(string name, long length, long rows, int ld, int width)
        {
            if (ld < width || rows > 0 && (rows - 1) * ld + width > length)
                throw new ArgumentException($"Attention: {name} ({length} elements, leading dimension {ld}) do not hold {rows} rows of {width}");
        }
        Fits("queries", q.Length, (long)g.Batch * g.QueryLength, ld.Queries, g.QueryHeads * g.HeadDim);
        Fits("keys", k.Length, (long)g.Batch * g.KeyRowsPerBatch, ld.Keys, g.KeyValueHeads * g.HeadDim);
        Fits("values", v.Length, (long)g.Batch * g.KeyRowsPerBatch, ld.Values, g.KeyValueHeads * g.HeadDim);
        Fits("output", output.Length, (long)g.Batch * g.QueryLength, ld.Output, g.QueryHeads * g.HeadDim);
        if (keyValid.Length < (long)g.Batch * g.KeyRowsPerBatch)
            throw new ArgumentException($"Attention: key mask has {keyValid.Length} entries, needs {g.Batch * g.KeyRowsPerBatch}");
        if (rule.HasSourceLengths != 0 && sourceLengths.Length < g.Batch)
            throw new ArgumentException($"Attention: {sourceLengths.Length} source lengths for a batch of {g.Batch}");
        (long values, long indices) = rule.Bias switch
        {
            AttentionBiasKind.Alibi => ((long)g.QueryHeads, (long)g.Batch * g.KeyRowsPerBatch),
            AttentionBiasKind.RelativePositionBuckets => ((long)g.QueryHeads, (long)g.QueryLength + g.KeyLength - 1),
            AttentionBiasKind.Given => ((long)g.QueryHeads * g.QueryLength * g.KeyLength, 0L),
            _ => (0L, 0L),
        };
        // A bucket table holds at least one bucket; its height, the bucket count, is checked by OpChecks.
        if (biasValues.Length < values || biasIndices.Length < indices)
            throw new ArgumentException(
                $"Attention: {rule.Bias} bias has {biasValues.Length} values and {biasIndices.Length} indices, needs {values} and {indices}");
    }

    /// <summary>
    /// One group per (batch, key/value head, block of rows). Per key block: load K; score (each lane keeps its maximum);
    /// load V over K while the lanes turn scores into probabilities with the row's new maximum (each keeps its sum); then
    /// add P·V to the accumulators, the thread of a row's column 0 updating the row's running maximum and sum. All loop
    /// bounds that contain a barrier depend only on the group index, so every thread of the group reaches every barrier.
    /// </summary>
    private static void AttentionKernel(
        ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<int> keyValid, ArrayView<int> sourceLengths, ArrayView<float> biasValues, ArrayView<int> biasIndices,
        ArrayView<float> output, AttentionRule rule, AttentionStrides ld, AttentionTiling t, int bfloat16Operands)
    {
        var g = rule.Shape;
        var inputs = new DeviceAttentionInputs(keyValid, sourceLengths, biasValues, biasIndices);
        int thread = Group.IdxX, threads = Group.DimX;
        int d = g.HeadDim, padded = d + 1, rowCount = t.RowsPerGroup, blockKeys = t.KeysPerBlock, lanes = t.LanesPerRow;
        int laneTasks = rowCount * lanes;
        int headsPerKv = g.QueryHeads / g.KeyValueHeads;
        int rowBlock = Grid.IdxX % t.GroupsPerKeyValueHead;
        int kvHead = Grid.IdxX / t.GroupsPerKeyValueHead % g.KeyValueHeads;
        int b = Grid.IdxX / t.GroupsPerKeyValueHead / g.KeyValueHeads;
        int firstRow = rowBlock * rowCount;
        int rows = Math.Min(rowCount, g.QueryLength * headsPerKv - firstRow);

        // Probabilities are stored lane-major: key j of row r (lane j mod L, step j / L) at (j / L)·R·L + r·L + j mod L,
        // so the threads of a warp, holding consecutive (row, lane) pairs, touch consecutive floats at every step.
        var shared = SharedMemory.GetDynamic<float>();
        int accumulatorsAt = rowCount * padded, tileAt = accumulatorsAt + rowCount * d;
        int probabilitiesAt = tileAt + blockKeys * padded, partialsAt = probabilitiesAt + rowCount * blockKeys;
        int statsAt = partialsAt + 2 * laneTasks;
        var queries = shared.SubView(0, accumulatorsAt);
        var accumulators = shared.SubView(accumulatorsAt, rowCount * d);
        var tile = shared.SubView(tileAt, blockKeys * padded);
        var probabilities = shared.SubView(probabilitiesAt, rowCount * blockKeys);
        var partialMax = shared.SubView(partialsAt, laneTasks);
        var partialSum = shared.SubView(partialsAt + laneTasks, laneTasks);
        var runningMax = shared.SubView(statsAt, rowCount);
        var runningSum = shared.SubView(statsAt + rowCount, rowCount);
        var blockMax = shared.SubView(statsAt + 2 * rowCount, rowCount);
        var rescale = shared.SubView(statsAt + 3 * rowCount, rowCount);

        // Keys any row of this group may see (the CPU backend's per-chunk range): rows are query-major.
        int source = rule.Source(inputs, b);
        var range = rule.VisibleKeys(firstRow / headsPerKv, (firstRow + rows - 1) / headsPerKv, source);

        for (int e = thread; e < rowCount * d; e += threads)
        {
            int r = e / d, c = e % d;
            queries[r * padded + c] = r < rows
                ? Operand(q[QueryRow(g, b, firstRow + r, headsPerKv) * ld.Queries + HeadOf(kvHead, firstRow + r, headsPerKv) * d + c], bfloat16Operands)
                : 0f;
            accumulators[e] = 0f;
        }
        for (int r = thread; r < rowCount; r += threads)
        {
            runningMax[r] = float.NegativeInfinity;
            runningSum[r] = 0f;
        }

        // Scores are kept in base 2, softmax(s) = 2^(s·log2 e − max) / Σ, because PTX has ex2 but no exp instruction
        // (ILGPU's MathF.Exp needs the Algorithms library on CUDA). "CPUOnly" names only where the managed body runs.
        long kvRowBase = (long)b * g.KeyRowsPerBatch;
        int kvColumn = kvHead * d;
        for (int key0 = range.Start; key0 < range.End; key0 += blockKeys)
        {
            int keys = Math.Min(blockKeys, range.End - key0);
            Group.Barrier(); // the previous block's P·V is done with the tile and the probabilities
            for (int e = thread; e < keys * d; e += threads)
            {
                int j = e / d, c = e % d;
                tile[j * padded + c] = Operand(k[(kvRowBase + key0 + j) * ld.Keys + kvColumn + c], bfloat16Operands);
            }
            Group.Barrier();

            for (int task = thread; task < laneTasks; task += threads)
            {
                int r = task / lanes;
                int query = (firstRow + r) / headsPerKv, head = HeadOf(kvHead, firstRow + r, headsPerKv);
                float max = float.NegativeInfinity;
                for (int j = task % lanes, at = task; j < keys; j += lanes, at += laneTasks)
                {
                    float score = float.NegativeInfinity;
                    if (r < rows && rule.IsVisible(inputs, b, query, key0 + j, source))
                    {
                        float dot = 0f;
                        for (int c = 0; c < d; c++) dot += queries[r * padded + c] * tile[j * padded + c];
                        score = (dot * rule.Scale + rule.BiasOf(inputs, b, head, query, key0 + j)) * Log2E;
                    }
                    probabilities[at] = score;
                    max = Math.Max(max, score);
                }
                partialMax[task] = max;
            }
            Group.Barrier(); // scores and partial maxima complete, K no longer needed

            for (int e = thread; e < keys * d; e += threads)
            {
                int j = e / d, c = e % d;
                tile[j * padded + c] = Operand(v[(kvRowBase + key0 + j) * ld.Values + kvColumn + c], bfloat16Operands);
            }
            for (int task = thread; task < laneTasks; task += threads)
            {
                int r = task / lanes, lane = task % lanes;
                float previousMax = runningMax[r], newMax = previousMax;
                for (int l = 0; l < lanes; l++) newMax = Math.Max(newMax, partialMax[r * lanes + l]);
                float sum = 0f;
                for (int j = lane, at = task; j < keys; j += lanes, at += laneTasks)
                {
                    // Nothing visible yet: keep the zero accumulator; exp(-inf - -inf) would be NaN.
                    float p = newMax == float.NegativeInfinity ? 0f : IntrinsicMath.CPUOnly.Exp2(probabilities[at] - newMax);
                    probabilities[at] = Operand(p, bfloat16Operands);
                    sum += p;
                }
                partialSum[task] = sum;
                if (lane == 0)
                {
                    blockMax[r] = newMax;
                    rescale[r] = newMax == float.NegativeInfinity ? 1f : IntrinsicMath.CPUOnly.Exp2(previousMax - newMax);
                }
            }
            Group.Barrier(); // V, probabilities, partial sums and rescale factors complete

            for (int e = thread; e < rowCount * d; e += threads)
            {
                int r = e / d, c = e % d;
                float factor = rescale[r];
                float sum = accumulators[e] * factor;
                for (int step = 0, at = r * lanes; step * lanes < keys; step++, at += laneTasks)
                    for (int l = 0, j = step * lanes; l < lanes && j < keys; l++, j++)
                        sum += probabilities[at + l] * tile[j * padded + c];
                accumulators[e] = sum;
                if (c == 0)
                {
                    // Nobody else reads the running statistics in this phase.
                    float blockSum = 0f;
                    for (int l = 0; l < lanes; l++) blockSum += partialSum[r * lanes + l];
                    runningSum[r] = runningSum[r] * factor + blockSum;
                    runningMax[r] = blockMax[r];
                }
            }
        }
        Group.Barrier();

        for (int e = thread; e < rows * d; e += threads)
        {
            int r = e / d, c = e % d;
            float total = runningSum[r];
            output[QueryRow(g, b, firstRow + r, headsPerKv) * ld.Output + HeadOf(kvHead, firstRow + r, headsPerKv) * d + c] =
                total > 0f ? accumulators[e] / total : 0f;
        }
    }

    /// <summary>
    /// An operand of the two products as the tensor-core path under <see cref="Precision.Bf16"/> has it: q, k, v and the
    /// (unnormalised) probabilities rounded to bfloat16 when asked, so every attention path rounds at the same places.
    /// </summary>
    private static float Operand(float x, int bfloat16) => bfloat16 != 0 ? IlgpuKernels.FromBFloat16(IlgpuKernels.ToBFloat16(x)) : x;

    /// <summary>Row of q and of the output that holds row <paramref name="row"/> (query-major) of this group.</summary>
    private static long QueryRow(AttentionShape g, int b, int row, int headsPerKv) => (long)b * g.QueryLength + row / headsPerKv;

    /// <summary>The query head of row <paramref name="row"/>: the query heads of one key/value head are adjacent.</summary>
    private static int HeadOf(int kvHead, int row, int headsPerKv) => kvHead * headsPerKv + row % headsPerKv;
}
