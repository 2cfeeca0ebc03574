using System.Globalization;
using Eval.Harness.Runs;
using Eval.Engine;
using Eval.Engine.IO;
using Eval.Harness.Data;
using Eval.Harness.Decoding;
using Eval.Harness.Scoring;
using Eval.Models;

namespace Eval.Harness.Benchmarks;

/// <summary>A model to measure: random weights on a carried shape, or a real checkpoint.</summary>
public sealed record BenchModel(string Name, Func<IBackend, ILanguageModel> Create, string Weights)
{
    public static BenchModel FromShape(string shape, bool miniature, int seed = 1)
    {
        var config = ModelShapes.Load(shape);
        if (miniature) config = ModelShapes.Miniature(config);
        return new BenchModel(miniature ? shape + "-mini" : shape, backend => ModelLoader.Create(config, new RandomWeights(seed), backend), "random");
    }
}

/// <summary>What to measure. Lengths are in tokens; ChoiceTokens is each answer choice's length for log-likelihood.</summary>
public sealed record DecodeBenchmarkOptions(
    IReadOnlyList<int> PromptLengths, IReadOnlyList<int> ChoiceCounts, int ChoiceTokens,
    int GenerationPromptLength, IReadOnlyList<int> GenerationLengths, IReadOnlyList<int> Iterations,
    int MaxBatch, int Repetitions)
{
    /// <summary>
    /// The issue's grid: prompts of 64/256/1024, 2–4 choices, L ∈ {1, 4, 16, 64, 256}, T ∈ {1, 4, 10} (10: the Instruct-XLMR
    /// authors' run_inf.sh).
    /// </summary>
    public static DecodeBenchmarkOptions Full { get; } = new([64, 256, 1024], [2, 3, 4], 2, 64, [1, 4, 16, 64, 256], [1, 4, 10], 32, 5);

    /// <summary>Small enough for CI: checks that every path runs and the CSV is well formed (T = 10 included, the paper's setting).</summary>
    public static DecodeBenchmarkOptions Quick { get; } = new([32], [2, 3], 2, 16, [1, 4], [1, 4, 10], 4, 2);

    public IReadOnlyList<int> Batches => MaxBatch > 1 ? [1, MaxBatch] : [1];
}

/// <summary>One measured (or skipped) case: batch latency over the repetitions, and its speed-up against the peer.</summary>
public sealed record DecodeBenchmarkRow(
    string Section, string Model, string Architecture, long Parameters, string Weights, string Method, int Choices,
    int PromptTokens, int NewTokens, int Iterations, int IterationsRun, int ForwardPasses, int Batch, Timing? Timing, string Status)
{
    public string? Peer { get; init; }
    public double? PeerMedianMs { get; init; }
    public double? Speedup => PeerMedianMs is { } peer && Timing is { } t ? peer / t.Median : null;
    public double? MsPerExample => Timing?.Median / Batch;
    public double? ExamplesPerSecond => Timing is { } t ? Batch * 1000.0 / t.Median : null;

    /// <summary>Generated tokens per second (generation), or prompt tokens per second (classification).</summary>
    public double? TokensPerSecond => Timing is { } t ? Batch * (Section == DecodeBenchmark.Generate ? NewTokens : PromptTokens) * 1000.0 / t.Median : null;
}

/// <summary>
/// Decode speed of masked LMs against autoregressive ones on the same prompts. Classification: a masked LM's single
/// [MASK] against a causal LM's log-likelihood over 2–4 choices and its restricted next token (an encoder–decoder LM's:
/// rank classification, the prompt encoded once). Generation: Mask-Predict with T iterations against greedy decoding
/// (an encoder–decoder LM's through its cross-attention and self-attention caches), for L new tokens. What runs for a
/// model is what its kind's entry in <see cref="ModelKinds"/> lists. Each case at batch 1 (latency) and at the largest batch
/// (throughput); one warm-up, then the median and range of the repetitions. Inputs are random token ids: speed does not
/// depend on them. A masked LM's peer is the causal LM of the run nearest to it in parameter count.
/// </summary>
public sealed class DecodeBenchmark(IBackend backend, Action<string> log)
{
    public const string Classify = "classify", Generate = "generate";

    public IReadOnlyList<DecodeBenchmarkRow> Run(IReadOnlyList<BenchModel> models, DecodeBenchmarkOptions options)
    {
        var rows = new List<DecodeBenchmarkRow>();
        foreach (var bench in models)
        {
            using var model = bench.Create(backend);
            log($"{bench.Name}: {ModelLoader.ResolveArchitecture(model.Config)}, {model.ParameterCount / 1e6:0.#}M parameters ({bench.Weights} weights)");
            var measurer = new ModelMeasurer(bench, model, options, rows, log);
            var kind = ModelKinds.Of(model);
            // Classification by the kind's scoring modes (eval-py and unrestricted cost what restricted costs; greedy
            // scoring is measured as generation), then generation by each of its methods.
            var scorer = kind.CreateScorer(model, null, model.Config.PadTokenId ?? 0);
            if (kind.ScoringModes.Contains(ScoringMode.Restricted)) measurer.SingleMask(scorer);
            if (kind.ScoringModes.Contains(ScoringMode.LogLikelihood)) measurer.LogLikelihoodAndNextToken(scorer, kind);
            foreach (var method in kind.Generation)
            {
                if (method == GenerationMethod.MaskPredict) measurer.MaskPredict();
                else measurer.Greedy();
            }
        }
        return WithPeers(rows);
    }

