using System.Diagnostics;
using System.Runtime.InteropServices;
using Eval.Engine;
using Eval.Engine.Gpu;

namespace Eval.Tests.Engine;

/// <summary>
/// Finding and loading the CUDA libraries without a GPU: the probe over fake folders laid out like a pip venv, a conda
/// env, a CUDA toolkit and EVAL_CUDA_LIB_DIR; loading broken files; the row-major Linear → column-major cublasGemmEx
/// mapping; the driver-name mapping for ILGPU; and, where a C compiler exists, the stand-in cuBLAS (which records its
/// calls besides computing them).
/// </summary>
[TestClass]
public sealed partial class CudaLibraryProbeTests
{
    /// <summary>Longer than an ELF header (64 bytes), so the loader says "invalid ELF header" rather than "file too short".</summary>
    private const string NotAnElfFile = "This text stands where a shared library should be; it is long enough to hold an ELF header.";

    private static void Library(string folder, int major, bool lt = true, bool main = true, string content = "")
    {
        Directory.CreateDirectory(folder);
        if (lt) File.WriteAllText(Path.Combine(folder, CublasCandidate.LtSoname(major)), content);
        if (main) File.WriteAllText(Path.Combine(folder, CublasCandidate.CublasSoname(major)), content);
    }

    private static string Describe(CublasCandidate c) =>
        Path.GetDirectoryName(c.CublasLibrary) is { Length: > 0 } folder ? $"{c.Major} {folder}" : $"{c.Major} soname";

    /// <summary>A machine with cuBLAS in every supported place; returns the environment, the root and the folders by role.</summary>
    private static (Dictionary<string, string?> Environment, string Root, Dictionary<string, string> Folders) FakeMachine()
    {
        var root = SharedFixtures.TempDirectory();
        var f = new Dictionary<string, string>
        {
            ["eval"] = Path.Combine(root, "evaldir"),
            ["venv13"] = Path.Combine(root, "venv/lib/python3.12/site-packages/nvidia/cu13/lib"),
            ["venv12"] = Path.Combine(root, "venv/lib/python3.12/site-packages/nvidia/cublas/lib"),
            ["venvOld"] = Path.Combine(root, "venv/lib/python3.9/site-packages/nvidia/cublas/lib"),
            ["condaSite"] = Path.Combine(root, "conda/lib/python3.11/site-packages/nvidia/cublas/lib"),
            ["condaLib"] = Path.Combine(root, "conda/lib"),
            ["usrLocalDist"] = Path.Combine(root, "usr/local/lib/python3.10/dist-packages/nvidia/cublas/lib"),
            ["usrLocalSiteNoLt"] = Path.Combine(root, "usr/local/lib/python3.10/site-packages/nvidia/cublas/lib"),
            ["usrLib"] = Path.Combine(root, "usr/lib/python3/dist-packages/nvidia/cu13/lib"),
            ["homeLocal"] = Path.Combine(root, "home/.local/lib/python3.12/site-packages/nvidia/cublas/lib"),
            ["cudaPath"] = Path.Combine(root, "cudapath/lib"),
            ["cudaHome"] = Path.Combine(root, "cudahome/lib64"),
            ["cudaHomeLib"] = Path.Combine(root, "cudahome/lib"),
            ["usrLocalCuda"] = Path.Combine(root, "usr/local/cuda/lib64"),
        };
        Library(f["eval"], 13);
        Library(f["eval"], 12);
        Library(f["venv13"], 13);
        Library(f["venv12"], 12);
        Library(f["venvOld"], 12);
        Library(f["condaSite"], 12);
        Library(f["condaLib"], 12);
        Library(f["condaLib"], 11);
        Library(f["usrLocalDist"], 12);
        Library(f["usrLocalSiteNoLt"], 12, lt: false);
        Library(f["usrLib"], 13);
        Library(f["homeLocal"], 11);
        Library(f["cudaPath"], 11);
        Library(f["cudaPath"], 12);
        Library(f["cudaHome"], 12);
        Library(f["cudaHomeLib"], 12);
        foreach (int major in new[] { 13, 12, 11 }) Library(f["usrLocalCuda"], major);
        var environment = new Dictionary<string, string?>
        {
            ["EVAL_CUDA_LIB_DIR"] = f["eval"],
            ["VIRTUAL_ENV"] = Path.Combine(root, "venv"),
            ["CONDA_PREFIX"] = Path.Combine(root, "conda"),
            ["CUDA_PATH"] = Path.Combine(root, "cudapath"),
            ["CUDA_HOME"] = Path.Combine(root, "cudahome"),
            ["HOME"] = Path.Combine(root, "home"),
        };
        return (environment, root, f);
    }

