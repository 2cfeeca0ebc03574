using System.Diagnostics;
using System.Reflection;
using System.Text.RegularExpressions;
using Eval.Engine.Gpu;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Eval.Tests.Engine;

/// <summary>
/// Every kernel of the GPU backend compiles to PTX for sm_90 (the H100/H200) without a GPU, with the PTX ISA ILGPU's
/// runtime selects for a CUDA 13 driver (what the GPU machines run), and NVIDIA's assembler accepts it for sm_90: catches
/// kernel code ILGPU cannot translate for CUDA (managed objects, unsupported intrinsics) and PTX the driver's JIT would
/// refuse, before it meets a GPU. ptxas comes from Debian's nvidia-cuda-toolkit 11.8 (.ci/fetch-ptxas); it knows PTX
/// ISA 7.8 at most, so the assembled copy says `.version 7.8` (ILGPU writes nothing that needs more for these kernels:
/// the ISA only gates instructions, and ptxas would reject one it does not know).
/// </summary>
[TestClass]
public sealed class PtxGenerationTests
{
    /// <summary>The driver of the GPU machines (CUDA 13): ILGPU picks the highest ISA it knows that the driver accepts.</summary>
    private static readonly CudaDriverVersion Cuda13Driver = CudaDriverVersion.FromMajorMinor(13, 0);

    public TestContext TestContext { get; set; } = null!;

    public static IEnumerable<object[]> Kernels() =>
        IlgpuBackend.ElementKernelMethods.Concat(IlgpuGemm.KernelMethods).Append(IlgpuAttention.KernelMethod).Append(IlgpuMaskedSoftmax.KernelMethod)
            .Select(m => new object[] { KernelName(m), m });

    /// <summary>What CudaDevice does for an sm_90 device under that driver (CudaAccelerator.TryGetInstructionSet).</summary>
    private static CudaInstructionSet RuntimeInstructionSet() =>
        CudaAccelerator.GetInstructionSet(new CudaCapabilityContext(CudaArchitecture.SM_90).TargetArchitecture, Cuda13Driver);

    [TestMethod]
    public void TheRuntimeSelectsIsa88ForACuda13Driver()
    {
        // ILGPU 1.5.3 knows ISAs up to 8.8 (driver 12.9); a newer ILGPU may pick a newer one, and then ptxas's 7.8
        // rewrite below must be looked at again.
        Assert.AreEqual(CudaInstructionSet.ISA_88, RuntimeInstructionSet(), "the PTX ISA for sm_90 on a CUDA 13 driver");
    }

    [TestMethod]
    [DynamicData(nameof(Kernels), DynamicDataSourceType.Method)]
    public void KernelCompilesToPtxForSm90(string name, MethodInfo kernel)
    {
        var ptx = CompilePtx(kernel);
        StringAssert.Contains(ptx, ".version 8.8", $"{name}: the ISA the runtime selects");
        var target = Regex.Match(ptx, @"\.target sm_(\d+)");
        Assert.IsTrue(target.Success && int.Parse(target.Groups[1].Value) is >= 70 and <= 90, $"{name}: PTX target '{target.Value}'");
        StringAssert.Contains(ptx, ".entry", $"{name}: an entry point");
        // The kernels run on a driver-only machine: a call to a function the PTX does not define (ILGPU's fallback for
        // math it has no instruction for, or libdevice's __nv_*) would fail when the driver links the module.
        var external = Regex.Match(ptx, @"\.extern\s+\.func[^(]*\([^)]*\)\s*(\w+)");
        Assert.IsFalse(external.Success, $"{name}: PTX calls an undefined function: {external.Value}");
        Assert.IsFalse(Regex.IsMatch(ptx, @"__nv_\w+"), $"{name}: PTX calls libdevice, which a driver-only machine lacks");
    }

    /// <summary>
    /// ptxas assembles each kernel for sm_90; its registers and spills are written to the test log (bench/gpu/README.md
    /// lists them). Skipped where ptxas cannot be had; on CI (CI=true) its absence fails.
    /// </summary>
    [TestMethod]
    [DynamicData(nameof(Kernels), DynamicDataSourceType.Method)]
    public void KernelAssemblesForSm90(string name, MethodInfo kernel)
    {
        var ptxas = FindPtxas();
        var ptx = Regex.Replace(CompilePtx(kernel), @"^\.version \d+\.\d+", ".version 7.8", RegexOptions.Multiline);
        var dir = SharedFixtures.TempDirectory();
        var file = Path.Combine(dir, "kernel.ptx");
        File.WriteAllText(file, ptx);
        var info = new ProcessStartInfo(ptxas) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-arch=sm_90", "-v", "-o", Path.Combine(dir, "kernel.cubin"), file }) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.IsTrue(p.WaitForExit(TimeSpan.FromMinutes(1)), $"{name}: ptxas did not finish in a minute");
        var output = stdout.Result + stderr.Result;
        Assert.AreEqual(0, p.ExitCode, $"{name}: ptxas -arch=sm_90 refused the PTX:\n{output}");
        var registers = Regex.Match(output, @"Used (\d+) registers");
        var spills = Regex.Match(output, @"(\d+) bytes spill stores, (\d+) bytes spill loads");
        Assert.IsTrue(registers.Success && spills.Success, $"{name}: no register or spill report from ptxas -v:\n{output}");
        TestContext.WriteLine($"ptxas sm_90 {name}: {registers.Groups[1].Value} registers, spill stores {spills.Groups[1].Value} B, " +
                              $"spill loads {spills.Groups[2].Value} B");
    }

    private static string CompilePtx(MethodInfo kernel)
    {
        using var context = Context.Create(b => b.Cuda().Optimize(OptimizationLevel.O1));
        using var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_90), CudaArchitecture.SM_90,
            RuntimeInstructionSet(), null);
        var entry = EntryPointDescription.FromExplicitlyGroupedKernel(kernel);
        return ((PTXCompiledKernel)backend.Compile(entry, new KernelSpecialization())).PTXAssembly;
    }

    /// <summary>The generic kernels share a method name; their weight type tells them apart.</summary>
    private static string KernelName(MethodInfo m) =>
        m.IsGenericMethod ? $"{m.Name}<{string.Join(",", m.GetGenericArguments().Select(t => t.Name))}>" : m.Name;

    /// <summary>EVAL_PTXAS, else ptxas on PATH, else where .ci/fetch-ptxas caches it.</summary>
    private static string FindPtxas()
    {
        var named = Environment.GetEnvironmentVariable("EVAL_PTXAS");
        if (!string.IsNullOrEmpty(named))
        {
            if (!File.Exists(named)) Assert.Fail($"EVAL_PTXAS={named}: no such file");
            return named;
        }
        var candidates = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "ptxas"))
            .Append(Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg
                ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "mlm-eval", "ptxas", "ptxas"));
        var found = candidates.FirstOrDefault(File.Exists);
        if (found is not null) return found;
        const string why = "ptxas not found (EVAL_PTXAS, PATH, ~/.cache/mlm-eval/ptxas): .ci/fetch-ptxas extracts it from Debian's " +
                           "non-free nvidia-cuda-toolkit 11.8 package";
        if (Environment.GetEnvironmentVariable("CI") == "true") Assert.Fail(why);
        Assert.Inconclusive(why);
        return "";
    }
}
