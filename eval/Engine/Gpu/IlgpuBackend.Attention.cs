using ILGPU;
using ILGPU.Runtime;

namespace Eval.Engine.Gpu;

/// <summary>
/// Attention on the GPU backend. With cuBLAS, and when one sequence's scores fit the budget: the tensor-core path —
/// S = Scale·Q·Kᵀ and O = P·V as cublasGemmStridedBatchedEx (<see cref="AttentionGemmPlan"/>; bfloat16 operands under
/// <see cref="Precision.Bf16"/>, TF32 under <see cref="Precision.Tf32"/>, float32 accumulation always) with one masked
/// softmax launch between them (<see cref="IlgpuMaskedSoftmax"/>), over runs of whole sequences whose scores fit the
/// budget. Otherwise (no cuBLAS, longer sequences, no keys) the flash-style kernel (<see cref="IlgpuAttention"/>), which
/// under Bf16 rounds q, k, v and the probabilities to bfloat16 as the tensor-core path does, so every path — and ILGPU's
/// CPU accelerator, the GPU check's emulation — rounds at the same places. Both read the mask and the bias through the
/// same <see cref="AttentionRule"/>.
/// </summary>
public sealed partial class IlgpuBackend
{
    public void Attention(ColumnSlice q, ColumnSlice k, ColumnSlice v, AttentionShape s, AttentionMask mask, Tensor output)
    {
        OpChecks.Attention(q, k, v, s, mask, output);
        var rule = AttentionRule.Create(s, mask);
        var bias = mask.Bias;
        // A bfloat16 bias tensor (a [buckets, heads] table taken as a weight under Bf16) is widened for the call.
        using var widened = bias.Kind switch
        {
            AttentionBiasKind.RelativePositionBuckets => WidenedIfBFloat16(bias.Table!),
            AttentionBiasKind.Given => WidenedIfBFloat16(bias.Values!),
            _ => null,
        };
        var biasValues = bias.Kind switch
        {
            AttentionBiasKind.Alibi => uploads.AlibiSlopes(bias.Slopes.Span),
            AttentionBiasKind.RelativePositionBuckets => Floats(widened ?? bias.Table!),
            AttentionBiasKind.Given => Floats(widened ?? bias.Values!),
            _ => uploads.NoFloats,
        };
        var biasIndices = AttentionRule.ReadsBiasIndices(mask)
            ? uploads.BiasIndices(AttentionRule.BiasIndices(s, mask))
            : uploads.NoInts;
        var keyValid = uploads.KeyValid(mask.KeyValid.Span[..(s.Batch * s.KeyRowsPerBatch)]);
        var sourceLengths = mask.SourceLengths.IsEmpty ? uploads.NoInts : uploads.SourceLengths(mask.SourceLengths.Span);
        if (s.Batch == 0 || s.QueryLength == 0) return;
        if (TensorCoreBatches(s) is int batchesPerStep)
        {
            TensorCoreAttention(q, k, v, rule, keyValid, sourceLengths, biasValues, biasIndices, output, batchesPerStep);
            return;
        }
        Launches.Kernel(nameof(IlgpuAttention));
        attention.Run(accelerator.DefaultStream,
            Floats(q.Tensor).SubView(q.Offset), Floats(k.Tensor).SubView(k.Offset), Floats(v.Tensor).SubView(v.Offset),
            keyValid, sourceLengths, biasValues, biasIndices, Floats(output), rule,
            new AttentionStrides(q.Tensor.Columns, k.Tensor.Columns, v.Tensor.Columns, output.Columns), bfloat16Operands: Precision == Precision.Bf16);
    }

    /// <summary>
    /// How many sequences one tensor-core step takes (their float32 scores, and under Bf16 the bfloat16 probabilities, within
    /// the budget), or null for the flash kernel: no cuBLAS, no keys, or one sequence's scores over the budget.
    /// </summary>
    private int? TensorCoreBatches(AttentionShape s)
    {
        if (!HasTensorCoreAttention || s.KeyLength == 0) return null;
        long perSequence = (long)s.QueryHeads * s.QueryLength * s.KeyLength * (sizeof(float) + (Precision == Precision.Bf16 ? sizeof(ushort) : 0));
        if (perSequence > attentionScoreBudget) return null;
        return (int)Math.Min(s.Batch, attentionScoreBudget / perSequence);
    }

