using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Eval.Harness.Runs;
using Eval.Tests.Cluster;
using Eval.Tests.Harness;

namespace Eval.Tests.Cli;

/// <summary>
/// `eval --device ilgpu-cpu:0,1`: two child processes on the GPU backend's CPU stand-in, taking the path `cuda:all` takes
/// on a box of GPUs, on the tiny fixture model over real XCOPA rows, against one process on `--device ilgpu-cpu`.
/// </summary>
[TestClass]
public sealed partial class MultiDeviceEvalTests
{
    /// <summary>XCOPA et and sw, 5 templates × 4 documents: 40 units, 4 per batch.</summary>
    private static readonly string[] Selection = ["--task", "xcopa", "--languages", "et,sw", "--limit", "4"];

    private static readonly Lazy<string> SingleProcess = new(() =>
    {
        var dir = Path.Combine(SharedFixtures.TempDirectory(), "single");
        var (code, output) = FixtureRuns.Eval(dir, [.. Selection, "--device", "ilgpu-cpu"]);
        Assert.AreEqual(0, code, output);
        return dir;
    });

    private static string Shard(string run, int index) => Path.Combine(run, "shards", $"{index}-of-2");

    [GeneratedRegex(@"shard (\d)/2 on ilgpu-cpu:\d \(CUDA_VISIBLE_DEVICES=\d\): pid (\d+), log ")]
    private static partial Regex StartedLine();

