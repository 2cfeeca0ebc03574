using System.Diagnostics;
using System.Runtime.InteropServices;
using Eval.Engine;
using Eval.Engine.Gpu;

namespace Eval.Tests.Engine;

/// <summary>The row-major Linear → column-major cublasGemmEx mapping, the cuBLAS constants, and a fake cuBLAS.</summary>
public sealed partial class CudaLibraryProbeTests
{
    private static readonly (int N, int M, int K)[] GemmShapes = [(1, 1, 1), (3, 5, 7), (7, 2, 4), (16, 33, 64), (2, 1000, 3)];

    [TestMethod]
    [DataRow(Precision.Fp32, false, 0, 68)]
    [DataRow(Precision.Tf32, false, 0, 77)]
    [DataRow(Precision.Bf16, true, 14, 68)]
    [DataRow(Precision.Bf16, false, 0, 68)]
    public void LinearMapsToTheTransposedColumnMajorGemmEx(Precision precision, bool weightIsBf16, int inputType, int computeType)
    {
        nint x = 0x1000, w = 0x2000, y = 0x3000, scratch = 0x4000;
        foreach (var (n, m, k) in GemmShapes)
        {
            var a = CublasGemm.LinearArguments(x, w, y, n, m, k, precision, weightIsBf16, scratch);
            var shape = $"{precision} bf16-weight={weightIsBf16} n={n} m={m} k={k}";
            Assert.AreEqual(1, (int)a.TransA, $"{shape}: transa = CUBLAS_OP_T");
            Assert.AreEqual(0, (int)a.TransB, $"{shape}: transb = CUBLAS_OP_N");
            Assert.AreEqual((m, n, k), (a.M, a.N, a.K), shape);
            Assert.AreEqual((w, k), (a.A, a.Lda), $"{shape}: A is the weight, lda = k");
            Assert.AreEqual((weightIsBf16 ? scratch : x, k), (a.B, a.Ldb), $"{shape}: B is the input (its bf16 copy for bf16 weights), ldb = k");
            Assert.AreEqual((y, m), (a.C, a.Ldc), $"{shape}: C is the output, ldc = m");
            Assert.AreEqual(inputType, (int)a.AType, shape);
            Assert.AreEqual(inputType, (int)a.BType, shape);
            Assert.AreEqual(0, (int)a.CType, $"{shape}: the output is CUDA_R_32F");
            Assert.AreEqual(computeType, (int)a.ComputeType, shape);
            Assert.AreEqual(-1, (int)a.Algorithm, $"{shape}: CUBLAS_GEMM_DEFAULT");
        }
    }

    /// <summary>Runs the mapped call as column-major BLAS would on host arrays and compares it with the row-major Linear.</summary>
    [TestMethod]
    [DataRow(Precision.Fp32, false)]
    [DataRow(Precision.Tf32, false)]
    [DataRow(Precision.Bf16, true)]
    public void TheMappedCallComputesTheRowMajorLinear(Precision precision, bool weightIsBf16)
    {
        foreach (var (n, m, k) in GemmShapes)
        {
            var x = Reference.Random(n * k, n + 3 * k);
            var w = Reference.Random(m * k, m + 5 * k);
            var memory = new Dictionary<nint, float[]> { [0x10] = x, [0x20] = w, [0x30] = new float[n * m], [0x40] = x };
            var a = CublasGemm.LinearArguments(0x10, 0x20, 0x30, n, m, k, precision, weightIsBf16, 0x40);
            ColumnMajorGemm(a, memory[a.A], memory[a.B], memory[a.C]);
            var expected = Reference.Gemm(false, true, n, m, k, 1f, x, k, w, k, 0f, new float[n * m], m);
            Assert.IsTrue(Reference.MaxAbsDiff(expected, memory[0x30]) < 1e-4, $"{precision} n={n} m={m} k={k}");
        }
    }

