using System.Collections;

namespace Eval.Engine.Gpu;

/// <summary>
/// One cuBLAS to try: libcublasLt and libcublas of one major version, from the same folder (or both bare sonames,
/// left to the dynamic loader). The Lt library is loaded first because libcublas needs it.
/// </summary>
public sealed record CublasCandidate(string LtLibrary, string CublasLibrary, int Major)
{
    public static CublasCandidate InFolder(string folder, int major) =>
        new(Path.Combine(folder, LtSoname(major)), Path.Combine(folder, CublasSoname(major)), major);

    public static CublasCandidate Sonames(int major) => new(LtSoname(major), CublasSoname(major), major);

    public static string CublasSoname(int major) => $"libcublas.so.{major}";

    public static string LtSoname(int major) => $"libcublasLt.so.{major}";
}

/// <summary>
/// Where cuBLAS may be on a Linux machine, in the order we try it, as a pure function of the environment variables and
/// the file system under a root folder (tests pass a temporary one). Nothing is loaded here.
/// </summary>
/// <remarks>
/// For each cuBLAS major, newest first (13, 12, 11), skipping one the driver is too old for, the folders are:
/// <c>EVAL_CUDA_LIB_DIR</c>; the pip wheels' <c>nvidia/cu13/lib</c> (CUDA 13) and <c>nvidia/cublas/lib</c> (CUDA 11 and 12)
/// under the site-packages of <c>VIRTUAL_ENV</c>, <c>CONDA_PREFIX</c>, <c>/usr/local/lib/python3.*</c> (dist- and
/// site-packages), <c>/usr/lib/python3/dist-packages</c> and <c>~/.local/lib/python3.*</c>; <c>CONDA_PREFIX/lib</c>;
/// <c>CUDA_PATH</c> and <c>CUDA_HOME</c> (<c>lib64</c>, <c>lib</c>); <c>/usr/local/cuda/lib64</c>. A folder is listed only
/// when both libraries are in it. Last come the bare sonames, which the dynamic loader resolves through
/// <c>LD_LIBRARY_PATH</c>, the ld.so cache and the system folders.
/// </remarks>
public static class CudaLibraryProbe
{
    /// <summary>The variable naming a folder that holds libcublas.so.N and libcublasLt.so.N; tried before anything else.</summary>
    public const string LibraryFolderVariable = "EVAL_CUDA_LIB_DIR";

    /// <summary>cuBLAS majors we can call (cublasGemmEx with a cublasComputeType_t exists from 11 on), newest first.</summary>
    public static IReadOnlyList<int> SupportedMajors { get; } = [13, 12, 11];

    /// <summary>The wheel folders below a site-packages folder: CUDA 13 wheels, then CUDA 11/12 wheels.</summary>
    private static readonly string[] WheelLibraryFolders = [Path.Combine("nvidia", "cu13", "lib"), Path.Combine("nvidia", "cublas", "lib")];

    /// <summary>
    /// Whether a driver reporting <paramref name="driverVersion"/> (cuDriverGetVersion: 1000·major + 10·minor) can run
    /// cuBLAS of <paramref name="major"/>: CUDA's minor-version compatibility needs a driver of the same major or newer.
    /// An unknown driver (null) allows everything.
    /// </summary>
    public static bool DriverSupports(int? driverVersion, int major) => driverVersion is not { } version || version >= major * 1000;

    /// <summary>The candidates to try in order; see the type's remarks.</summary>
    /// <param name="environment">Environment variables (<see cref="ProcessEnvironment"/> for this process's).</param>
    /// <param name="driverVersion">The driver's CUDA version (13000, 12080, ...), or null when unknown.</param>
    /// <param name="systemRoot">The folder the system paths (<c>/usr/local/cuda</c>, ...) are under: "/" except in tests.</param>
    public static IReadOnlyList<CublasCandidate> Candidates(
        IReadOnlyDictionary<string, string?> environment, int? driverVersion, string systemRoot = "/")
    {
        var folders = SearchFolders(environment, systemRoot);
        var candidates = new List<CublasCandidate>();
        foreach (int major in SupportedMajors)
        {
            if (!DriverSupports(driverVersion, major)) continue;
            foreach (var folder in folders)
            {
                var candidate = CublasCandidate.InFolder(folder, major);
                if (File.Exists(candidate.LtLibrary) && File.Exists(candidate.CublasLibrary))
                    candidates.Add(candidate);
            }
            candidates.Add(CublasCandidate.Sonames(major));
        }
        return candidates;
    }

