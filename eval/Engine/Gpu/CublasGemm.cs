namespace Eval.Engine.Gpu;

/// <summary>The arguments of one column-major cublasGemmEx call, less the handle and the scalars alpha and beta.</summary>
public readonly record struct GemmExArguments(
    CublasOperation TransA, CublasOperation TransB, int M, int N, int K,
    nint A, CudaDataType AType, int Lda,
    nint B, CudaDataType BType, int Ldb,
    nint C, CudaDataType CType, int Ldc,
    CublasComputeType ComputeType, CublasGemmAlgorithm Algorithm);

/// <summary>
/// The arguments of one cublasGemmStridedBatchedEx call: <see cref="Gemm"/> for matrix 0, and matrix i of each operand
/// <c>i·Stride</c> elements further (0 shares one matrix across the batch).
/// </summary>
public readonly record struct StridedBatchedGemmArguments(GemmExArguments Gemm, long StrideA, long StrideB, long StrideC, int BatchCount);

/// <summary>A cuBLAS call that returned something other than CUBLAS_STATUS_SUCCESS.</summary>
public sealed class CublasException(string call, CublasStatus status, string context)
    : Exception($"{call} failed with {CublasGemm.StatusName(status)} ({(int)status}){(context.Length > 0 ? ": " + context : "")}")
{
    /// <summary>The cuBLAS function that failed.</summary>
    public string Call { get; } = call;

    public CublasStatus Status { get; } = status;
}

/// <summary>
/// The GEMMs of a GPU backend through cuBLAS (Linear, and the attention's batched products): one cuBLAS handle bound
/// to one CUDA stream.
/// Create, use and dispose it on a thread where the CUDA context that owns the stream and the device buffers is
/// current (cuBLAS ties the handle to that context). Not thread-safe.
/// </summary>
public sealed class CublasGemm : IDisposable
{
    private readonly CublasNativeMethods cublas;
    private nint handle;
    private CublasMath mathMode;

    /// <summary>Creates a handle, binds it to <paramref name="stream"/> (a CUstream; 0 is the legacy default stream) and sets the math mode for <paramref name="precision"/>.</summary>
    public CublasGemm(CublasNativeMethods cublas, nint stream, Precision precision = Precision.Fp32)
    {
        this.cublas = cublas;
        Check("cublasCreate_v2", cublas.Create(out var created), "is a CUDA context current on this thread?");
        handle = created;
        try
        {
            Check("cublasSetStream_v2", cublas.SetStream(handle, stream), $"stream 0x{stream:x}");
            mathMode = MathModeFor(precision);
            Check("cublasSetMathMode", cublas.SetMathMode(handle, mathMode), mathMode.ToString());
            Check("cublasGetVersion_v2", cublas.GetVersion(handle, out int version), "");
            Version = version;
        }
        catch
        {
            cublas.Destroy(handle);
            handle = 0;
            throw;
        }
    }

    /// <summary>The loaded cuBLAS's version as cublasGetVersion_v2 gives it (see <see cref="FormatVersion"/>).</summary>
    public int Version { get; }

    public string Name => $"cublas {FormatVersion(Version, cublas.Source.Major)} ({cublas.Source.CublasLibrary})";

    /// <summary>
    /// "13.4.0" for 130400. CUBLAS_VERSION is 10000·major + 100·minor + patch from cuBLAS 12 on (cublas_api.h 13.4), but
    /// 1000·major + 100·minor + patch in cuBLAS 11 (11605 for 11.6.5), so the major the library was found as decides.
    /// </summary>
    public static string FormatVersion(int version, int major)
    {
        var (found, rest) = version >= 100_000 ? (version / 10_000, version % 10_000) : (major, version - major * 1000);
        return rest < 0 ? version.ToString() : $"{found}.{rest / 100}.{rest % 100}";
    }

