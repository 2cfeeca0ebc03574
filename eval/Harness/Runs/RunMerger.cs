using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Eval.Harness.Scoring;
using Eval.Harness.Tasks;

namespace Eval.Harness.Runs;

/// <summary>A finished shard's run folder read back: its run.json, the part of the plan it evaluated, and its score cache.</summary>
public sealed record ShardRun(string Folder, JsonNode Run, ShardAssignment Assignment)
{
    public string CachePath => Path.Combine(Folder, "scores.sqlite");

    public override string ToString() => $"{Folder} (shard {Assignment.Shard})";

    public static ShardRun Load(string folder)
    {
        var runJson = Path.Combine(folder, "run.json");
        if (!Directory.Exists(folder)) throw new ArgumentException($"shard folder {folder} does not exist");
        if (!File.Exists(runJson))
            throw new ArgumentException($"{folder} has no run.json: the shard has not finished (run its command again: it resumes from its score cache)");
        JsonNode run;
        try
        {
            run = JsonNode.Parse(File.ReadAllText(runJson)) ?? throw new FormatException("empty");
        }
        catch (JsonException e)
        {
            throw new FormatException($"{runJson}: not JSON ({e.Message})", e);
        }
        if (run["plan"] is null) throw new ArgumentException($"{runJson} has no plan: it was written by an older mlm-eval; rerun the shard");
        if (run["shard"] is not { } shard) throw new ArgumentException($"{folder} is not a shard: its run.json has no \"shard\" (run `eval` with --shard K/N)");
        if (!File.Exists(Path.Combine(folder, "scores.sqlite")))
            throw new ArgumentException($"{folder} has no scores.sqlite (a shard run with --cache elsewhere: copy its cache there)");
        return new ShardRun(Path.GetFullPath(folder), run, ShardAssignment.FromJson(shard));
    }
}

/// <summary>
/// `merge`: checks that shard folders come from one plan and cover each of its units exactly once, then writes the
/// run folder a single process would have written: the shards' scores gathered into one score cache, the examples
/// read back from it in plan order, and the tables computed and written exactly as `eval` does (RunSummary, ResultWriter).
/// </summary>
public static class RunMerger
{
    /// <summary>What must agree between shards of one run, each with how it reads from run.json.</summary>
    private static readonly (string What, Func<JsonNode, string> Read)[] PlanFields =
    [
        ("model fingerprint", r => Text(r["model"]?["fingerprint"])),
        ("tasks", r => string.Join(",", Plan(r).Select(t => Text(t?["task"])))),
        ("split", r => string.Join(",", Plan(r).Select(t => $"{Text(t?["task"])}:{Text(t?["split"])}"))),
        ("languages", r => string.Join(",", Plan(r).Select(t => $"{Text(t?["task"])}:{Text(t?["subsets"])}"))),
        ("templates", r => string.Join(",", Plan(r).Select(t => $"{Text(t?["task"])}:{Text(t?["templates"])}"))),
        ("limit", r => Text(r["options"]?["limit"])),
        ("scoring", r => Text(r["options"]?["scoring"])),
        ("max length", r => Text(r["options"]?["max_length"])),
        ("data", r => string.Join(",", Plan(r).Select(t => $"{Text(t?["task"])}:{string.Join(",", (t?["data"] as JsonObject ?? []).Select(d => $"{d.Key}={Text(d.Value?["sha256"])}"))}"))),
        ("sample text (--no-sample-text)", r => Text(r["options"]?["sample_text"])),
        ("shard count", r => Text(r["shard"]?["count"])),
        ("plan fingerprint (template texts or documents)", r => Text(r["plan"]?["fingerprint"])),
    ];