    /// <summary>Pairs each masked-LM row with the nearest-sized causal LM's matching row: log-likelihood over 3 choices (or the most measured), or greedy.</summary>
    public static List<DecodeBenchmarkRow> WithPeers(IReadOnlyList<DecodeBenchmarkRow> rows)
    {
        var causal = rows.Where(r => r.Method is "loglik" or "next-token" or "greedy").Select(r => (r.Model, r.Parameters)).Distinct().ToList();
        if (causal.Count == 0) return [.. rows];
        return rows.Select(r =>
        {
            if (r.Method is not ("single-mask" or "mask-predict")) return r;
            var peer = causal.MinBy(c => Math.Abs(Math.Log((double)c.Parameters / r.Parameters))).Model;
            var candidates = rows.Where(p => p.Model == peer && p.Section == r.Section && p.PromptTokens == r.PromptTokens
                                              && p.NewTokens == r.NewTokens && p.Batch == r.Batch && p.Timing is not null
                                              && p.Method == (r.Section == Classify ? "loglik" : "greedy")).ToList();
            var match = candidates.FirstOrDefault(p => p.Choices == 3) ?? candidates.LastOrDefault();
            return match is null ? r : r with { Peer = $"{peer} {match.Method}" + (match.Choices > 0 ? $" ({match.Choices} choices)" : ""), PeerMedianMs = match.Timing!.Median };
        }).ToList();
    }

    private sealed class ModelMeasurer(BenchModel bench, ILanguageModel model, DecodeBenchmarkOptions o, List<DecodeBenchmarkRow> rows, Action<string> log)
    {
        private readonly Random random = new(1234);
        private readonly int vocab = model.Config.VocabSize;
        private readonly int padId = model.Config.PadTokenId ?? 0;
        private readonly string architecture = ModelLoader.ResolveArchitecture(model.Config);

        private int[] RandomIds(int count) => Enumerable.Range(0, count).Select(_ => random.Next(10, vocab - 10)).ToArray();

        private void Add(string section, string method, int choices, int prompt, int newTokens, int iterations, int batch, Func<(int Iterations, int Forwards)> run)
        {
            var row = new DecodeBenchmarkRow(section, bench.Name, architecture, model.ParameterCount, bench.Weights, method, choices, prompt, newTokens,
                iterations, 0, 0, batch, null, "ok");
            if (prompt + newTokens + 2 > model.MaxSequenceLength)
            {
                row = row with { Status = $"skipped: {prompt} + {newTokens} tokens exceed the model's {model.MaxSequenceLength} positions" };
                log($"  {method,-12} prompt {prompt,5} new {newTokens,4} batch {batch,3}: {row.Status}");
                rows.Add(row);
                return;
            }
            (int Iterations, int Forwards) counts = default;
            try
            {
                var timing = Measurement.Time(() => counts = run(), o.Repetitions);
                row = row with { Timing = timing, IterationsRun = counts.Iterations, ForwardPasses = counts.Forwards };
            }
            catch (OutOfMemoryException)
            {
                row = row with { Status = $"skipped: out of memory at batch {batch}" };
            }
            rows.Add(row);
            log(row.Timing is { } t
                ? $"  {method,-12} {(choices > 0 ? $"k={choices} " : iterations > 0 ? $"T={iterations} " : ""),-5}prompt {prompt,5} new {newTokens,4} batch {batch,3}: " +
                  $"median {t.Median,10:0.00} ms (min {t.Min:0.00}, max {t.Max:0.00})"
                : $"  {method,-12} batch {batch}: {row.Status}");
        }

        public void SingleMask(IChoiceScorer scorer)
        {
            int[] verbalizers = RandomIds(3);
            foreach (int p in o.PromptLengths)
                foreach (int batch in o.Batches)
                {
                    var prompts = Enumerable.Range(0, batch).Select(i =>
                    {
                        var ids = RandomIds(p);
                        ids[p - 2] = vocab - 1;
                        return new MaskedPrompt(new Document(i, new Dictionary<string, object?>(), "bench"), "", ["a", "b", "c"], 0, ids, p - 2, 1,
                            verbalizers.Select(v => new[] { v }).ToList(), [-1, -1, -1], false);
                    }).ToList();
                    Add(Classify, "single-mask", 3, p, 0, 0, batch, () => { scorer.Score(prompts, ScoringMode.Restricted); return (0, 1); });
                }
        }