    /// <summary>
    /// Row-major y[n, m] = x[n, k] · w[m, k]ᵀ on the device (no bias: the caller adds it), as one cublasGemmEx
    /// (see <see cref="LinearArguments"/>). All pointers are device addresses. <paramref name="y"/> is float32 and
    /// overwritten. <paramref name="w"/> is float32, or bfloat16 when <paramref name="weightIsBf16"/>, which needs
    /// <see cref="Precision.Bf16"/>. Contract for bfloat16 weights: the caller has already converted x into bfloat16 at
    /// <paramref name="xBf16Scratch"/> (n·k elements, on the same stream, before this call), and the GEMM reads that
    /// instead of <paramref name="x"/>. With <see cref="Precision.Bf16"/> and a float32 weight, x is used as is in
    /// float32. The call is asynchronous on the handle's stream.
    /// </summary>
    public void Linear(nint x, nint w, nint y, int n, int m, int k, Precision precision, bool weightIsBf16, nint xBf16Scratch)
    {
        ObjectDisposedException.ThrowIf(handle == 0, this);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        if (n == 0 || m == 0) return;
        var arguments = LinearArguments(x, w, y, n, m, k, precision, weightIsBf16, xBf16Scratch);
        UseMathMode(precision);
        Check("cublasGemmEx", cublas.GemmEx(handle, arguments, 1f, 0f), Describe(n, m, k, precision, weightIsBf16, arguments));
    }

    /// <summary>
    /// One cublasGemmStridedBatchedEx (alpha·op(A)·op(B) + beta·C per matrix, column-major), asynchronous on the handle's
    /// stream, under the math mode of <paramref name="precision"/>; <paramref name="what"/> names the product in an error.
    /// </summary>
    public void StridedBatched(in StridedBatchedGemmArguments arguments, float alpha, float beta, Precision precision, string what)
    {
        ObjectDisposedException.ThrowIf(handle == 0, this);
        if (arguments.BatchCount == 0 || arguments.Gemm.M == 0 || arguments.Gemm.N == 0) return;
        UseMathMode(precision);
        var g = arguments.Gemm;
        Check("cublasGemmStridedBatchedEx", cublas.GemmStridedBatchedEx(handle, arguments, alpha, beta),
            $"{what} ({g.TransA}/{g.TransB}, m={g.M}, n={g.N}, k={g.K}, lda={g.Lda}, ldb={g.Ldb}, ldc={g.Ldc}, strides " +
            $"{arguments.StrideA}/{arguments.StrideB}/{arguments.StrideC}, batch {arguments.BatchCount}, types {g.AType}/{g.BType}/{g.CType}, compute {g.ComputeType})");
    }

    /// <summary>The compute type of a float32-output GEMM under <paramref name="precision"/> (Linear's and the attention's).</summary>
    public static CublasComputeType ComputeTypeFor(Precision precision) =>
        precision == Precision.Tf32 ? CublasComputeType.Float32FastTf32 : CublasComputeType.Float32;

    private void UseMathMode(Precision precision)
    {
        var mode = MathModeFor(precision);
        if (mode == mathMode) return;
        Check("cublasSetMathMode", cublas.SetMathMode(handle, mode), mode.ToString());
        mathMode = mode;
    }

