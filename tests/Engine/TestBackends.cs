using Eval.Engine;
using Eval.Engine.Cpu;
using Eval.Engine.Gpu;
using ILGPU;
using ILGPU.Runtime.CPU;

namespace Eval.Tests.Engine;

/// <summary>
/// The backends every op and model test runs on: the CPU backend (each GEMM path) and the GPU backend's kernels on
/// ILGPU's CPU accelerator with 1-, 4- and 8-thread groups (so the barrier reductions run with several threads), with the
/// tiled GEMM and flash attention or, "-cublas", with the stand-in cuBLAS: the cuBLAS GEMMs and the tensor-core
/// attention a GPU runs. One ILGPU context serves the whole test run; each backend gets its own accelerator, so
/// parallel test classes do not share a stream.
/// </summary>
public static class TestBackends
{
    private static readonly Lazy<Context> IlgpuContext = new(() => Context.Create(b => b.CPU().Optimize(OptimizationLevel.O1)));

    public static IBackend Cpu(int threads = 2, GemmPath gemm = GemmPath.Auto) => new CpuBackend(threads, gemm);

    public static IlgpuBackend IlgpuCpu(int groupSize = 1, Precision precision = Precision.Fp32) =>
        IlgpuBackend.CreateOnCpu(IlgpuContext.Value, groupSize, precision);

    /// <summary>
    /// The GPU backend on the CPU accelerator bound to the stand-in cuBLAS (<see cref="StandInCublas"/>): Linear and the
    /// tensor-core attention through cublasGemmEx and cublasGemmStridedBatchedEx. A small score budget splits attention
    /// into several steps; one below a sequence's scores sends it to the flash kernel.
    /// </summary>
    public static IlgpuBackend IlgpuCpuCublas(int groupSize = 4, Precision precision = Precision.Fp32,
        long attentionScoreBudget = IlgpuBackend.DefaultAttentionScoreBudget) =>
        IlgpuBackend.CreateOnCpu(IlgpuContext.Value, groupSize, precision, StandInCublas.Shared, attentionScoreBudget);

    /// <summary>Name and factory of each backend configuration the op tests cover.</summary>
    public static IEnumerable<object[]> All() =>
    [
        ["managed-1", (Func<IBackend>)(() => new CpuBackend(1, GemmPath.Managed))],
        ["managed-2", (Func<IBackend>)(() => new CpuBackend(2, GemmPath.Managed))],
        ["blas-2", (Func<IBackend>)(() => new CpuBackend(2, GemmPath.Blas))],
        ["ilgpu-cpu-1", (Func<IBackend>)(() => IlgpuCpu(1))],
        ["ilgpu-cpu-4", (Func<IBackend>)(() => IlgpuCpu(4))],
        ["ilgpu-cpu-8", (Func<IBackend>)(() => IlgpuCpu(8))],
        ["ilgpu-cpu-cublas-1", (Func<IBackend>)(() => IlgpuCpuCublas(1))],
        ["ilgpu-cpu-cublas-8", (Func<IBackend>)(() => IlgpuCpuCublas(8))],
    ];

    /// <summary>A tensor with these values where the backend computes.</summary>
    public static Tensor Upload(this IBackend backend, float[] values, params int[] shape)
    {
        using var host = Tensor.FromArray(values, shape);
        return backend.CopyFromHost(host);
    }

    /// <summary>A tensor's values, read back to the host.</summary>
    public static float[] Read(this IBackend backend, Tensor tensor)
    {
        using var host = backend.CopyToHost(tensor);
        return host.ToArray();
    }

    /// <summary>Frees the shared ILGPU context once every test has run.</summary>
    public static void DisposeContext()
    {
        if (IlgpuContext.IsValueCreated) IlgpuContext.Value.Dispose();
    }
}

/// <summary>Test-run lifetime hooks (MSTest looks for them on test classes).</summary>
[TestClass]
public sealed class TestRunLifetime
{
    [AssemblyCleanup]
    public static void DisposeSharedResources()
    {
        TestBackends.DisposeContext();
        SharedFixtures.DeleteTestRunRoot();
    }
}
