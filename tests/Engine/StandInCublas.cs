using System.Diagnostics;
using Eval.Engine.Gpu;

namespace Eval.Tests.Engine;

/// <summary>
/// The stand-in cuBLAS 13 (tests/Engine/StandInCublas/standin_cublas.c: cublasGemmEx and cublasGemmStridedBatchedEx
/// computed on host memory, as NVIDIA documents them), built with the C compiler. <see cref="Shared"/> is one copy for the
/// whole test run, loaded once, for the tests that compute through it; a test that configures failures builds its own
/// copy (<see cref="Build"/>), a separate file and so a separate library with its own state.
/// </summary>
public static class StandInCublas
{
    private static readonly Lazy<CublasNativeMethods> SharedLibrary = new(LoadShared);

    /// <summary>The run's shared stand-in, loaded through the real probing code (EVAL_CUDA_LIB_DIR), or Inconclusive without a C compiler.</summary>
    public static CublasNativeMethods Shared => SharedLibrary.Value;

    /// <summary>Compiles libcublasLt.so.13 and libcublas.so.13 into a new folder and returns it.</summary>
    public static string Build()
    {
        if (!OperatingSystem.IsLinux()) Assert.Inconclusive("the stand-in cuBLAS is built as a Linux shared library");
        var folder = SharedFixtures.TempDirectory();
        var sources = Path.Combine(SharedFixtures.ProjectRoot, "tests", "Engine", "StandInCublas");
        Compile(folder, $"-O2 -shared -fPIC -Wl,-soname,libcublasLt.so.13 -o libcublasLt.so.13 {Path.Combine(sources, "standin_cublaslt.c")}");
        Compile(folder, $"-O2 -shared -fPIC -Wl,-soname,libcublas.so.13 -o libcublas.so.13 {Path.Combine(sources, "standin_cublas.c")} -L. -l:libcublasLt.so.13");
        return folder;
    }

    private static CublasNativeMethods LoadShared()
    {
        var folder = Build();
        var environment = new Dictionary<string, string?> { [CudaLibraryProbe.LibraryFolderVariable] = folder };
        var methods = CudaLibraries.TryLoadCublas(environment, new CudaDriverInfo(13000, "CUDA 13.0 driver (stand-in)"),
            SharedFixtures.TempDirectory(), out var report);
        return methods ?? throw new InvalidOperationException($"the stand-in cuBLAS did not load: {report}");
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
            Assert.Inconclusive("no C compiler (cc) to build the stand-in cuBLAS");
            return;
        }
        using (compiler)
        {
            var errors = compiler.StandardError.ReadToEnd();
            compiler.WaitForExit();
            Assert.AreEqual(0, compiler.ExitCode, $"cc {arguments}: {errors}");
        }
    }
}