    /// <param name="ownProcessGroup">Started through setsid: the parent leads a process group of its own, with its children in it, as a terminal's foreground job.</param>
    private static Process StartTwoChildren(string output, bool interruptible = false, bool ownProcessGroup = false)
    {
        var args = FixtureRuns.EvalArguments([.. Selection, "--device", "ilgpu-cpu:0,1"]).ToList();
        // FixtureRuns' selection replaced by this test's.
        foreach (var option in new[] { "--task", "--languages", "--limit" })
        {
            int at = args.IndexOf(option);
            args.RemoveRange(at, 2);
        }
        args.AddRange(["--output", output]);
        var environment = FixtureRuns.Environment(Path.Combine(output, "data-cache"));
        if (!ownProcessGroup) return ProgramProcess.Start(args, environment, interruptible: interruptible);
        var info = new ProcessStartInfo("setsid") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "env", "--default-signal=INT,TERM", "dotnet", ProgramProcess.Dll }.Concat(args)) info.ArgumentList.Add(a);
        info.Environment["GITHUB_STEP_SUMMARY"] = "";
        foreach (var (key, value) in environment) info.Environment[key] = value;
        return Process.Start(info)!;
    }

    /// <summary>Reads stdout up to both children's start lines: their pids by shard.</summary>
    private static int[] ChildPids(Process parent, System.Text.StringBuilder seen)
    {
        var pids = new int[2];
        int found = 0;
        for (string? line; found < 2 && (line = parent.StandardOutput.ReadLine()) is not null;)
        {
            seen.AppendLine(line);
            if (StartedLine().Match(line) is { Success: true } m)
            {
                pids[int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)] = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
                found++;
            }
        }
        Assert.AreEqual(2, found, $"both children start: {seen}{parent.StandardError.ReadToEnd()}");
        return pids;
    }

    /// <summary>
    /// An output folder holding another model's run is refused by the parent, as one process refuses it before its model
    /// loads: no child starts and no shard folder is made (before, the children ran and the merge refused).
    /// </summary>
    [TestMethod]
    public void AnotherModelsRunIsRefusedBeforeAnyChildStarts()
    {
        var dir = Path.Combine(SharedFixtures.TempDirectory(), "held");
        var (code, output) = FixtureRuns.Eval(dir, [.. Selection, "--device", "cpu"]);
        Assert.AreEqual(0, code, output);
        Assert.IsNull(RunManifest.Read(Path.Combine(dir, "run.json")).Timings!.DeviceWork, "the CPU backend records no device work");
        // The same weights with another config.json: another model (another fingerprint).
        var other = SharedFixtures.TempDirectory();
        var fixture = SharedFixtures.Model("modernbert-tiny");
        File.Copy(Path.Combine(fixture, "model.safetensors"), Path.Combine(other, "model.safetensors"));
        var config = File.ReadAllText(Path.Combine(fixture, "config.json"));
        File.WriteAllText(Path.Combine(other, "config.json"), config.Insert(config.IndexOf('{') + 1, "\"note\": \"a copy\", "));

        (code, output) = FixtureRuns.Eval(dir, [.. Selection, "--model", other, "--device", "ilgpu-cpu:0,1"]);
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, $"error: {dir} holds a run of {fixture} (model fingerprint ");
        StringAssert.Contains(output, "pass --force");
        Assert.IsFalse(StartedLine().IsMatch(output), $"no child started: {output}");
        Assert.IsFalse(Directory.Exists(Path.Combine(dir, "shards")), "no shard folder was made");
    }

    [TestMethod]
    public void TwoChildrenGiveTheFilesOfOneProcessByteForByteAndARerunKeepsBothShards()
    {
        var multi = Path.Combine(SharedFixtures.TempDirectory(), "multi");
        var (code, output) = ProgramProcess.Wait(StartTwoChildren(multi), TimeSpan.FromMinutes(4));
        Assert.AreEqual(0, code, output);
        FixtureRuns.AssertSameRun(SingleProcess.Value, multi);
        StringAssert.Contains(output, "40 examples (40 scored, 0 from the cache) on 2 device(s) (ilgpu-cpu:0,1)");
        StringAssert.Contains(output, "2 shards on ilgpu-cpu:0,1: 2 done (40/40)", "one combined progress line for both children");
        // What the GPU backend did while scoring: recorded by each process, summed by the merge.
        var single = RunManifest.Read(Path.Combine(SingleProcess.Value, "run.json")).Timings!.DeviceWork!;
        Assert.IsTrue(single.Kernels > 0 && single.DeviceAllocations > 0 && single.TakenAhead > 0, $"one process: {single}");
        var shards = Enumerable.Range(0, 2).Select(k => RunManifest.Read(Path.Combine(Shard(multi, k), "run.json")).Timings!.DeviceWork!).ToList();
        Assert.AreEqual(shards[0].Add(shards[1]), RunManifest.Read(Path.Combine(multi, "run.json")).Timings!.DeviceWork, "the merge sums the shards'");
        for (int k = 0; k < 2; k++)
        {
            var run = RunManifest.Read(Path.Combine(Shard(multi, k), "run.json"));
            Assert.AreEqual(k, run.Shard!.Index);
            Assert.AreEqual("ilgpu-cpu", run.Options.CommandLine![run.Options.CommandLine.ToList().IndexOf("--device") + 1]);
            StringAssert.Contains(File.ReadAllText(Shard(multi, k) + ".log"), $"CUDA_VISIBLE_DEVICES={k} ");
        }
        var merged = RunManifest.Read(Path.Combine(multi, "run.json"));
        CollectionAssert.Contains(merged.Options.CommandLine!.ToList(), "ilgpu-cpu:0,1", "run.json records the command the user typed");
        CollectionAssert.AreEqual(new[] { Shard(multi, 0), Shard(multi, 1) }, merged.MergedFrom!.ToList());

        // The same command again starts no child: both shards finished with this very command, and the merge is redone.
        (code, output) = ProgramProcess.Wait(StartTwoChildren(multi), TimeSpan.FromMinutes(2));
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "shard 0/2 (ilgpu-cpu:0) finished earlier with this command: kept");
        StringAssert.Contains(output, "shard 1/2 (ilgpu-cpu:1) finished earlier with this command: kept");
        Assert.IsFalse(StartedLine().IsMatch(output), output);
        StringAssert.Contains(output, "40 examples (0 scored, 40 from the cache)");
        FixtureRuns.AssertSameRun(SingleProcess.Value, multi);
    }

    [TestMethod]
    public void AChildThatDiesIsNamedTheOtherShardIsKeptAndTheSameCommandRedoesOnlyTheDeadOne()
    {
        var multi = Path.Combine(SharedFixtures.TempDirectory(), "multi");
        var parent = StartTwoChildren(multi);
        var seen = new System.Text.StringBuilder();
        var pids = ChildPids(parent, seen);
        using (var kill = Process.Start("kill", ["-KILL", pids[1].ToString(CultureInfo.InvariantCulture)])) kill.WaitForExit();
        var (code, rest) = ProgramProcess.Wait(parent, TimeSpan.FromMinutes(4));
        var output = seen + rest;
        Assert.AreEqual(1, code, output);
        var errors = output.Split('\n').Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToList();
        Assert.AreEqual(1, errors.Count, output);
        StringAssert.StartsWith(errors[0], "error: shard 1/2 (ilgpu-cpu:1, CUDA_VISIBLE_DEVICES=1) failed (exit code 137, killed by signal 9)");
        StringAssert.Contains(errors[0], $"its log: {Shard(multi, 1)}.log");
        StringAssert.Contains(errors[0], $"1 of 2 shard(s) finished and are kept in {Path.Combine(multi, "shards")}");
        Assert.IsTrue(File.Exists(Path.Combine(Shard(multi, 0), "run.json")), "the living child finished its shard");
        Assert.IsFalse(File.Exists(Path.Combine(multi, "results.json")), "nothing is merged without every shard");

        var (again, againOutput) = ProgramProcess.Wait(StartTwoChildren(multi), TimeSpan.FromMinutes(4));
        Assert.AreEqual(0, again, againOutput);
        StringAssert.Contains(againOutput, "shard 0/2 (ilgpu-cpu:0) finished earlier with this command: kept");
        StringAssert.Contains(againOutput, "shard 1/2 on ilgpu-cpu:1");
        Assert.IsFalse(againOutput.Contains("shard 0/2 on ilgpu-cpu:0"), againOutput);
        FixtureRuns.AssertSameRun(SingleProcess.Value, multi);
    }

    /// <summary>
    /// SIGTERM to the parent (Slurm's time limit, scancel) while shard 1 waits to store its first batch: the parent passes
    /// it on, every child stops after its batch in hand, the parent exits 143 with the resume line, and no child is left.
    /// </summary>
    [TestMethod]
    public void SigtermStopsEveryChildAndTheSameCommandResumes() =>
        StopsEveryChildAndTheSameCommandResumes("TERM", wholeGroup: false, 143, "SIGTERM", "terminated (SIGTERM) — resume with the same command");

    /// <summary>
    /// A terminal's Ctrl-C reaches the whole process group — the parent and every child at once. A child counts only
    /// the stop its parent passes on, so it still stops after its batch in hand instead of taking the second signal as
    /// "stop now".
    /// </summary>
    [TestMethod]
    public void CtrlCToTheWholeProcessGroupIsCountedOnceByEachChild() =>
        StopsEveryChildAndTheSameCommandResumes("INT", wholeGroup: true, 130, "Ctrl-C", "interrupted — resume with the same command");

    private static void StopsEveryChildAndTheSameCommandResumes(string signal, bool wholeGroup, int exitCode, string name, string resumeLine)
    {
        var multi = Path.Combine(SharedFixtures.TempDirectory(), "multi");
        Directory.CreateDirectory(Shard(multi, 1));
        var stderr = new System.Text.StringBuilder();
        var waiting = new ManualResetEventSlim();
        var acknowledged = new ManualResetEventSlim();
        Process parent;
        int[] pids;
        using (EndToEndTests.HoldScoreCacheWriteLock(Path.Combine(Shard(multi, 1), "scores.sqlite")))
        {
            parent = StartTwoChildren(multi, interruptible: true, ownProcessGroup: wholeGroup);
            parent.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                lock (stderr) stderr.AppendLine(e.Data);
                if (e.Data.Contains("shard 1/2: warning:") && e.Data.Contains("is locked by another process; waiting")) waiting.Set();
                if (e.Data.Contains($"{name}: every shard stops after its current batch")) acknowledged.Set();
            };
            parent.BeginErrorReadLine();
            pids = ChildPids(parent, new System.Text.StringBuilder());
            Assert.IsTrue(waiting.Wait(TimeSpan.FromMinutes(3)), $"shard 1 did not wait for its score cache: {stderr}");
            var target = (wholeGroup ? "-" : "") + parent.Id.ToString(CultureInfo.InvariantCulture);
            using (var kill = Process.Start("kill", [$"-{signal}", "--", target])) kill.WaitForExit();
            Assert.IsTrue(acknowledged.Wait(TimeSpan.FromSeconds(60)), $"the parent did not pass SIG{signal} on: {stderr}");
        } // shard 1 stores its batch in hand, then stops
        var rest = parent.StandardOutput.ReadToEnd();
        Assert.IsTrue(parent.WaitForExit(TimeSpan.FromMinutes(2)), "the parent did not end");
        parent.WaitForExit();
        string errors;
        lock (stderr) errors = stderr.ToString();
        Assert.AreEqual(exitCode, parent.ExitCode, rest + errors);
        StringAssert.Contains(errors, resumeLine);
        StringAssert.Contains(errors, $"shard 1/2: {name}: interrupting after the current batch");
        Assert.IsFalse(errors.Contains("a second signal"), errors);
        foreach (var pid in pids) Assert.IsFalse(IsRunning(pid), $"child {pid} outlived its parent");
        Assert.IsFalse(File.Exists(Path.Combine(Shard(multi, 1), "run.json")), "shard 1 stopped before its end");
        Assert.IsFalse(File.Exists(Path.Combine(multi, "results.json")));
        long kept;
        using (var cache = new ScoreCache(Path.Combine(Shard(multi, 1), "scores.sqlite"))) kept = cache.Count();
        // The batches in hand — one being stored, two waiting on the store thread, one being handed over — are stored whole
        // (or, past the grace, dropped whole).
        Assert.IsTrue(kept % 4 == 0 && kept <= 16, $"{kept} scores kept: the batches in hand are stored whole (or, past the grace, dropped whole)");

        var (code, output) = ProgramProcess.Wait(StartTwoChildren(multi), TimeSpan.FromMinutes(4));
        Assert.AreEqual(0, code, output);
        FixtureRuns.AssertSameRun(SingleProcess.Value, multi);
    }

    [TestMethod]
    public void CudaAllWithoutCudaAndOptionsThatClashWithADeviceListAreOneLineErrors()
    {
        (string[] Extra, string Expected)[] cases =
        [
            (["--device", "cuda:all"], "error: --device cuda:all: "),
            (["--device", "ilgpu-cpu:0,1", "--shard", "0/2"], "error: --device ilgpu-cpu:0,1 shards the run over its devices itself"),
            (["--device", "ilgpu-cpu:0,1", "--cache", "x.sqlite"], "error: --device ilgpu-cpu:0,1: each device's shard keeps its scores in its own folder"),
            (["--device", "cuda:0,0"], "error: --device cuda:0,0: device 0 is listed twice"),
        ];
        foreach (var (extra, expected) in cases)
        {
            var dir = SharedFixtures.TempDirectory();
            var (code, output) = FixtureRuns.Eval(dir, new Dictionary<string, string> { ["CUDA_VISIBLE_DEVICES"] = "" }, extra);
            Assert.AreEqual(1, code, output);
            var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.AreEqual(1, lines.Length, output);
            StringAssert.StartsWith(lines[0], expected);
            Assert.IsFalse(Directory.Exists(Path.Combine(dir, "shards")), "nothing is started");
        }
    }

    /// <summary>
    /// A failure every child meets (here --max-length beyond the model's positions, known only once the model is loaded) is
    /// said once, with the children's logs; one the parent can see before any child starts (a model folder without a
    /// tokenizer) is said by the parent alone, and nothing is started.
    /// </summary>
    [TestMethod]
    public void AFailureEveryChildSharesIsSaidOnce()
    {
        var dir = SharedFixtures.TempDirectory();
        string[] Arguments(string model, string run, params string[] extra) => ["eval", "--model", model, "--tokenizer",
            Path.Combine(SharedFixtures.Shared, "tokenizers", "modernbert"), "--task", "xcopa", "--languages", "et", "--limit", "2",
            "--data-dir", Path.Combine(SharedFixtures.Shared, "datasets"), "--offline", "--device", "ilgpu-cpu:0,1", "--output", Path.Combine(dir, run), .. extra];
        var (code, output) = ProgramProcess.Wait(ProgramProcess.Start(Arguments(SharedFixtures.Model("modernbert-tiny"), "run", "--max-length", "99999"),
            FixtureRuns.Environment(Path.Combine(dir, "data-cache"))), TimeSpan.FromMinutes(2));
        Assert.AreEqual(1, code, output);
        var errors = output.Split('\n').Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToList();
        Assert.AreEqual(1, errors.Count, output);
        StringAssert.StartsWith(errors[0], "error: every shard failed (exit code 1: --max-length 99999 must be between 2 and the model's");
        StringAssert.EndsWith(errors[0].TrimEnd(), $"their logs: {Path.Combine(dir, "run", "shards", "*.log")}");

        var model = Path.Combine(dir, "model-without-tokenizer");
        Directory.CreateDirectory(model);
        foreach (var f in Directory.GetFiles(SharedFixtures.Model("modernbert-tiny"))) File.Copy(f, Path.Combine(model, Path.GetFileName(f)));
        var arguments = Arguments(model, "run-2").ToList();
        arguments.RemoveRange(arguments.IndexOf("--tokenizer"), 2);
        (code, output) = ProgramProcess.Wait(ProgramProcess.Start(arguments, FixtureRuns.Environment(Path.Combine(dir, "data-cache"))), TimeSpan.FromMinutes(2));
        Assert.AreEqual(1, code, output);
        errors = output.Split('\n').Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToList();
        Assert.AreEqual(1, errors.Count, output);
        StringAssert.StartsWith(errors[0], $"error: {Path.Combine(model, "tokenizer.json")}");
        Assert.IsFalse(StartedLine().IsMatch(output), $"no child started: {output}");
        Assert.IsFalse(Directory.Exists(Path.Combine(dir, "run-2", "shards")), "nothing is started");
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
