using System.Text.Json.Nodes;

namespace Eval.Tests.Cluster;

/// <summary>`eval --shard K/N` and `merge` end to end on the tiny fixture model and real XCOPA + XNLI rows.</summary>
[TestClass]
public sealed class ShardMergeTests
{
    private static JsonNode RunJson(string folder) => JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "run.json")))!;

    private static string[] Shards(string root, int count, params string[] extra) => Enumerable.Range(0, count).Select(k =>
    {
        var dir = Path.Combine(root, $"shard{k}");
        var (code, output) = FixtureRuns.Eval(dir, ["--shard", $"{k}/{count}", .. extra]);
        Assert.AreEqual(0, code, output);
        return dir;
    }).ToArray();

    [TestMethod]
    public void MergedShardsEqualASingleProcessRunByteForByte()
    {
        var root = SharedFixtures.TempDirectory();
        var single = Path.Combine(root, "single");
        var (code, output) = FixtureRuns.Eval(single);
        Assert.AreEqual(0, code, output);
        var shards = Shards(root, 3);

        // Each shard holds its part: consecutive units of the plan, all of them once, nearly equal in tokens.
        var parts = shards.Select(s => RunJson(s)["shard"]!).ToList();
        long planUnits = RunJson(single)["plan"]!["units"]!.GetValue<long>(), planTokens = parts[0]["plan_tokens"]!.GetValue<long>();
        Assert.AreEqual(5 * 2 * 5 + 5 * 2 * 5, planUnits, "XCOPA et, sw and XNLI sw, en: 5 templates × 5 documents each");
        Assert.AreEqual(planUnits, parts.Sum(p => p["units"]!.GetValue<long>()));
        Assert.AreEqual(planTokens, parts.Sum(p => p["tokens"]!.GetValue<long>()));
        foreach (var p in parts) Assert.IsTrue(Math.Abs(p["tokens"]!.GetValue<long>() - planTokens / 3.0) < planTokens / 10.0, p.ToJsonString());
        Assert.AreEqual(RunJson(single)["plan"]!["fingerprint"]!.GetValue<string>(), RunJson(shards[2])["plan"]!["fingerprint"]!.GetValue<string>());
        int shardSamples = shards.Sum(s => Directory.GetFiles(s, "samples_*.jsonl").Sum(f => File.ReadLines(f).Count()));
        Assert.AreEqual(planUnits, shardSamples, "each shard's samples are its part");

        var merged = Path.Combine(root, "merged");
        var (mergeCode, mergeOutput) = FixtureRuns.Merge(merged, shards[2], shards[0], shards[1]);
        Assert.AreEqual(0, mergeCode, mergeOutput);
        FixtureRuns.AssertSameRun(single, merged);
        Assert.AreEqual(3, RunJson(merged)["merged_from"]!.AsArray().Count);
        using (var cache = new Eval.Harness.Runs.ScoreCache(Path.Combine(merged, "scores.sqlite")))
            Assert.AreEqual(planUnits, cache.Count(), "the merged score cache holds every unit");

        // report, compare and scaling read the merged folder as any run.
        var (compareCode, compareOutput) = ProgramProcess.Wait(ProgramProcess.Start(["compare", "--baseline", single, "--current", merged, "--max-drop", "0",
            "--fail-on-changed-predictions", "--output", Path.Combine(root, "compare.md")]), TimeSpan.FromMinutes(2));
        Assert.AreEqual(0, compareCode, compareOutput);
        var (reportCode, reportOutput) = ProgramProcess.Wait(ProgramProcess.Start(["report", single, merged, "--output", Path.Combine(root, "report")]), TimeSpan.FromMinutes(2));
        Assert.AreEqual(0, reportCode, reportOutput);
        Assert.IsTrue(File.Exists(Path.Combine(root, "report", "report.md")));

        // A merged run resumes like any run: the same command over its folder scores nothing.
        var (again, againOutput) = FixtureRuns.Eval(merged);
        Assert.AreEqual(0, again, againOutput);
        StringAssert.Contains(againOutput, $"(0 scored, {planUnits} from the cache)");
        FixtureRuns.AssertSameRun(single, merged);
    }

    [TestMethod]
    public void OneShardOfOneIsThePlainRunAndShardsDoNotDependOnTheBatchSize()
    {
        var root = SharedFixtures.TempDirectory();
        var single = Path.Combine(root, "single");
        Assert.AreEqual(0, FixtureRuns.Eval(single).ExitCode);
        var whole = Path.Combine(root, "whole");
        var (code, output) = FixtureRuns.Eval(whole, "--shard", "0/1");
        Assert.AreEqual(0, code, output);
        foreach (var f in FixtureRuns.ComparedFiles(single))
            Assert.AreEqual(FixtureRuns.Comparable(single, f), FixtureRuns.Comparable(whole, f), f);

        // The same shard with another batch size, or a token budget, gets the same units; a rerun resumes from its cache.
        var parts = new[] { new[] { "--batch-size", "1" }, ["--batch-size", "8"], ["--max-batch-tokens", "300"] }.Select((extra, i) =>
        {
            var dir = Path.Combine(root, $"b{i}");
            var (c, o) = FixtureRuns.Eval(dir, ["--shard", "1/3", .. extra]);
            Assert.AreEqual(0, c, o);
            return RunJson(dir)["shard"]!.ToJsonString();
        }).Distinct().ToList();
        Assert.AreEqual(1, parts.Count, string.Join("\n", parts));
        var (resumed, resumedOutput) = FixtureRuns.Eval(Path.Combine(root, "b0"), "--shard", "1/3", "--batch-size", "1");
        Assert.AreEqual(0, resumed, resumedOutput);
        StringAssert.Contains(resumedOutput, "(0 scored,");
    }

    [TestMethod]
    public void MergeRefusesShardsOfDifferentRunsAndNamesTheDifference()
    {
        var root = SharedFixtures.TempDirectory();
        var shards = Shards(root, 2);
        (string[] Options, string[] Named)[] variants =
        [
            (["--limit", "4"], ["limit: 5 vs 4"]),
            (["--max-length", "256"], ["max length:"]),
            (["--scoring", "eval-py"], ["scoring: restricted vs eval-py"]),
            (["--languages", "et,en"], ["languages:"]),
            (["--templates", "best_option", "--templates", "GPT-3 style"], ["templates:"]),
        ];
        foreach (var (options, named) in variants)
        {
            var other = Path.Combine(root, "other-" + string.Join("", options).Replace("-", "").Replace(",", "").Replace(" ", ""));
            var (code, output) = FixtureRuns.Eval(other, ["--shard", "1/2", .. options]);
            Assert.AreEqual(0, code, output);
            var (mergeCode, mergeOutput) = FixtureRuns.Merge(Path.Combine(root, "merged"), shards[0], other);
            Assert.AreEqual(1, mergeCode, mergeOutput);
            StringAssert.Contains(mergeOutput, "is not a shard of the same run");
            foreach (var n in named) StringAssert.Contains(mergeOutput, n, string.Join(" ", options));
        }
        Assert.IsFalse(File.Exists(Path.Combine(root, "merged", "results.json")), "nothing is written for a refused merge");
    }

    [TestMethod]
    public void MergeNamesMissingAndDuplicatedUnits()
    {
        var root = SharedFixtures.TempDirectory();
        var shards = Shards(root, 3);
        var first = RunJson(shards[1])["shard"]!;

        var (code, output) = FixtureRuns.Merge(Path.Combine(root, "m1"), shards[0], shards[2]);
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, "shard(s) 1/3 missing");
        StringAssert.Contains(output, $"units {first["first_unit"]}–{first["end_unit"]!.GetValue<long>() - 1} are in no shard given");
        StringAssert.Matches(output, new System.Text.RegularExpressions.Regex(@"(xcopa|xnli) · \w+ · \w+ · [^:]+ documents \d"));

        var copy = Path.Combine(root, "copy-of-1");
        Directory.CreateDirectory(copy);
        foreach (var f in Directory.GetFiles(shards[1])) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        (code, output) = FixtureRuns.Merge(Path.Combine(root, "m2"), shards[0], shards[1], copy, shards[2]);
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, "shard 1/3 is given 2 times");
        StringAssert.Contains(output, "documents");

        // A shard that has not finished (killed before it wrote run.json) is named as such.
        File.Delete(Path.Combine(copy, "run.json"));
        (code, output) = FixtureRuns.Merge(Path.Combine(root, "m3"), shards[0], copy, shards[2]);
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, "the shard has not finished");

        // A score cache that lacks a unit its run.json claims is refused too.
        var emptied = Path.Combine(root, "emptied");
        Directory.CreateDirectory(emptied);
        File.Copy(Path.Combine(shards[1], "run.json"), Path.Combine(emptied, "run.json"));
        new Eval.Harness.Runs.ScoreCache(Path.Combine(emptied, "scores.sqlite")).Dispose();
        (code, output) = FixtureRuns.Merge(Path.Combine(root, "m4"), shards[0], emptied, shards[2]);
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, "its score cache lacks");
    }

    [TestMethod]
    public void ShardAutoTakesTheShardFromSlurmOrKubernetes()
    {
        var root = SharedFixtures.TempDirectory();
        var explicitShard = Path.Combine(root, "explicit");
        Assert.AreEqual(0, FixtureRuns.Eval(explicitShard, "--shard", "1/3").ExitCode);
        var expected = RunJson(explicitShard)["shard"]!.ToJsonString();
        var slurm = Path.Combine(root, "slurm");
        var (code, output) = FixtureRuns.Eval(slurm, new Dictionary<string, string>
        {
            ["SLURM_ARRAY_TASK_ID"] = "5", ["SLURM_ARRAY_TASK_MIN"] = "4", ["SLURM_ARRAY_TASK_COUNT"] = "3",
        }, "--shard", "auto");
        Assert.AreEqual(0, code, output);
        Assert.AreEqual(expected, RunJson(slurm)["shard"]!.ToJsonString());
        var kubernetes = Path.Combine(root, "kubernetes");
        (code, output) = FixtureRuns.Eval(kubernetes, new Dictionary<string, string> { ["JOB_COMPLETION_INDEX"] = "1" }, "--shard", "auto", "--shard-count", "3");
        Assert.AreEqual(0, code, output);
        Assert.AreEqual(expected, RunJson(kubernetes)["shard"]!.ToJsonString());
        (code, output) = FixtureRuns.Eval(Path.Combine(root, "no-count"), new Dictionary<string, string> { ["JOB_COMPLETION_INDEX"] = "1" }, "--shard", "auto");
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, "--shard-count");
    }

    [TestMethod]
    public void MoreShardsThanUnitsLeaveSomeEmptyAndStillMerge()
    {
        var root = SharedFixtures.TempDirectory();
        string[] small = ["--task", "xcopa", "--languages", "et", "--limit", "2", "--templates", "best_option"];
        var single = Path.Combine(root, "single");
        Assert.AreEqual(0, FixtureRuns.Eval(single, small).ExitCode);
        var shards = Shards(root, 4, small);
        Assert.AreEqual(2, shards.Count(s => RunJson(s)["shard"]!["units"]!.GetValue<long>() == 0), "two units in four shards");
        var merged = Path.Combine(root, "merged");
        var (code, output) = FixtureRuns.Merge(merged, shards);
        Assert.AreEqual(0, code, output);
        FixtureRuns.AssertSameRun(single, merged);
    }
}
