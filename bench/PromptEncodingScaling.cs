using System.Diagnostics;
using System.Runtime;
using Eval.Harness.Benchmarks;
using Eval.Harness.Data;
using Eval.Harness.Scoring;
using Eval.Harness.Tasks;
using Eval.Tokenizers;

namespace Eval.Bench;

/// <summary>
/// Prompts per second of the harness's prompt encoding (<see cref="ParallelPromptEncoding"/> with the task's
/// <see cref="MaskedPromptEncoder"/>, or <see cref="CausalPromptEncoder"/> with --causal) over a real task's split from
/// ../shared/datasets, on 1, 2, … threads: cold (each pass on a freshly loaded tokenizer, load not timed, so its piece
/// cache starts empty) and warm (one tokenizer per thread count, already through the documents once). Medians of --reps
/// passes after a warm-up pass, the thread counts taking turns; speedup is against 1 thread of the same kind, efficiency
/// is speedup ÷ threads; CPU time per prompt shows whether more threads add work (contention, GC) on a machine whose
/// load hides wall-clock scaling. Every pass's prompts are checked against the 1-thread ones.
/// </summary>
public static class PromptEncodingScaling
{
    public static int Run(string[] args)
    {
        int reps = IntOption(args, "--reps", 5);
        var taskName = Option(args, "--task") ?? "xnli";
        var tokenizerName = Option(args, "--tokenizer") ?? "modernbert";
        bool causal = args.Contains("--causal");
        var threadCounts = Option(args, "--threads") is { } list
            ? list.Split(',').Select(int.Parse).ToArray()
            : Enumerable.Range(1, Environment.ProcessorCount).ToArray();
        if (threadCounts[0] != 1) threadCounts = [1, .. threadCounts.Where(t => t != 1)];

        var shared = Path.GetFullPath(Path.Combine(BenchEnvironment.ProjectRoot, "..", "shared"));
        var task = TaskRegistry.Load(Path.Combine(BenchEnvironment.ProjectRoot, "prompts")).Get(taskName);
        var template = task.Template(Option(args, "--template") ?? task.Templates[0].Name);
        var split = Option(args, "--split") ?? task.DefaultSplit;
        var cacheFolder = Path.Combine(Path.GetTempPath(), $"eval-bench-data-{Environment.ProcessId}");
        IReadOnlyList<Document> documents;
        try
        {
            var store = new DatasetStore([Path.Combine(shared, "datasets")], cacheFolder, downloader: null);
            var subsets = Option(args, "--languages")?.Split(',') ?? task.Subsets.ToArray();
            documents = subsets.SelectMany(s => store.Load(task, s, split).Documents).ToList();
        }
        finally
        {
            if (Directory.Exists(cacheFolder)) Directory.Delete(cacheFolder, recursive: true);
        }
        var tokenizerFolder = Path.Combine(shared, "tokenizers", tokenizerName);

        Func<Document, IScoredPrompt> EncoderFor(Tokenizer tokenizer) => causal
            ? new CausalPromptEncoder(tokenizer, task, template, int.MaxValue).Encode
            : new MaskedPromptEncoder(tokenizer, task, template, int.MaxValue).Encode;

        Console.WriteLine($"machine: {Measurement.Machine()}, {(GCSettings.IsServerGC ? "server" : "workstation")} GC");
        Console.WriteLine($"command: bench prompt-scaling --task {taskName} --tokenizer {tokenizerName}{(causal ? " --causal" : "")} --reps {reps} " +
                          $"--threads {string.Join(',', threadCounts)}  ({documents.Count:N0} {taskName} {split} documents, template '{template.Name}', " +
                          $"{(causal ? "causal" : "masked")} prompts; median of {reps} passes after a warm-up, thread counts taking turns)");

        var reference = EncoderFor(Tokenizer.Load(tokenizerFolder));
        var expected = documents.Select(reference).ToArray();
        long tokens = expected.Sum(p => (long)p.TokenCount + p.ChoiceIds.Sum(c => c.Length));
        Console.WriteLine($"{tokens:N0} tokens per pass (prompts and choices; each pass also tokenizes the choices once more bare or in context)");

        // Thread counts take turns pass by pass, so a change in the machine's load falls on all of them alike.
        var cold = Measure(documents, expected, reps, threadCounts, _ => EncoderFor(Tokenizer.Load(tokenizerFolder)));
        var warmEncoders = threadCounts.ToDictionary(t => t, _ => EncoderFor(Tokenizer.Load(tokenizerFolder)));
        var warm = Measure(documents, expected, reps, threadCounts, t => warmEncoders[t]);
        Console.WriteLine("speedup and efficiency: wall-clock prompts/s against 1 thread; CPU µs/prompt: the process's CPU time per prompt " +
                          "(unchanged with more threads = no work added by them, whatever the load); GC: share of the pass in GC pauses; KB/prompt: bytes allocated");
        Console.WriteLine($"{"",7} {"cold",-68} {"warm",-68}");
        var header = $"{"prompts/s",11} {"speedup",8} {"efficiency",10} {"CPU µs/prompt",13} {"GC",6} {"KB/prompt",9}";
        Console.WriteLine($"{"threads",7} {header}   {header}");
        foreach (var threads in threadCounts)
            Console.WriteLine($"{threads,7} {Row(cold, threads)}   {Row(warm, threads)}");
        return 0;
    }

