using System.Runtime.InteropServices;
using Eval.Engine;
using Eval.Engine.Gpu;

namespace Eval.Tests.Engine;

/// <summary>
/// The stand-in cuBLAS against an independent reading of NVIDIA's documentation (<see cref="ReferenceGemm"/>: column-major,
/// op(X) by the transpose flag, element (i, j) of X at X[i + j·ldX], matrix b of a strided batch at X + b·strideX,
/// bfloat16 widened, TF32 rounding of A and B under CUBLAS_COMPUTE_32F_FAST_TF32, beta = 0 never reading C), in double:
/// for every argument set the GPU backend makes — Linear in each precision, the attention's score and value products in
/// both groupings, with grouped heads, fused-projection leading dimensions and KV-cache rows — and for the four transpose
/// combinations with padded leading dimensions, strides and alpha/beta; then its argument checks.
/// </summary>
[TestClass]
public sealed unsafe class StandInCublasTests
{
    /// <summary>A block of host memory standing for device memory, filled with random float32 or bfloat16 values.</summary>
    private sealed class Memory : IDisposable
    {
        public Memory(long bytes, int seed, CudaDataType type)
        {
            Bytes = Math.Max(bytes, 16);
            Address = (nint)NativeMemory.AlignedAlloc((nuint)Bytes, 64);
            var rng = new Random(seed);
            if (type == CudaDataType.BFloat16)
            {
                var bits = new Span<ushort>((void*)Address, (int)(Bytes / 2));
                for (int i = 0; i < bits.Length; i++) bits[i] = IlgpuKernels.ToBFloat16((float)(rng.NextDouble() * 2 - 1));
            }
            else
            {
                var values = new Span<float>((void*)Address, (int)(Bytes / 4));
                for (int i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() * 2 - 1);
            }
        }

        public nint Address { get; }
        public long Bytes { get; }

        public void Dispose() => NativeMemory.AlignedFree((void*)Address);
    }

    private static double Element(nint matrix, CudaDataType type, long index, bool tf32)
    {
        if (type == CudaDataType.BFloat16) return IlgpuKernels.FromBFloat16(((ushort*)matrix)[index]);
        float value = ((float*)matrix)[index];
        if (!tf32 || !float.IsFinite(value)) return value;
        // TF32: 10 explicit mantissa bits, to nearest, ties away from zero (cvt.rna.tf32.f32).
        uint bits = BitConverter.SingleToUInt32Bits(value);
        return BitConverter.UInt32BitsToSingle((bits + 0x1000u) & 0xFFFFE000u);
    }

    /// <summary>C_b = alpha·op(A_b)·op(B_b) + beta·C_b (C_b not read when beta = 0) on host copies, in double.</summary>
    private static float[] ReferenceGemm(in StridedBatchedGemmArguments s, float alpha, float beta, float[] c, nint cBase)
    {
        var g = s.Gemm;
        bool tf32 = g.ComputeType == CublasComputeType.Float32FastTf32;
        int aBytes = AttentionGemmPlan.ElementBytes(g.AType), bBytes = AttentionGemmPlan.ElementBytes(g.BType);
        var result = (float[])c.Clone();
        long cOffset = (g.C - cBase) / sizeof(float);
        for (int batch = 0; batch < s.BatchCount; batch++)
        {
            nint a = g.A + (nint)(batch * s.StrideA * aBytes), b = g.B + (nint)(batch * s.StrideB * bBytes);
            for (int i = 0; i < g.M; i++)
                for (int j = 0; j < g.N; j++)
                {
                    double sum = 0;
                    for (int p = 0; p < g.K; p++)
                        sum += Element(a, g.AType, g.TransA == CublasOperation.None ? i + (long)p * g.Lda : p + (long)i * g.Lda, tf32)
                             * Element(b, g.BType, g.TransB == CublasOperation.None ? p + (long)j * g.Ldb : j + (long)p * g.Ldb, tf32);
                    long at = cOffset + batch * s.StrideC + i + (long)j * g.Ldc;
                    result[at] = (float)(alpha * sum + (beta == 0 ? 0 : beta * (double)c[at]));
                }
        }
        return result;
    }

