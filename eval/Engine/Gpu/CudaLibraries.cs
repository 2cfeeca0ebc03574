namespace Eval.Engine.Gpu;

/// <summary>Finds the CUDA libraries a GPU backend can use: the driver's version, then the cuBLAS that suits it.</summary>
public static class CudaLibraries
{
    /// <summary>
    /// Loads cuBLAS for this process's environment and driver. On success <paramref name="report"/> says which cuBLAS
    /// and driver ("cuBLAS 13 from /venv/.../libcublas.so.13; CUDA 13.0 driver (libcuda.so.1)"), plus any candidates
    /// that failed before it; on failure it says what was tried, in order, and why each failed:
    /// "cuBLAS not found (CUDA 12.8 driver (libcuda.so.1), too old for cuBLAS 13; tried: /x/libcublasLt.so.12: invalid ELF header; ...)",
    /// so a caller can print it followed by "; using the ILGPU GEMM".
    /// </summary>
    public static CublasNativeMethods? TryLoadCublas(out string report) =>
        TryLoadCublas(CudaLibraryProbe.ProcessEnvironment(), out report);

    /// <summary><see cref="TryLoadCublas(out string)"/> for the given environment variables.</summary>
    public static CublasNativeMethods? TryLoadCublas(IReadOnlyDictionary<string, string?> environment, out string report) =>
        TryLoadCublas(environment, CudaDriverNativeMethods.Describe(), "/", out report);

    /// <summary><see cref="TryLoadCublas(out string)"/> with the driver and the system root given (tests pass their own).</summary>
    public static CublasNativeMethods? TryLoadCublas(
        IReadOnlyDictionary<string, string?> environment, CudaDriverInfo driver, string systemRoot, out string report)
    {
        var candidates = CudaLibraryProbe.Candidates(environment, driver.Version, systemRoot);
        var loaded = CublasNativeMethods.TryLoadFirst(candidates, out var failures);
        var context = new List<string> { DescribeDriver(driver) };
        if (EmptyLibraryFolder(environment, driver.Version, candidates) is { } empty) context.Add(empty);
        if (loaded is null)
        {
            report = $"cuBLAS not found ({string.Join("; ", context)}; tried: {(failures.Count > 0 ? string.Join("; ", failures) : "nothing")})";
            return null;
        }
        if (failures.Count > 0) context.Add($"failed before it: {string.Join("; ", failures)}");
        report = $"cuBLAS {loaded.Source.Major} from {loaded.Source.CublasLibrary}; {string.Join("; ", context)}";
        return loaded;
    }

    private static string DescribeDriver(CudaDriverInfo driver)
    {
        var skipped = CudaLibraryProbe.SupportedMajors.Where(major => !CudaLibraryProbe.DriverSupports(driver.Version, major)).ToList();
        return skipped.Count == 0 ? driver.Description : $"{driver.Description}, too old for cuBLAS {string.Join(" and ", skipped)}";
    }

    /// <summary>Says so when EVAL_CUDA_LIB_DIR is set but gave no candidate, which the probe skips silently.</summary>
    private static string? EmptyLibraryFolder(
        IReadOnlyDictionary<string, string?> environment, int? driverVersion, IReadOnlyList<CublasCandidate> candidates)
    {
        if (!environment.TryGetValue(CudaLibraryProbe.LibraryFolderVariable, out var folder) || string.IsNullOrWhiteSpace(folder))
            return null;
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        if (candidates.Any(c => Path.GetDirectoryName(c.CublasLibrary) == full)) return null;
        var majors = CudaLibraryProbe.SupportedMajors.Where(major => CudaLibraryProbe.DriverSupports(driverVersion, major));
        return $"{CudaLibraryProbe.LibraryFolderVariable}={folder} holds no " +
            string.Join(" or ", majors.Select(major => $"{CublasCandidate.LtSoname(major)} + {CublasCandidate.CublasSoname(major)}"));
    }
}
