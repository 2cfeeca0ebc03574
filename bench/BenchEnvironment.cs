namespace Eval.Bench;

/// <summary>The project root and the process's memory high-water mark (the machine and medians: Eval.Harness.Benchmarks.Measurement).</summary>
public static class BenchEnvironment
{
    public static string ProjectRoot { get; } = FindRoot();

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
}