    /// <summary>Runs one argument set through the stand-in and the reference, and compares all of <paramref name="c"/>'s block
    /// (what must not be written included).</summary>
    private static void Check(string label, StridedBatchedGemmArguments s, Memory c, float alpha, float beta, bool strided)
    {
        var cuBlas = StandInCublas.Shared;
        var before = new Span<float>((void*)c.Address, (int)(c.Bytes / 4)).ToArray();
        var expected = ReferenceGemm(s, alpha, beta, before, c.Address);
        Assert.IsTrue(cuBlas.Create(out var handle) == CublasStatus.Success, "cublasCreate_v2");
        try
        {
            var status = strided ? cuBlas.GemmStridedBatchedEx(handle, s, alpha, beta) : cuBlas.GemmEx(handle, s.Gemm, alpha, beta);
            Assert.AreEqual(CublasStatus.Success, status, label);
        }
        finally
        {
            cuBlas.Destroy(handle);
        }
        var actual = new Span<float>((void*)c.Address, (int)(c.Bytes / 4)).ToArray();
        // float32 accumulation against double: a few roundings per term at most; an index error is off by O(1).
        double tolerance = 1e-6 * (s.Gemm.K + 1) * Math.Max(1, Math.Abs(alpha));
        for (int i = 0; i < expected.Length; i++)
            if (!(Math.Abs(expected[i] - actual[i]) <= tolerance))
                Assert.Fail($"{label}: C[{i}] is {actual[i]}, the documented product {expected[i]}");
    }

    /// <summary>
    /// Linear's cublasGemmEx (<see cref="CublasGemm.LinearArguments"/>: A = W read transposed, lda = ldb = k, ldc = m)
    /// in fp32, TF32, and bf16 weights with the bf16 input copy.
    /// </summary>
    [TestMethod]
    [DataRow(Precision.Fp32, false)]
    [DataRow(Precision.Tf32, false)]
    [DataRow(Precision.Bf16, true)]
    public void LinearCallsComputeTheDocumentedProduct(Precision precision, bool weightIsBf16)
    {
        var type = weightIsBf16 ? CudaDataType.BFloat16 : CudaDataType.Float32;
        foreach (var (n, m, k) in new[] { (1, 1, 1), (3, 5, 7), (16, 33, 64), (2, 300, 3) })
        {
            int bytes = AttentionGemmPlan.ElementBytes(type);
            using var x = new Memory((long)n * k * bytes, n + k, type);
            using var w = new Memory((long)m * k * bytes, m + k, type);
            using var y = new Memory((long)n * m * 4 + 64, 3, CudaDataType.Float32);
            var g = CublasGemm.LinearArguments(x.Address, w.Address, y.Address, n, m, k, precision, weightIsBf16, x.Address);
            Check($"Linear {precision} {n}x{m}x{k}", new StridedBatchedGemmArguments(g, 0, 0, 0, 1), y, 1f, 0f, strided: false);
        }
    }