    private void TensorCoreAttention(ColumnSlice q, ColumnSlice k, ColumnSlice v, AttentionRule rule, ArrayView<int> keyValid,
        ArrayView<int> sourceLengths, ArrayView<float> biasValues, ArrayView<int> biasIndices, Tensor output, int batchesPerStep)
    {
        var s = rule.Shape;
        bool bf16 = Precision == Precision.Bf16;
        var inputType = bf16 ? CudaDataType.BFloat16 : CudaDataType.Float32;
        var compute = CublasGemm.ComputeTypeFor(Precision);
        int elementBytes = AttentionGemmPlan.ElementBytes(inputType);
        var (qBase, kBase, vBase) = bf16 ? BFloat16Operands(q, k, v) : (
            Floats(q.Tensor).SubView(q.Offset).LoadEffectiveAddressAsPtr(),
            Floats(k.Tensor).SubView(k.Offset).LoadEffectiveAddressAsPtr(),
            Floats(v.Tensor).SubView(v.Offset).LoadEffectiveAddressAsPtr());
        long block = (long)s.QueryHeads * s.QueryLength * s.KeyLength;
        var scores = scratch.Floats(IlgpuScratch.AttentionScores, block * batchesPerStep);
        // Without bf16 the probabilities overwrite the scores; the kernel still takes a (one-element) bfloat16 view.
        var probabilities = scratch.BFloat16(IlgpuScratch.AttentionProbabilities, bf16 ? block * batchesPerStep : 1);
        nint scoreAddress = scores.LoadEffectiveAddressAsPtr();
        nint probabilityAddress = bf16 ? probabilities.LoadEffectiveAddressAsPtr() : scoreAddress;
        nint outputAddress = Floats(output).LoadEffectiveAddressAsPtr();
        int ldq = q.Tensor.Columns, ldk = k.Tensor.Columns, ldv = v.Tensor.Columns, ldo = output.Columns;
        accelerator.Bind();
        for (int first = 0; first < s.Batch; first += batchesPerStep)
        {
            int batches = Math.Min(batchesPerStep, s.Batch - first);
            var operands = new AttentionOperands(
                qBase + (nint)((long)first * s.QueryLength * ldq * elementBytes), ldq,
                kBase + (nint)((long)first * s.KeyRowsPerBatch * ldk * elementBytes), ldk,
                vBase + (nint)((long)first * s.KeyRowsPerBatch * ldv * elementBytes), ldv,
                scoreAddress, probabilityAddress, outputAddress + (nint)((long)first * s.QueryLength * ldo * sizeof(float)), ldo);
            var grouping = AttentionGemmPlan.Choose(s, batches);
            BeforeNativeCall();
            foreach (var call in AttentionGemmPlan.Scores(operands, s, batches, inputType, compute, grouping))
            {
                Launches.Cublas("attention scores");
                cublas!.StridedBatched(call, rule.Scale, 0f, Precision, "attention scores S = scale·Q·Kᵀ");
            }
            Launches.Kernel(nameof(IlgpuMaskedSoftmax));
            maskedSoftmax.Run(accelerator.DefaultStream, scores, probabilities, bf16, keyValid, sourceLengths, biasValues, biasIndices,
                rule, first, batches);
            BeforeNativeCall();
            foreach (var call in AttentionGemmPlan.Values(operands, s, batches, inputType, compute, grouping))
            {
                Launches.Cublas("attention values");
                cublas!.StridedBatched(call, 1f, 0f, Precision, "attention output O = P·V");
            }
        }
    }

    /// <summary>
    /// bfloat16 copies of the tensors q, k and v live in (each converted once, however many of the three share it: a fused
    /// projection is one conversion), in one scratch buffer; returns the device addresses of the three slices' first elements.
    /// </summary>
    private (nint Q, nint K, nint V) BFloat16Operands(ColumnSlice q, ColumnSlice k, ColumnSlice v)
    {
        var tensors = new List<Tensor>();
        foreach (var t in new[] { q.Tensor, k.Tensor, v.Tensor })
            if (!tensors.Any(seen => ReferenceEquals(seen, t))) tensors.Add(t);
        var buffer = scratch.BFloat16(IlgpuScratch.AttentionInputs, tensors.Sum(t => t.Length));
        var starts = new long[tensors.Count];
        long at = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            starts[i] = at;
            var values = Floats(tensors[i]);
            Launches.Kernel(nameof(IlgpuKernels.ConvertToBFloat16));
            toBFloat16(ElementLaunch(values.Length), values, buffer.SubView(at, values.Length), (int)values.Length);
            at += values.Length;
        }
        nint baseAddress = buffer.LoadEffectiveAddressAsPtr();
        nint Address(ColumnSlice slice) =>
            baseAddress + (nint)((starts[tensors.FindIndex(t => ReferenceEquals(t, slice.Tensor))] + slice.Offset) * sizeof(ushort));
        return (Address(q), Address(k), Address(v));
    }

    /// <summary>A float32 copy of a bfloat16 tensor of this backend (null for a float32 one), through the bfloat16 gather.</summary>
    private Tensor? WidenedIfBFloat16(Tensor t)
    {
        Buffer(t);
        if (t.ElementType != TensorElementType.BFloat16) return null;
        var wide = Allocate(t.Shape.ToArray());
        var rows = new int[t.Rows];
        for (int r = 0; r < rows.Length; r++) rows[r] = r;
        Launches.Kernel(nameof(IlgpuKernels.GatherBFloat16));
        gatherBFloat16(ElementLaunch(t.Length), BFloat16(t), uploads.Ids(rows), Floats(wide), t.Rows, t.Columns);
        return wide;
    }
}
