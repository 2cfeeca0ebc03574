using System.Diagnostics;
using System.Text.Json;
using Eval.Tokenizers;

namespace Eval.Bench;

/// <summary>
/// Tokens per second of our tokenizer, single-threaded, on the fixture texts of each tokenizer in ../shared, beside
/// @huggingface/tokenizers under node on the same texts in the same run (bench/peers; `npm install` there first).
/// </summary>
public static class TokenizerThroughput
{
    public static int Run(string[] args)
    {
        int reps = args.Length > 0 ? int.Parse(args[0]) : 5;
        var shared = Path.GetFullPath(Path.Combine(BenchEnvironment.ProjectRoot, "..", "shared"));
        var peers = Path.Combine(BenchEnvironment.ProjectRoot, "bench", "peers");
        Console.WriteLine($"machine: {Eval.Harness.Benchmarks.Measurement.Machine()}");
        Console.WriteLine($"command: bench tokenize {reps}  (1 warm-up + {reps} passes over every fixture line, median, single thread)");
        foreach (var name in new[] { "modernbert", "smollm2", "llama2-phi3", "unigram-t5-small", "unigram-t5-ru" })
        {
            var dir = Path.Combine(shared, "tokenizers", name);
            var texts = Path.Combine(shared, "fixtures", "tokenizers", name + ".jsonl");
            var lines = File.ReadLines(texts).Select(l => JsonDocument.Parse(l).RootElement)
                .Select(r => (r.GetProperty("text").GetString()!, r.GetProperty("add_special_tokens").GetBoolean())).ToArray();
            var tokenizer = Tokenizer.Load(dir);
            var times = new List<double>();
            int tokens = 0;
            for (int r = 0; r <= reps; r++)
            {
                var clock = Stopwatch.StartNew();
                int count = 0;
                foreach (var (text, special) in lines) count += tokenizer.Encode(text, special).Ids.Count;
                if (r > 0) times.Add(clock.Elapsed.TotalSeconds);
                tokens = count;
            }
            double ours = tokens / Eval.Harness.Benchmarks.Measurement.Median(times);
            var peer = RunPeer(peers, dir, texts, reps);
            Console.WriteLine(peer is { } p
                ? $"{name,-18} ours {ours,12:N0} tok/s   js {p,12:N0} tok/s   ours/js = {ours / p:F2}x"
                : $"{name,-18} ours {ours,12:N0} tok/s   (js peer not run: cd bench/peers && npm install)");
        }
        return 0;
    }

    private static double? RunPeer(string peers, string dir, string texts, int reps)
    {
        if (!Directory.Exists(Path.Combine(peers, "node_modules"))) return null;
        var start = new ProcessStartInfo("node", [Path.Combine(peers, "tokenizers_bench.mjs"), dir, texts, $"{reps}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = peers,
        };
        try
        {
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEnd();
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                Console.WriteLine($"js peer failed: {error.Trim().Split('\n').LastOrDefault()}");
                return null;
            }
            using var doc = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
            return doc.RootElement.GetProperty("tokens_per_s").GetDouble();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
