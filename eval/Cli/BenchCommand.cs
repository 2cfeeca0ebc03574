using System.CommandLine;
using System.Globalization;
using Eval.Harness.Benchmarks;
using Eval.Harness.Data;
using Eval.Models;
using Spectre.Console;

namespace Eval.Cli;

/// <summary>`mlm-eval bench decode`: decode speed of masked LMs (single [MASK], Mask-Predict) beside causal LMs (log-likelihood, next token, greedy).</summary>
public sealed class BenchCommand
{
    private readonly Option<bool> quick = new("--quick") { Description = "miniature models (2 layers, hidden 64) and a small grid: checks that everything runs, in seconds" };
    private readonly Option<string?> output = new("--output") { Description = "folder for the CSV (default results/bench)" };
    private readonly Option<string?> shapes = new("--models")
    {
        Description = $"model shapes or groups of them, comma-separated, random weights (default: {string.Join(", ", ModelShapes.DefaultNames)}; " +
                      $"also {string.Join(", ", ModelShapes.Names.Except(ModelShapes.DefaultNames))}; groups {string.Join(", ", ModelShapes.Groups.Keys)})",
    };
    private readonly Option<string[]> checkpoints = new("--model") { Description = "also measure a real checkpoint (folder or hub id); repeat for several" };
    private readonly Option<string?> promptLengths = new("--prompt-lengths") { Description = "classification prompt lengths in tokens (default 64,256,1024)" };
    private readonly Option<string?> choices = new("--choices") { Description = "answer choices for log-likelihood (default 2,3,4)" };
    private readonly Option<string?> lengths = new("--lengths") { Description = "generated lengths L (default 1,4,16,64,256)" };
    private readonly Option<string?> iterations = new("--iterations") { Description = "Mask-Predict iterations T (default 1,4,10)" };
    private readonly Option<int?> generationPrompt = new Option<int?>("--generation-prompt") { Description = "prompt length for generation (default 64)" }.AtLeast(2);
    private readonly Option<int?> maxBatch = new Option<int?>("--max-batch") { Description = "the throughput batch size (default 32)" }.AtLeast(1);
    private readonly Option<int?> reps = new Option<int?>("--reps") { Description = "timed repetitions after one warm-up (default 5)" }.AtLeast(1);
    private readonly BackendOptions backend = new();
    private readonly FairseqOptions fairseq = new();

    public Command Build()
    {
        var decode = new Command("decode", "Decode speed: masked LM single [MASK] and Mask-Predict vs causal LM log-likelihood, next token and greedy, on model shapes from real configs");
        foreach (var o in new Option[] { quick, output, shapes, checkpoints, promptLengths, choices, lengths, iterations, generationPrompt, maxBatch, reps })
            decode.Options.Add(o);
        backend.AddTo(decode);
        fairseq.AddTo(decode);
        decode.SetAction(result => CommandRunner.Run(() => Run(result)));
        var bench = new Command("bench", "Speed benchmarks");
        bench.Subcommands.Add(decode);
        return bench;
    }

    private void Run(ParseResult result)
    {
        bool isQuick = result.GetValue(quick);
        var defaults = isQuick ? DecodeBenchmarkOptions.Quick : DecodeBenchmarkOptions.Full;
        var options = defaults with
        {
            PromptLengths = Ints(result.GetValue(promptLengths), "--prompt-lengths") ?? defaults.PromptLengths,
            ChoiceCounts = Ints(result.GetValue(choices), "--choices") ?? defaults.ChoiceCounts,
            GenerationLengths = Ints(result.GetValue(lengths), "--lengths") ?? defaults.GenerationLengths,
            Iterations = Ints(result.GetValue(iterations), "--iterations") ?? defaults.Iterations,
            GenerationPromptLength = result.GetValue(generationPrompt) ?? defaults.GenerationPromptLength,
            MaxBatch = result.GetValue(maxBatch) ?? defaults.MaxBatch,
            Repetitions = result.GetValue(reps) ?? defaults.Repetitions,
        };
        if (options.PromptLengths.Any(p => p <= options.ChoiceTokens + 2))
            throw new ArgumentException($"--prompt-lengths must exceed {options.ChoiceTokens + 2} tokens (the answer slot and choices need room)");

        var names = result.GetValue(shapes) is { } list
            ? Shapes(list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            : ModelShapes.DefaultNames;
        var models = names.Select(n => BenchModel.FromShape(n, isQuick)).ToList();
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
        var overrides = fairseq.Overrides(result);
        foreach (var id in result.GetValue(checkpoints) ?? [])
        {
            var dir = HubModelStore.FromEnvironment(http, Log).Resolve(id);
            models.Add(new BenchModel(id, be => ModelLoader.Load(dir, be, overrides), "real"));
        }

        using var engine = backend.Create(result, Log);
        var machine = Measurement.Machine();
        var command = "bench decode " + string.Join(' ', Environment.GetCommandLineArgs().SkipWhile(a => a != "decode").Skip(1));
        AnsiConsole.MarkupLine($"[bold]decode speed[/] on {Markup.Escape(machine)} · {Markup.Escape(engine.Name)} · 1 warm-up + {options.Repetitions} runs, median");
        var rows = new DecodeBenchmark(engine, Log).Run(models, options);

        var outDir = result.GetValue(output) ?? Path.Combine("results", "bench");
        var csv = Path.Combine(outDir, $"decode-{(isQuick ? "quick-" : "")}{DateTime.UtcNow:yyyyMMdd-HHmmss}.csv");
        DecodeBenchmark.WriteCsv(csv, rows, engine.Name, machine, command);
        PrintSpeedups(rows);
        Console.WriteLine($"wrote {csv}");
    }

    private static void PrintSpeedups(IReadOnlyList<DecodeBenchmarkRow> rows)
    {
        var paired = rows.Where(r => r.Speedup is not null).ToList();
        if (paired.Count == 0) return;
        var table = new Table().AddColumns("masked LM", "case", "ms", "peer", "peer ms", "speed-up");
        foreach (var r in paired)
        {
            var shape = r.Section == DecodeBenchmark.Generate ? $"L={r.NewTokens} T={r.Iterations} ({r.IterationsRun} run)" : $"prompt {r.PromptTokens}";
            table.AddRow(Markup.Escape(r.Model), $"{r.Method} {shape} batch {r.Batch}", r.Timing!.Median.ToString("0.0", CultureInfo.InvariantCulture),
                Markup.Escape(r.Peer ?? ""), r.PeerMedianMs!.Value.ToString("0.0", CultureInfo.InvariantCulture), $"{r.Speedup!.Value:0.00}×");
        }
        AnsiConsole.Write(table);
    }

    private static IReadOnlyList<string> Shapes(IEnumerable<string> names)
    {
        try { return ModelShapes.Expand(names); }
        catch (ArgumentException e) { throw new ArgumentException($"--models: {e.Message}"); }
    }

    private static IReadOnlyList<int>? Ints(string? text, string option)
    {
        if (text is null) return null;
        var values = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(t => int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0 ? v
                : throw new ArgumentException($"{option}: '{t}' is not a positive integer")).ToList();
        return values.Count > 0 ? values : throw new ArgumentException($"{option} is empty");
    }

    private static void Log(string message) => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(message)}[/]");
}