    [TestMethod]
    public void CandidatesFollowTheDocumentedOrder()
    {
        var (environment, root, f) = FakeMachine();
        var actual = CudaLibraryProbe.Candidates(environment, driverVersion: null, root).Select(Describe).ToList();
        string[] expected =
        [
            $"13 {f["eval"]}", $"13 {f["venv13"]}", $"13 {f["usrLib"]}", $"13 {f["usrLocalCuda"]}", "13 soname",
            $"12 {f["eval"]}", $"12 {f["venv12"]}", $"12 {f["venvOld"]}", $"12 {f["condaSite"]}", $"12 {f["usrLocalDist"]}",
            $"12 {f["condaLib"]}", $"12 {f["cudaPath"]}", $"12 {f["cudaHome"]}", $"12 {f["cudaHomeLib"]}", $"12 {f["usrLocalCuda"]}",
            "12 soname",
            $"11 {f["homeLocal"]}", $"11 {f["condaLib"]}", $"11 {f["cudaPath"]}", $"11 {f["usrLocalCuda"]}", "11 soname",
        ];
        CollectionAssert.AreEqual(expected, actual, "got:\n" + string.Join("\n", actual));
    }

    [TestMethod]
    public void EachCandidatePairsLtAndMainOfOneMajorInOneFolder()
    {
        var (environment, root, _) = FakeMachine();
        foreach (var c in CudaLibraryProbe.Candidates(environment, null, root))
        {
            Assert.AreEqual($"libcublasLt.so.{c.Major}", Path.GetFileName(c.LtLibrary), c.ToString());
            Assert.AreEqual($"libcublas.so.{c.Major}", Path.GetFileName(c.CublasLibrary), c.ToString());
            Assert.AreEqual(Path.GetDirectoryName(c.CublasLibrary), Path.GetDirectoryName(c.LtLibrary), c.ToString());
            if (Path.IsPathRooted(c.CublasLibrary))
                Assert.IsTrue(File.Exists(c.LtLibrary) && File.Exists(c.CublasLibrary), $"{c} lists a missing file");
        }
    }

    [TestMethod]
    [DataRow(12080, new[] { 12, 11 })]
    [DataRow(12000, new[] { 12, 11 })]
    [DataRow(11080, new[] { 11 })]
    [DataRow(13000, new[] { 13, 12, 11 })]
    [DataRow(13020, new[] { 13, 12, 11 })]
    [DataRow(10020, new int[0])]
    public void DriverVersionSkipsMajorsItIsTooOldFor(int driver, int[] majors)
    {
        var (environment, root, _) = FakeMachine();
        var all = CudaLibraryProbe.Candidates(environment, null, root);
        var allowed = CudaLibraryProbe.Candidates(environment, driver, root);
        CollectionAssert.AreEqual(majors, allowed.Select(c => c.Major).Distinct().ToArray(), $"driver {driver}");
        CollectionAssert.AreEqual(all.Where(c => majors.Contains(c.Major)).ToList(), allowed.ToList(),
            $"driver {driver} must keep the order and folders of the majors it allows");
    }

    [TestMethod]
    public void UnknownDriverTriesEveryMajor()
    {
        var (environment, root, _) = FakeMachine();
        CollectionAssert.AreEqual(new[] { 13, 12, 11 },
            CudaLibraryProbe.Candidates(environment, null, root).Select(c => c.Major).Distinct().ToArray());
        Assert.IsTrue(CudaLibraryProbe.DriverSupports(null, 13));
        Assert.IsTrue(CudaLibraryProbe.DriverSupports(13000, 13));
        Assert.IsFalse(CudaLibraryProbe.DriverSupports(12090, 13));
    }

    [TestMethod]
    public void AnEmptyMachineStillTriesTheSonames()
    {
        var root = SharedFixtures.TempDirectory();
        var candidates = CudaLibraryProbe.Candidates(new Dictionary<string, string?> { ["CUDA_HOME"] = "", ["HOME"] = root }, null, root);
        CollectionAssert.AreEqual(
            new[] { CublasCandidate.Sonames(13), CublasCandidate.Sonames(12), CublasCandidate.Sonames(11) }, candidates.ToList());
        Assert.AreEqual("libcublasLt.so.12", CublasCandidate.Sonames(12).LtLibrary);
        Assert.AreEqual("libcublas.so.12", CublasCandidate.Sonames(12).CublasLibrary);
    }

