using System.CommandLine;
using Eval.Harness.Data;
using Eval.Harness.Runs;
using Eval.Harness.Scoring;
using Eval.Harness.Tasks;
using Eval.Models;
using Eval.Tokenizers;
using Spectre.Console;

namespace Eval.Cli;

/// <summary>`mlm-eval eval`: zero-shot evaluation of a masked LM on tasks from prompts/, written to a results folder.</summary>
public sealed class EvalCommand
{
    private readonly Option<string> task = new("--task") { Description = "task name(s), comma-separated (see `mlm-eval tasks`)", Required = true };
    /// <summary>The model the project is about, evaluated when --model is not given.</summary>
    public const string DefaultModel = "answerdotai/ModernBERT-Large-Instruct";

    private readonly Option<string> model = new("--model")
    {
        Description = $"model folder, or hub id org/name[@revision] (downloaded into the hub cache; default {DefaultModel})",
        DefaultValueFactory = _ => DefaultModel,
    };
    private readonly Option<string?> tokenizer = new("--tokenizer") { Description = "folder with tokenizer.json, when it is not in the model folder" };
    private readonly Option<string?> languages = new("--languages") { Description = "languages (or MMLU subjects), comma-separated; default all" };
    private readonly Option<string[]> templates = new("--templates") { Description = "template name(s); repeat the option for several; default all", AllowMultipleArgumentsPerToken = false };
    private readonly Option<string?> split = new("--split") { Description = "split (default: the task's, e.g. validation for XNLI, test for XCOPA)" };
    private readonly Option<int?> limit = new Option<int?>("--limit") { Description = "first N examples of each language" }.AtLeast(1);
    private readonly Option<int> batchSize = new Option<int>("--batch-size")
    {
        Description = "examples per forward pass (with --max-batch-tokens: at most this many, default unlimited)", DefaultValueFactory = _ => 8,
    }.AtLeast(1);
    private readonly Option<int?> maxBatchTokens = new Option<int?>("--max-batch-tokens")
    {
        Description = "fill each batch up to this many padded tokens (count × longest prompt) instead of a fixed count: full batches on a GPU",
    }.AtLeast(1);
    private readonly Option<string?> output = new("--output") { Description = "results folder (default results/<model>-<task>)" };
    private readonly Option<string[]> dataDir = new("--data-dir") { Description = "folder(s) holding offline copies of the datasets (e.g. ../shared/datasets)" };
    private readonly Option<string?> scoring = new("--scoring")
    {
        Description = "masked LMs: restricted (default; verbalizer log-probs), eval-py (P(X)+P( X), ModernBERT-Instruct eval.py), unrestricted (full-vocabulary argmax); " +
                      "causal LMs: loglik (default; acc and acc_norm as lm-evaluation-harness), next-token (verbalizers' first tokens), greedy (generate, then match)",
    };
    private readonly Option<int?> maxLength = new Option<int?>("--max-length") { Description = "longest prompt in tokens (default: the model's)" }.AtLeast(2);
    private readonly Option<string?> prompts = ProjectPaths.PromptsOption();
    private readonly Option<string?> cache = new("--cache") { Description = "SQLite score cache (default: <output>/scores.sqlite)" };
    private readonly Option<bool> offline = new("--offline") { Description = "never download; use --data-dir, the caches and local folders only" };
    private readonly Option<bool> force = new("--force")
    {
        Description = "evaluate into an --output folder that holds another model's run: its results files are replaced (scores.sqlite keeps both models' scores)",
    };
    private readonly Option<bool> noSampleText = new("--no-sample-text")
    {
        Description = "write samples_<task>.jsonl without prompts and choice texts (ids, scores, predictions only): for baselines kept where dataset text may not be copied",
    };
    private readonly BackendOptions backend = new();
    private readonly FairseqOptions fairseq = new();
    private readonly ShardOptions shard = new();

    public Command Build()
    {
        var command = new Command("eval", "Evaluate a model zero-shot: a masked LM by its [MASK] (or fixed-length slot) over the answer choices, a causal LM by log-likelihood, next token or greedy generation");
        foreach (var o in new Option[] { task, model, tokenizer, languages, templates, split, limit, batchSize, maxBatchTokens, output, dataDir, scoring, maxLength, prompts, cache, offline, force, noSampleText })
            command.Options.Add(o);
        backend.AddTo(command);
        fairseq.AddTo(command);
        shard.AddTo(command);
        command.SetAction(result => CommandRunner.Run(() => Run(result)));
        return command;
    }

