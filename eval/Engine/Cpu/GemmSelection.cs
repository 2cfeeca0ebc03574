using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Eval.Engine.Cpu;

/// <summary>The GEMM a CPU backend runs and why it was chosen (shown on the console and in run.json's device).</summary>
public sealed record GemmChoice(IMatrixMultiply Gemm, string Reason);

/// <summary>One timed comparison of a BLAS library against the managed GEMM on <see cref="GemmSelector.ProbeShape"/>.</summary>
public sealed record GemmProbeResult(double BlasMilliseconds, double ManagedMilliseconds)
{
    [JsonIgnore]
    public bool BlasIsFaster => BlasMilliseconds < ManagedMilliseconds;

    public override string ToString() =>
        $"{GemmSelector.ProbeShape.Describe()}: {BlasMilliseconds:0.00} ms vs managed {ManagedMilliseconds:0.00} ms";
}

/// <summary>A GEMM shape: C[m,n] = A[m,k]·B[n,k]ᵀ, as a Linear layer multiplies its input by its weight.</summary>
public sealed record GemmShape(int M, int N, int K)
{
    public string Describe() => $"{M}×{N}×{K} probe";
}

/// <summary>
/// Chooses the CPU GEMM. --gemm Managed and Blas force one; Auto never takes a GEMM slower than the managed one:
/// it walks the BLAS search order and accepts the first library that is known to be optimised (OpenBLAS, MKL, BLIS,
/// Accelerate, told apart by their exports) or that a short timed probe finds faster than the managed GEMM — the
/// reference BLAS is typically 10–20× slower. Probe results are cached per machine, library file and thread count.
/// </summary>
public sealed class GemmSelector(IReadOnlyList<string> libraries, string probeCacheFile)
{
    /// <summary>A token block through a hidden-512 projection: a few ms managed, tens of ms on the reference BLAS.</summary>
    public static readonly GemmShape ProbeShape = new(64, 512, 512);

    /// <summary>The BLAS search order of this process and the probe cache under ~/.cache/mlm-eval.</summary>
    public static GemmSelector ForThisMachine() =>
        new(BlasNativeMethods.SearchOrder(), Path.Combine(UserCache.ProgramFolder(), "gemm-probe.json"));

    public IReadOnlyList<string> Libraries { get; } = libraries;
    public string ProbeCacheFile { get; } = probeCacheFile;

    public GemmChoice Choose(GemmPath path, int threads)
    {
        switch (path)
        {
            case GemmPath.Managed:
                return new GemmChoice(new ManagedGemm(threads), "--gemm Managed");
            case GemmPath.Blas:
                return Libraries.Select(BlasNativeMethods.TryLoad).FirstOrDefault(b => b is not null) is { } forced
                    ? new GemmChoice(new BlasGemm(forced, threads), "--gemm Blas")
                    : throw new InvalidOperationException(
                        $"no BLAS library exporting cblas_sgemm was found (tried {string.Join(", ", Libraries)}); install OpenBLAS " +
                        "(Debian: apt-get install libopenblas0-pthread) or use the managed GEMM");
        }
        var rejected = new List<string>();
        foreach (var name in Libraries)
        {
            if (BlasNativeMethods.TryLoad(name) is not { } blas) continue;
            if (blas.IsKnownOptimised)
                return new GemmChoice(new BlasGemm(blas, threads), $"{blas.Description}, an optimised BLAS");
            var gemm = new BlasGemm(blas, threads);
            var probe = CachedProbe(name, gemm, threads);
            if (probe.BlasIsFaster)
                return new GemmChoice(gemm, $"{blas.Description} faster than managed on the {probe}");
            rejected.Add($"{name} ({blas.Description}) slower on the {probe}");
        }
        return new GemmChoice(new ManagedGemm(threads), rejected.Count == 0
            ? "no BLAS library found"
            : $"no optimised BLAS; rejected {string.Join("; ", rejected)}");
    }

    /// <summary>Times one library against the managed GEMM on <see cref="ProbeShape"/>: best of three runs each, after a warm-up.</summary>
    public static GemmProbeResult Probe(IMatrixMultiply blas, IMatrixMultiply managed)
    {
        var (m, n, k) = (ProbeShape.M, ProbeShape.N, ProbeShape.K);
        var a = new float[m * k];
        var b = new float[n * k];
        var c = new float[m * n];
        for (int i = 0; i < a.Length; i++) a[i] = (i % 7 - 3) * 0.1f;
        for (int i = 0; i < b.Length; i++) b[i] = (i % 5 - 2) * 0.1f;
        double managedMs = BestOf(managed, a, b, c, stopAboveMs: double.PositiveInfinity);
        // A library several times slower than the managed GEMM needs no further runs to be rejected.
        double blasMs = BestOf(blas, a, b, c, stopAboveMs: managedMs * 4);
        return new GemmProbeResult(blasMs, managedMs);
    }

    private static unsafe double BestOf(IMatrixMultiply gemm, float[] a, float[] b, float[] c, double stopAboveMs)
    {
        var (m, n, k) = (ProbeShape.M, ProbeShape.N, ProbeShape.K);
        double best = double.PositiveInfinity;
        fixed (float* pa = a, pb = b, pc = c)
        {
            for (int run = 0; run <= 3; run++)
            {
                long start = Stopwatch.GetTimestamp();
                gemm.Multiply(false, true, m, n, k, 1f, pa, k, pb, k, 0f, pc, n);
                double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                if (run > 0) best = Math.Min(best, ms); // run 0 warms caches and thread pools
                if (ms > stopAboveMs) return Math.Min(best, ms);
            }
        }
        return best;
    }

    private GemmProbeResult CachedProbe(string library, IMatrixMultiply blas, int threads)
    {
        var key = MachineKey(library, threads);
        var cached = ReadCache();
        if (cached.TryGetValue(key, out var known)) return known;
        var measured = Probe(blas, new ManagedGemm(threads));
        cached[key] = measured;
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(ProbeCacheFile))!);
            var temporary = ProbeCacheFile + $".{Environment.ProcessId}.tmp";
            File.WriteAllText(temporary, JsonSerializer.Serialize(cached, new JsonSerializerOptions { WriteIndented = true }));
            File.Move(temporary, ProbeCacheFile, overwrite: true);
        }
        catch (IOException) { } // an unwritable cache only costs the probe again next time
        catch (UnauthorizedAccessException) { }
        return measured;
    }

    private Dictionary<string, GemmProbeResult> ReadCache()
    {
        try
        {
            return File.Exists(ProbeCacheFile)
                ? JsonSerializer.Deserialize<Dictionary<string, GemmProbeResult>>(File.ReadAllText(ProbeCacheFile)) ?? []
                : [];
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>The machine, the library file (its path, size and modification time) and the thread count.</summary>
    private static string MachineKey(string library, int threads)
    {
        var file = Path.IsPathRooted(library) && File.Exists(library) ? new FileInfo(library) : null;
        if (file?.ResolveLinkTarget(returnFinalTarget: true) is FileInfo target) file = target;
        var identity = file is null ? library : $"{file.FullName}|{file.Length}|{file.LastWriteTimeUtc.Ticks}";
        return $"{Environment.MachineName}|{Environment.ProcessorCount} cpus|{threads} threads|{identity}";
    }
}
