using System.Diagnostics;
using System.Text.Json;
using Eval.Harness.Runs;

namespace Eval.Tests.Harness;

/// <summary>
/// `mlm-eval eval` as users run it, in a child process: the modernbert-tiny fixture with the real ModernBERT
/// tokenizer on real XCOPA and MMLU rows from ../shared/datasets.
/// </summary>
[TestClass]
public sealed class EndToEndTests
{
    internal static (int ExitCode, string Output) RunEval(string output, params string[] extra) => ProgramProcess.Wait(StartEval(output, extra));

    internal static Process StartEval(string output, params string[] extra) => StartEval(output, interruptible: false, extra);

    internal static Process StartEval(string output, bool interruptible, params string[] extra) =>
        StartEvalOf(SharedFixtures.Model("modernbert-tiny"), output, interruptible, extra);

    /// <summary>`eval` of another model folder, with the ModernBERT tokenizer and the rest as <see cref="StartEval(string, bool, string[])"/>.</summary>
    internal static (int ExitCode, string Output) RunEvalOf(string model, string output, params string[] extra) =>
        ProgramProcess.Wait(StartEvalOf(model, output, interruptible: false, extra));

    private static Process StartEvalOf(string model, string output, bool interruptible, params string[] extra) => ProgramProcess.Start(
        new[] { "eval", "--model", model, "--tokenizer",
            Path.Combine(SharedFixtures.Shared, "tokenizers", "modernbert"), "--data-dir", Path.Combine(SharedFixtures.Shared, "datasets"),
            "--offline", "--threads", "1", "--output", output }.Concat(extra),
        new Dictionary<string, string>
        {
            ["EVAL_PROMPTS"] = Path.Combine(SharedFixtures.ProjectRoot, "prompts"),
            ["EVAL_DATA_CACHE"] = Path.Combine(output, "data-cache"),
            ["HF_HUB_OFFLINE"] = "1",
        }, interruptible: interruptible);

    internal static Dictionary<(string, string, string, int), JsonElement> Samples(string folder, params string[] tasks)
    {
        var result = new Dictionary<(string, string, string, int), JsonElement>();
        foreach (var task in tasks)
            foreach (var line in File.ReadLines(Path.Combine(folder, $"samples_{task}.jsonl")))
            {
                var e = JsonDocument.Parse(line).RootElement;
                var key = (e.GetProperty("task").GetString()!, e.GetProperty("language").GetString()!, e.GetProperty("template").GetString()!, e.GetProperty("doc_id").GetInt32());
                Assert.IsTrue(result.TryAdd(key, e), $"{key} appears twice");
            }
        return result;
    }

