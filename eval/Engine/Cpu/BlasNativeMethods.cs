using System.Runtime.InteropServices;

namespace Eval.Engine.Cpu;

/// <summary>
/// The CBLAS entry points we call, resolved at run time from the first BLAS library found:
/// OpenBLAS (libopenblas.so.0), the system BLAS (libblas.so.3, which Debian's alternatives may point at OpenBLAS),
/// or Apple's Accelerate. The library name in <c>EVAL_BLAS_LIBRARY</c> is tried first.
/// </summary>
public sealed unsafe class BlasNativeMethods
{
    private const int CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112;

    public static readonly string[] Candidates =
    [
        "libopenblas.so.0", "libopenblas.so", "libopenblasp.so.0", "libblas.so.3", "libblas.so",
        "/System/Library/Frameworks/Accelerate.framework/Accelerate", "libopenblas.dll",
    ];

    private readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> sgemm;
    private readonly delegate* unmanaged<int, void> setNumThreads;

    private BlasNativeMethods(string library, nint handle, nint sgemmExport)
    {
        Library = library;
        sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemmExport;
        if (NativeLibrary.TryGetExport(handle, "openblas_set_num_threads", out var threadsExport))
            setNumThreads = (delegate* unmanaged<int, void>)threadsExport;
    }

    public string Library { get; }

    /// <summary>Loads the first library that exports cblas_sgemm, or returns null with the names tried.</summary>
    public static BlasNativeMethods? TryLoad(out string tried)
    {
        var names = new List<string>();
        var fromEnvironment = Environment.GetEnvironmentVariable("EVAL_BLAS_LIBRARY");
        if (!string.IsNullOrWhiteSpace(fromEnvironment)) names.Add(fromEnvironment);
        names.AddRange(Candidates);
        tried = string.Join(", ", names);
        foreach (var name in names)
        {
            if (!NativeLibrary.TryLoad(name, out var handle)) continue;
            if (NativeLibrary.TryGetExport(handle, "cblas_sgemm", out var export))
                return new BlasNativeMethods(name, handle, export);
        }
        return null;
    }

    public void SetThreads(int threads)
    {
        if (setNumThreads != null) setNumThreads(threads);
    }

    public void Sgemm(bool transposeA, bool transposeB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc) =>
        sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/// <summary>SGEMM through the BLAS library found by <see cref="BlasNativeMethods"/>.</summary>
public sealed unsafe class BlasGemm : IMatrixMultiply
{
    private readonly BlasNativeMethods blas;

    public BlasGemm(BlasNativeMethods blas, int threads)
    {
        this.blas = blas;
        blas.SetThreads(Math.Max(1, threads));
    }

    public string Name => $"blas ({blas.Library})";

    public void Multiply(bool transposeA, bool transposeB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc)
    {
        if (m <= 0 || n <= 0) return;
        blas.Sgemm(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
}
