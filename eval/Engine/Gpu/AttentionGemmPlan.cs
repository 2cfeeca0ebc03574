namespace Eval.Engine.Gpu;

/// <summary>
/// Device addresses of one tensor-core attention chunk and their leading dimensions, in elements. Q, K and V point at the
/// chunk's first batch element, at the column where the heads start (a fused projection's offset applied); Scores and
/// Probabilities at the chunk's [batches, QueryHeads, QueryLength, KeyLength] score block (Probabilities equal to Scores
/// when the probabilities overwrite the float32 scores); Output at the chunk's first output row.
/// </summary>
public readonly record struct AttentionOperands(
    nint Q, int Ldq, nint K, int Ldk, nint V, int Ldv, nint Scores, nint Probabilities, nint Output, int Ldo);

/// <summary>How the strided-batched products of one attention walk the (batch, head) pairs.</summary>
public enum AttentionGemmGrouping
{
    /// <summary>One call per query head, batched over the batch elements (stride: one sequence of rows).</summary>
    PerQueryHead,

    /// <summary>One call per (batch element, key/value head), batched over the query heads that share that key/value head.</summary>
    PerKeyValueGroup,
}

/// <summary>
/// The cuBLAS calls of the tensor-core attention (<see cref="IlgpuBackend"/>): S = Scale·Q·Kᵀ, then, after the masked
/// softmax turned S into P, O = P·V, each as cublasGemmStridedBatchedEx over row-major tensors seen column-major.
/// <para>Scores of batch element b, query head h, query i and key j sit at ((b·H + h)·Sq + i)·Sk + j. Read column-major
/// with ld = Sk they are the [Sk × Sq] matrix C(j, i) = Σ_c K(j, c)·Q(i, c): A = K read transposed (a column-major
/// [d × Sk] with lda = ldk), B = Q as stored ([d × Sq], ldb = ldq), m = Sk, n = Sq, k = d. The output rows b·Sq + i,
/// columns h·d + c are the column-major [d × Sq] matrix C(c, i) = Σ_j V(j, c)·P(i, j) with ldc = ldo: A = V as stored
/// ([d × Sk], lda = ldv), B = P as stored ([Sk × Sq], ldb = Sk), m = d, n = Sq, k = Sk.</para>
/// <para>Grouped-query attention needs no copies: query head h reads key/value head h / (H / KvH), i.e. A starts at that
/// head's columns. <see cref="AttentionGemmGrouping.PerQueryHead"/> makes H calls of `batches` products (A, B and C step by
/// a whole sequence); <see cref="AttentionGemmGrouping.PerKeyValueGroup"/> makes batches·KvH calls of H/KvH products
/// (A's stride 0: the group's query heads share one K or V; B and C step by one head). <see cref="Choose"/> takes the
/// one with fewer calls: per query head for batched prompts (16 calls however many sequences), per group for a few
/// sequences with many heads (a decoding step).</para>
/// </summary>
public static class AttentionGemmPlan
{
    public static AttentionGemmGrouping Choose(AttentionShape s, int batches) =>
        s.QueryHeads <= (long)batches * s.KeyValueHeads ? AttentionGemmGrouping.PerQueryHead : AttentionGemmGrouping.PerKeyValueGroup;