    private void Run(ParseResult result)
    {
        var started = DateTime.UtcNow;
        var deviceList = DeviceList.Parse(result.GetValue(backend.Device));
        if (deviceList is null) backend.Validate(result);
        else BackendOptions.ParsePrecision(result.GetValue(backend.Precision));
        var shardSpec = shard.Resolve(result, Environment.GetEnvironmentVariable);
        var registry = ProjectPaths.LoadTasks(result.GetValue(prompts));
        var tasks = Split(result.GetValue(task)).Select(registry.Get).ToList();
        // Everything the options alone can get wrong fails here, before a model is resolved, downloaded or loaded.
        TaskSelection.Validate(tasks, Split(result.GetValue(languages)), result.GetValue(templates));
        var namedMode = result.GetValue(scoring) is { } named ? ScoringModes.Parse(named) : (ScoringMode?)null;
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
        if (deviceList is not null)
        {
            RunOnDevices(result, deviceList, tasks, registry.Get, http);
            return;
        }
        // From here on Ctrl-C and SIGTERM (a cluster's time limit, scancel, preemption) stop the run with a message;
        // a child of a multi-device run stops when its parent says so (ShardChild).
        bool isChild = ShardChild.IsChild(Environment.GetEnvironmentVariable);
        using var stop = new StopSignals(StopSignals.DefaultGrace, message => Console.Error.WriteLine(message), Environment.Exit, parentStopsOnly: isChild);
        if (isChild) ShardChild.ListenForStops(Console.In, stop.Request);

        var (modelId, modelDir, tokenizerDir, tok, store, weights, tokenizerDigest, fingerprint) = Prepare(result, tasks, http);
        var outDir = OutputFolder(result, tasks);
        var cachePath = result.GetValue(cache) ?? Path.Combine(outDir, "scores.sqlite");
        // One run per output folder (a second process stops here, naming the first), and never over another model's run.
        using var folderLock = RunFolderLock.Acquire(outDir);
        if (RunFolderModel.Other(outDir, fingerprint, result.GetValue(cache) is null ? cachePath : null) is { } other)
        {
            if (!result.GetValue(force))
                throw new InvalidOperationException($"{other}: choose another --output, or pass --force to replace its results with this model's");
            Log($"--force: {other}; its results are replaced");
        }

        using var engine = backend.Create(result, Log);
        using var lm = ModelLoader.Load(modelDir, engine, fairseq.Overrides(result));
        Log(LoadedModelReport.Describe(lm));
        tok.RequireFits(lm.Config.VocabSize, modelDir);
        FairseqDictionary.VerifyFolder(modelDir, tok.TokenToId, tok.Path);
        int modelMax = lm.MaxSequenceLength;
        int max = result.GetValue(maxLength) ?? modelMax;
        if (max < 2 || max > modelMax) throw new ArgumentException($"--max-length {max} must be between 2 and the model's {modelMax}");
        var mode = namedMode ?? ModelKinds.Of(lm).DefaultScoring;
        using var scores = new ScoreCache(cachePath);
        stop.ScoresPath = scores.Path;

        var tokenBudget = result.GetValue(maxBatchTokens);
        // With a token budget the batch size is only a cap, and an unset one does not cap.
        int examplesPerBatch = tokenBudget is not null && result.GetResult(batchSize) is null or { Implicit: true } ? int.MaxValue : result.GetValue(batchSize);
        var request = new EvalRequest(tasks, Split(result.GetValue(languages)), result.GetValue(templates), result.GetValue(split),
            result.GetValue(limit), examplesPerBatch, mode, max) { MaxBatchTokens = tokenBudget, Shard = shardSpec, EncodingThreads = result.GetValue(backend.Threads) };
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(modelId)}[/] ({Markup.Escape(ModelLoader.ResolveArchitecture(lm.Config))}, {lm.ParameterCount / 1e6:0.#}M parameters, {Markup.Escape(engine.Name)}) · scores cached in {Markup.Escape(scores.Path)}");

        var runner = new EvaluationRunner(lm, tok, store, scores, fingerprint, message => Console.Error.WriteLine($"warning: {message}"));
        // On the GPU backend, what the device did while the run scored goes to run.json (timings.device_work) and the console.
        var gpu = engine as Eval.Engine.Gpu.IlgpuBackend;
        var workBefore = gpu?.Work;
        RunOutcome outcome;
        try
        {
            outcome = ProgressDisplay.Run(progress => runner.Run(request, progress, stop.Token));
        }
        catch (OperationCanceledException) when (stop.Received is not null)
        {
            Log($"{scores.Count()} scores are kept in {scores.Path}");
            throw stop.Stopped();
        }
        stop.Finishing();

        var meta = new RunMetadata(modelId, modelDir, ModelLoader.ResolveArchitecture(lm.Config), lm.ParameterCount, weights, fingerprint,
            tokenizerDir, tokenizerDigest, ProjectPaths.GitCommit(), engine.Name, ScoringModes.NameOf(mode), request.BatchSize, max, request.Limit,
            Environment.GetCommandLineArgs(), started)
        {
            DeviceWork = gpu?.Work.Since(workBefore!),
        };
        if (meta.DeviceWork is { } done) Log($"{gpu!.DeviceName} while scoring: {done}");
        var finished = ResultWriter.Finish(outDir, outcome, meta, sampleText: !result.GetValue(noSampleText));
        ProgressDisplay.PrintSummary(finished.Summary);
        AnsiConsole.MarkupLine($"{outcome.Examples.Count} examples ({outcome.Scored} scored, {outcome.Cached} from the cache) in {outcome.Seconds:0.0} s → {Markup.Escape(outDir)}");
        foreach (var f in finished.Files) Console.WriteLine($"  {f}");
    }

    /// <summary>What a run needs before its model loads, each step failing in one line before any model time is spent.</summary>
    private sealed record RunInputs(string ModelId, string ModelDir, string TokenizerDir, Tokenizer Tokenizer, DatasetStore Store,
        IReadOnlyDictionary<string, string> Weights, string TokenizerDigest, string Fingerprint);

    /// <summary>
    /// The model resolved (downloaded into the hub cache when it is not there), its tokenizer loaded, the data loaded and
    /// every template rendered once on each subset's first document, and the model's fingerprint.
    /// </summary>
    private RunInputs Prepare(ParseResult result, IReadOnlyList<TaskDefinition> tasks, HttpClient http)
    {
        bool isOffline = result.GetValue(offline);
        var modelId = result.GetValue(model)!;
        var hub = HubModelStore.FromEnvironment(isOffline ? null : http, Log);
        var modelDir = hub.Resolve(modelId);
        var tokenizerDir = result.GetValue(tokenizer) ?? modelDir;
        var tok = Tokenizer.Load(tokenizerDir);
        if (File.Exists(tokenizerDir)) tokenizerDir = Path.GetDirectoryName(Path.GetFullPath(tokenizerDir))!;

        var store = new DatasetStore(result.GetValue(dataDir) ?? [], DatasetStore.DefaultCacheDirectory(), isOffline ? null : new Downloader(http), Log, hub);
        foreach (var t in tasks) TaskPlanner.Plan(t, Split(result.GetValue(languages)), result.GetValue(templates), result.GetValue(split), store);

        var weights = ModelFingerprint.WeightDigests(modelDir);
        var tokenizerDigest = ModelFingerprint.TokenizerDigest(tokenizerDir);
        var fingerprint = ModelFingerprint.Combine(weights, Path.Combine(modelDir, "config.json"), tokenizerDigest);
        return new RunInputs(modelId, modelDir, tokenizerDir, tok, store, weights, tokenizerDigest, fingerprint);
    }

    /// <summary>
    /// --device cuda:all, cuda:0,1,3 or ilgpu-cpu:0,1: a child process per device, then their shards merged here. The
    /// parent first does what one process does before its model loads (<see cref="Prepare"/>: the model downloaded once,
    /// not by every child; the data and templates checked; the output folder refused if it holds another model's run),
    /// so a mistake costs no device time.
    /// </summary>
    private void RunOnDevices(ParseResult result, DeviceList devices, IReadOnlyList<TaskDefinition> tasks, Func<string, TaskDefinition> taskNamed,
        HttpClient http)
    {
        if (result.GetValue(shard.Shard) is not null || result.GetValue(shard.ShardCount) is not null)
            throw new ArgumentException($"--device {devices} shards the run over its devices itself; leave out --shard (or run one device per shard)");
        if (result.GetValue(cache) is not null)
            throw new ArgumentException($"--device {devices}: each device's shard keeps its scores in its own folder; leave out --cache");
        var children = devices.Resolve(Environment.GetEnvironmentVariable("CUDA_VISIBLE_DEVICES"), Eval.Engine.Gpu.IlgpuDevices.CountCuda);
        var inputs = Prepare(result, tasks, http);
        MultiDeviceEval.Run(new MultiDeviceRequest(devices, OutputFolder(result, tasks), result.GetValue(force), taskNamed, MultiDeviceEval.ChildArguments(result),
            Environment.GetCommandLineArgs()) { Fingerprint = inputs.Fingerprint }, children);
    }

    /// <summary>--output, or results/&lt;model&gt;-&lt;tasks&gt;.</summary>
    private string OutputFolder(ParseResult result, IReadOnlyList<TaskDefinition> tasks) =>
        result.GetValue(output) ?? Path.Combine("results", ProjectPaths.RunName(result.GetValue(model)!, tasks.Select(t => t.Name)));

    private static void Log(string message) => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(message)}[/]");

    private static IReadOnlyList<string> Split(string? text) =>
        text is null ? [] : text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