    [TestMethod]
    public void WritesEveryOutputFileForXcopaAndMmlu()
    {
        var dir = SharedFixtures.TempDirectory();
        var (code, output) = RunEval(dir, "--task", "xcopa,mmlu", "--languages", "et,anatomy,astronomy", "--limit", "6", "--batch-size", "4");
        Assert.AreEqual(0, code, output);

        using var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "results.json")));
        var perTemplate = results.RootElement.GetProperty("results").EnumerateObject().Where(p => p.Name.Contains("::")).ToList();
        Assert.AreEqual(5 + 2 * 3, perTemplate.Count, "5 XCOPA templates × et + 3 MMLU templates × 2 subjects");
        foreach (var r in perTemplate)
        {
            var acc = r.Value.GetProperty("acc,none").GetDouble();
            Assert.IsTrue(acc is >= 0 and <= 1, r.Name);
            Assert.AreEqual(6, r.Value.GetProperty("n").GetInt32());
            Assert.IsTrue(r.Value.GetProperty("acc_ci95_low,none").GetDouble() <= acc && acc <= r.Value.GetProperty("acc_ci95_high,none").GetDouble());
        }
        var groups = results.RootElement.GetProperty("groups");
        Assert.IsTrue(groups.TryGetProperty("mmlu_all", out _) && groups.TryGetProperty("mmlu_stem", out _) && groups.TryGetProperty("mmlu_other", out _),
            "anatomy is in 'other', astronomy in 'stem'");
        Assert.AreEqual("xcopa", results.RootElement.GetProperty("configs").GetProperty("xcopa_et::best_option").GetProperty("task").GetString());

        var csv = File.ReadAllLines(Path.Combine(dir, "results.csv"));
        Assert.AreEqual("task,subset,split,template,metric,value,stderr,ci95_low,ci95_high,n,truncated,multi_token_examples", csv[0]);
        Assert.AreEqual(11, csv.Count(l => l.Contains(",acc,")) - results.RootElement.GetProperty("group_subtasks").EnumerateObject().Count());
        var md = File.ReadAllText(Path.Combine(dir, "results.md"));
        StringAssert.Contains(md, "| task | lang | template | metric | value | ± |");
        StringAssert.Contains(md, "| xcopa | et | best_option | acc |");

        var samples = Samples(dir, "xcopa", "mmlu");
        Assert.AreEqual(5 * 6 + 3 * 2 * 6, samples.Count);
        var mmlu = samples[("mmlu", "anatomy", "modernbert_instruct_eval_py", 0)];
        StringAssert.EndsWith(mmlu.GetProperty("prompt").GetString(), "Answer: [unused0] [MASK]");
        Assert.AreEqual(4, mmlu.GetProperty("scores").GetArrayLength());
        Assert.AreEqual(mmlu.GetProperty("prediction").GetInt32() == mmlu.GetProperty("gold").GetInt32(), mmlu.GetProperty("correct").GetBoolean());
        var xcopa = samples[("xcopa", "et", "cause_effect", 2)];
        Assert.AreEqual(2, xcopa.GetProperty("choices").GetArrayLength());
        Assert.IsTrue(xcopa.GetProperty("choice_tokens").EnumerateArray().Any(t => t.GetInt32() > 1), "XCOPA choices are sentences: several masks");

        using var run = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "run.json")));
        var model = run.RootElement.GetProperty("model");
        Assert.AreEqual(64, model.GetProperty("weights_sha256").GetProperty("model.safetensors").GetString()!.Length);
        Assert.AreEqual(64, run.RootElement.GetProperty("tokenizer").GetProperty("sha256").GetString()!.Length);
        Assert.AreEqual("ModernBertForMaskedLM", model.GetProperty("architecture").GetString());
        Assert.AreEqual(66, run.RootElement.GetProperty("timings").GetProperty("scored").GetInt32());
        Assert.IsTrue(File.Exists(Path.Combine(dir, "scores.sqlite")));

        var (again, secondOutput) = RunEval(dir, "--task", "xcopa,mmlu", "--languages", "et,anatomy,astronomy", "--limit", "6", "--batch-size", "4");
        Assert.AreEqual(0, again, secondOutput);
        StringAssert.Contains(secondOutput, "(0 scored, 66 from the cache)");
    }

    [TestMethod]
    public void PredictionsDoNotDependOnTheBatchSizeTokenBudgetOrBackend()
    {
        // The CPU backend in batches of 1, 8 and 32, by a token budget, and the GPU backend's kernels (ILGPU's CPU accelerator).
        string[][] variants =
        [
            ["--batch-size", "1"], ["--batch-size", "8"], ["--batch-size", "32"], ["--max-batch-tokens", "300"],
            ["--device", "ilgpu-cpu", "--max-batch-tokens", "4096"],
        ];
        var runs = variants.Select(v =>
        {
            var dir = SharedFixtures.TempDirectory();
            var (code, output) = RunEval(dir, ["--task", "xcopa,mmlu,mmlu_pro", "--languages", "it,college_physics,chemistry", "--limit", "12", .. v]);
            Assert.AreEqual(0, code, output);
            return Samples(dir, "xcopa", "mmlu", "mmlu_pro");
        }).ToList();
        Assert.AreEqual(5 * 12 + 3 * 12 + 3 * 12, runs[0].Count);
        // MMLU-Pro's first 12 chemistry questions have 5, 9 or 10 options: each is offered its own.
        Assert.IsTrue(runs[0].Where(r => r.Key.Item1 == "mmlu_pro").Select(r => r.Value.GetProperty("choices").GetArrayLength()).Distinct().Count() > 1);
        foreach (var other in runs.Skip(1))
            foreach (var (key, e) in runs[0])
            {
                Assert.AreEqual(e.GetProperty("prediction").GetInt32(), other[key].GetProperty("prediction").GetInt32(), $"{key}");
                var a = e.GetProperty("scores").EnumerateArray().Select(s => s.GetDouble()).ToArray();
                var b = other[key].GetProperty("scores").EnumerateArray().Select(s => s.GetDouble()).ToArray();
                for (int i = 0; i < a.Length; i++) Assert.AreEqual(a[i], b[i], 1e-3 * Math.Max(1, Math.Abs(a[i])), $"{key} score {i}");
            }
    }

    /// <summary>
    /// An exclusive write transaction on the run's score cache: while it is held, the run scores its current batch and
    /// then waits to store it, so the test decides what the cache holds when the run is stopped — no timing race.
    /// </summary>
    /// <summary>Another process's write lock on the score cache: BEGIN IMMEDIATE on a second connection, held until disposed.</summary>
    internal static Microsoft.Data.Sqlite.SqliteConnection HoldScoreCacheWriteLock(string cachePath)
    {
        new ScoreCache(cachePath).Dispose(); // the schema exists before the run opens it
        var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={cachePath};Pooling=False");
        connection.Open();
        using var begin = connection.CreateCommand();
        begin.CommandText = "BEGIN IMMEDIATE;";
        begin.ExecuteNonQuery();
        return connection;
    }

    /// <summary>Reads the run's stdout until a line contains the text (the progress line of its first template).</summary>
    internal static void WaitForLine(Process process, string text)
    {
        for (string? line; (line = process.StandardOutput.ReadLine()) is not null;)
            if (line.Contains(text)) return;
        Assert.Fail($"the run ended before writing '{text}': {process.StandardError.ReadToEnd()}");
    }

    [TestMethod]
    public void AKilledRunResumesWithNothingLostOrCountedTwice()
    {
        var dir = SharedFixtures.TempDirectory();
        string[] args = ["--task", "xcopa", "--languages", "tr", "--limit", "100", "--batch-size", "1"];
        // 8 examples × 5 templates scored and stored by a finished run, then the full run killed (SIGKILL, no clean-up)
        // while it cannot store anything: the resumed run must take exactly those 40 from the cache and score the rest.
        Assert.AreEqual(0, RunEval(dir, [.. args[..5], "8", .. args[6..]]).ExitCode);
        File.Delete(Path.Combine(dir, "results.json"));
        var cachePath = Path.Combine(dir, "scores.sqlite");
        var first = StartEval(dir, args);
        using (HoldScoreCacheWriteLock(cachePath))
        {
            WaitForLine(first, "xcopa tr");
            Assert.IsFalse(first.HasExited, "the run waits for the score cache");
            first.Kill(entireProcessTree: true);
            first.WaitForExit();
        }
        Assert.IsFalse(File.Exists(Path.Combine(dir, "results.json")));
        using (var cache = new ScoreCache(cachePath)) Assert.AreEqual(40, cache.Count());

        var (code, output) = RunEval(dir, args);
        Assert.AreEqual(0, code, output);
        using var run = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "run.json")));
        var timings = run.RootElement.GetProperty("timings");
        Assert.AreEqual(40, timings.GetProperty("from_cache").GetInt64());
        Assert.AreEqual(460, timings.GetProperty("scored").GetInt64());
        var samples = Samples(dir, "xcopa");
        Assert.AreEqual(500, samples.Count);

        var fresh = SharedFixtures.TempDirectory();
        Assert.AreEqual(0, RunEval(fresh, args[..^1].Append("8").ToArray()).ExitCode);
        foreach (var (key, e) in Samples(fresh, "xcopa"))
            Assert.AreEqual(e.GetProperty("prediction").GetInt32(), samples[key].GetProperty("prediction").GetInt32(), $"{key}");
    }

    [TestMethod]
    public void CtrlCStopsAfterTheCurrentBatchWithExit130AndTheSameCommandResumes() =>
        StopsAfterTheCurrentBatchAndResumes("INT", 130, "interrupted — resume with the same command");

    /// <summary>What Slurm's time limit, scancel and preemption send (SIGKILL follows after KillWait): handled as Ctrl-C.</summary>
    [TestMethod]
    public void SigtermStopsAfterTheCurrentBatchWithExit143AndTheSameCommandResumes() =>
        StopsAfterTheCurrentBatchAndResumes("TERM", 143, "terminated (SIGTERM) — resume with the same command");

    private static void StopsAfterTheCurrentBatchAndResumes(string signal, int exitCode, string resumeLine)
    {
        var dir = SharedFixtures.TempDirectory();
        string[] args = ["--task", "xcopa", "--languages", "tr", "--limit", "20", "--batch-size", "4"];
        var cachePath = Path.Combine(dir, "scores.sqlite");
        var run = StartEval(dir, interruptible: true, args);
        var stderr = new System.Text.StringBuilder();
        var interrupting = new ManualResetEventSlim();
        run.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stderr) stderr.AppendLine(e.Data);
            if (e.Data.Contains("interrupting after the current batch")) interrupting.Set();
        };
        run.BeginErrorReadLine();
        using (HoldScoreCacheWriteLock(cachePath))
        {
            WaitForLine(run, "xcopa tr");
            using (var kill = Process.Start("kill", [$"-{signal}", run.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) kill.WaitForExit();
            // Generous: a loaded CI machine once took longer than 30 s here; the message says what the run printed meanwhile.
            if (!interrupting.Wait(TimeSpan.FromSeconds(120)))
            {
                string printed;
                lock (stderr) printed = stderr.ToString();
                Assert.Fail($"the run did not acknowledge SIG{signal} within 120 s (exited: {run.HasExited}); its stderr:\n{printed}");
            }
        } // the batch in hand is stored (or, past the grace, dropped), then the run stops
        var rest = run.StandardOutput.ReadToEnd();
        run.WaitForExit();
        string errors;
        lock (stderr) errors = stderr.ToString();
        Assert.AreEqual(exitCode, run.ExitCode, rest + errors);
        StringAssert.Contains(errors, resumeLine);
        Assert.IsFalse(File.Exists(Path.Combine(dir, "results.json")));
        long kept;
        using (var cache = new ScoreCache(cachePath)) kept = cache.Count();
        // The signal came before the first batch (nothing scored) or while scored batches waited for the cache: those in
        // hand — the one being stored, two waiting on the store thread, one waiting to be handed over — are stored whole
        // (or all dropped when the grace ran out first).
        Assert.IsTrue(kept % 4 == 0 && kept <= 16, $"{kept} scores kept: a batch is stored whole or not at all, at most four batches in hand");

        var (code, output) = RunEval(dir, args);
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, $"({100 - kept} scored, {kept} from the cache)");
    }

    /// <summary>
    /// A batch that cannot be stored within the grace (here: the score cache stays locked) is dropped: the process ends
    /// on its own within seconds of SIGTERM — long before a scheduler's KillWait (Slurm's default: 30 s) — with 143 and
    /// the resume line, and nothing half-stored.
    /// </summary>
    [TestMethod]
    public void SigtermDropsABatchThatIsNotDoneWithinTheGrace()
    {
        var dir = SharedFixtures.TempDirectory();
        var cachePath = Path.Combine(dir, "scores.sqlite");
        var run = StartEval(dir, interruptible: true, "--task", "xcopa", "--languages", "tr", "--limit", "20", "--batch-size", "4");
        using (HoldScoreCacheWriteLock(cachePath))
        {
            // The run has scored its first batch and waits to store it (it says so after SQLite's first 10 s).
            for (string? line; (line = run.StandardError.ReadLine()) is not null;)
                if (line.Contains("is locked by another process; waiting")) break;
            var stderr = run.StandardError.ReadToEndAsync();
            var clock = Stopwatch.StartNew();
            using (var kill = Process.Start("kill", ["-TERM", run.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) kill.WaitForExit();
            Assert.IsTrue(run.WaitForExit(TimeSpan.FromSeconds(60)), "the run did not stop on its own within 60 s of SIGTERM");
            var errors = stderr.Result;
            Assert.AreEqual(143, run.ExitCode, errors);
            Assert.IsTrue(clock.Elapsed < TimeSpan.FromSeconds(30), $"stopped only after {clock.Elapsed.TotalSeconds:0} s");
            StringAssert.Contains(errors, "was not done within 5 s: dropped");
            StringAssert.Contains(errors, $"the scores stored so far are kept in {cachePath}");
            StringAssert.Contains(errors, "terminated (SIGTERM) — resume with the same command");
        }
        using var cache = new ScoreCache(cachePath);
        Assert.AreEqual(0, cache.Count());
    }

    /// <summary>SIGTERM while the model is still being fetched (here: a hub that accepts the connection and never answers) stops at once.</summary>
    [TestMethod]
    public void SigtermBeforeScoringStopsAtOnce()
    {
        using var silentHub = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silentHub.Start();
        int port = ((System.Net.IPEndPoint)silentHub.LocalEndpoint).Port;
        var run = ProgramProcess.Start(["eval", "--task", "xcopa", "--model", "someone/some-model", "--output", SharedFixtures.TempDirectory()],
            new Dictionary<string, string> { ["HF_ENDPOINT"] = $"http://127.0.0.1:{port}", ["HF_HUB_CACHE"] = SharedFixtures.TempDirectory() },
            interruptible: true);
        var output = run.StandardOutput.ReadToEndAsync();
        var errors = run.StandardError.ReadToEndAsync();
        var acceptance = silentHub.AcceptTcpClientAsync();
        if (!acceptance.Wait(TimeSpan.FromSeconds(120))) Assert.Fail($"the run never asked the hub (exited: {run.HasExited}): {errors.Result}");
        using var connection = acceptance.Result;
        var clock = Stopwatch.StartNew();
        using (var kill = Process.Start("kill", ["-TERM", run.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) kill.WaitForExit();
        Assert.IsTrue(run.WaitForExit(TimeSpan.FromSeconds(60)), "the run did not stop within 60 s of SIGTERM");
        Assert.AreEqual(143, run.ExitCode, output.Result + errors.Result);
        Assert.IsTrue(clock.Elapsed < TimeSpan.FromSeconds(30), $"stopped only after {clock.Elapsed.TotalSeconds:0.0} s");
        // It did not wait for a batch (there is none) nor for the 5 s grace.
        StringAssert.Contains(errors.Result, "SIGTERM: stopping (nothing was being scored yet)");
        StringAssert.Contains(errors.Result, "terminated (SIGTERM) — resume with the same command");
    }

    [TestMethod]
    public void TheOfflineDemoBuildsItsOwnModelAndDataAndEvaluates()
    {
        var dir = SharedFixtures.TempDirectory();
        var (code, output) = ProgramProcess.Wait(ProgramProcess.Start(["demo", "--output", dir],
            new Dictionary<string, string> { ["EVAL_PROMPTS"] = Path.Combine(SharedFixtures.ProjectRoot, "prompts") }));
        Assert.AreEqual(0, code, output);
        // Redirected output is plain: no ANSI codes, no wrapping at 80 columns (the run's header is one long line).
        Assert.IsFalse(output.Contains('\u001b'), "ANSI escape codes in redirected output");
        Assert.IsTrue(output.Split('\n').Any(l => l.Length > 80 && l.Contains("parameters, cpu (") && l.Contains("scores cached in")), output);
        Assert.AreEqual(48 * 5, Samples(Path.Combine(dir, "run"), "xnli").Count);
        Assert.IsTrue(File.Exists(Path.Combine(dir, Eval.Cli.DemoCommand.MaskedModel, "model.safetensors")));
        using var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "run", "results.json")));
        Assert.IsTrue(results.RootElement.GetProperty("results").GetProperty("xnli_en::GPT-3 style").GetProperty("acc,none").GetDouble() is >= 0 and <= 1);

        // The causal model is scored by log-likelihood on the same examples and templates, with acc and acc_norm.
        Assert.AreEqual(48 * 5, Samples(Path.Combine(dir, "run-causal"), "xnli").Count);
        using var causal = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "run-causal", "results.json")));
        var entry = causal.RootElement.GetProperty("results").GetProperty("xnli_en::GPT-3 style");
        Assert.IsTrue(entry.GetProperty("acc,none").GetDouble() is >= 0 and <= 1);
        Assert.IsTrue(entry.GetProperty("acc_norm,none").GetDouble() is >= 0 and <= 1);
        StringAssert.Contains(File.ReadAllText(Path.Combine(dir, "run-causal", "results.md")), "| acc_norm |");
        Assert.AreEqual("loglik", JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "run-causal", "run.json"))).RootElement.GetProperty("options").GetProperty("scoring").GetString());

        // Read back for reports, the causal run's acc_norm is the one results.json holds.
        var record = Eval.Harness.Reports.RunRecord.Load(Path.Combine(dir, "run-causal"));
        Assert.IsTrue(record.HasNormalizedAccuracy);
        var normalized = record.ForMetric(Eval.Harness.Reports.RunRecord.AccNorm).Accuracy(s => s.Template == "GPT-3 style");
        Assert.AreEqual(entry.GetProperty("acc_norm,none").GetDouble(), normalized.Accuracy, 1e-9);
        Assert.AreEqual(entry.GetProperty("acc,none").GetDouble(), record.Accuracy(s => s.Template == "GPT-3 style").Accuracy, 1e-9);
        Assert.IsFalse(Eval.Harness.Reports.RunRecord.Load(Path.Combine(dir, "run")).HasNormalizedAccuracy, "a masked LM has no acc_norm");
        // Without sample text, choice_chars carries what acc_norm needs.
        var stripped = Path.Combine(dir, "run-causal-stripped");
        Directory.CreateDirectory(stripped);
        File.Copy(Path.Combine(dir, "run-causal", "run.json"), Path.Combine(stripped, "run.json"));
        File.WriteAllLines(Path.Combine(stripped, "samples_xnli.jsonl"), File.ReadLines(Path.Combine(dir, "run-causal", "samples_xnli.jsonl")).Select(line =>
        {
            var node = System.Text.Json.Nodes.JsonNode.Parse(line)!.AsObject();
            var choices = node["choices"]!.AsArray().Select(c => c!.GetValue<string>()).ToList();
            node.Remove("choices");
            node.Remove("prompt");
            node["choice_count"] = choices.Count;
            node["choice_chars"] = new System.Text.Json.Nodes.JsonArray(choices.Select(c => (System.Text.Json.Nodes.JsonNode)c.Length).ToArray());
            return node.ToJsonString();
        }));
        CollectionAssert.AreEqual(record.ForMetric("acc_norm").Samples.Select(s => s.Prediction).ToList(),
            Eval.Harness.Reports.RunRecord.Load(stripped).ForMetric("acc_norm").Samples.Select(s => s.Prediction).ToList());

        // The demo ends with the report comparing the two models on the same examples, each named by its model.
        var report = File.ReadAllText(Path.Combine(dir, "report", "report.md"));
        StringAssert.Contains(report, "| task | model | paired n | reference (modernbert-random) % | model % |");
        StringAssert.Contains(report, "| xnli | llama-random | 240 |");
        Assert.IsTrue(File.Exists(Path.Combine(dir, "report", "report.html")));
    }

    [TestMethod]
    public void QuickDecodeBenchmarkWritesAWellFormedCsv()
    {
        var dir = SharedFixtures.TempDirectory();
        var (code, output) = ProgramProcess.Wait(ProgramProcess.Start(["bench", "decode", "--quick", "--output", dir, "--threads", "1"]));
        Assert.AreEqual(0, code, output);
        var csv = Directory.GetFiles(dir, "decode-quick-*.csv").Single();

        // The report reads what the benchmark writes: a Mask-Predict chart per masked model and the single-[MASK] chart.
        var section = Eval.Harness.Reports.DecodeSpeedSection.Build(csv);
        var figures = section.Blocks.OfType<Eval.Harness.Reports.ReportFigure>().Select(f => f.FileName).ToList();
        string[] maskedModels = ["modernbert-base-mini", "modernbert-large-mini", "xlm-roberta-large-mini", "xlm-roberta-xl-mini",
            "bert-base-multilingual-cased-mini", "eurobert-210m-mini"];
        CollectionAssert.AreEquivalent(maskedModels.Select(m => $"decode-{m}-mask-predict").Concat(maskedModels.Select(m => $"decode-{m}-vs-greedy"))
            .Append("decode-single-mask").ToList(), figures);
        foreach (var f in section.Blocks.OfType<Eval.Harness.Reports.ReportFigure>()) System.Xml.Linq.XDocument.Parse(Eval.Charts.ChartFiles.Svg(f.Chart));
        var lines = File.ReadAllLines(csv);
        CollectionAssert.AreEqual(Eval.Harness.Benchmarks.DecodeBenchmark.CsvHeader, lines[0].Split(','));
        using var reader = CsvHelper.CsvReader.FromFile(csv, new CsvHelper.CsvReaderOptions { HasHeader = true });
        reader.ReadHeader();
        int Column(string name) => Array.IndexOf(Eval.Harness.Benchmarks.DecodeBenchmark.CsvHeader, name);
        var rows = new List<string[]>();
        while (reader.Read()) rows.Add(Enumerable.Range(0, reader.FieldCount).Select(reader.GetString).ToArray()!);
        var q = Eval.Harness.Benchmarks.DecodeBenchmarkOptions.Quick;
        // Per masked LM (6, multilingual BERT's and EuroBERT's included): single-mask per prompt length and batch, Mask-Predict per L, T and batch; per causal LM (5, BLOOMZ's
        // included) and per encoder–decoder LM (mT0): log-likelihood (rank classification) per choice count plus next token per
        // prompt length and batch, greedy per L and batch.
        int batches = q.Batches.Count;
        int masked = q.PromptLengths.Count * batches + q.GenerationLengths.Count * q.Iterations.Count * batches;
        int causal = q.PromptLengths.Count * batches * (q.ChoiceCounts.Count + 1) + q.GenerationLengths.Count * batches;
        Assert.AreEqual(6 * masked + 6 * causal, rows.Count);
        var mt0 = rows.Where(r => r[Column("model")] == "mt0-xl-mini").ToList();
        Assert.AreEqual(causal, mt0.Count);
        Assert.IsTrue(mt0.All(r => r[Column("architecture")] == "MT5ForConditionalGeneration"));
        CollectionAssert.AreEquivalent(new[] { "loglik", "next-token", "greedy" }, mt0.Select(r => r[Column("method")]).Distinct().ToArray());
        var bloomz = rows.Where(r => r[Column("model")] == "bloomz-3b-mini").ToList();
        Assert.AreEqual(causal, bloomz.Count);
        Assert.IsTrue(bloomz.All(r => r[Column("architecture")] == "BloomForCausalLM"));
        CollectionAssert.AreEquivalent(new[] { "loglik", "next-token", "greedy" }, bloomz.Select(r => r[Column("method")]).Distinct().ToArray());
        // The side-by-side table: Mask-Predict at T = 10 (in the quick grid) beside each greedy decoder, BLOOMZ's included.
        var sideBySide = section.Blocks.OfType<Eval.Harness.Reports.ReportTable>().Single(t => t.Header[0] == "masked model");
        CollectionAssert.Contains(sideBySide.Header.ToList(), "× vs bloomz-3b-mini");
        Assert.AreEqual(maskedModels.Length * q.GenerationLengths.Count * batches, sideBySide.Rows.Count);
        Assert.IsTrue(sideBySide.Rows.All(r => r[1] == "10"), "T = 10");
        foreach (var row in rows)
        {
            Assert.AreEqual("ok", row[Column("status")], string.Join(',', row));
            foreach (var name in new[] { "median_ms", "min_ms", "max_ms", "ms_per_example", "examples_per_s", "tokens_per_s" })
                Assert.IsTrue(double.Parse(row[Column(name)], System.Globalization.CultureInfo.InvariantCulture) > 0, $"{name} in {string.Join(',', row)}");
            Assert.IsTrue(double.Parse(row[Column("min_ms")], System.Globalization.CultureInfo.InvariantCulture)
                          <= double.Parse(row[Column("median_ms")], System.Globalization.CultureInfo.InvariantCulture));
            bool isMasked = row[Column("method")] is "single-mask" or "mask-predict";
            Assert.AreEqual(isMasked, row[Column("speedup_vs_peer")].Length > 0, $"only masked-LM rows have a peer: {string.Join(',', row)}");
            if (row[Column("method")] == "mask-predict")
                Assert.IsTrue(int.Parse(row[Column("iterations_run")]) <= int.Parse(row[Column("iterations")]));
        }
    }

    [TestMethod]
    public void BadOptionsGiveOneClearError()
    {
        var dir = SharedFixtures.TempDirectory();
        var (code, output) = RunEval(dir, "--task", "nosuchtask");
        Assert.AreEqual(1, code);
        StringAssert.Contains(output, "error: unknown task 'nosuchtask'");
        (code, output) = RunEval(dir, "--task", "xcopa", "--templates", "no such template");
        Assert.AreEqual(1, code);
        StringAssert.Contains(output, "--templates: unknown \"no such template\"");
        (code, output) = RunEval(dir, "--task", "xnli", "--split", "train");
        Assert.AreEqual(1, code);
        StringAssert.Contains(output, "no split 'train'");
        (code, output) = RunEval(dir, "--task", "xcopa", "--device", "tpu");
        Assert.AreEqual(1, code);
        StringAssert.Contains(output, "--device 'tpu' is not one of auto, cpu, cuda, ilgpu-cpu");
        (code, output) = RunEval(dir, "--task", "xcopa", "--device", "cpu", "--precision", "bf16");
        Assert.AreEqual(1, code);
        StringAssert.Contains(output, "the CPU backend computes in fp32");
        (code, output) = RunEval(dir, "--task", "xcopa", "--precision", "fp16");
        Assert.AreEqual(1, code);
        StringAssert.Contains(output, "--precision 'fp16' is not one of fp32, tf32, bf16");
    }
}
