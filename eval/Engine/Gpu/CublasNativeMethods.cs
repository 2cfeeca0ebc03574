using System.Runtime.InteropServices;

namespace Eval.Engine.Gpu;

// The numeric values below are cuBLAS's C ABI. Checked against:
// - cublas_api.h of cuBLAS 13.4 (CUBLAS_VER_MAJOR 13, CUBLAS_VER_MINOR 4), as vendored in github.com/wesleyrparsons/WesChat12
//   (cublas_api.h): cublasStatus_t, cublasOperation_t, cublasGemmAlgo_t, cublasMath_t, cublasComputeType_t, and the
//   cublasGemmEx / cublasGemmStridedBatchedEx / cublasSetMathMode / cublasGetVersion_v2 prototypes (strides are
//   long long, in elements);
// - library_types.h's cudaDataType_t, as NVIDIA documents it for nvmath-python
//   (https://docs.nvidia.com/cuda/nvmath-python/latest/host-apis/generated/nvmath.CudaDataType.html): CUDA_R_32F = 0,
//   CUDA_R_16BF = 14; and cublasComputeType_t in nvmath.bindings.cublas.ComputeType (COMPUTE_32F = 68,
//   COMPUTE_32F_PEDANTIC = 69, COMPUTE_32F_FAST_TF32 = 77).
// These values have not changed between cuBLAS 11 and 13.

/// <summary>cublasOperation_t.</summary>
public enum CublasOperation
{
    /// <summary>CUBLAS_OP_N: the matrix as stored.</summary>
    None = 0,
    /// <summary>CUBLAS_OP_T: its transpose.</summary>
    Transpose = 1,
}

/// <summary>cudaDataType_t (library_types.h), the element type of a GemmEx operand.</summary>
public enum CudaDataType
{
    /// <summary>CUDA_R_32F: float32.</summary>
    Float32 = 0,
    /// <summary>CUDA_R_16BF: bfloat16.</summary>
    BFloat16 = 14,
}

/// <summary>cublasComputeType_t, the arithmetic of cublasGemmEx.</summary>
public enum CublasComputeType
{
    /// <summary>CUBLAS_COMPUTE_32F: float32 arithmetic, internal precision at least float32 (no TF32 down-conversion).</summary>
    Float32 = 68,
    /// <summary>CUBLAS_COMPUTE_32F_PEDANTIC: float32, standard arithmetic and exactly float32 intermediates.</summary>
    Float32Pedantic = 69,
    /// <summary>CUBLAS_COMPUTE_32F_FAST_TF32: float32 in and out, inputs rounded to TF32 for tensor cores.</summary>
    Float32FastTf32 = 77,
}

/// <summary>cublasMath_t, the handle's math mode (cublasSetMathMode).</summary>
public enum CublasMath
{
    /// <summary>CUBLAS_DEFAULT_MATH.</summary>
    Default = 0,
    /// <summary>CUBLAS_PEDANTIC_MATH: prescribed precision and standard arithmetic in every phase.</summary>
    Pedantic = 2,
    /// <summary>CUBLAS_TF32_TENSOR_OP_MATH: single-precision routines may use TF32 tensor cores.</summary>
    Tf32TensorOp = 3,
}

/// <summary>cublasGemmAlgo_t.</summary>
public enum CublasGemmAlgorithm
{
    /// <summary>CUBLAS_GEMM_DEFAULT: cuBLAS's heuristic choice.</summary>
    Default = -1,
}

/// <summary>cublasStatus_t.</summary>
public enum CublasStatus
{
    Success = 0,
    NotInitialized = 1,
    AllocFailed = 3,
    InvalidValue = 7,
    ArchMismatch = 8,
    MappingError = 11,
    ExecutionFailed = 13,
    InternalError = 14,
    NotSupported = 15,
    LicenseError = 16,
}

