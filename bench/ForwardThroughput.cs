using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Eval.Engine.Cpu;
using Eval.Engine.IO;
using Eval.Models;

namespace Eval.Bench;

/// <summary>
/// Tokens per second of our encoder forward (+ MLM head at one position per sequence) on model shapes from real
/// configs with random weights, beside the PyTorch eager peer run in the same invocation on the same shapes.
/// Also the process's peak resident memory relative to the float32 weight bytes.
/// </summary>
public static class ForwardThroughput
{
    private sealed record Options(string[] Models, int Batch, int Sequence, int Threads, int Repetitions, GemmPath Gemm, bool Peer);

    public static int Run(string[] args)
    {
        var o = Parse(args);
        Console.WriteLine($"machine: {Eval.Harness.Benchmarks.Measurement.Machine()}");
        Console.WriteLine($"command: bench forward {string.Join(' ', args)}");
        Console.WriteLine($"batch {o.Batch} x {o.Sequence} tokens, {o.Threads} threads, 1 warm-up + {o.Repetitions} timed runs, median");
        var rows = new List<string> { "model,implementation,median_s,min_s,max_s,tokens_per_s,ratio_vs_pytorch,peak_rss_over_weight_bytes" };
        foreach (var name in o.Models)
        {
            var configPath = Path.Combine(BenchEnvironment.ProjectRoot, "eval", "Harness", "Benchmarks", "ModelShapes", name + ".json");
            var ours = MeasureOurs(configPath, o);
            var peer = o.Peer ? MeasurePeer(configPath, o) : null;
            double ratio = peer is null ? double.NaN : ours.TokensPerSecond / peer.Value.TokensPerSecond;
            Console.WriteLine($"{name,-20} ours     {ours.TokensPerSecond,9:F1} tok/s (median {ours.Median:F3}s, min {ours.Min:F3}, max {ours.Max:F3}); " +
                              $"peak RSS {ours.PeakRss / 1e9:F2} GB = {ours.PeakRss / (double)ours.WeightBytes:F2}x weight bytes ({ours.WeightBytes / 1e9:F2} GB)");
            if (peer is { } p)
                Console.WriteLine($"{name,-20} pytorch  {p.TokensPerSecond,9:F1} tok/s (median {p.Median:F3}s)  -> ours/pytorch = {ratio:F2}x");
            rows.Add(string.Join(',', name, ours.Implementation, F(ours.Median), F(ours.Min), F(ours.Max), F(ours.TokensPerSecond), F(ratio),
                F(ours.PeakRss / (double)ours.WeightBytes)));
            if (peer is { } q)
                rows.Add(string.Join(',', name, q.Implementation, F(q.Median), F(q.Min), F(q.Max), F(q.TokensPerSecond), "1", ""));
        }
        var outputDir = Path.Combine(BenchEnvironment.ProjectRoot, "results", "bench");
        Directory.CreateDirectory(outputDir);
        var csv = Path.Combine(outputDir, $"forward-{DateTime.UtcNow:yyyyMMdd-HHmmss}.csv");
        File.WriteAllLines(csv, rows);
        Console.WriteLine($"wrote {csv}");
        return 0;
    }

    private readonly record struct Measurement(string Implementation, double Median, double Min, double Max, double TokensPerSecond, long PeakRss, long WeightBytes);

    private static Measurement MeasureOurs(string configPath, Options o)
    {
        Eval.Harness.Benchmarks.Measurement.ResetPeakResident();
        var config = ModelConfig.Load(configPath);
        using var backend = new CpuBackend(o.Threads, o.Gemm);
        using var model = ModelLoader.Create(config, new RandomWeights(), backend);
        var rng = new Random(0);
        var ids = Enumerable.Range(0, o.Batch * o.Sequence).Select(_ => rng.Next(5, 1000)).ToArray();
        var batch = new TokenBatch(ids, Enumerable.Repeat(1, ids.Length).ToArray(), o.Batch, o.Sequence);
        var maskRows = Enumerable.Range(0, o.Batch).Select(b => b * o.Sequence + o.Sequence - 1).ToArray();
        var times = new List<double>();
        for (int r = 0; r <= o.Repetitions; r++)
        {
            var clock = Stopwatch.StartNew();
            using (var output = model.Forward(batch))
            using (model.Logits(output.LastHidden, maskRows)) { }
            if (r > 0) times.Add(clock.Elapsed.TotalSeconds);
        }
        double median = Eval.Harness.Benchmarks.Measurement.Median(times);
        return new Measurement($"ours ({backend.Name})", median, times.Min(), times.Max(), o.Batch * o.Sequence / median,
            Eval.Harness.Benchmarks.Measurement.PeakResidentBytes(), model.ParameterCount * sizeof(float));
    }

    private static Measurement? MeasurePeer(string configPath, Options o)
    {
        var script = Path.Combine(BenchEnvironment.ProjectRoot, "bench", "peers", "torch_forward.py");
        var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        var start = new ProcessStartInfo(python,
            [script, "--config", configPath, "--batch", $"{o.Batch}", "--seq", $"{o.Sequence}", "--threads", $"{o.Threads}", "--reps", $"{o.Repetitions}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        try
        {
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEnd();
            var stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                Console.WriteLine($"pytorch peer failed (exit {process.ExitCode}): {stderr.Trim().Split('\n').LastOrDefault()} " +
                                  "(Debian: apt-get install python3-torch)");
                return null;
            }
            using var doc = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]);
            var root = doc.RootElement;
            return new Measurement(root.GetProperty("peer").GetString()!, root.GetProperty("median_s").GetDouble(), root.GetProperty("min_s").GetDouble(),
                root.GetProperty("max_s").GetDouble(), root.GetProperty("tokens_per_s").GetDouble(), 0, 0);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Console.WriteLine($"pytorch peer not run: {e.Message}");
            return null;
        }
    }

    private static Options Parse(string[] args)
    {
        var o = new Options(["modernbert-large", "xlm-roberta-large"], 8, 256, 2, 3, GemmPath.Auto, true);
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            o = args[i] switch
            {
                "--models" => o with { Models = Next().Split(',', StringSplitOptions.RemoveEmptyEntries) },
                "--batch" => o with { Batch = int.Parse(Next()) },
                "--seq" => o with { Sequence = int.Parse(Next()) },
                "--threads" => o with { Threads = int.Parse(Next()) },
                "--reps" => o with { Repetitions = int.Parse(Next()) },
                "--gemm" => o with { Gemm = Enum.Parse<GemmPath>(Next(), ignoreCase: true) },
                "--no-peer" => o with { Peer = false },
                _ => throw new ArgumentException($"unknown option {args[i]}"),
            };
        }
        return o;
    }

    private static string F(double v) => double.IsNaN(v) ? "" : v.ToString("G6", CultureInfo.InvariantCulture);
}
