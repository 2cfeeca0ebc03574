using System.Runtime.InteropServices;

namespace Eval.Bench;

/// <summary>What a measurement was taken on, and the process's memory high-water mark.</summary>
public static class BenchEnvironment
{
    public static string ProjectRoot { get; } = FindRoot();

    public static string Machine()
    {
        string cpu = "unknown CPU";
        if (File.Exists("/proc/cpuinfo"))
            cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim() ?? cpu;
        return $"{cpu}, {Environment.ProcessorCount} logical cores, {RuntimeInformation.OSDescription}, .NET {Environment.Version}";
    }

    /// <summary>Resets the peak resident set size (Linux), so the next <see cref="PeakResidentBytes"/> covers what follows.</summary>
    public static void ResetPeakResident()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        try { File.WriteAllText("/proc/self/clear_refs", "5"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    public static long PeakResidentBytes() => ReadStatus("VmHWM:");

    private static long ReadStatus(string key)
    {
        if (!File.Exists("/proc/self/status")) return Environment.WorkingSet;
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(key));
        return line is null ? 0 : long.Parse(line[key.Length..].Trim().Split(' ')[0]) * 1024;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Eval.sln"))) return dir.FullName;
        return Directory.GetCurrentDirectory();
    }

    public static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