    /// <summary>C = op(A)·op(B), every matrix column-major with its leading dimension, as the BLAS reference defines it.</summary>
    private static void ColumnMajorGemm(GemmExArguments g, float[] a, float[] b, float[] c)
    {
        for (int i = 0; i < g.M; i++)
            for (int j = 0; j < g.N; j++)
            {
                double sum = 0;
                for (int p = 0; p < g.K; p++)
                {
                    float opA = g.TransA == CublasOperation.None ? a[i + p * g.Lda] : a[p + i * g.Lda];
                    float opB = g.TransB == CublasOperation.None ? b[p + j * g.Ldb] : b[j + p * g.Ldb];
                    sum += (double)opA * opB;
                }
                c[i + j * g.Ldc] = (float)sum;
            }
    }

    [TestMethod]
    public void InconsistentLinearArgumentsAreRefused()
    {
        StringAssert.Contains(Assert.ThrowsException<ArgumentException>(() =>
            CublasGemm.LinearArguments(1, 2, 3, 4, 5, 6, Precision.Tf32, weightIsBf16: true, 7)).Message, "needs Precision.Bf16");
        StringAssert.Contains(Assert.ThrowsException<ArgumentException>(() =>
            CublasGemm.LinearArguments(1, 2, 3, 4, 5, 6, Precision.Bf16, weightIsBf16: true, 0)).Message, "xBf16Scratch");
        Assert.ThrowsException<ArgumentException>(() => CublasGemm.LinearArguments(1, 0, 3, 4, 5, 6, Precision.Fp32, false, 0));
        Assert.ThrowsException<ArgumentOutOfRangeException>(() => CublasGemm.LinearArguments(1, 2, 3, 4, 5, 0, Precision.Fp32, false, 0));
    }

    [TestMethod]
    public void MathModesFollowThePrecision()
    {
        Assert.AreEqual(2, (int)CublasGemm.MathModeFor(Precision.Fp32), "CUBLAS_PEDANTIC_MATH");
        Assert.AreEqual(3, (int)CublasGemm.MathModeFor(Precision.Tf32), "CUBLAS_TF32_TENSOR_OP_MATH");
        Assert.AreEqual(0, (int)CublasGemm.MathModeFor(Precision.Bf16), "CUBLAS_DEFAULT_MATH");
    }

    [TestMethod]
    public void ConstantsMatchTheCublasHeaders()
    {
        // cublas_api.h (cuBLAS 13.4) and library_types.h; see the comment atop CublasNativeMethods.cs.
        Assert.AreEqual((0, 1), ((int)CublasOperation.None, (int)CublasOperation.Transpose));
        Assert.AreEqual((0, 14), ((int)CudaDataType.Float32, (int)CudaDataType.BFloat16));
        Assert.AreEqual((68, 69, 77),
            ((int)CublasComputeType.Float32, (int)CublasComputeType.Float32Pedantic, (int)CublasComputeType.Float32FastTf32));
        Assert.AreEqual((0, 2, 3), ((int)CublasMath.Default, (int)CublasMath.Pedantic, (int)CublasMath.Tf32TensorOp));
        Assert.AreEqual(-1, (int)CublasGemmAlgorithm.Default);
    }

    [TestMethod]
    public void CublasVersionsPrintAsMajorMinorPatch()
    {
        Assert.AreEqual("13.4.0", CublasGemm.FormatVersion(130400, 13));
        Assert.AreEqual("12.8.4", CublasGemm.FormatVersion(120804, 12));
        Assert.AreEqual("11.6.5", CublasGemm.FormatVersion(11605, 11), "cuBLAS 11 counts the major in thousands");
        Assert.AreEqual("11.11.3", CublasGemm.FormatVersion(12103, 11));
    }

