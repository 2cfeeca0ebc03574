using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Eval.Engine.Cpu;

namespace Eval.Bench;

/// <summary>Managed SGEMM beside OpenBLAS on the Linear shapes of a 1024-wide encoder at 8×256 tokens, 2 threads.</summary>
public static class GemmComparison
{
    public static int Run(string[] args)
    {
        BenchmarkSwitcher.FromTypes([typeof(GemmBenchmarks)]).Run(args.Length == 0 ? ["--filter", "*"] : args);
        return 0;
    }
}

[MemoryDiagnoser(false)]
[WarmupCount(2)]
[IterationCount(7)]
public unsafe class GemmBenchmarks
{
    private float* a, b, c;
    private IMatrixMultiply managed = null!, blas = null!;

    /// <summary>tokens × out × in: attention projection (1024→3072) and MLP down (4096→1024).</summary>
    [Params("2048x3072x1024", "2048x1024x4096")]
    public string Shape { get; set; } = "";

    [Params(2)]
    public int Threads { get; set; }

    private (int M, int N, int K) Dims => Shape.Split('x').Select(int.Parse).ToArray() is [var m, var n, var k] ? (m, n, k) : default;

    [GlobalSetup]
    public void Setup()
    {
        var (m, n, k) = Dims;
        a = Allocate(m * k);
        b = Allocate(n * k);
        c = Allocate(m * n);
        managed = new ManagedGemm(Threads);
        blas = new CpuBackend(Threads, GemmPath.Blas).Gemm;
    }

    [Benchmark(Baseline = true)]
    public void OpenBlas() => Multiply(blas);

    [Benchmark]
    public void Managed() => Multiply(managed);

    private void Multiply(IMatrixMultiply gemm)
    {
        var (m, n, k) = Dims;
        gemm.Multiply(false, true, m, n, k, 1f, a, k, b, k, 0f, c, n);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        NativeMemory.AlignedFree(a);
        NativeMemory.AlignedFree(b);
        NativeMemory.AlignedFree(c);
    }

    private static float* Allocate(int count)
    {
        var p = (float*)NativeMemory.AlignedAlloc((nuint)count * sizeof(float), 64);
        var rng = new Random(count);
        for (int i = 0; i < count; i++) p[i] = (float)rng.NextDouble() - 0.5f;
        return p;
    }
}
