using System.Diagnostics;

namespace Eval.Tests.Cluster;

/// <summary>
/// The repo's Slurm recipe (eval/Cli/recipes/slurm) on a real one-node Slurm started by the test: a job array of three
/// shards of the tiny fixture model over real XCOPA + XNLI rows and the dependent merge, whose folder must equal a
/// single-process run's byte for byte; and a failing shard, which must get the merge cancelled. Inconclusive only where
/// Slurm is not installed (.ci/run installs it, so CI always runs this).
/// </summary>
[TestClass]
public sealed class SlurmRecipeTests
{
    private static string Recipe => Path.Combine(SharedFixtures.ProjectRoot, "eval", "Cli", "recipes", "slurm", "submit.sh");

    /// <summary>submit.sh 3 ROOT EVAL_ARGS…, as a user types it; returns the array job and the merge job.</summary>
    private static (string Array, string Merge) Submit(SlurmCluster cluster, string root)
    {
        Directory.CreateDirectory(root);
        var environment = cluster.Environment();
        foreach (var (name, value) in FixtureRuns.Environment(Path.Combine(root, "data-cache"))) environment[name] = value;
        environment["MLM_EVAL"] = $"dotnet {ProgramProcess.Dll}";
        environment["SHARD_GPUS"] = "0";
        var (code, stdout, stderr) = SlurmCluster.Execute("bash", [Recipe, "3", root, .. FixtureRuns.EvalArguments().Skip(1)], environment, root);
        Assert.AreEqual(0, code, $"submit.sh: {stdout}{stderr}");
        var ids = stdout.Trim().Split(' ');
        Assert.AreEqual(2, ids.Length, stdout);
        return (ids[0], ids[1]);
    }

    [TestMethod]
    public void TheSbatchRecipeShardsAndMergesIntoTheSingleProcessRunAndAFailedShardCancelsTheMerge()
    {
        if (SlurmCluster.Unavailable() is { } reason) Assert.Inconclusive(reason);
        var root = SharedFixtures.TempDirectory();
        var clock = Stopwatch.StartNew();
        using var cluster = SlurmCluster.Start();
        var started = clock.Elapsed;

        var run = Path.Combine(root, "run");
        var (array, merge) = Submit(cluster, run);
        // A second run whose shard 1 cannot write its folder (a file is in the way): the merge must never run.
        var failing = Path.Combine(root, "failing");
        Directory.CreateDirectory(failing);
        File.WriteAllText(Path.Combine(failing, "shard-1"), "in the way");
        var (failingArray, failingMerge) = Submit(cluster, failing);
        cluster.WaitForJobs([array, merge, failingArray, failingMerge], TimeSpan.FromMinutes(4));

        var mergeState = cluster.JobState(merge);
        StringAssert.Contains(mergeState, "JobState=COMPLETED", $"{mergeState}\n{cluster.Logs()}\n{ReadLogs(run)}");
        var single = Path.Combine(root, "single");
        var (code, output) = FixtureRuns.Eval(single);
        Assert.AreEqual(0, code, output);
        FixtureRuns.AssertSameRun(single, Path.Combine(run, "merged"));
        Assert.AreEqual(3, Directory.GetDirectories(run, "shard-*").Length);

        StringAssert.Contains(cluster.JobState($"{failingArray}_1"), "JobState=FAILED");
        var cancelled = cluster.JobState(failingMerge);
        StringAssert.Contains(cancelled, "JobState=CANCELLED", cancelled);
        StringAssert.Contains(cancelled, "DependencyNeverSatisfied", cancelled);
        Assert.IsFalse(Directory.Exists(Path.Combine(failing, "merged")), "the merge of a failed array never ran");
        Console.WriteLine($"Slurm up in {started.TotalSeconds:0.0} s; both submissions done and checked in {(clock.Elapsed - started).TotalSeconds:0.0} s");
    }

    private static string ReadLogs(string root) => Directory.Exists(Path.Combine(root, "logs"))
        ? string.Join("\n", Directory.GetFiles(Path.Combine(root, "logs")).Select(f => $"--- {f}\n{File.ReadAllText(f)}"))
        : "";
}