    [TestMethod]
    [DataRow(1, "CUBLAS_STATUS_NOT_INITIALIZED")]
    [DataRow(3, "CUBLAS_STATUS_ALLOC_FAILED")]
    [DataRow(7, "CUBLAS_STATUS_INVALID_VALUE")]
    [DataRow(8, "CUBLAS_STATUS_ARCH_MISMATCH")]
    [DataRow(11, "CUBLAS_STATUS_MAPPING_ERROR")]
    [DataRow(13, "CUBLAS_STATUS_EXECUTION_FAILED")]
    [DataRow(14, "CUBLAS_STATUS_INTERNAL_ERROR")]
    [DataRow(15, "CUBLAS_STATUS_NOT_SUPPORTED")]
    [DataRow(16, "CUBLAS_STATUS_LICENSE_ERROR")]
    public void StatusesAreNamedAsInTheHeader(int status, string name)
    {
        Assert.AreEqual(name, CublasGemm.StatusName((CublasStatus)status));
        var e = new CublasException("cublasGemmEx", (CublasStatus)status, "y[2, 3]");
        Assert.AreEqual($"cublasGemmEx failed with {name} ({status}): y[2, 3]", e.Message);
    }

    /// <summary>
    /// Everything against one copy of the stand-in cuBLAS of its own (the shared copy computes for other tests), in one
    /// test, because a loaded library stays loaded: probing through EVAL_CUDA_LIB_DIR, Lt-before-main loading (its
    /// libcublas.so.13 needs libcublasLt.so.13, DT_NEEDED without RPATH, as the real one), and CublasGemm's calls,
    /// arguments and errors.
    /// </summary>
    [TestMethod]
    public unsafe void AStandInCublasIsLoadedAndCalledAsTheHeadersSay()
    {
        var folder = StandInCublas.Build();
        var root = SharedFixtures.TempDirectory();
        var environment = new Dictionary<string, string?> { ["EVAL_CUDA_LIB_DIR"] = folder };
        var cublas = CudaLibraries.TryLoadCublas(environment, new CudaDriverInfo(13000, "CUDA 13.0 driver (fake)"), root, out var report);
        Assert.IsNotNull(cublas, report);
        Assert.AreEqual(CublasCandidate.InFolder(folder, 13), cublas.Source);
        Assert.AreEqual($"cuBLAS 13 from {Path.Combine(folder, "libcublas.so.13")}; CUDA 13.0 driver (fake)", report);

        var library = NativeLibrary.Load(Path.Combine(folder, "libcublas.so.13"));
        var configure = (delegate* unmanaged<int, int, void>)NativeLibrary.GetExport(library, "standin_configure");
        var read = (delegate* unmanaged<long*, void>)NativeLibrary.GetExport(library, "standin_read");
        var readScalars = (delegate* unmanaged<float*, void>)NativeLibrary.GetExport(library, "standin_scalars");
        // [0..23] the last GEMM's arguments, [24] stream, [25] math mode, [26] destroy count, [27] GemmEx calls, [28] strided calls.
        long[] Recorded()
        {
            var values = new long[29];
            fixed (long* p = values) read(p);
            return values;
        }

        using (var gemm = new CublasGemm(cublas, stream: 0x77, Precision.Fp32))
        {
            Assert.AreEqual(130400, gemm.Version);
            StringAssert.Contains(gemm.Name, "cublas 13.4.0");
            Assert.AreEqual((0x77L, 2L), (Recorded()[24], Recorded()[25]), "stream bound, pedantic math for Fp32");
            // Pointers that are not memory: configure the stand-in to fail every GEMM after recording it.
            configure(0, 13);

            Assert.ThrowsException<CublasException>(() =>
                gemm.Linear(x: 0x100, w: 0x200, y: 0x300, n: 3, m: 5, k: 7, Precision.Tf32, weightIsBf16: false, xBf16Scratch: 0));
            var r = Recorded();
            CollectionAssert.AreEqual(new long[] { 0x1234, 1, 0, 5, 3, 7, 0x200, 0, 7, 0x100, 0, 7, 0x300, 0, 5, 77, -1 }, r[..17],
                "handle, transa, transb, m, n, k, A, Atype, lda, B, Btype, ldb, C, Ctype, ldc, compute, algo");
            Assert.AreEqual(3, r[25], "the math mode follows the call's precision");
            var scalars = new float[2];
            fixed (float* p = scalars) readScalars(p);
            CollectionAssert.AreEqual(new[] { 1f, 0f }, scalars, "alpha 1, beta 0");

            Assert.ThrowsException<CublasException>(() =>
                gemm.Linear(0x100, 0x200, 0x300, 3, 5, 7, Precision.Bf16, weightIsBf16: true, xBf16Scratch: 0x400));
            r = Recorded();
            CollectionAssert.AreEqual(new long[] { 0x200, 14, 7, 0x400, 14, 7, 0x300, 0, 5, 68 }, r[6..16]);
            Assert.AreEqual(0, r[25]);

            // The binding itself, every argument distinct (Linear always has lda = ldb = k).
            var raw = new GemmExArguments(CublasOperation.None, CublasOperation.Transpose, 11, 12, 13, 0xA0, CudaDataType.BFloat16, 21,
                0xB0, CudaDataType.Float32, 22, 0xC0, CudaDataType.BFloat16, 23, CublasComputeType.Float32Pedantic, CublasGemmAlgorithm.Default);
            Assert.AreEqual(CublasStatus.ExecutionFailed, cublas.GemmEx(0x5678, raw, 2f, 3f));
            CollectionAssert.AreEqual(new long[] { 0x5678, 0, 1, 11, 12, 13, 0xA0, 14, 21, 0xB0, 0, 22, 0xC0, 14, 23, 69, -1 }, Recorded()[..17]);
            fixed (float* p = scalars) readScalars(p);
            CollectionAssert.AreEqual(new[] { 2f, 3f }, scalars, "alpha and beta are passed by host pointer");

            // cublasGemmStridedBatchedEx: every argument distinct, the strides as long long.
            var strided = new StridedBatchedGemmArguments(raw, 1L << 33, 5, 0, 9);
            Assert.AreEqual(CublasStatus.ExecutionFailed, cublas.GemmStridedBatchedEx(0x5678, strided, 4f, 0f));
            r = Recorded();
            CollectionAssert.AreEqual(new long[] { 0x5678, 0, 1, 11, 12, 13, 0xA0, 14, 21, 0xB0, 0, 22, 0xC0, 14, 23, 69, -1, 1L << 33, 5, 0, 9 },
                r[..21], "handle, ops, m, n, k, A, type, lda, B, type, ldb, C, type, ldc, compute, algo, strideA, strideB, strideC, batch");
            fixed (float* p = scalars) readScalars(p);
            CollectionAssert.AreEqual(new[] { 4f, 0f }, scalars);
            var stridedError = Assert.ThrowsException<CublasException>(() => gemm.StridedBatched(strided, 1f, 0f, Precision.Fp32, "the product"));
            StringAssert.Contains(stridedError.Message, "cublasGemmStridedBatchedEx failed with CUBLAS_STATUS_EXECUTION_FAILED (13): the product");
            StringAssert.Contains(stridedError.Message, "strides 8589934592/5/0, batch 9");
            Assert.AreEqual(2L, Recorded()[28], "two strided calls reached the library");

            var e = Assert.ThrowsException<CublasException>(() =>
                gemm.Linear(0x100, 0x200, 0x300, 3, 5, 7, Precision.Fp32, false, 0));
            Assert.AreEqual(CublasStatus.ExecutionFailed, e.Status);
            StringAssert.Contains(e.Message, "cublasGemmEx failed with CUBLAS_STATUS_EXECUTION_FAILED (13)");
            StringAssert.Contains(e.Message, "y[3, 5] = x[3, 7] · w[5, 7]ᵀ");
            configure(0, 0);
        }
        Assert.AreEqual(1, Recorded()[26], "Dispose destroys the handle once");

        configure(1, 0);
        var failed = Assert.ThrowsException<CublasException>(() => new CublasGemm(cublas, 0, Precision.Fp32));
        StringAssert.Contains(failed.Message, "cublasCreate_v2 failed with CUBLAS_STATUS_NOT_INITIALIZED (1)");
        configure(0, 0);
        NativeLibrary.Free(library);
    }
}