    public static IReadOnlyList<string> Merge(IReadOnlyList<string> shardFolders, string output, Func<string, TaskDefinition> taskNamed)
    {
        if (shardFolders.Count == 0) throw new ArgumentException("give the shard folders to merge");
        var shards = shardFolders.Select(ShardRun.Load).ToList();
        var outputPath = Path.GetFullPath(output);
        if (shards.FirstOrDefault(s => Path.TrimEndingDirectorySeparator(s.Folder) == Path.TrimEndingDirectorySeparator(outputPath)) is { } same)
            throw new ArgumentException($"--output {output} is one of the shards ({same}); merge into a folder of its own");
        RequireOnePlan(shards);

        var first = shards[0].Run;
        var scoring = ScoringModes.Parse(Text(first["options"]!["scoring"]));
        int maxLength = first["options"]!["max_length"]!.GetValue<int>();
        var modelFingerprint = Text(first["model"]!["fingerprint"]);
        var plan = RunPlan.FromJson(first["plan"]!, modelFingerprint, taskNamed,
            (task, template) => EvaluationRunner.TemplateKey(task, task.Template(template), scoring, maxLength));
        RequireCoverage(shards, plan);

        Directory.CreateDirectory(output);
        using var merged = new ScoreCache(Path.Combine(output, "scores.sqlite"));
        foreach (var shard in shards)
        {
            using var cache = new ScoreCache(shard.CachePath);
            foreach (var (group, ids) in plan.Slices(shard.Assignment.FirstUnit, shard.Assignment.EndUnit))
            {
                var have = cache.Load(modelFingerprint, group.Task, group.Subset, group.Split, group.TemplateKey);
                var lacking = ids.Where(id => !have.ContainsKey(id)).ToList();
                if (lacking.Count > 0)
                    throw new InvalidOperationException($"{shard}: its score cache lacks {group} documents {DocumentRanges.Format(lacking)}, which its run.json says it evaluated");
                merged.Store(modelFingerprint, group.Task, group.Subset, group.Split, group.TemplateKey, ids.Select(id => have[id]));
            }
        }

        var examples = new List<ExampleResult>();
        foreach (var group in plan.Groups)
        {
            var have = merged.Load(modelFingerprint, group.Task, group.Subset, group.Split, group.TemplateKey);
            examples.AddRange(group.DocIds.Select(id => ExampleResult.FromScore(group, have[id], scoring)));
        }
        var tasks = plan.Tasks.Select(t => t with { Seconds = shards.Sum(s => TaskSeconds(s.Run, t.Task.Name)) }).ToList();
        var outcome = new RunOutcome(examples, tasks, shards.Sum(s => Timing(s.Run, "scored")), shards.Sum(s => Timing(s.Run, "from_cache")),
            shards.Sum(s => s.Run["timings"]!["seconds"]!.GetValue<double>())) { Plan = plan };
        var meta = Metadata(shards);
        return ResultWriter.Write(output, outcome, RunSummary.From(outcome), meta, sampleText: first["options"]!["sample_text"]!.GetValue<bool>());
    }

    /// <summary>Refuses shards of different runs, naming every field that differs.</summary>
    private static void RequireOnePlan(IReadOnlyList<ShardRun> shards)
    {
        var reference = shards[0];
        foreach (var other in shards.Skip(1))
        {
            var differences = PlanFields
                .Select(f => (f.What, A: f.Read(reference.Run), B: f.Read(other.Run)))
                .Where(d => d.A != d.B)
                .Select(d => $"{d.What}: {Shown(d.A)} vs {Shown(d.B)}")
                .ToList();
            if (differences.Count > 0)
                throw new InvalidOperationException($"{other} is not a shard of the same run as {reference}: {string.Join("; ", differences)}");
        }
    }