    /// <summary>
    /// The column-major cublasGemmEx that computes row-major y[n, m] = x[n, k] · w[m, k]ᵀ. A row-major [r, c] matrix is
    /// the column-major [c, r] one, so the call computes yᵀ[m, n] = w[m, k] · xᵀ[k, n] column-major: A = w read
    /// transposed (a column-major [k, m], lda = k), B = x as stored (column-major [k, n], ldb = k), C = y (ldc = m).
    /// Types: float32 throughout with CUBLAS_COMPUTE_32F (<see cref="Precision.Fp32"/>, and <see cref="Precision.Bf16"/>
    /// with a float32 weight) or CUBLAS_COMPUTE_32F_FAST_TF32 (<see cref="Precision.Tf32"/>); with a bfloat16 weight A
    /// and B are CUDA_R_16BF (B being <paramref name="xBf16Scratch"/>), C float32, compute CUBLAS_COMPUTE_32F.
    /// </summary>
    public static GemmExArguments LinearArguments(
        nint x, nint w, nint y, int n, int m, int k, Precision precision, bool weightIsBf16, nint xBf16Scratch)
    {
        if (n < 1 || m < 1 || k < 1)
            throw new ArgumentOutOfRangeException(nameof(n), $"Linear shapes must be positive: n={n}, m={m}, k={k}");
        if (x == 0 || w == 0 || y == 0)
            throw new ArgumentException($"Linear: null device pointer (x=0x{x:x}, w=0x{w:x}, y=0x{y:x})");
        if (weightIsBf16 && precision != Precision.Bf16)
            throw new ArgumentException($"Linear: a bfloat16 weight needs Precision.Bf16, not {precision}", nameof(precision));
        if (weightIsBf16 && xBf16Scratch == 0)
            throw new ArgumentException("Linear: a bfloat16 weight needs the bfloat16 copy of x in xBf16Scratch", nameof(xBf16Scratch));
        var inputType = weightIsBf16 ? CudaDataType.BFloat16 : CudaDataType.Float32;
        var compute = ComputeTypeFor(precision);
        return new GemmExArguments(
            TransA: CublasOperation.Transpose, TransB: CublasOperation.None, M: m, N: n, K: k,
            A: w, AType: inputType, Lda: k,
            B: weightIsBf16 ? xBf16Scratch : x, BType: inputType, Ldb: k,
            C: y, CType: CudaDataType.Float32, Ldc: m,
            ComputeType: compute, Algorithm: CublasGemmAlgorithm.Default);
    }

    /// <summary>
    /// The handle's math mode for <paramref name="precision"/>: pedantic for <see cref="Precision.Fp32"/> (no TF32 in any
    /// routine), TF32 tensor ops for <see cref="Precision.Tf32"/>, the default for <see cref="Precision.Bf16"/> (bfloat16
    /// inputs use tensor cores anyway; a float32 GEMM under the default mode stays float32).
    /// </summary>
    public static CublasMath MathModeFor(Precision precision) => precision switch
    {
        Precision.Fp32 => CublasMath.Pedantic,
        Precision.Tf32 => CublasMath.Tf32TensorOp,
        Precision.Bf16 => CublasMath.Default,
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, null),
    };

    /// <summary>The header's name for a status: CUBLAS_STATUS_INVALID_VALUE for 7.</summary>
    public static string StatusName(CublasStatus status) => status switch
    {
        CublasStatus.Success => "CUBLAS_STATUS_SUCCESS",
        CublasStatus.NotInitialized => "CUBLAS_STATUS_NOT_INITIALIZED",
        CublasStatus.AllocFailed => "CUBLAS_STATUS_ALLOC_FAILED",
        CublasStatus.InvalidValue => "CUBLAS_STATUS_INVALID_VALUE",
        CublasStatus.ArchMismatch => "CUBLAS_STATUS_ARCH_MISMATCH",
        CublasStatus.MappingError => "CUBLAS_STATUS_MAPPING_ERROR",
        CublasStatus.ExecutionFailed => "CUBLAS_STATUS_EXECUTION_FAILED",
        CublasStatus.InternalError => "CUBLAS_STATUS_INTERNAL_ERROR",
        CublasStatus.NotSupported => "CUBLAS_STATUS_NOT_SUPPORTED",
        CublasStatus.LicenseError => "CUBLAS_STATUS_LICENSE_ERROR",
        _ => "an unknown cuBLAS status",
    };

    public void Dispose()
    {
        if (handle == 0) return;
        var status = cublas.Destroy(handle);
        handle = 0;
        Check("cublasDestroy_v2", status, "");
    }

    private static string Describe(int n, int m, int k, Precision precision, bool weightIsBf16, in GemmExArguments a) =>
        $"y[{n}, {m}] = x[{n}, {k}] · w[{m}, {k}]ᵀ, {precision}{(weightIsBf16 ? " with a bfloat16 weight" : "")} " +
        $"(m={a.M}, n={a.N}, k={a.K}, lda={a.Lda}, ldb={a.Ldb}, ldc={a.Ldc}, types {a.AType}/{a.BType}/{a.CType}, compute {a.ComputeType})";

    private static void Check(string call, CublasStatus status, string context)
    {
        if (status != CublasStatus.Success) throw new CublasException(call, status, context);
    }
}
