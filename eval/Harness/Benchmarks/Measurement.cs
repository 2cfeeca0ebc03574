using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Eval.Harness.Benchmarks;

/// <summary>Wall-clock timings of repeated runs after a warm-up, summarised by median and range.</summary>
public sealed record Timing(IReadOnlyList<double> Milliseconds)
{
    public double Median => Measurement.Median(Milliseconds);
    public double Min => Milliseconds.Min();
    public double Max => Milliseconds.Max();
}

public static class Measurement
{
    /// <summary>Runs once to warm up (not counted), then reps times.</summary>
    public static Timing Time(Action run, int reps)
    {
        if (reps < 1) throw new ArgumentException($"at least 1 repetition is needed, got {reps}");
        run();
        var times = new double[reps];
        for (int r = 0; r < reps; r++)
        {
            var clock = Stopwatch.StartNew();
            run();
            times[r] = clock.Elapsed.TotalMilliseconds;
        }
        return new Timing(times);
    }

    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>The process's peak resident set size in bytes (Linux VmHWM; elsewhere the current working set).</summary>
    public static long PeakResidentBytes() => ReadStatus("VmHWM:");

    /// <summary>Resets the peak resident set size (Linux), so the next <see cref="PeakResidentBytes"/> covers what follows.</summary>
    public static void ResetPeakResident()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        try { File.WriteAllText("/proc/self/clear_refs", "5"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static long ReadStatus(string key)
    {
        if (!File.Exists("/proc/self/status")) return Environment.WorkingSet;
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(key, StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line[key.Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>CPU model, logical cores, OS and runtime.</summary>
    public static string Machine()
    {
        string cpu = "unknown CPU";
        if (File.Exists("/proc/cpuinfo"))
            cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim() ?? cpu;
        return $"{cpu}, {Environment.ProcessorCount} logical cores, {RuntimeInformation.OSDescription}, .NET {Environment.Version}";
    }
}
