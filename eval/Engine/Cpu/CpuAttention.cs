using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Eval.Engine.Cpu;

public sealed unsafe partial class CpuBackend
{
    private const int QueryChunk = 64;

    public void Rope(ColumnSlice x, int heads, int headDim, ReadOnlySpan<int> positions, ReadOnlySpan<float> invFrequencies)
    {
        OpChecks.Rope(x, heads, headDim, positions, invFrequencies);
        RotateHalves(x.Tensor, [(x.Offset, heads)], headDim, positions, invFrequencies);
    }

    public void Rope(ColumnSlice queries, int queryHeads, ColumnSlice keys, int keyHeads, int headDim, ReadOnlySpan<int> positions,
        ReadOnlySpan<float> invFrequencies)
    {
        OpChecks.Rope(queries, queryHeads, keys, keyHeads, headDim, positions, invFrequencies);
        if (ReferenceEquals(queries.Tensor, keys.Tensor))
        {
            RotateHalves(queries.Tensor, [(queries.Offset, queryHeads), (keys.Offset, keyHeads)], headDim, positions, invFrequencies);
            return;
        }
        RotateHalves(queries.Tensor, [(queries.Offset, queryHeads)], headDim, positions, invFrequencies);
        RotateHalves(keys.Tensor, [(keys.Offset, keyHeads)], headDim, positions, invFrequencies);
    }

    /// <summary>Rotate-half RoPE in place on each part's heads of every row of t, one cos/sin per row and frequency for all parts.</summary>
    private void RotateHalves(Tensor t, (int Offset, int Heads)[] parts, int headDim, ReadOnlySpan<int> positions, ReadOnlySpan<float> invFrequencies)
    {
        int half = headDim / 2;
        var frequencies = invFrequencies.ToArray();
        var rowPositions = positions.ToArray();
        int cols = t.Columns, heads = parts.Sum(p => p.Heads);
        ForRows(t.Rows, heads * headDim, (start, end) =>
        {
            Span<float> cos = stackalloc float[half];
            Span<float> sin = stackalloc float[half];
            for (int r = start; r < end; r++)
            {
                float position = rowPositions[r];
                for (int i = 0; i < half; i++)
                {
                    float angle = position * frequencies[i];
                    cos[i] = MathF.Cos(angle);
                    sin[i] = MathF.Sin(angle);
                }
                foreach (var (offset, partHeads) in parts)
                {
                    float* row = t.Pointer + (long)r * cols + offset;
                    for (int h = 0; h < partHeads; h++)
                    {
                        float* head = row + h * headDim;
                        for (int i = 0; i < half; i++)
                        {
                            float x1 = head[i], x2 = head[i + half];
                            head[i] = x1 * cos[i] - x2 * sin[i];
                            head[i + half] = x2 * cos[i] + x1 * sin[i];
                        }
                    }
                }
            }
        });
    }

