namespace Eval.Bench;

/// <summary>The project root (the machine, medians and the memory high-water mark: Eval.Harness.Benchmarks.Measurement).</summary>
public static class BenchEnvironment
{
    public static string ProjectRoot { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Eval.sln"))) return dir.FullName;
        return Directory.GetCurrentDirectory();
    }
}