    /// <summary>
    /// The attention's products (<see cref="AttentionGemmPlan"/>) for MHA and GQA in both groupings, q, k and v as slices
    /// of fused projections (their leading dimensions wider than the heads) and keys in KV-cache blocks, in each input type.
    /// </summary>
    [TestMethod]
    [DataRow(CudaDataType.Float32, CublasComputeType.Float32)]
    [DataRow(CudaDataType.Float32, CublasComputeType.Float32FastTf32)]
    [DataRow(CudaDataType.BFloat16, CublasComputeType.Float32)]
    public void AttentionCallsComputeTheDocumentedProducts(CudaDataType type, CublasComputeType compute)
    {
        foreach (var s in new[]
        {
            new AttentionShape(3, 5, 5, 5, 4, 4, 8), new AttentionShape(2, 7, 7, 7, 6, 2, 8), new AttentionShape(2, 1, 9, 12, 8, 2, 16),
        })
            foreach (var grouping in new[] { AttentionGemmGrouping.PerQueryHead, AttentionGemmGrouping.PerKeyValueGroup })
            {
                int bytes = AttentionGemmPlan.ElementBytes(type);
                int ldq = s.QueryHeads * s.HeadDim + 2 * s.KeyValueHeads * s.HeadDim + 3, ldk = 2 * s.KeyValueHeads * s.HeadDim + 1;
                int ldo = s.QueryHeads * s.HeadDim;
                using var q = new Memory((long)s.Batch * s.QueryLength * ldq * bytes, 1, type);
                using var kv = new Memory((long)s.Batch * s.KeyRowsPerBatch * ldk * bytes, 2, type);
                using var scores = new Memory((long)s.Batch * s.QueryHeads * s.QueryLength * s.KeyLength * 4, 3, CudaDataType.Float32);
                using var probabilities = new Memory((long)s.Batch * s.QueryHeads * s.QueryLength * s.KeyLength * bytes, 4, type);
                using var output = new Memory((long)s.Batch * s.QueryLength * ldo * 4, 5, CudaDataType.Float32);
                var operands = new AttentionOperands(q.Address + 3 * bytes, ldq, kv.Address, ldk, kv.Address + (nint)(s.KeyValueHeads * s.HeadDim + 1) * bytes,
                    ldk, scores.Address, probabilities.Address, output.Address, ldo);
                var label = $"{type}/{compute} {s} {grouping}";
                foreach (var call in AttentionGemmPlan.Scores(operands, s, s.Batch, type, compute, grouping))
                    Check($"{label} scores", call, scores, 0.35f, 0f, strided: true);
                foreach (var call in AttentionGemmPlan.Values(operands, s, s.Batch, type, compute, grouping))
                    Check($"{label} values", call, output, 1f, 0f, strided: true);
            }
    }

    /// <summary>Every transpose combination, leading dimensions wider than the matrices, strides, alpha and beta.</summary>
    [TestMethod]
    public void EveryTransposeLeadingDimensionAndStrideIsTheDocumentedOne()
    {
        foreach (var ta in new[] { CublasOperation.None, CublasOperation.Transpose })
            foreach (var tb in new[] { CublasOperation.None, CublasOperation.Transpose })
                foreach (var (type, compute) in new[] { (CudaDataType.Float32, CublasComputeType.Float32Pedantic), (CudaDataType.BFloat16, CublasComputeType.Float32) })
                {
                    int m = 5, n = 4, k = 6, batch = 3;
                    int lda = (ta == CublasOperation.None ? m : k) + 2, ldb = (tb == CublasOperation.None ? k : n) + 1, ldc = m + 3;
                    long strideA = (long)lda * (ta == CublasOperation.None ? k : m) + 5, strideB = (long)ldb * (tb == CublasOperation.None ? n : k) + 1;
                    long strideC = (long)ldc * n + 2;
                    int bytes = AttentionGemmPlan.ElementBytes(type);
                    using var a = new Memory(strideA * batch * bytes, 11, type);
                    using var b = new Memory(strideB * batch * bytes, 12, type);
                    using var c = new Memory(strideC * batch * 4, 13, CudaDataType.Float32);
                    var g = new GemmExArguments(ta, tb, m, n, k, a.Address, type, lda, b.Address, type, ldb, c.Address, CudaDataType.Float32, ldc,
                        compute, CublasGemmAlgorithm.Default);
                    var label = $"{ta}/{tb} {type}";
                    Check($"{label} batched", new StridedBatchedGemmArguments(g, strideA, strideB, strideC, batch), c, 0.5f, 0.25f, strided: true);
                    Check($"{label} shared A", new StridedBatchedGemmArguments(g, 0, strideB, strideC, batch), c, -1.5f, 1f, strided: true);
                    Check($"{label} single", new StridedBatchedGemmArguments(g, 0, 0, 0, 1), c, 2f, 0f, strided: false);
                }
    }