    /// <summary>The medians of one thread count's passes.</summary>
    private sealed record PassMedians(double PromptsPerSecond, double CpuMicrosecondsPerPrompt, double GcPauseShare, double KilobytesPerPrompt);

    private static string Row(Dictionary<int, PassMedians> results, int threads)
    {
        var (r, one) = (results[threads], results[1]);
        double speedup = r.PromptsPerSecond / one.PromptsPerSecond;
        return $"{r.PromptsPerSecond,11:N0} {speedup,7:F2}x {speedup / threads,10:P0} {r.CpuMicrosecondsPerPrompt,13:F1} {r.GcPauseShare,6:P0} {r.KilobytesPerPrompt,9:F1}";
    }

    /// <summary>
    /// Medians of each thread count's passes over reps timed rounds after one untimed; in a round every thread count runs
    /// one pass, its encoder from encoderFor (untimed).
    /// </summary>
    private static Dictionary<int, PassMedians> Measure(IReadOnlyList<Document> documents, IScoredPrompt[] expected, int reps, int[] threadCounts,
        Func<int, Func<Document, IScoredPrompt>> encoderFor)
    {
        var passes = threadCounts.ToDictionary(t => t, _ => new List<PassMedians>());
        using var process = Process.GetCurrentProcess();
        for (int round = -1; round < reps; round++)
            foreach (var threads in threadCounts)
            {
                var encode = encoderFor(threads);
                GC.Collect();
                GC.WaitForPendingFinalizers();
                process.Refresh();
                var cpuBefore = process.TotalProcessorTime;
                var gcBefore = GC.GetTotalPauseDuration();
                long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
                var clock = Stopwatch.StartNew();
                var prompts = ParallelPromptEncoding.EncodeAll(documents, encode, threads);
                double seconds = clock.Elapsed.TotalSeconds;
                process.Refresh();
                double cpuSeconds = (process.TotalProcessorTime - cpuBefore).TotalSeconds, gcSeconds = (GC.GetTotalPauseDuration() - gcBefore).TotalSeconds;
                double kilobytes = (GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / 1024.0;
                RequireSame(expected, prompts, threads);
                if (round >= 0) passes[threads].Add(new PassMedians(documents.Count / seconds, cpuSeconds * 1e6 / documents.Count, gcSeconds / seconds, kilobytes / documents.Count));
            }
        return passes.ToDictionary(p => p.Key, p => new PassMedians(Measurement.Median(p.Value.Select(x => x.PromptsPerSecond).ToList()),
            Measurement.Median(p.Value.Select(x => x.CpuMicrosecondsPerPrompt).ToList()), Measurement.Median(p.Value.Select(x => x.GcPauseShare).ToList()),
            Measurement.Median(p.Value.Select(x => x.KilobytesPerPrompt).ToList())));
    }

    private static void RequireSame(IScoredPrompt[] expected, IScoredPrompt[] actual, int threads)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            var (e, a) = (expected[i], actual[i]);
            bool same = ReferenceEquals(e.Document, a.Document) && e.TokenCount == a.TokenCount && e.Text == a.Text
                && e.ChoiceIds.Count == a.ChoiceIds.Count && e.ChoiceIds.Zip(a.ChoiceIds).All(c => c.First.AsSpan().SequenceEqual(c.Second))
                && (e, a) switch
                {
                    (MaskedPrompt m, MaskedPrompt n) => m.Ids.AsSpan().SequenceEqual(n.Ids) && m.MaskStart == n.MaskStart,
                    (CausalPrompt m, CausalPrompt n) => m.ContextIds.AsSpan().SequenceEqual(n.ContextIds),
                    _ => false,
                };
            if (!same) throw new InvalidOperationException($"{threads} threads: prompt {i} ({e.Document.Origin}) differs from the 1-thread one");
        }
    }

    private static string? Option(string[] args, string name) =>
        Array.IndexOf(args, name) is var i && i >= 0 && i + 1 < args.Length ? args[i + 1] : null;

    private static int IntOption(string[] args, string name, int fallback) => Option(args, name) is { } text ? int.Parse(text) : fallback;
}