    /// <summary>The calls that write S = scale·Q·Kᵀ (the scale is the call's alpha) for `batches` batch elements.</summary>
    /// <param name="inputType">CUDA_R_32F, or CUDA_R_16BF when Q and K are bfloat16 copies.</param>
    public static IReadOnlyList<StridedBatchedGemmArguments> Scores(AttentionOperands o, AttentionShape s, int batches,
        CudaDataType inputType, CublasComputeType compute, AttentionGemmGrouping grouping)
    {
        int d = s.HeadDim, g = s.QueryHeads / s.KeyValueHeads, h = s.QueryHeads, sq = s.QueryLength, sk = s.KeyLength;
        int input = ElementBytes(inputType);
        long block = (long)sq * sk;
        var calls = new List<StridedBatchedGemmArguments>();
        if (grouping == AttentionGemmGrouping.PerQueryHead)
        {
            for (int head = 0; head < h; head++)
                calls.Add(new(Gemm(CublasOperation.Transpose, sk, sq, d,
                        o.K + (nint)((long)head / g * d * input), inputType, o.Ldk,
                        o.Q + (nint)((long)head * d * input), o.Ldq,
                        o.Scores + (nint)(head * block * sizeof(float)), sk, compute),
                    StrideA: (long)s.KeyRowsPerBatch * o.Ldk, StrideB: (long)sq * o.Ldq, StrideC: h * block, BatchCount: batches));
            return calls;
        }
        for (int b = 0; b < batches; b++)
            for (int kv = 0; kv < s.KeyValueHeads; kv++)
                calls.Add(new(Gemm(CublasOperation.Transpose, sk, sq, d,
                        o.K + (nint)(((long)b * s.KeyRowsPerBatch * o.Ldk + (long)kv * d) * input), inputType, o.Ldk,
                        o.Q + (nint)(((long)b * sq * o.Ldq + (long)kv * g * d) * input), o.Ldq,
                        o.Scores + (nint)(((long)b * h + (long)kv * g) * block * sizeof(float)), sk, compute),
                    StrideA: 0, StrideB: d, StrideC: block, BatchCount: g));
        return calls;
    }

    /// <summary>The calls that write O = P·V for `batches` batch elements (P of <paramref name="inputType"/>, like V).</summary>
    public static IReadOnlyList<StridedBatchedGemmArguments> Values(AttentionOperands o, AttentionShape s, int batches,
        CudaDataType inputType, CublasComputeType compute, AttentionGemmGrouping grouping)
    {
        int d = s.HeadDim, g = s.QueryHeads / s.KeyValueHeads, h = s.QueryHeads, sq = s.QueryLength, sk = s.KeyLength;
        int input = ElementBytes(inputType);
        long block = (long)sq * sk;
        var calls = new List<StridedBatchedGemmArguments>();
        if (grouping == AttentionGemmGrouping.PerQueryHead)
        {
            for (int head = 0; head < h; head++)
                calls.Add(new(Gemm(CublasOperation.None, d, sq, sk,
                        o.V + (nint)((long)head / g * d * input), inputType, o.Ldv,
                        o.Probabilities + (nint)(head * block * input), sk,
                        o.Output + (nint)((long)head * d * sizeof(float)), o.Ldo, compute),
                    StrideA: (long)s.KeyRowsPerBatch * o.Ldv, StrideB: h * block, StrideC: (long)sq * o.Ldo, BatchCount: batches));
            return calls;
        }
        for (int b = 0; b < batches; b++)
            for (int kv = 0; kv < s.KeyValueHeads; kv++)
                calls.Add(new(Gemm(CublasOperation.None, d, sq, sk,
                        o.V + (nint)(((long)b * s.KeyRowsPerBatch * o.Ldv + (long)kv * d) * input), inputType, o.Ldv,
                        o.Probabilities + (nint)(((long)b * h + (long)kv * g) * block * input), sk,
                        o.Output + (nint)(((long)b * sq * o.Ldo + (long)kv * g * d) * sizeof(float)), o.Ldo, compute),
                    StrideA: 0, StrideB: block, StrideC: d, BatchCount: g));
        return calls;
    }

    /// <summary>Bytes per element of a GEMM input type.</summary>
    public static int ElementBytes(CudaDataType type) => type switch
    {
        CudaDataType.Float32 => sizeof(float),
        CudaDataType.BFloat16 => sizeof(ushort),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "attention GEMM inputs are float32 or bfloat16"),
    };

    private static GemmExArguments Gemm(CublasOperation transA, int m, int n, int k, nint a, CudaDataType type, int lda,
        nint b, int ldb, nint c, int ldc, CublasComputeType compute) =>
        new(transA, CublasOperation.None, m, n, k, a, type, lda, b, type, ldb, c, CudaDataType.Float32, ldc, compute, CublasGemmAlgorithm.Default);
}