        public void MaskPredict()
        {
            bool sourceTarget = model is ISourceTargetModel;
            var decoder = new MaskPredictDecoder(model, vocab - 1, padId, model.Config.BosTokenId ?? 0, model.Config.EosTokenIds.FirstOrDefault(2));
            var layout = sourceTarget ? MaskPredictLayout.SourceTarget : MaskPredictLayout.Appended;
            foreach (int length in o.GenerationLengths)
                foreach (int iterations in o.Iterations)
                    foreach (int batch in o.Batches)
                    {
                        var inputs = Enumerable.Range(0, batch)
                            .Select(_ => new MaskPredictInput(RandomIds(o.GenerationPromptLength), sourceTarget ? [] : RandomIds(1))).ToList();
                        var lengths = Enumerable.Repeat(length, batch).ToList();
                        Add(Generate, "mask-predict", 0, o.GenerationPromptLength, length, iterations, batch, () =>
                        {
                            var outputs = decoder.Decode(inputs, iterations, lengths, layout);
                            return (outputs.Max(x => x.Iterations), outputs.Max(x => x.ForwardPasses));
                        });
                    }
        }

        /// <summary>
        /// Log-likelihood over k choices and the restricted next token, per prompt length: a causal LM's context and
        /// continuations, an encoder–decoder LM's source (encoded once) and targets (rank classification).
        /// </summary>
        public void LogLikelihoodAndNextToken(IChoiceScorer scorer, ModelKindEntry kind)
        {
            foreach (int p in o.PromptLengths)
                foreach (int batch in o.Batches)
                {
                    foreach (int k in o.ChoiceCounts)
                    {
                        var prompts = Prompts(kind, batch, p, k);
                        Add(Classify, "loglik", k, p, 0, 0, batch, () => { scorer.Score(prompts, ScoringMode.LogLikelihood); return (0, o.ChoiceTokens > 1 ? 2 : 1); });
                    }
                    var single = Prompts(kind, batch, p, 3);
                    Add(Classify, "next-token", 3, p, 0, 0, batch, () => { scorer.Score(single, ScoringMode.NextToken); return (0, 1); });
                }
        }

        /// <summary>Greedy decoding of L tokens after a prompt (an encoder–decoder LM: the prompt encoded once, the decoder from its start token), both through caches.</summary>
        public void Greedy()
        {
            var greedy = new GreedyDecoder(model, padId);
            foreach (int length in o.GenerationLengths)
                foreach (int batch in o.Batches)
                {
                    var inputs = Enumerable.Range(0, batch).Select(_ => RandomIds(o.GenerationPromptLength)).ToList();
                    Add(Generate, "greedy", 0, o.GenerationPromptLength, length, 0, batch, () =>
                    {
                        greedy.Generate(inputs, length, new HashSet<int>());
                        return (length, length);
                    });
                }
        }

        /// <summary>Prompts of p − ChoiceTokens tokens, each followed by k choices of ChoiceTokens tokens: p tokens per choice in all.</summary>
        private List<IScoredPrompt> Prompts(ModelKindEntry kind, int batch, int p, int k) => Enumerable.Range(0, batch).Select(i => kind.PromptFromIds!(
            new Document(i, new Dictionary<string, object?>(), "bench"), RandomIds(p - o.ChoiceTokens),
            Enumerable.Range(0, k).Select(_ => RandomIds(o.ChoiceTokens)).ToList())).ToList();
    }

    public static readonly string[] CsvHeader =
    [
        "section", "model", "architecture", "parameters", "weights", "method", "choices", "prompt_tokens", "new_tokens", "iterations",
        "iterations_run", "forward_passes", "batch", "reps", "median_ms", "min_ms", "max_ms", "ms_per_example", "examples_per_s",
        "tokens_per_s", "peer", "peer_median_ms", "speedup_vs_peer", "status", "backend", "machine", "command",
    ];

    public static void WriteCsv(string path, IReadOnlyList<DecodeBenchmarkRow> rows, string backendName, string machine, string command)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        static string F(double? v) => v is { } x && double.IsFinite(x) ? x.ToString("0.####", CultureInfo.InvariantCulture) : "";
        static string I(long v) => v.ToString(CultureInfo.InvariantCulture);
        ResultFiles.WriteCsv(path, rows.Select(r => (IReadOnlyList<string>)
        [
            r.Section, r.Model, r.Architecture, I(r.Parameters), r.Weights, r.Method, I(r.Choices), I(r.PromptTokens), I(r.NewTokens),
            I(r.Iterations), I(r.IterationsRun), I(r.ForwardPasses), I(r.Batch), I(r.Timing?.Milliseconds.Count ?? 0),
            F(r.Timing?.Median), F(r.Timing?.Min), F(r.Timing?.Max), F(r.MsPerExample), F(r.ExamplesPerSecond), F(r.TokensPerSecond),
            r.Peer ?? "", F(r.PeerMedianMs), F(r.Speedup), r.Status, backendName, machine, command,
        ]).Prepend(CsvHeader));
    }
}