/// <summary>
/// The cuBLAS entry points we call, resolved by function pointer from the first <see cref="CublasCandidate"/> that
/// loads and exports all of them. libcublasLt is loaded before libcublas, from the same place, because libcublas
/// needs it and a pip wheel's folder is not on the loader's path.
/// </summary>
public sealed unsafe class CublasNativeMethods
{
    /// <summary>The exports every candidate must have.</summary>
    public static IReadOnlyList<string> RequiredExports { get; } =
        ["cublasCreate_v2", "cublasDestroy_v2", "cublasSetStream_v2", "cublasSetMathMode", "cublasGetVersion_v2", "cublasGemmEx",
         "cublasGemmStridedBatchedEx"];

    private readonly delegate* unmanaged<nint*, CublasStatus> create;
    private readonly delegate* unmanaged<nint, CublasStatus> destroy;
    private readonly delegate* unmanaged<nint, nint, CublasStatus> setStream;
    private readonly delegate* unmanaged<nint, CublasMath, CublasStatus> setMathMode;
    private readonly delegate* unmanaged<nint, int*, CublasStatus> getVersion;
    private readonly delegate* unmanaged<nint, CublasOperation, CublasOperation, int, int, int, float*,
        nint, CudaDataType, int, nint, CudaDataType, int, float*, nint, CudaDataType, int,
        CublasComputeType, CublasGemmAlgorithm, CublasStatus> gemmEx;
    private readonly delegate* unmanaged<nint, CublasOperation, CublasOperation, int, int, int, float*,
        nint, CudaDataType, int, long, nint, CudaDataType, int, long, float*, nint, CudaDataType, int, long, int,
        CublasComputeType, CublasGemmAlgorithm, CublasStatus> gemmStridedBatchedEx;

    private CublasNativeMethods(CublasCandidate source, nint[] exports)
    {
        Source = source;
        create = (delegate* unmanaged<nint*, CublasStatus>)exports[0];
        destroy = (delegate* unmanaged<nint, CublasStatus>)exports[1];
        setStream = (delegate* unmanaged<nint, nint, CublasStatus>)exports[2];
        setMathMode = (delegate* unmanaged<nint, CublasMath, CublasStatus>)exports[3];
        getVersion = (delegate* unmanaged<nint, int*, CublasStatus>)exports[4];
        gemmEx = (delegate* unmanaged<nint, CublasOperation, CublasOperation, int, int, int, float*,
            nint, CudaDataType, int, nint, CudaDataType, int, float*, nint, CudaDataType, int,
            CublasComputeType, CublasGemmAlgorithm, CublasStatus>)exports[5];
        gemmStridedBatchedEx = (delegate* unmanaged<nint, CublasOperation, CublasOperation, int, int, int, float*,
            nint, CudaDataType, int, long, nint, CudaDataType, int, long, float*, nint, CudaDataType, int, long, int,
            CublasComputeType, CublasGemmAlgorithm, CublasStatus>)exports[6];
    }

    /// <summary>The libraries these entry points come from.</summary>
    public CublasCandidate Source { get; }

    /// <summary>
    /// Loads the first candidate whose Lt and main libraries load and whose main library exports
    /// <see cref="RequiredExports"/>; else returns null. Never throws for a missing or broken library:
    /// <paramref name="tried"/> lists every library tried, in order, with what happened ("invalid ELF header",
    /// "missing symbol cublasGemmEx", "loaded").
    /// </summary>
    public static CublasNativeMethods? TryLoad(IEnumerable<CublasCandidate> candidates, out string tried)
    {
        var loaded = TryLoadFirst(candidates, out var failures);
        var attempts = loaded is null ? failures : failures.Append($"{loaded.Source.CublasLibrary}: loaded");
        tried = attempts.Any() ? string.Join("; ", attempts) : "no candidates";
        return loaded;
    }

