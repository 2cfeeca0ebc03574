using System.Reflection;
using ILGPU;
using ILGPU.Runtime;

namespace Eval.Engine.Gpu;

/// <summary>
/// The softmax between the two GEMMs of the tensor-core attention: each row of scaled scores S (one batch element, query
/// head and query; <see cref="AttentionGemmPlan"/>'s layout) becomes probabilities P, with <see cref="IBackend.Attention"/>'s
/// visibility and bias through the shared <see cref="AttentionRule"/>. A row is owned by L lanes (L the largest power of
/// two up to 32 that the group holds: a warp on CUDA, where a 256-thread group takes 8 rows), lane l taking keys l, l + L,
/// …; the lanes' partial maxima and sums meet in shared memory as one row of L consecutive floats per row of the group
/// (a warp's 32 lanes touch 32 consecutive words: no bank conflicts) and are reduced by halving. Three passes over the
/// row, reading it three times and writing it once (the row stays in cache after the first read; the visibility and
/// bias are recomputed rather than written back, which would cost a second trip to memory): the base-2 logits
/// s = (score + bias)·log2 e (hidden keys −∞) and their maximum; the sum of 2^(s − max); P = 2^(s − max)/sum, written
/// in place as float32 or into a bfloat16 buffer for a bfloat16 P·V. A row with no visible key gets P = 0, hence a zero
/// output.
/// </summary>
public sealed class IlgpuMaskedSoftmax
{
    private const float Log2E = 1.44269504088896341f;

    private readonly Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<ushort>, int, ArrayView<int>, ArrayView<int>,
        ArrayView<float>, ArrayView<int>, AttentionRule, int, int, int> kernel;
    private readonly int groupSize, maxGroups;

    public IlgpuMaskedSoftmax(Accelerator accelerator, IlgpuLaunch launch)
    {
        groupSize = launch.GroupSize;
        maxGroups = launch.MaxGroups;
        kernel = accelerator.LoadKernel<ArrayView<float>, ArrayView<ushort>, int, ArrayView<int>, ArrayView<int>,
            ArrayView<float>, ArrayView<int>, AttentionRule, int, int, int>(Kernel);
    }

    /// <summary>The kernel method, for compiling it ahead of time (the PTX check in the tests).</summary>
    public static MethodInfo KernelMethod => ((Delegate)Kernel).Method;

    /// <summary>Lanes per row for a group of <paramref name="groupSize"/> threads: the largest power of two ≤ min(32, groupSize).</summary>
    public static int LanesPerRow(int groupSize)
    {
        int lanes = 1;
        while (lanes * 2 <= Math.Min(32, groupSize)) lanes *= 2;
        return lanes;
    }

    /// <summary>
    /// Turns the scores of batch elements firstBatch … firstBatch + batches − 1 (the chunk's score block, float32) into
    /// probabilities: in place, or into <paramref name="bfloat16Probabilities"/> (same layout) when
    /// <paramref name="toBFloat16"/>. The rule's scale is already in the scores (the GEMM's alpha).
    /// </summary>
    public void Run(AcceleratorStream stream, ArrayView<float> scores, ArrayView<ushort> bfloat16Probabilities, bool toBFloat16,
        ArrayView<int> keyValid, ArrayView<int> sourceLengths, ArrayView<float> biasValues, ArrayView<int> biasIndices,
        AttentionRule rule, int firstBatch, int batches)
    {
        var s = rule.Shape;
        long rows = (long)batches * s.QueryHeads * s.QueryLength;
        if (rows == 0) return;
        if (scores.Length < rows * s.KeyLength || toBFloat16 && bfloat16Probabilities.Length < rows * s.KeyLength)
            throw new ArgumentException($"masked softmax: {rows} rows of {s.KeyLength} scores do not fit the score buffers");
        int lanes = LanesPerRow(groupSize), rowsPerGroup = groupSize / lanes;
        long groups = Math.Clamp((rows + rowsPerGroup - 1) / rowsPerGroup, 1, maxGroups);
        var config = new KernelConfig((int)groups, groupSize, SharedMemoryConfig.RequestDynamic<float>(groupSize));
        kernel(stream, config, scores, bfloat16Probabilities, toBFloat16 ? 1 : 0, keyValid, sourceLengths, biasValues, biasIndices,
            rule, firstBatch, batches, lanes);
    }

