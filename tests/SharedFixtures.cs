namespace Eval.Tests;

/// <summary>Locates ../shared (beside the project root) and the fixture models in it.</summary>
public static class SharedFixtures
{
    public static string ProjectRoot { get; } = FindProjectRoot();

    public static string Shared { get; } = Path.GetFullPath(Path.Combine(ProjectRoot, "..", "shared"));

    public static string Model(string name)
    {
        var dir = Path.Combine(Shared, "fixtures", "models", name);
        if (!Directory.Exists(dir))
            Assert.Fail($"fixture model folder {dir} is missing; the tests need ../shared beside the project root");
        return dir;
    }

    /// <summary>A fixture model's golden input: the input_ids and attention_mask of its golden.safetensors as one batch.</summary>
    public static Eval.Models.TokenBatch GoldenBatch(string fixture)
    {
        using var golden = new Eval.Engine.IO.SafetensorsFile(Path.Combine(Model(fixture), "golden.safetensors"));
        var shape = golden.Get("input_ids").Shape;
        return new Eval.Models.TokenBatch(golden.ReadAsInt32("input_ids"), golden.ReadAsInt32("attention_mask"), (int)shape[0], (int)shape[1]);
    }

    /// <summary>A folder of ../shared/fixtures/checkpoints (PyTorch pickles and fairseq checkpoints).</summary>
    public static string Checkpoint(string name)
    {
        var dir = Path.Combine(Shared, "fixtures", "checkpoints", name);
        if (!Directory.Exists(dir))
            Assert.Fail($"fixture checkpoint folder {dir} is missing; the tests need ../shared beside the project root");
        return dir;
    }

    /// <summary>This test run's own folder under the temp folder: every <see cref="TempDirectory"/> is inside it, and it
    /// is deleted when the run ends (<see cref="Engine.TestRunLifetime"/>), so runs neither leave files nor touch another run's.</summary>
    public static string TestRunRoot { get; } = Path.Combine(Path.GetTempPath(), "eval-tests", $"run-{Environment.ProcessId}-{Guid.NewGuid():N}");

    public static string TempDirectory()
    {
        var dir = Path.Combine(TestRunRoot, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Deletes <see cref="TestRunRoot"/>; what cannot be deleted (a file still open) is left to the system's temp cleaning.</summary>
    public static void DeleteTestRunRoot()
    {
        try
        {
            if (Directory.Exists(TestRunRoot)) Directory.Delete(TestRunRoot, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"could not delete the test run's temp folder {TestRunRoot}: {e.Message}");
        }
    }

    private static string FindProjectRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Eval.sln")))
                return dir.FullName;
        throw new InvalidOperationException($"no Eval.sln above {AppContext.BaseDirectory}");
    }
}
