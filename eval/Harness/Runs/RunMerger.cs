using Eval.Harness.Scoring;
using Eval.Harness.Tasks;

namespace Eval.Harness.Runs;

/// <summary>A finished shard's run folder read back: its run.json, the part of the plan it evaluated, and its score cache.</summary>
public sealed record ShardRun(string Folder, RunManifest Run, PlanEntry Plan, ShardAssignment Assignment)
{
    public string CachePath => Path.Combine(Folder, "scores.sqlite");

    public override string ToString() => $"{Folder} (shard {Assignment.Shard})";

    public static ShardRun Load(string folder)
    {
        var runJson = Path.Combine(folder, "run.json");
        if (!Directory.Exists(folder)) throw new ArgumentException($"shard folder {folder} does not exist");
        if (!File.Exists(runJson))
            throw new ArgumentException($"{folder} has no run.json: the shard has not finished (run its command again: it resumes from its score cache)");
        var run = RunManifest.Read(runJson);
        if (run.Plan is not { } plan) throw new ArgumentException($"{runJson} has no plan: it was written by an older mlm-eval; rerun the shard");
        if (run.Shard is not { } shard) throw new ArgumentException($"{folder} is not a shard: its run.json has no \"shard\" (run `eval` with --shard K/N)");
        if (!File.Exists(Path.Combine(folder, "scores.sqlite")))
            throw new ArgumentException($"{folder} has no scores.sqlite (a shard run with --cache elsewhere: copy its cache there)");
        if (run.MissingFields() is { Count: > 0 } missing)
            throw new FormatException($"{runJson}: not a run.json of a finished shard: it has no {string.Join(", ", missing)}");
        return new ShardRun(Path.GetFullPath(folder), run, plan, ShardAssignment.FromEntry(shard));
    }
}

/// <summary>
/// `merge`: checks that shard folders come from one plan and cover each of its units exactly once, then writes the
/// run folder a single process would have written: the shards' scores gathered into one score cache, the examples
/// read back from it in plan order, and the run finished exactly as `eval` finishes it (<see cref="ResultWriter.Finish"/>).
/// </summary>
public static class RunMerger
{
    /// <summary>What must agree between shards of one run, each with how it reads from run.json.</summary>
    private static readonly (string What, Func<ShardRun, string> Read)[] PlanFields =
    [
        ("model fingerprint", r => r.Run.Model.Fingerprint ?? "null"),
        ("tasks", r => string.Join(",", r.Plan.Tasks.Select(t => t.Task))),
        ("split", r => string.Join(",", r.Plan.Tasks.Select(t => $"{t.Task}:{t.Split}"))),
        ("languages", r => string.Join(",", r.Plan.Tasks.Select(t => $"{t.Task}:{string.Join("+", t.Subsets)}"))),
        ("templates", r => string.Join(",", r.Plan.Tasks.Select(t => $"{t.Task}:{string.Join("+", t.Templates)}"))),
        ("limit", r => Text(r.Run.Options.Limit)),
        ("scoring", r => r.Run.Options.Scoring),
        ("max length", r => Text(r.Run.Options.MaxLength)),
        ("data", r => string.Join(",", r.Plan.Tasks.Select(t => $"{t.Task}:{string.Join(",", t.Data.Select(d => $"{d.Key}={d.Value.Sha256}"))}"))),
        ("sample text (--no-sample-text)", r => Text(r.Run.Options.SampleText)),
        ("shard count", r => Text(r.Assignment.Shard.Count)),
        ("plan fingerprint (template texts or documents)", r => r.Plan.Fingerprint),
    ];

    /// <summary>Merges the shards into <paramref name="output"/> and finishes the run there.</summary>
    /// <param name="commandLine">The command line run.json records (a multi-device `eval`'s own); default: the first shard's without --shard.</param>
    public static FinishedRun Merge(IReadOnlyList<string> shardFolders, string output, Func<string, TaskDefinition> taskNamed,
        IReadOnlyList<string>? commandLine = null)
    {
        if (shardFolders.Count == 0) throw new ArgumentException("give the shard folders to merge");
        var shards = shardFolders.Select(ShardRun.Load).ToList();
        var outputPath = Path.GetFullPath(output);
        if (shards.FirstOrDefault(s => Path.TrimEndingDirectorySeparator(s.Folder) == Path.TrimEndingDirectorySeparator(outputPath)) is { } same)
            throw new ArgumentException($"--output {output} is one of the shards ({same}); merge into a folder of its own");
        RequireOnePlan(shards);

        var first = shards[0].Run;
        var scoring = ScoringModes.Parse(first.Options.Scoring);
        int maxLength = first.Options.MaxLength!.Value;
        var modelFingerprint = first.Model.Fingerprint!;
        var plan = RunPlan.FromEntry(shards[0].Plan, modelFingerprint, taskNamed,
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
        var tasks = plan.Tasks.Select(t => t with { Seconds = shards.Sum(s => s.Run.Tasks!.Where(e => e.Task == t.Task.Name).Sum(e => e.Seconds)) }).ToList();
        var outcome = new RunOutcome(examples, tasks, shards.Sum(s => s.Run.Timings!.Scored), shards.Sum(s => s.Run.Timings!.FromCache),
            shards.Sum(s => s.Run.Timings!.Seconds))
        {
            Plan = plan, Batching = shards.Aggregate(BatchingTally.None, (sum, s) => sum.Add(s.Run.Timings!.Batching())),
        };
        return ResultWriter.Finish(output, outcome, Metadata(shards, commandLine), sampleText: first.Options.SampleText!.Value);
    }

    /// <summary>Refuses shards of different runs, naming every field that differs.</summary>
    private static void RequireOnePlan(IReadOnlyList<ShardRun> shards)
    {
        var reference = shards[0];
        foreach (var other in shards.Skip(1))
        {
            var differences = PlanFields
                .Select(f => (f.What, A: f.Read(reference), B: f.Read(other)))
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
    private static RunMetadata Metadata(IReadOnlyList<ShardRun> shards, IReadOnlyList<string>? commandLine)
    {
        // ShardRun.Load checked that every field read here is present.
        var r = shards[0].Run;
        var (model, options, tokenizer) = (r.Model, r.Options, r.Tokenizer!);
        return new RunMetadata(model.Id, model.Path!, model.Architecture!, model.Parameters, model.WeightsSha256!, model.Fingerprint!,
            tokenizer.Path, tokenizer.Sha256, r.GitCommit, r.Device!, options.Scoring, options.BatchSize!.Value, options.MaxLength!.Value, options.Limit,
            commandLine ?? WithoutShardOptions(options.CommandLine!), shards.Min(s => s.Run.StartedUtc()))
        {
            ModelConfig = model.Config?.DeepClone(),
            MergedFrom = shards.Select(s => s.Folder).ToList(),
            // Summed when every shard recorded it (all ran on the GPU backend).
            DeviceWork = shards.All(s => s.Run.Timings!.DeviceWork is not null)
                ? shards.Select(s => s.Run.Timings!.DeviceWork!).Aggregate((a, b) => a.Add(b))
                : null,
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

    /// <summary>An option's value as run.json writes it: a number, true or false, or null.</summary>
    private static string Text(object? value) => value switch
    {
        null => "null",
        bool b => b ? "true" : "false",
        _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)!,
    };

    private static string Shown(string value) => value.Length > 400 ? value[..397] + "..." : value;
}