    public void Attention(ColumnSlice q, ColumnSlice k, ColumnSlice v, AttentionShape s, AttentionMask mask, Tensor output)
    {
        OpChecks.Attention(q, k, v, s, mask, output);
        var callRule = AttentionRule.Create(s, mask);
        int groups = s.QueryHeads / s.KeyValueHeads;
        int chunksPerHead = (s.QueryLength + QueryChunk - 1) / QueryChunk;
        int tasks = s.Batch * s.QueryHeads * chunksPerHead;
        var bias = mask.Bias;
        var biasIndices = AttentionRule.BiasIndices(s, mask);
        using var validPin = mask.KeyValid.Pin();
        using var sourcePin = mask.SourceLengths.Pin();
        using var slopePin = bias.Slopes.Pin();
        using var indexPin = biasIndices.AsMemory().Pin();
        float* biasValues = bias.Kind switch
        {
            AttentionBiasKind.Alibi => (float*)slopePin.Pointer,
            AttentionBiasKind.RelativePositionBuckets => bias.Table!.Pointer,
            AttentionBiasKind.Given => bias.Values!.Pointer,
            _ => null,
        };
        var callInputs = new HostAttentionInputs((int*)validPin.Pointer, (int*)sourcePin.Pointer, biasValues, (int*)indexPin.Pointer);

        void RunTask(int task, float* scores)
        {
            // Locals, not the closure's fields: the masking loop would reload each field after every store to a score.
            var rule = callRule;
            var inputs = callInputs;
            int chunk = task % chunksPerHead;
            int head = task / chunksPerHead % s.QueryHeads;
            int b = task / chunksPerHead / s.QueryHeads;
            int kvHead = head / groups;
            int i0 = chunk * QueryChunk, rows = Math.Min(QueryChunk, s.QueryLength - i0);

            // Keys that any query of this chunk may see.
            int source = rule.Source(inputs, b);
            var range = rule.VisibleKeys(i0, i0 + rows - 1, source);
            int ldo = output.Columns;
            float* outBase = output.Pointer + (long)(b * s.QueryLength + i0) * ldo + head * s.HeadDim;
            if (range.Count == 0)
            {
                for (int r = 0; r < rows; r++) new Span<float>(outBase + (long)r * ldo, s.HeadDim).Clear();
                return;
            }
            int jLo = range.Start, keys = range.Count;
            int ldq = q.Tensor.Columns, ldk = k.Tensor.Columns, ldv = v.Tensor.Columns;
            float* qBase = q.Tensor.Pointer + (long)(b * s.QueryLength + i0) * ldq + q.Offset + head * s.HeadDim;
            float* kBase = k.Tensor.Pointer + ((long)b * s.KeyRowsPerBatch + jLo) * ldk + k.Offset + kvHead * s.HeadDim;
            float* vBase = v.Tensor.Pointer + ((long)b * s.KeyRowsPerBatch + jLo) * ldv + v.Offset + kvHead * s.HeadDim;

            // scores[rows, keys] = scale · Q·Kᵀ, −∞ on the hidden keys, + bias.
            attentionGemm.Multiply(false, true, rows, keys, s.HeadDim, rule.Scale, qBase, ldq, kBase, ldk, 0f, scores, keys);
            bool biased = rule.Bias != AttentionBiasKind.None;
            for (int r = 0; r < rows; r++)
            {
                float* row = scores + (long)r * keys;
                int query = i0 + r;
                bool any = false;
                for (int j = 0; j < keys; j++)
                {
                    if (rule.IsVisible(inputs, b, query, jLo + j, source)) any = true;
                    else row[j] = float.NegativeInfinity;
                }
                if (biased && any)
                {
                    // −∞ + bias stays −∞: the bias goes on every key of the row, visible or not, in a loop without the mask's branches.
                    for (int j = 0; j < keys; j++) row[j] += rule.BiasOf(inputs, b, head, query, jLo + j);
                    any = TensorPrimitives.Max(new ReadOnlySpan<float>(row, keys)) != float.NegativeInfinity; // a given bias may hide keys with −∞
                }
                var span = new Span<float>(row, keys);
                if (any) TensorPrimitives.SoftMax(span, span);
                else span.Clear();
            }
            // out[rows, d] = P·V
            attentionGemm.Multiply(false, false, rows, s.HeadDim, keys, 1f, scores, keys, vBase, ldv, 0f, outBase, ldo);
        }

        nuint scoreBytes = (nuint)QueryChunk * (nuint)s.KeyLength * sizeof(float);
        if (Threads == 1 || tasks == 1)
        {
            var scores = (float*)NativeMemory.AlignedAlloc(Math.Max(scoreBytes, 64), 64);
            try { for (int t = 0; t < tasks; t++) RunTask(t, scores); }
            finally { NativeMemory.AlignedFree(scores); }
            return;
        }
        Parallel.For(0, tasks, parallel,
            () => (nint)NativeMemory.AlignedAlloc(Math.Max(scoreBytes, 64), 64),
            (t, _, buffer) => { RunTask(t, (float*)buffer); return buffer; },
            buffer => NativeMemory.AlignedFree((void*)buffer));
    }

    /// <summary>The attention call's host arrays, as <see cref="AttentionRule"/> reads them.</summary>
    private readonly struct HostAttentionInputs(int* keyValid, int* sourceLengths, float* biasValues, int* biasIndices) : IAttentionInputs
    {
        public int KeyValid(long row) => keyValid[row];
        public int SourceLength(int batch) => sourceLengths[batch];
        public float BiasValue(long index) => biasValues[index];
        public int BiasIndex(long index) => biasIndices[index];
    }
}
