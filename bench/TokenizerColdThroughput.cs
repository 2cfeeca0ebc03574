using System.Diagnostics;
using System.Text.Json;
using Eval.Harness.Benchmarks;

namespace Eval.Bench;

/// <summary>
/// Cold-cache tokens per second over unique real text: the unique premises of XNLI's test split (15 languages, read from
/// ../shared/datasets, never copied), each pass on a freshly loaded instance so no piece cache helps, single-threaded and
/// on all cores, for each tokenizer in ../shared/tokenizers: ours beside Hugging Face's Rust library in the same process
/// (Tokenizers.DotNet), Microsoft.ML.Tokenizers where it can load the tokenizer, and npm `tokenizers` under node
/// (bench/peers, RAYON_NUM_THREADS=1 and default). Exactness: lines whose ids equal the Rust library's. Rates count the
/// Rust library's tokens for every implementation (the same work per second), and each one's own token count is shown
/// beside it as a share of Rust's: an inexact peer that emits many more or fewer tokens is not a faster one.
/// </summary>
public static class TokenizerColdThroughput
{
    private static readonly string[] Names = ["modernbert", "smollm2", "llama2-phi3", "unigram-t5-small", "unigram-t5-ru"];

    public static int Run(string[] args)
    {
        int reps = Option(args, "--reps", 3);
        int threads = Option(args, "--threads", Environment.ProcessorCount);
        bool node = !args.Contains("--no-node");
        bool interleave = args.Contains("--interleave");
        var names = Array.IndexOf(args, "--tokenizers") is var at && at >= 0 && at + 1 < args.Length ? args[at + 1].Split(',') : Names;
        // --peers ours,rust: only the implementations whose names start with one of these (ours and the Rust library
        // are always measured alike: fresh instance per pass, same texts, Rust's token count as the work).
        var peerFilter = Array.IndexOf(args, "--peers") is var pa && pa >= 0 && pa + 1 < args.Length ? args[pa + 1].Split(',') : null;
        var shared = Path.GetFullPath(Path.Combine(BenchEnvironment.ProjectRoot, "..", "shared"));
        var texts = UniquePremises(Path.Combine(shared, "datasets", "xnli"), "test");
        var warmUp = File.ReadLines(Path.Combine(shared, "fixtures", "tokenizers", "smollm2.jsonl"))
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("text").GetString()!).ToArray();
        Console.WriteLine($"machine: {Measurement.Machine()}");
        Console.WriteLine($"command: bench tokenize-cold --reps {reps} --threads {threads}{(node ? "" : " --no-node")}{(names == Names ? "" : $" --tokenizers {string.Join(',', names)}")}{(peerFilter is null ? "" : $" --peers {string.Join(',', peerFilter)}")}{(interleave ? " --interleave" : "")}  " +
                          $"({texts.Length:N0} unique XNLI test premises; per pass a fresh instance, load not timed; median of {reps} passes after a warm-up on other text)");
        Console.WriteLine($"{"tokenizer",-17} {"implementation",-50} {"1 thread tok/s",14} {"vs rust",8} {$"{threads} threads tok/s",15} {"vs rust",8} {"exact vs rust",14} {"own tokens",11}");
        foreach (var name in names)
        {
            var folder = Path.Combine(shared, "tokenizers", name);
            var results = new List<(string Peer, double Single, double Parallel, int[][] Ids)>();
            long rustTokens = 0;
            var peers = new List<TokenizerPeer>();
            foreach (var peer in TokenizerPeers.For(folder))
            {
                if (peerFilter is not null && !peerFilter.Any(p => peer.Name.StartsWith(p, StringComparison.OrdinalIgnoreCase))) continue;
                try
                {
                    using (var warm = peer.Create()) foreach (var t in warmUp) warm.Encode(t);
                    peers.Add(peer);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    Console.WriteLine($"{name,-17} {peer.Name,-50} failed: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
                }
            }
            // Without --interleave each implementation runs its passes in a row; with it, one pass of each in turn per
            // round (load from other processes then falls on all alike), the median over the rounds.
            int rounds = interleave ? reps : 1, passes = interleave ? 1 : reps;
            var singles = peers.ToDictionary(p => p, _ => new List<double>());
            var parallels = peers.ToDictionary(p => p, _ => new List<double>());
            var lastIds = new Dictionary<TokenizerPeer, int[][]>();
            for (int round = 0; round < rounds; round++)
                foreach (var peer in peers.ToArray())
                {
                    try
                    {
                        var (single, ids) = Measure(peer, texts, passes, 1);
                        var (parallel, _) = Measure(peer, texts, passes, threads);
                        singles[peer].Add(single);
                        parallels[peer].Add(parallel);
                        lastIds[peer] = ids;
                    }
                    catch (Exception e) when (e is not OutOfMemoryException)
                    {
                        Console.WriteLine($"{name,-17} {peer.Name,-50} failed: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
                        peers.Remove(peer);
                    }
                }
            foreach (var peer in peers)
                results.Add((peer.Name, Measurement.Median(singles[peer]), Measurement.Median(parallels[peer]), lastIds[peer]));
            var rust = results.FirstOrDefault(r => r.Peer.StartsWith("rust", StringComparison.Ordinal));
            if (rust.Ids is not null) rustTokens = rust.Ids.Sum(x => (long)x.Length);
            foreach (var (peer, singleSeconds, parallelSeconds, ids) in results)
            {
                long own = ids.Sum(x => (long)x.Length), work = rustTokens > 0 ? rustTokens : own;
                double single = work / singleSeconds, parallel = work / parallelSeconds;
                Console.WriteLine($"{name,-17} {peer,-50} {single,14:N0} {Ratio(single, work / rust.Single),8} {parallel,15:N0} " +
                                  $"{Ratio(parallel, work / rust.Parallel),8} {Exact(ids, rust.Ids),14} {(double)own / work,10:P1}");
            }
            if (node)
                foreach (var (label, rayon) in new[] { ("npm tokenizers 0.23.2, RAYON_NUM_THREADS=1", "1"), ("npm tokenizers 0.23.2, rayon default", "") })
                    if (RunNode(folder, texts, reps, rayon) is { } tokensPerSecond)
                    {
                        string rate = $"{tokensPerSecond,14:N0} {Ratio(tokensPerSecond, rustTokens / rust.Single),8}", none = $"{"",14} {"",8}";
                        string parallelRate = $"{tokensPerSecond,15:N0} {Ratio(tokensPerSecond, rustTokens / rust.Parallel),8}", parallelNone = $"{"",15} {"",8}";
                        Console.WriteLine($"{name,-17} {label,-50} {(rayon == "1" ? rate : none)} {(rayon == "1" ? parallelNone : parallelRate)}");
                    }
        }
        return 0;
    }

    /// <summary>Median seconds per pass over reps passes, each on a fresh instance; the ids of the last pass.</summary>
    private static (double Seconds, int[][] Ids) Measure(TokenizerPeer peer, string[] texts, int reps, int threads)
    {
        var times = new List<double>();
        var ids = new int[texts.Length][];
        for (int r = 0; r < reps; r++)
        {
            using var instance = peer.Create();
            GC.Collect();
            var clock = Stopwatch.StartNew();
            if (threads == 1)
                for (int i = 0; i < texts.Length; i++) ids[i] = instance.Encode(texts[i]);
            else
                Parallel.For(0, texts.Length, new ParallelOptions { MaxDegreeOfParallelism = threads }, i => ids[i] = instance.Encode(texts[i]));
            times.Add(clock.Elapsed.TotalSeconds);
        }
        return (Measurement.Median(times), ids);
    }

    private static string Ratio(double value, double reference) => reference > 0 ? $"{value / reference:F2}x" : "-";

    private static string Exact(int[][] ids, int[][]? reference)
    {
        if (reference is null) return "-";
        int same = 0;
        for (int i = 0; i < ids.Length; i++) if (ids[i].AsSpan().SequenceEqual(reference[i])) same++;
        return same == ids.Length ? "100%" : $"{100.0 * same / ids.Length:F2}%";
    }

    /// <summary>The distinct premises of every xnli_{split}_*.tsv, in file order.</summary>
    public static string[] UniquePremises(string folder, string split)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<string>();
        foreach (var file in Directory.GetFiles(folder, $"xnli_{split}_*.tsv").Order(StringComparer.Ordinal))
            foreach (var line in File.ReadLines(file).Skip(1))
                if (line.Split('\t') is [_, var premise, ..] && seen.Add(premise)) result.Add(premise);
        return result.ToArray();
    }