    /// <summary>As <see cref="TryLoad(IEnumerable{CublasCandidate}, out string)"/>, with the failures ("path: reason") before the one that loaded as a list.</summary>
    public static CublasNativeMethods? TryLoadFirst(IEnumerable<CublasCandidate> candidates, out IReadOnlyList<string> failures)
    {
        var failed = new List<string>();
        failures = failed;
        foreach (var candidate in candidates)
        {
            if (TryLoad(candidate, out var reason) is { } loaded) return loaded;
            failed.Add(reason);
        }
        return null;
    }

    /// <summary>Loads one candidate, or returns null with "path: reason" for the library that failed.</summary>
    public static CublasNativeMethods? TryLoad(CublasCandidate candidate, out string failure)
    {
        if (!NativeLibraryLoading.TryLoad(candidate.LtLibrary, out var ltHandle, out var ltReason))
        {
            failure = $"{candidate.LtLibrary}: {ltReason}";
            return null;
        }
        if (!NativeLibraryLoading.TryLoad(candidate.CublasLibrary, out var handle, out var reason))
        {
            NativeLibrary.Free(ltHandle);
            failure = $"{candidate.CublasLibrary}: {reason}";
            return null;
        }
        var exports = new nint[RequiredExports.Count];
        var missing = new List<string>();
        for (int i = 0; i < exports.Length; i++)
            if (!NativeLibrary.TryGetExport(handle, RequiredExports[i], out exports[i]))
                missing.Add(RequiredExports[i]);
        if (missing.Count > 0)
        {
            NativeLibrary.Free(handle);
            NativeLibrary.Free(ltHandle);
            failure = $"{candidate.CublasLibrary}: missing symbol{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing)}";
            return null;
        }
        failure = "";
        return new CublasNativeMethods(candidate, exports);
    }

    public CublasStatus Create(out nint handle)
    {
        nint created = 0;
        var status = create(&created);
        handle = created;
        return status;
    }

    public CublasStatus Destroy(nint handle) => destroy(handle);

    public CublasStatus SetStream(nint handle, nint stream) => setStream(handle, stream);

    public CublasStatus SetMathMode(nint handle, CublasMath mode) => setMathMode(handle, mode);

    /// <summary>cuBLAS's version, 10000·major + 100·minor + patch (130400 for 13.4.0).</summary>
    public CublasStatus GetVersion(nint handle, out int version)
    {
        int found = 0;
        var status = getVersion(handle, &found);
        version = found;
        return status;
    }

    /// <summary>cublasGemmEx with host-memory alpha and beta: C = alpha·op(A)·op(B) + beta·C, column-major.</summary>
    public CublasStatus GemmEx(nint handle, in GemmExArguments arguments, float alpha, float beta) =>
        gemmEx(handle, arguments.TransA, arguments.TransB, arguments.M, arguments.N, arguments.K, &alpha,
            arguments.A, arguments.AType, arguments.Lda, arguments.B, arguments.BType, arguments.Ldb, &beta,
            arguments.C, arguments.CType, arguments.Ldc, arguments.ComputeType, arguments.Algorithm);

    /// <summary>
    /// cublasGemmStridedBatchedEx with host-memory alpha and beta: for i &lt; BatchCount,
    /// C + i·StrideC = alpha·op(A + i·StrideA)·op(B + i·StrideB) + beta·(C + i·StrideC), column-major, strides in elements.
    /// </summary>
    public CublasStatus GemmStridedBatchedEx(nint handle, in StridedBatchedGemmArguments arguments, float alpha, float beta)
    {
        var g = arguments.Gemm;
        return gemmStridedBatchedEx(handle, g.TransA, g.TransB, g.M, g.N, g.K, &alpha,
            g.A, g.AType, g.Lda, arguments.StrideA, g.B, g.BType, g.Ldb, arguments.StrideB, &beta,
            g.C, g.CType, g.Ldc, arguments.StrideC, arguments.BatchCount, g.ComputeType, g.Algorithm);
    }
}