    [TestMethod]
    public void SearchFoldersAreListedOnceEvenWhenVariablesRepeatThem()
    {
        var root = SharedFixtures.TempDirectory();
        var toolkit = Path.Combine(root, "usr/local/cuda");
        var folders = CudaLibraryProbe.SearchFolders(new Dictionary<string, string?>
        {
            ["CUDA_PATH"] = toolkit, ["CUDA_HOME"] = toolkit + "/", ["EVAL_CUDA_LIB_DIR"] = Path.Combine(toolkit, "lib64"),
        }, root);
        Assert.AreEqual(folders.Count, folders.Distinct().Count(), string.Join("\n", folders));
        Assert.AreEqual(Path.Combine(toolkit, "lib64"), folders[0], "EVAL_CUDA_LIB_DIR comes first");
        Assert.AreEqual(Path.Combine(toolkit, "lib"), folders[^1], "its duplicates later are dropped");
    }

    private static void RequireLinux()
    {
        if (!OperatingSystem.IsLinux()) Assert.Inconclusive("the loader's messages checked here are glibc's");
    }

    [TestMethod]
    public void BrokenFilesFailWithEachPathAndTheLoadersReason()
    {
        RequireLinux();
        var root = SharedFixtures.TempDirectory();
        var garbage = Path.Combine(root, "garbage");
        var empty = Path.Combine(root, "empty");
        Library(garbage, 13, content: NotAnElfFile);
        Library(empty, 12);
        CublasCandidate[] candidates = [CublasCandidate.InFolder(garbage, 13), CublasCandidate.InFolder(empty, 12)];

        var loaded = CublasNativeMethods.TryLoad(candidates, out string tried);

        Assert.IsNull(loaded);
        StringAssert.Contains(tried, $"{Path.Combine(garbage, "libcublasLt.so.13")}: invalid ELF header");
        StringAssert.Contains(tried, $"{Path.Combine(empty, "libcublasLt.so.12")}: file too short");
        Assert.IsTrue(tried.IndexOf(garbage, StringComparison.Ordinal) < tried.IndexOf(empty, StringComparison.Ordinal), tried);
        Assert.IsFalse(tried.Contains("libcublas.so.13"), $"the Lt library is loaded first, so a broken one stops the pair: {tried}");
        Assert.IsFalse(tried.Contains("Unable to load shared library"), $".NET's advice paragraph is dropped: {tried}");
    }