    /// <summary>npm tokenizers under node (bench/peers/tokenizers_cold.mjs) on the same texts; null when node or the package is missing.</summary>
    private static double? RunNode(string folder, string[] texts, int reps, string rayonThreads)
    {
        var peers = Path.Combine(BenchEnvironment.ProjectRoot, "bench", "peers");
        if (!Directory.Exists(Path.Combine(peers, "node_modules", "tokenizers"))) return null;
        var textsFile = Path.Combine(Path.GetTempPath(), $"eval-bench-texts-{Environment.ProcessId}.json");
        File.WriteAllText(textsFile, JsonSerializer.Serialize(texts));
        try
        {
            var start = new ProcessStartInfo("node", [Path.Combine(peers, "tokenizers_cold.mjs"), folder, textsFile, $"{reps}"])
            {
                RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = peers,
            };
            if (rayonThreads.Length > 0) start.Environment["RAYON_NUM_THREADS"] = rayonThreads;
            using var process = Process.Start(start)!;
            var error = process.StandardError.ReadToEndAsync();
            var output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                Console.WriteLine($"node peer failed: {error.Result.Trim().Split('\n').LastOrDefault()}");
                return null;
            }
            using var doc = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
            return doc.RootElement.GetProperty("tokens_per_s").GetDouble();
        }
        catch (System.ComponentModel.Win32Exception) { return null; }
        finally { File.Delete(textsFile); }
    }

    private static int Option(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : fallback;
    }
}
