using System.Diagnostics;
using System.Globalization;
using Eval.Harness.Benchmarks;
using Eval.Harness.Data;
using Eval.Harness.Runs;
using Eval.Harness.Scoring;
using Eval.Harness.Tasks;
using Eval.Models;
using Eval.Tokenizers;

namespace Eval.Bench;

/// <summary>
/// Prompts per second of the evaluation run's host work alone: the whole <see cref="EvaluationRunner"/> — plan, render
/// and tokenize every prompt (on --threads threads), form the batches across the task's groups, store every score in a
/// fresh SQLite score cache (on the store thread) and build the examples — with a stub model that costs nothing
/// (<see cref="FreeScorer"/>: no forward, every choice scores 0). Data loading is outside the timing (the datasets are
/// parsed once, before the first pass). Beside it, "encode only": prompts/s of rendering and tokenizing the same
/// prompts with nothing after, the floor of the pipeline's cost. Medians of --reps passes after a warm-up pass; the machine's load average is
/// printed before and after, as the machine is shared. The goal: ≥ 5,000 prompts/s on the 2-core machine (an H100 at
/// the 10 s MMLU goal needs about 1,400/s).
/// </summary>
public static class HostPipelineThroughput
{
    /// <summary>The stated stub: a masked LM's scorer that runs no model; each choice scores 0, prediction 0.</summary>
    private sealed class FreeScorer : IChoiceScorer
    {
        public IReadOnlyList<ScoringMode> Modes { get; } = Enum.GetValues<ScoringMode>();

        public IReadOnlyList<ChoiceScore> Score(IReadOnlyList<IScoredPrompt> prompts, ScoringMode mode)
        {
            var scores = new ChoiceScore[prompts.Count];
            for (int i = 0; i < scores.Length; i++) scores[i] = new ChoiceScore(0, new double[prompts[i].Choices.Count]);
            return scores;
        }
    }

    public static int Run(string[] args)
    {
        int reps = Option(args, "--reps") is { } r ? int.Parse(r, CultureInfo.InvariantCulture) : 3;
        int threads = Option(args, "--threads") is { } t ? int.Parse(t, CultureInfo.InvariantCulture) : 0;
        int? limit = Option(args, "--limit") is { } l ? int.Parse(l, CultureInfo.InvariantCulture) : null;
        int budget = Option(args, "--max-batch-tokens") is { } b ? int.Parse(b, CultureInfo.InvariantCulture) : 65536;
        var taskNames = (Option(args, "--tasks") ?? "mmlu,xnli").Split(',');

        var shared = Path.GetFullPath(Path.Combine(BenchEnvironment.ProjectRoot, "..", "shared"));
        var registry = TaskRegistry.Load(Path.Combine(BenchEnvironment.ProjectRoot, "prompts"));
        // ModernBERT's tokenizer for both: XLM-R's (Instruct-XLMR's) is not among ../shared's tokenizers.
        var tokenizer = Tokenizer.Load(Path.Combine(shared, "tokenizers", "modernbert"));
        Console.WriteLine($"machine: {Measurement.Machine()}, {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} GC (eval runs with the server GC: DOTNET_gcServer=1)");
        Console.WriteLine($"command: bench host-pipeline {string.Join(' ', args)}");
        Console.WriteLine($"stub model: a masked LM's scorer that runs nothing (every choice scores 0); tokenizer modernbert; --max-batch-tokens {budget}; " +
                          $"{ParallelPromptEncoding.ThreadsFor(threads)} encoding threads; median of {reps} passes after a warm-up; each pass a fresh score cache");
        Console.WriteLine($"load average before: {LoadAverage()}");
        Console.WriteLine($"{"task",-6} {"template",-28} {"prompts",8} {"prompts/s",10} {"CPU µs/prompt",13} {"batches",8} {"padding",8} {"min s",7} {"max s",7} {"encode only/s",12}");
        var data = Path.Combine(Path.GetTempPath(), $"eval-bench-host-{Environment.ProcessId}");
        try
        {
            foreach (var name in taskNames)
            {
                var task = registry.Get(name);
                var template = name == "mmlu" ? "modernbert_instruct_eval_py" : task.Templates[0].Name;
                var scoring = name == "mmlu" ? ScoringMode.EvalPy : ScoringMode.Restricted;
                var request = new EvalRequest([task], null, [template], null, limit, int.MaxValue, scoring, 8192)
                {
                    MaxBatchTokens = budget, EncodingThreads = threads,
                };
                var store = new DatasetStore([Path.Combine(shared, "datasets")], Path.Combine(data, "datasets"), downloader: null);
                foreach (var subset in task.Subsets) store.Load(task, subset, task.DefaultSplit); // parsed once, outside the timing
                var passes = new List<(double Seconds, double CpuSeconds, RunOutcome Outcome)>();
                for (int pass = -1; pass < reps; pass++)
                {
                    var cachePath = Path.Combine(data, $"scores-{name}-{pass + 1}.sqlite");
                    GC.Collect();
                    using var process = Process.GetCurrentProcess();
                    var cpu = process.TotalProcessorTime;
                    var clock = Stopwatch.StartNew();
                    RunOutcome outcome;
                    using (var cache = new ScoreCache(cachePath))
                        outcome = new EvaluationRunner(ModelKinds.Of(ModelKind.Masked), new FreeScorer(), tokenizer, store, cache, "free").Run(request);
                    double seconds = clock.Elapsed.TotalSeconds;
                    process.Refresh();
                    if (pass >= 0) passes.Add((seconds, (process.TotalProcessorTime - cpu).TotalSeconds, outcome));
                }
                // The render + tokenize share alone: every group's prompts, as the run encodes them, with nothing after.
                var encodeOnly = new List<double>();
                var groups = task.Subsets.Select(subset => store.Load(task, subset, task.DefaultSplit).Documents)
                    .Select(docs => limit is { } n ? docs.Take(n).ToList() : docs).ToList();
                var encoder = ModelKinds.Of(ModelKind.Masked).CreateEncoder(tokenizer, task, task.Template(template), request.MaxLength);
                for (int pass = -1; pass < reps; pass++)
                {
                    var clock = Stopwatch.StartNew();
                    foreach (var docs in groups) ParallelPromptEncoding.EncodeAll(docs, encoder, threads);
                    if (pass >= 0) encodeOnly.Add(clock.Elapsed.TotalSeconds);
                }
                var median = passes.OrderBy(p => p.Seconds).ElementAt(passes.Count / 2);
                int prompts = median.Outcome.Examples.Count;
                Console.WriteLine($"{name,-6} {Shorten(template),-28} {prompts,8:N0} {prompts / median.Seconds,10:N0} {median.CpuSeconds * 1e6 / prompts,13:F1} " +
                                  $"{median.Outcome.Batching.Batches,8} {median.Outcome.Batching.PaddingShare,8:P1} {passes.Min(p => p.Seconds),7:F2} {passes.Max(p => p.Seconds),7:F2} " +
                                  $"{prompts / Measurement.Median(encodeOnly),12:N0}");
            }
        }
        finally
        {
            if (Directory.Exists(data)) Directory.Delete(data, recursive: true);
        }
        Console.WriteLine($"load average after: {LoadAverage()}");
        return 0;
    }

    private static string Shorten(string text) => text.Length <= 28 ? text : text[..27] + "…";

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) + " (1, 5, 15 min)" : "unknown";

    private static string? Option(string[] args, string name) =>
        Array.IndexOf(args, name) is var i && i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}
