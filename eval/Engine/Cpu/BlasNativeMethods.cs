using System.Runtime.InteropServices;

namespace Eval.Engine.Cpu;

/// <summary>Which implementation a BLAS library is, as told by the symbols it exports.</summary>
public enum BlasFlavour
{
    /// <summary>Exports cblas_sgemm and nothing we recognise: possibly the slow reference (netlib) BLAS.</summary>
    Unrecognised,
    OpenBlas,
    Mkl,
    Blis,
    Accelerate,
}

/// <summary>
/// The CBLAS entry points we call, resolved at run time from one BLAS library: OpenBLAS (libopenblas.so.0), the
/// system BLAS (libblas.so.3, which Debian's alternatives may point at OpenBLAS or at the reference BLAS), or
/// Apple's Accelerate. <see cref="SearchOrder"/> puts the library in <c>EVAL_BLAS_LIBRARY</c> first.
/// </summary>
public sealed unsafe class BlasNativeMethods
{
    private const int CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112;

    public static readonly IReadOnlyList<string> Candidates =
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
        (Flavour, Description) = Identify(handle);
    }

    /// <summary>The name the library was loaded by.</summary>
    public string Library { get; }

    public BlasFlavour Flavour { get; }

    /// <summary>What the library says it is (OpenBLAS's configuration, BLIS's version), or its flavour.</summary>
    public string Description { get; }

    /// <summary>A library known to be optimised: OpenBLAS, MKL, BLIS or Accelerate.</summary>
    public bool IsKnownOptimised => Flavour != BlasFlavour.Unrecognised;

    /// <summary>EVAL_BLAS_LIBRARY (when set), then <see cref="Candidates"/>.</summary>
    public static IReadOnlyList<string> SearchOrder()
    {
        var names = new List<string>();
        var fromEnvironment = Environment.GetEnvironmentVariable("EVAL_BLAS_LIBRARY");
        if (!string.IsNullOrWhiteSpace(fromEnvironment)) names.Add(fromEnvironment);
        names.AddRange(Candidates.Where(c => !names.Contains(c)));
        return names;
    }

    /// <summary>The library by this name (or path) when it loads and exports cblas_sgemm, else null.</summary>
    public static BlasNativeMethods? TryLoad(string name) =>
        NativeLibrary.TryLoad(name, out var handle) && NativeLibrary.TryGetExport(handle, "cblas_sgemm", out var export)
            ? new BlasNativeMethods(name, handle, export)
            : null;

    public void SetThreads(int threads)
    {
        if (setNumThreads != null) setNumThreads(threads);
    }

    public void Sgemm(bool transposeA, bool transposeB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc) =>
        sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    private static (BlasFlavour, string) Identify(nint handle)
    {
        if (NativeLibrary.TryGetExport(handle, "openblas_get_config", out var config))
        {
            var text = Marshal.PtrToStringUTF8(((delegate* unmanaged<nint>)config)())?.Trim() ?? "";
            return (BlasFlavour.OpenBlas, text.StartsWith("OpenBLAS", StringComparison.Ordinal) ? text : $"OpenBLAS {text}".Trim());
        }
        if (NativeLibrary.TryGetExport(handle, "mkl_get_version_string", out _) || NativeLibrary.TryGetExport(handle, "MKL_Get_Version_String", out _))
            return (BlasFlavour.Mkl, "Intel MKL");
        if (NativeLibrary.TryGetExport(handle, "bli_info_get_version_str", out var blis))
            return (BlasFlavour.Blis, "BLIS " + Marshal.PtrToStringUTF8(((delegate* unmanaged<nint>)blis)()));
        if (NativeLibrary.TryGetExport(handle, "vDSP_vadd", out _))
            return (BlasFlavour.Accelerate, "Apple Accelerate");
        return (BlasFlavour.Unrecognised, "unrecognised BLAS");
    }
}

/// <summary>SGEMM through a library loaded by <see cref="BlasNativeMethods"/>.</summary>
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
