using System.Text.Json.Nodes;

namespace Eval.Tests.Cluster;

/// <summary>`mlm-eval eval` and `merge` on the modernbert-tiny fixture over real XCOPA and XNLI rows, in child processes, as users run them.</summary>
public static class FixtureRuns
{
    /// <summary>The eval arguments of the sharding tests (without --output), shared by the Slurm recipe test.</summary>
    public static string[] EvalArguments(params string[] extra) =>
    [
        "eval", "--model", SharedFixtures.Model("modernbert-tiny"), "--tokenizer", Path.Combine(SharedFixtures.Shared, "tokenizers", "modernbert"),
        "--data-dir", Path.Combine(SharedFixtures.Shared, "datasets"), "--offline", "--threads", "1",
        "--task", "xcopa,xnli", "--languages", "et,sw,en", "--limit", "5", "--batch-size", "4", .. extra,
    ];

    public static Dictionary<string, string> Environment(string dataCache) => new()
    {
        ["EVAL_PROMPTS"] = Path.Combine(SharedFixtures.ProjectRoot, "prompts"),
        ["EVAL_DATA_CACHE"] = dataCache,
        ["HF_HUB_OFFLINE"] = "1",
    };

    /// <summary>Runs eval into output with the standard arguments, a standard option's value replaced where extra names it again.</summary>
    public static (int ExitCode, string Output) Eval(string output, params string[] extra) => Eval(output, new Dictionary<string, string>(), extra);

    /// <summary>Eval with more environment variables (a scheduler's).</summary>
    public static (int ExitCode, string Output) Eval(string output, IReadOnlyDictionary<string, string> scheduler, params string[] extra)
    {
        var args = EvalArguments().ToList();
        int standard = args.Count;
        for (int i = 0; i < extra.Length; i += 2)
        {
            int at = args.IndexOf(extra[i], 0, standard);
            if (at >= 0 && i + 1 < extra.Length) args[at + 1] = extra[i + 1];
            else args.AddRange(extra.Skip(i).Take(2));
        }
        args.AddRange(["--output", output]);
        var environment = Environment(Path.Combine(output, "data-cache"));
        foreach (var (name, value) in scheduler) environment[name] = value;
        return ProgramProcess.Wait(ProgramProcess.Start(args, environment), TimeSpan.FromMinutes(3));
    }

    public static (int ExitCode, string Output) Merge(string output, params string[] shards) =>
        ProgramProcess.Wait(ProgramProcess.Start(["merge", .. shards, "--output", output], Environment(Path.Combine(output, "data-cache"))), TimeSpan.FromMinutes(2));

    /// <summary>The files that must be byte-identical between a merged and a single-process run (results.json without its date).</summary>
    public static IReadOnlyList<string> ComparedFiles(string folder) =>
        new[] { "results.json", "results.csv", "results.md" }.Concat(Directory.GetFiles(folder, "samples_*.jsonl").Select(Path.GetFileName).Order(StringComparer.Ordinal))!.ToList()!;

    public static string Comparable(string folder, string file)
    {
        var text = File.ReadAllText(Path.Combine(folder, file));
        if (file != "results.json") return text;
        var json = JsonNode.Parse(text)!.AsObject();
        json.Remove("date");   // when the run started
        return json.ToJsonString();
    }

    /// <summary>run.json without what differs between any two runs of one command: timings, command lines, paths, the shard folders merged.</summary>
    public static string ComparableRunJson(string folder)
    {
        var run = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "run.json")))!.AsObject();
        run.Remove("timings");
        run.Remove("merged_from");
        run["options"]!.AsObject().Remove("command_line");
        foreach (var t in run["tasks"]!.AsArray()) t!.AsObject().Remove("seconds");
        return run.ToJsonString();
    }

    /// <summary>Asserts that two run folders hold the same results and samples, byte for byte, and the same run.json but for timings and paths.</summary>
    public static void AssertSameRun(string expected, string actual)
    {
        var files = ComparedFiles(expected);
        CollectionAssert.AreEqual(files.ToList(), ComparedFiles(actual).ToList(), "the same files");
        foreach (var f in files) Assert.AreEqual(Comparable(expected, f), Comparable(actual, f), $"{f} differs between {expected} and {actual}");
        Assert.AreEqual(ComparableRunJson(expected), ComparableRunJson(actual), "run.json");
    }
}