    /// <summary>
    /// The folders that may hold cuBLAS, in search order, whether or not they hold it; each once. Globs
    /// (<c>python3.*</c>) are expanded against the file system, newest Python first.
    /// </summary>
    public static IReadOnlyList<string> SearchFolders(IReadOnlyDictionary<string, string?> environment, string systemRoot = "/")
    {
        var folders = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Add(string? folder)
        {
            if (string.IsNullOrWhiteSpace(folder)) return;
            var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
            if (seen.Add(full)) folders.Add(full);
        }

        Add(Variable(environment, LibraryFolderVariable));
        foreach (var sitePackages in SitePackagesFolders(environment, systemRoot))
            foreach (var wheelFolder in WheelLibraryFolders)
                Add(Path.Combine(sitePackages, wheelFolder));
        if (Variable(environment, "CONDA_PREFIX") is { } conda) Add(Path.Combine(conda, "lib"));
        foreach (var name in new[] { "CUDA_PATH", "CUDA_HOME" })
            if (Variable(environment, name) is { } toolkit)
            {
                Add(Path.Combine(toolkit, "lib64"));
                Add(Path.Combine(toolkit, "lib"));
            }
        Add(UnderRoot(systemRoot, "usr/local/cuda/lib64"));
        return folders;
    }

    /// <summary>This process's environment variables, as the probe takes them.</summary>
    public static IReadOnlyDictionary<string, string?> ProcessEnvironment()
    {
        var variables = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
            variables[(string)entry.Key] = entry.Value as string;
        return variables;
    }

    private static IEnumerable<string> SitePackagesFolders(IReadOnlyDictionary<string, string?> environment, string systemRoot)
    {
        if (Variable(environment, "VIRTUAL_ENV") is { } venv)
            foreach (var python in PythonFolders(Path.Combine(venv, "lib")))
                yield return Path.Combine(python, "site-packages");
        if (Variable(environment, "CONDA_PREFIX") is { } conda)
            foreach (var python in PythonFolders(Path.Combine(conda, "lib")))
                yield return Path.Combine(python, "site-packages");
        foreach (var python in PythonFolders(UnderRoot(systemRoot, "usr/local/lib")))
        {
            yield return Path.Combine(python, "dist-packages");
            yield return Path.Combine(python, "site-packages");
        }
        yield return UnderRoot(systemRoot, "usr/lib/python3/dist-packages");
        if (Variable(environment, "HOME") is { } home)
            foreach (var python in PythonFolders(Path.Combine(home, ".local", "lib")))
                yield return Path.Combine(python, "site-packages");
    }

    /// <summary>The <c>python3.*</c> folders in <paramref name="libFolder"/>, newest first (3.13 before 3.12 before 3.9).</summary>
    private static IEnumerable<string> PythonFolders(string libFolder)
    {
        string[] found;
        try
        {
            found = Directory.Exists(libFolder) ? Directory.GetDirectories(libFolder, "python3.*") : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            found = [];
        }
        return found
            .OrderByDescending(path => PythonMinor(Path.GetFileName(path)))
            .ThenBy(path => path, StringComparer.Ordinal);
    }

    /// <summary>12 for "python3.12" and "python3.12t"; -1 when there is no number.</summary>
    private static int PythonMinor(string folderName)
    {
        var digits = folderName.AsSpan("python3.".Length);
        int length = 0;
        while (length < digits.Length && char.IsAsciiDigit(digits[length])) length++;
        return int.TryParse(digits[..length], out int minor) ? minor : -1;
    }

    private static string UnderRoot(string systemRoot, string relative) => Path.Combine(systemRoot, relative);

    private static string? Variable(IReadOnlyDictionary<string, string?> environment, string name) =>
        environment.TryGetValue(name, out var value) && !string.IsNullOrWhiteSpace(value) ? value : null;
}