    /// <summary>Requires every unit of the plan in exactly one shard, naming the missing and the duplicated units.</summary>
    private static void RequireCoverage(IReadOnlyList<ShardRun> shards, RunPlan plan)
    {
        int count = shards[0].Assignment.Shard.Count;
        var problems = new List<string>();
        foreach (var s in shards.Where(s => s.Assignment.EndUnit > plan.Units || s.Assignment.FirstUnit > s.Assignment.EndUnit))
            problems.Add($"{s} claims units {s.Assignment.FirstUnit}–{s.Assignment.EndUnit} of a plan of {plan.Units}");
        foreach (var twice in shards.GroupBy(s => s.Assignment.Shard.Index).Where(g => g.Count() > 1))
            problems.Add($"shard {twice.Key}/{count} is given {twice.Count()} times ({string.Join(", ", twice.Select(s => s.Folder))}): its units would count twice: "
                         + string.Join("; ", plan.Describe(twice.First().Assignment.FirstUnit, twice.First().Assignment.EndUnit)));
        var distinct = shards.GroupBy(s => s.Assignment.Shard.Index).Select(g => g.First()).OrderBy(s => s.Assignment.FirstUnit).ToList();
        long covered = 0;
        foreach (var s in distinct)
        {
            if (s.Assignment.FirstUnit > covered)
                problems.Add($"units {covered}–{s.Assignment.FirstUnit - 1} are in no shard given: {string.Join("; ", plan.Describe(covered, s.Assignment.FirstUnit))}");
            else if (s.Assignment.FirstUnit < covered)
                problems.Add($"{s} repeats units of another shard: {string.Join("; ", plan.Describe(s.Assignment.FirstUnit, Math.Min(covered, s.Assignment.EndUnit)))}");
            covered = Math.Max(covered, s.Assignment.EndUnit);
        }
        if (covered < plan.Units)
            problems.Add($"units {covered}–{plan.Units - 1} are in no shard given: {string.Join("; ", plan.Describe(covered, plan.Units))}");
        var absent = Enumerable.Range(0, count).Where(i => shards.All(s => s.Assignment.Shard.Index != i)).ToList();
        if (absent.Count > 0) problems.Insert(0, $"shard(s) {string.Join(", ", absent.Select(i => $"{i}/{count}"))} missing");
        if (problems.Count > 0) throw new InvalidOperationException($"the shards do not cover the run exactly once: {string.Join(". ", problems)}");
    }

    /// <summary>What produced the run, from the first shard: the same model, tokenizer, code and options; started when the first shard did.</summary>
    private static RunMetadata Metadata(IReadOnlyList<ShardRun> shards)
    {
        var r = shards[0].Run;
        var model = r["model"]!;
        var options = r["options"]!;
        var started = shards.Min(s => DateTime.Parse(Text(s.Run["timings"]!["started_utc"]), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind));
        return new RunMetadata(Text(model["id"]), Text(model["path"]), Text(model["architecture"]), model["parameters"]!.GetValue<long>(),
            model["weights_sha256"]!.AsObject().ToDictionary(kv => kv.Key, kv => Text(kv.Value)), Text(model["fingerprint"]),
            Text(r["tokenizer"]!["path"]), Text(r["tokenizer"]!["sha256"]), r["git_commit"]?.GetValue<string>(), Text(r["device"]),
            Text(options["scoring"]), options["batch_size"]!.GetValue<int>(), options["max_length"]!.GetValue<int>(), options["limit"]?.GetValue<int>(),
            WithoutShardOptions(options["command_line"]!.AsArray().Select(a => Text(a)).ToList()), started)
        {
            ModelConfig = model["config"]?.DeepClone(),
            MergedFrom = shards.Select(s => s.Folder).ToList(),
        };
    }

    /// <summary>A shard's command line as the single-process run's: without --shard and --shard-count.</summary>
    private static List<string> WithoutShardOptions(IReadOnlyList<string> args)
    {
        var kept = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            if (args[i] is "--shard" or "--shard-count") i++;
            else if (!args[i].StartsWith("--shard=", StringComparison.Ordinal) && !args[i].StartsWith("--shard-count=", StringComparison.Ordinal)) kept.Add(args[i]);
        }
        return kept;
    }

    private static double TaskSeconds(JsonNode run, string task) =>
        run["tasks"]!.AsArray().Where(t => Text(t!["task"]) == task).Sum(t => t!["seconds"]!.GetValue<double>());

    private static long Timing(JsonNode run, string name) => run["timings"]![name]!.GetValue<long>();

    private static JsonArray Plan(JsonNode run) => run["plan"]?["tasks"]?.AsArray() ?? [];

    private static string Text(JsonNode? node) => node switch
    {
        null => "null",
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => node.ToJsonString(),
    };

    private static string Shown(string value) => value.Length > 400 ? value[..397] + "..." : value;
}
