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
/// Every kernel of the GPU backend compiles to PTX for sm_90 (the H100/H200) without a GPU: ILGPU's PTX backend runs on
/// any machine. Catches kernel code ILGPU cannot translate for CUDA (managed objects, unsupported intrinsics) before it
/// meets a GPU.
/// </summary>
[TestClass]
public sealed class PtxGenerationTests
{
    public static IEnumerable<object[]> Kernels() =>
        IlgpuBackend.ElementKernelMethods.Concat(IlgpuGemm.KernelMethods).Append(IlgpuAttention.KernelMethod)
            .Select(m => new object[] { m.Name, m });

    [TestMethod]
    [DynamicData(nameof(Kernels), DynamicDataSourceType.Method)]
    public void KernelCompilesToPtxForSm90(string name, MethodInfo kernel)
    {
        using var context = Context.Create(b => b.Cuda().Optimize(OptimizationLevel.O1));
        using var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_90), CudaArchitecture.SM_90,
            CudaInstructionSet.ISA_80, null);
        var entry = EntryPointDescription.FromExplicitlyGroupedKernel(kernel);
        var compiled = (PTXCompiledKernel)backend.Compile(entry, new KernelSpecialization());
        var ptx = compiled.PTXAssembly;
        // ILGPU 1.5.3 writes PTX ISA 8.0 for sm_80 at most; the driver JIT-compiles that for sm_90.
        var target = Regex.Match(ptx, @"\.target sm_(\d+)");
        Assert.IsTrue(target.Success && int.Parse(target.Groups[1].Value) is >= 70 and <= 90, $"{name}: PTX target '{target.Value}'");
        StringAssert.Contains(ptx, ".entry", $"{name}: an entry point");
        // The kernels run on a driver-only machine: a call to a function the PTX does not define (ILGPU's fallback for
        // math it has no instruction for, or libdevice's __nv_*) would fail when the driver links the module.
        var external = Regex.Match(ptx, @"\.extern\s+\.func[^(]*\([^)]*\)\s*(\w+)");
        Assert.IsFalse(external.Success, $"{name}: PTX calls an undefined function: {external.Value}");
        Assert.IsFalse(Regex.IsMatch(ptx, @"__nv_\w+"), $"{name}: PTX calls libdevice, which a driver-only machine lacks");
    }
}