    private static void Kernel(ArrayView<float> scores, ArrayView<ushort> bfloat16Probabilities, int toBFloat16,
        ArrayView<int> keyValid, ArrayView<int> sourceLengths, ArrayView<float> biasValues, ArrayView<int> biasIndices,
        AttentionRule rule, int firstBatch, int batches, int lanes)
    {
        var g = rule.Shape;
        var inputs = new DeviceAttentionInputs(keyValid, sourceLengths, biasValues, biasIndices);
        var partials = SharedMemory.GetDynamic<float>();
        int rowsPerGroup = Group.DimX / lanes, rowInGroup = Group.IdxX / lanes, lane = Group.IdxX % lanes;
        int at = Group.IdxX, first = rowInGroup * lanes;
        bool member = rowInGroup < rowsPerGroup;   // threads past rowsPerGroup·lanes take no part in the reductions
        long rows = (long)batches * g.QueryHeads * g.QueryLength;
        int keys = g.KeyLength;
        // Every thread of a group runs the same number of blocks (the bound depends on the group only), so all reach
        // every barrier; threads past the last row, or beyond rowsPerGroup·lanes, work on nothing.
        for (long block = Grid.IdxX; block * rowsPerGroup < rows; block += Grid.DimX)
        {
            long row = block * rowsPerGroup + rowInGroup;
            bool active = member && row < rows;
            int query = 0, head = 0, b = 0, source = 0;
            long start = row * keys;
            if (active)
            {
                query = (int)(row % g.QueryLength);
                head = (int)(row / g.QueryLength % g.QueryHeads);
                b = firstBatch + (int)(row / ((long)g.QueryLength * g.QueryHeads));
                source = rule.Source(inputs, b);
            }

            float max = float.NegativeInfinity;
            if (active)
                for (int j = lane; j < keys; j += lanes)
                    max = IntrinsicMath.Max(max, Logit(scores, start, j, rule, inputs, b, head, query, source));
            partials[at] = max;
            Group.Barrier();
            for (int step = lanes / 2; step > 0; step >>= 1)
            {
                if (member && lane < step) partials[at] = IntrinsicMath.Max(partials[at], partials[at + step]);
                Group.Barrier();
            }
            float rowMax = partials[first];
            Group.Barrier();

            float sum = 0f;
            if (active && rowMax != float.NegativeInfinity)
                for (int j = lane; j < keys; j += lanes)
                    sum += IntrinsicMath.CPUOnly.Exp2(Logit(scores, start, j, rule, inputs, b, head, query, source) - rowMax);
            partials[at] = sum;
            Group.Barrier();
            for (int step = lanes / 2; step > 0; step >>= 1)
            {
                if (member && lane < step) partials[at] += partials[at + step];
                Group.Barrier();
            }
            float inverse = partials[first] > 0f ? 1f / partials[first] : 0f;
            Group.Barrier();

            if (active)
                for (int j = lane; j < keys; j += lanes)
                {
                    float p = rowMax == float.NegativeInfinity ? 0f
                        : IntrinsicMath.CPUOnly.Exp2(Logit(scores, start, j, rule, inputs, b, head, query, source) - rowMax) * inverse;
                    if (toBFloat16 != 0) bfloat16Probabilities[start + j] = IlgpuKernels.ToBFloat16(p);
                    else scores[start + j] = p;
                }
        }
    }

    /// <summary>Key j's base-2 logit in the row at <paramref name="start"/>: (score + bias)·log2 e, or −∞ when hidden.</summary>
    private static float Logit(ArrayView<float> scores, long start, int j, AttentionRule rule, DeviceAttentionInputs inputs,
        int b, int head, int query, int source) =>
        rule.IsVisible(inputs, b, query, j, source)
            ? (scores[start + j] + rule.BiasOf(inputs, b, head, query, j)) * Log2E
            : float.NegativeInfinity;
}