    /// <summary>A real shared library that exports none of cuBLAS: .NET's own System.Native.</summary>
    private static string SystemNative()
    {
        var path = Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "libSystem.Native.so");
        if (!File.Exists(path)) Assert.Inconclusive($"{path} is missing");
        return path;
    }

    [TestMethod]
    public void AMainLibraryThatFailsAfterItsLtLoadedIsNamed()
    {
        RequireLinux();
        var folder = SharedFixtures.TempDirectory();
        var main = Path.Combine(folder, "libcublas.so.12");
        File.WriteAllText(main, NotAnElfFile);
        var loaded = CublasNativeMethods.TryLoad([new CublasCandidate(SystemNative(), main, 12)], out string tried);
        Assert.IsNull(loaded);
        Assert.AreEqual($"{main}: invalid ELF header", tried);
    }

    [TestMethod]
    public void MissingExportsAreNamed()
    {
        RequireLinux();
        var native = SystemNative();
        var loaded = CublasNativeMethods.TryLoad([new CublasCandidate(native, native, 13)], out string tried);
        Assert.IsNull(loaded);
        Assert.AreEqual($"{native}: missing symbols cublasCreate_v2, cublasDestroy_v2, cublasSetStream_v2, " +
            "cublasSetMathMode, cublasGetVersion_v2, cublasGemmEx, cublasGemmStridedBatchedEx", tried);
    }

    [TestMethod]
    public void NoCandidatesIsSaid()
    {
        Assert.IsNull(CublasNativeMethods.TryLoad([], out string tried));
        Assert.AreEqual("no candidates", tried);
    }

    [TestMethod]
    public void TheLoaderReportNamesTheDriverAndEveryPathTried()
    {
        RequireLinux();
        var root = SharedFixtures.TempDirectory();
        var eval = Path.Combine(root, "evaldir");
        Library(eval, 12, content: NotAnElfFile);
        Library(eval, 13, content: NotAnElfFile);
        var environment = new Dictionary<string, string?> { ["EVAL_CUDA_LIB_DIR"] = eval };

        // A 12.8 driver: cuBLAS 13 must not be tried (bare sonames of 13 included), whatever this machine has.
        var loaded = CudaLibraries.TryLoadCublas(environment, new CudaDriverInfo(12080, "CUDA 12.8 driver (fake)"), root, out var report);

        StringAssert.Contains(report, "CUDA 12.8 driver (fake), too old for cuBLAS 13");
        StringAssert.Contains(report, $"{Path.Combine(eval, "libcublasLt.so.12")}: invalid ELF header");
        Assert.IsFalse(report.Contains(".so.13"), report);
        if (loaded is null)
        {
            StringAssert.StartsWith(report, "cuBLAS not found (");
            StringAssert.Contains(report, "libcublasLt.so.12: cannot open shared object file");
            StringAssert.Contains(report, "libcublasLt.so.11: cannot open shared object file");
            Assert.IsTrue(report.IndexOf(".so.12", StringComparison.Ordinal) < report.IndexOf(".so.11", StringComparison.Ordinal), report);
        }
        else
        {
            StringAssert.StartsWith(report, $"cuBLAS {loaded.Source.Major} from ");
            StringAssert.Contains(report, "failed before it: ");
        }
    }

    [TestMethod]
    public void AnEvalCudaLibDirWithoutCublasIsPointedOut()
    {
        var root = SharedFixtures.TempDirectory();
        var folder = Path.Combine(root, "wrong");
        Library(folder, 12, lt: false);
        var environment = new Dictionary<string, string?> { ["EVAL_CUDA_LIB_DIR"] = folder };
        CudaLibraries.TryLoadCublas(environment, new CudaDriverInfo(12020, "CUDA 12.2 driver (fake)"), root, out var report);
        StringAssert.Contains(report, $"EVAL_CUDA_LIB_DIR={folder} holds no libcublasLt.so.12 + libcublas.so.12 or libcublasLt.so.11 + libcublas.so.11");

        Library(folder, 12, content: NotAnElfFile);
        CudaLibraries.TryLoadCublas(environment, new CudaDriverInfo(12020, "CUDA 12.2 driver (fake)"), root, out report);
        Assert.IsFalse(report.Contains("holds no"), report);
    }

    [TestMethod]
    public void TheDriverIsLookedUpAsLibcudaSo1ThenLibcudaSo()
    {
        RequireLinux();
        CollectionAssert.AreEqual(new[] { "libcuda.so.1", "libcuda.so" }, CudaDriverNativeMethods.Candidates.ToArray());
        if (CudaDriverNativeMethods.TryGetDriverVersion(out int version, out var tried))
        {
            Assert.IsTrue(version >= 10000, $"driver version {version}");
            return;
        }
        StringAssert.StartsWith(tried, "libcuda.so.1: ");
        StringAssert.Contains(tried, "; libcuda.so: ");
        var driver = CudaDriverNativeMethods.Describe();
        Assert.IsNull(driver.Version);
        StringAssert.StartsWith(driver.Description, "no CUDA driver (libcuda.so.1: ");
    }

    [TestMethod]
    public void DriverVersionsPrintAsMajorDotMinor()
    {
        Assert.AreEqual("12.8", CudaDriverInfo.FormatVersion(12080));
        Assert.AreEqual("13.0", CudaDriverInfo.FormatVersion(13000));
        Assert.AreEqual("11.4", CudaDriverInfo.FormatVersion(11040));
    }

    [TestMethod]
    [DataRow("cuda")]
    [DataRow("CUDA")]
    [DataRow("libcuda")]
    [DataRow("libcuda.so")]
    [DataRow("nvcuda")]
    public void IlgpusDriverNamesMapToLibcudaSo1(string requested)
    {
        CollectionAssert.AreEqual(new[] { "libcuda.so.1", "libcuda.so" }, CudaDriverResolver.DriverLibrariesFor(requested).ToArray());
    }

    [TestMethod]
    [DataRow("cudart")]
    [DataRow("libcudart.so")]
    [DataRow("libcublas.so.13")]
    [DataRow("nvrtc")]
    [DataRow("libcuda.so.1")]
    [DataRow("openblas")]
    public void OtherLibraryNamesAreNotOurs(string requested)
    {
        Assert.AreEqual(0, CudaDriverResolver.DriverLibrariesFor(requested).Count, requested);
    }

    [TestMethod]
    public void InstallingTheResolverTwiceIsHarmless()
    {
        CudaDriverResolver.Install();
        CudaDriverResolver.Install();
        // "cuda" is not a library on this machine unless a driver is installed; the handler must not throw either way.
        _ = NativeLibrary.TryLoad("cuda", typeof(CudaLibraryProbeTests).Assembly, null, out _);
    }
}
