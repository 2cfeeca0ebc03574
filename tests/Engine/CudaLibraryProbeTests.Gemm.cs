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

    // A stand-in for cuBLAS 13 that records its calls. libcublas.so.13 needs libcublasLt.so.13 (DT_NEEDED, no RPATH),
    // as the real one does, so it loads only when the Lt library was loaded first.
    private const string FakeLtSource = "int fake_lt_marker(void) { return 0; }\n";

    private const string FakeCublasSource = """
        #include <stdint.h>
        extern int fake_lt_marker(void);
        static int create_status, gemm_status, math_mode = -100, destroy_count;
        static int64_t stream_seen, gemm[19];
        static float scalars[2];
        void fake_configure(int create, int gemm_result) { create_status = create; gemm_status = gemm_result; }
        void fake_read(int64_t* out) {
            for (int i = 0; i < 19; i++) out[i] = gemm[i];
            out[19] = stream_seen; out[20] = math_mode; out[21] = destroy_count;
        }
        void fake_scalars(float* out) { out[0] = scalars[0]; out[1] = scalars[1]; }
        int cublasCreate_v2(void** handle) { if (create_status) return create_status; *handle = (void*)0x1234; return 0; }
        int cublasDestroy_v2(void* handle) { destroy_count++; return 0; }
        int cublasSetStream_v2(void* handle, void* stream) { stream_seen = (int64_t)stream; return 0; }
        int cublasSetMathMode(void* handle, int mode) { math_mode = mode; return 0; }
        int cublasGetVersion_v2(void* handle, int* version) { *version = 130400 + fake_lt_marker(); return 0; }
        int cublasGemmEx(void* handle, int ta, int tb, int m, int n, int k, const float* alpha, const void* a, int at, int lda,
                         const void* b, int bt, int ldb, const float* beta, void* c, int ct, int ldc, int compute, int algo) {
            int64_t seen[19] = { (int64_t)handle, ta, tb, m, n, k, (int64_t)a, at, lda, (int64_t)b, bt, ldb,
                                 (int64_t)c, ct, ldc, compute, algo, 0, 0 };
            for (int i = 0; i < 19; i++) gemm[i] = seen[i];
            scalars[0] = *alpha; scalars[1] = *beta;
            return gemm_status;
        }
        """;

    /// <summary>Builds the fake cuBLAS 13 with the C compiler, or skips when there is none.</summary>
    private static string BuildFakeCublas()
    {
        RequireLinux();
        var folder = SharedFixtures.TempDirectory();
        File.WriteAllText(Path.Combine(folder, "lt.c"), FakeLtSource);
        File.WriteAllText(Path.Combine(folder, "cublas.c"), FakeCublasSource);
        Compile(folder, "-shared -fPIC -Wl,-soname,libcublasLt.so.13 -o libcublasLt.so.13 lt.c");
        Compile(folder, "-shared -fPIC -Wl,-soname,libcublas.so.13 -o libcublas.so.13 cublas.c -L. -l:libcublasLt.so.13");
        return folder;
    }

    private static void Compile(string folder, string arguments)
    {
        var start = new ProcessStartInfo("cc", arguments) { WorkingDirectory = folder, RedirectStandardError = true, RedirectStandardOutput = true };
        Process compiler;
        try
        {
            compiler = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Assert.Inconclusive("no C compiler (cc) to build the fake cuBLAS");
            return;
        }
        using (compiler)
        {
            var errors = compiler.StandardError.ReadToEnd();
            compiler.WaitForExit();
            Assert.AreEqual(0, compiler.ExitCode, $"cc {arguments}: {errors}");
        }
    }

    /// <summary>
    /// Everything against one fake library, in one test, because a loaded library stays loaded: probing through
    /// EVAL_CUDA_LIB_DIR, Lt-before-main loading, and CublasGemm's calls, arguments and errors.
    /// </summary>
    [TestMethod]
    public unsafe void AFakeCublasIsLoadedAndCalledAsTheHeadersSay()
    {
        var folder = BuildFakeCublas();
        var root = SharedFixtures.TempDirectory();
        var environment = new Dictionary<string, string?> { ["EVAL_CUDA_LIB_DIR"] = folder };
        var cublas = CudaLibraries.TryLoadCublas(environment, new CudaDriverInfo(13000, "CUDA 13.0 driver (fake)"), root, out var report);
        Assert.IsNotNull(cublas, report);
        Assert.AreEqual(CublasCandidate.InFolder(folder, 13), cublas.Source);
        Assert.AreEqual($"cuBLAS 13 from {Path.Combine(folder, "libcublas.so.13")}; CUDA 13.0 driver (fake)", report);

        var library = NativeLibrary.Load(Path.Combine(folder, "libcublas.so.13"));
        var configure = (delegate* unmanaged<int, int, void>)NativeLibrary.GetExport(library, "fake_configure");
        var read = (delegate* unmanaged<long*, void>)NativeLibrary.GetExport(library, "fake_read");
        var readScalars = (delegate* unmanaged<float*, void>)NativeLibrary.GetExport(library, "fake_scalars");
        long[] Recorded()
        {
            var values = new long[22];
            fixed (long* p = values) read(p);
            return values;
        }

        using (var gemm = new CublasGemm(cublas, stream: 0x77, Precision.Fp32))
        {
            Assert.AreEqual(130400, gemm.Version);
            StringAssert.Contains(gemm.Name, "cublas 13.4.0");
            Assert.AreEqual((0x77L, 2L), (Recorded()[19], Recorded()[20]), "stream bound, pedantic math for Fp32");

            gemm.Linear(x: 0x100, w: 0x200, y: 0x300, n: 3, m: 5, k: 7, Precision.Tf32, weightIsBf16: false, xBf16Scratch: 0);
            var r = Recorded();
            CollectionAssert.AreEqual(new long[] { 0x1234, 1, 0, 5, 3, 7, 0x200, 0, 7, 0x100, 0, 7, 0x300, 0, 5, 77, -1 }, r[..17],
                "handle, transa, transb, m, n, k, A, Atype, lda, B, Btype, ldb, C, Ctype, ldc, compute, algo");
            Assert.AreEqual(3, r[20], "the math mode follows the call's precision");
            var scalars = new float[2];
            fixed (float* p = scalars) readScalars(p);
            CollectionAssert.AreEqual(new[] { 1f, 0f }, scalars, "alpha 1, beta 0");

            gemm.Linear(0x100, 0x200, 0x300, 3, 5, 7, Precision.Bf16, weightIsBf16: true, xBf16Scratch: 0x400);
            r = Recorded();
            CollectionAssert.AreEqual(new long[] { 0x200, 14, 7, 0x400, 14, 7, 0x300, 0, 5, 68 }, r[6..16]);
            Assert.AreEqual(0, r[20]);

            // The binding itself, every argument distinct (Linear always has lda = ldb = k).
            var raw = new GemmExArguments(CublasOperation.None, CublasOperation.Transpose, 11, 12, 13, 0xA0, CudaDataType.BFloat16, 21,
                0xB0, CudaDataType.Float32, 22, 0xC0, CudaDataType.BFloat16, 23, CublasComputeType.Float32Pedantic, CublasGemmAlgorithm.Default);
            Assert.AreEqual(CublasStatus.Success, cublas.GemmEx(0x5678, raw, 2f, 3f));
            CollectionAssert.AreEqual(new long[] { 0x5678, 0, 1, 11, 12, 13, 0xA0, 14, 21, 0xB0, 0, 22, 0xC0, 14, 23, 69, -1 }, Recorded()[..17]);
            fixed (float* p = scalars) readScalars(p);
            CollectionAssert.AreEqual(new[] { 2f, 3f }, scalars, "alpha and beta are passed by host pointer");

            configure(0, 13);
            var e = Assert.ThrowsException<CublasException>(() =>
                gemm.Linear(0x100, 0x200, 0x300, 3, 5, 7, Precision.Fp32, false, 0));
            Assert.AreEqual(CublasStatus.ExecutionFailed, e.Status);
            StringAssert.Contains(e.Message, "cublasGemmEx failed with CUBLAS_STATUS_EXECUTION_FAILED (13)");
            StringAssert.Contains(e.Message, "y[3, 5] = x[3, 7] · w[5, 7]ᵀ");
            configure(0, 0);
        }
        Assert.AreEqual(1, Recorded()[21], "Dispose destroys the handle once");

        configure(1, 0);
        var failed = Assert.ThrowsException<CublasException>(() => new CublasGemm(cublas, 0, Precision.Fp32));
        StringAssert.Contains(failed.Message, "cublasCreate_v2 failed with CUBLAS_STATUS_NOT_INITIALIZED (1)");
        configure(0, 0);
        NativeLibrary.Free(library);
    }
}