    [TestMethod]
    public void BetaZeroDoesNotReadCAndKZeroScalesIt()
    {
        using var a = new Memory(64, 1, CudaDataType.Float32);
        using var b = new Memory(64, 2, CudaDataType.Float32);
        using var c = new Memory(64, 3, CudaDataType.Float32);
        var values = new Span<float>((void*)c.Address, 4);
        values.Fill(float.NaN);
        var g = new GemmExArguments(CublasOperation.None, CublasOperation.None, 2, 2, 2, a.Address, CudaDataType.Float32, 2, b.Address,
            CudaDataType.Float32, 2, c.Address, CudaDataType.Float32, 2, CublasComputeType.Float32, CublasGemmAlgorithm.Default);
        var cuBlas = StandInCublas.Shared;
        cuBlas.Create(out var handle);
        Assert.AreEqual(CublasStatus.Success, cuBlas.GemmEx(handle, g, 1f, 0f));
        foreach (float v in values) Assert.IsTrue(float.IsFinite(v), "beta = 0: C's NaN is not read");
        values.Fill(2f);
        Assert.AreEqual(CublasStatus.Success, cuBlas.GemmEx(handle, g with { K = 0 }, 1f, 3f));
        foreach (float v in values) Assert.AreEqual(6f, v, "k = 0: C = beta·C");
        cuBlas.Destroy(handle);
    }

    /// <summary>The stand-in refuses what cuBLAS refuses: CUBLAS_STATUS_INVALID_VALUE and CUBLAS_STATUS_NOT_SUPPORTED.</summary>
    [TestMethod]
    public void BadArgumentsAreRefusedAsCublasRefusesThem()
    {
        using var memory = new Memory(4096, 1, CudaDataType.Float32);
        nint p = memory.Address;
        var ok = new GemmExArguments(CublasOperation.None, CublasOperation.None, 4, 3, 2, p, CudaDataType.Float32, 4, p, CudaDataType.Float32, 2,
            p, CudaDataType.Float32, 4, CublasComputeType.Float32, CublasGemmAlgorithm.Default);
        var cuBlas = StandInCublas.Shared;
        cuBlas.Create(out var handle);
        try
        {
            Assert.AreEqual(CublasStatus.Success, cuBlas.GemmEx(handle, ok, 1f, 0f));
            Assert.AreEqual(CublasStatus.InvalidValue, cuBlas.GemmEx(handle, ok with { Lda = 3 }, 1f, 0f), "lda < m with op N");
            Assert.AreEqual(CublasStatus.InvalidValue, cuBlas.GemmEx(handle, ok with { TransA = CublasOperation.Transpose, Lda = 1 }, 1f, 0f), "lda < k with op T");
            Assert.AreEqual(CublasStatus.InvalidValue, cuBlas.GemmEx(handle, ok with { Ldb = 1 }, 1f, 0f), "ldb < k with op N");
            Assert.AreEqual(CublasStatus.InvalidValue, cuBlas.GemmEx(handle, ok with { TransB = CublasOperation.Transpose, Ldb = 2 }, 1f, 0f), "ldb < n with op T");
            Assert.AreEqual(CublasStatus.InvalidValue, cuBlas.GemmEx(handle, ok with { Ldc = 3 }, 1f, 0f), "ldc < m");
            Assert.AreEqual(CublasStatus.InvalidValue, cuBlas.GemmEx(handle, ok with { M = -1 }, 1f, 0f), "m < 0");
            Assert.AreEqual(CublasStatus.InvalidValue, cuBlas.GemmEx(handle, ok with { TransA = (CublasOperation)7 }, 1f, 0f), "an unknown operation");
            Assert.AreEqual(CublasStatus.InvalidValue, cuBlas.GemmStridedBatchedEx(handle, new StridedBatchedGemmArguments(ok, 0, 0, 12, -1), 1f, 0f), "batchCount < 0");
            Assert.AreEqual(CublasStatus.NotSupported, cuBlas.GemmEx(handle, ok with { AType = CudaDataType.BFloat16, BType = CudaDataType.BFloat16,
                ComputeType = CublasComputeType.Float32FastTf32 }, 1f, 0f), "bfloat16 inputs under TF32");
            Assert.AreEqual(CublasStatus.NotSupported, cuBlas.GemmEx(handle, ok with { BType = CudaDataType.BFloat16 }, 1f, 0f), "mixed input types");
            Assert.AreEqual(CublasStatus.NotSupported, cuBlas.GemmEx(handle, ok with { CType = CudaDataType.BFloat16 }, 1f, 0f), "a bfloat16 output");
        }
        finally
        {
            cuBlas.Destroy(handle);
        }
    }
}
