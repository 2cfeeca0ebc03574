using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Eval.Harness.Runs;

/// <summary>What produced a run: model, weights, tokenizer, code version, machine, options and timings (run.json).</summary>
public sealed record RunMetadata(
    string ModelId, string ModelPath, string Architecture, long Parameters, IReadOnlyDictionary<string, string> WeightsSha256,
    string ModelFingerprint, string TokenizerPath, string TokenizerSha256, string? GitCommit, string Device, string Scoring,
    int BatchSize, int MaxLength, int? Limit, IReadOnlyList<string> CommandLine, DateTime StartedUtc)
{
    /// <summary>The model's config.json as run.json records it; when null it is read from ModelPath.</summary>
    public JsonNode? ModelConfig { get; init; }

    /// <summary>The shard folders a merged run was assembled from; null for a run that evaluated its units itself.</summary>
    public IReadOnlyList<string>? MergedFrom { get; init; }

    /// <summary>What the GPU backend did while the run scored; null on the CPU backend.</summary>
    public Engine.Gpu.DeviceWork? DeviceWork { get; init; }
}

/// <summary>A run once finished: the tables every result file and report is written from, and the files written.</summary>
public sealed record FinishedRun(RunSummary Summary, IReadOnlyList<string> Files);

/// <summary>
/// Finishes a run — `eval`'s, or the one `merge` assembles from shards — by writing its folder: results.json (shaped like
/// lm-evaluation-harness's, so its tools read it), results.csv, results.md, samples_&lt;task&gt;.jsonl and run.json
/// (<see cref="RunManifest"/>). Files are written to a temporary name and renamed.
/// </summary>
public static class ResultWriter
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// Summarises the outcome (<see cref="RunSummary"/>) and writes the run folder; without sample text, samples keep ids,
    /// scores and predictions but not prompts or choice texts, and the summary names no multi-token choices.
    /// </summary>
    public static FinishedRun Finish(string folder, RunOutcome outcome, RunMetadata meta, bool sampleText = true)
    {
        var summary = RunSummary.From(outcome);
        if (!sampleText) summary = summary with { Templates = summary.Templates.Select(t => t with { MultiTokenChoices = [] }).ToList() };
        Directory.CreateDirectory(folder);
        var written = new List<string>
        {
            ResultFiles.WriteText(Path.Combine(folder, "results.json"), ResultsJson(outcome, summary, meta).ToJsonString(Indented)),
            ResultFiles.WriteCsv(Path.Combine(folder, "results.csv"), CsvRows(summary)),
            ResultFiles.WriteText(Path.Combine(folder, "results.md"), Markdown(summary, meta)),
        };
        foreach (var task in outcome.Tasks)
            written.Add(ResultFiles.WriteText(Path.Combine(folder, $"samples_{task.Task.Name}.jsonl"), Samples(outcome, task.Task.Name, sampleText)));
        written.Add(ResultFiles.WriteText(Path.Combine(folder, "run.json"), Manifest(outcome, meta, sampleText).ToJson()));
        return new FinishedRun(summary, written);
    }

    public static string TemplateTaskName(string task, string subset, string template) => $"{task}_{subset}::{template}";

    private static JsonObject ResultsJson(RunOutcome outcome, RunSummary summary, RunMetadata meta)
    {
        var results = new JsonObject();
        var groups = new JsonObject();
        var configs = new JsonObject();
        var samples = new JsonObject();
        var groupSubtasks = new JsonObject();
        foreach (var t in summary.Templates)
        {
            var name = TemplateTaskName(t.Task, t.Subset, t.Template);
            var entry = Entry(name, t.Estimate, t.Normalized);
            entry["truncated"] = t.Truncated;
            entry["multi_token_examples"] = t.MultiTokenExamples;
            entry["multi_token_choices"] = new JsonArray(t.MultiTokenChoices.Select(c => (JsonNode)c!).ToArray());
            // The choices each example was offered (MMLU-Pro's vary from 1 to 10) and the accuracy of guessing among them.
            entry["choice_counts"] = new JsonObject(t.ChoiceCounts.Select(c => KeyValuePair.Create(c.Key.ToString(CultureInfo.InvariantCulture), (JsonNode?)c.Value)));
            entry["chance,none"] = Number(t.ChoiceCounts.Sum(c => c.Value / (double)c.Key) / Math.Max(1, t.ChoiceCounts.Values.Sum()));
            results[name] = entry;
            samples[name] = new JsonObject { ["original"] = t.Estimate.N, ["effective"] = t.Estimate.N };
            var info = outcome.Tasks.First(i => i.Task.Name == t.Task);
            var template = info.Task.Template(t.Template);
            configs[name] = new JsonObject
            {
                ["task"] = t.Task, ["dataset_name"] = t.Subset, ["test_split"] = t.Split, ["template"] = t.Template,
                ["template_id"] = template.Id, ["doc_to_text"] = template.Source, ["doc_to_choice"] = template.AnswerChoicesSource,
                ["answer_slot"] = info.Task.AnswerSlot.Source, ["scoring"] = meta.Scoring, ["num_fewshot"] = 0,
                ["data_file"] = info.Data[t.Subset].Path, ["data_sha256"] = info.Data[t.Subset].Sha256,
            };
        }
        foreach (var s in summary.Spreads)
        {
            var name = $"{s.Task}_{s.Subset}";
            var entry = new JsonObject
            {
                ["alias"] = name, ["acc,none"] = Number(s.Spread.Mean), ["acc_template_sd,none"] = Number(s.Spread.Sd),
                ["acc_template_min,none"] = Number(s.Spread.Min), ["acc_template_max,none"] = Number(s.Spread.Max),
                ["templates"] = s.Spread.Templates, ["n"] = s.Examples,
            };
            (s.IsGroup ? groups : results)[name] = entry;
        }
        foreach (var g in summary.Groups)
        {
            var name = $"{g.Task}_{g.Group}::{g.Template}";
            groups[name] = Entry(name, g.Estimate, g.Normalized);
            groupSubtasks[name] = new JsonArray(g.Subsets.Select(s => (JsonNode)TemplateTaskName(g.Task, s, g.Template)!).ToArray());
        }
        return new JsonObject
        {
            ["results"] = results,
            ["groups"] = groups,
            ["group_subtasks"] = groupSubtasks,
            ["configs"] = configs,
            ["versions"] = new JsonObject(summary.Templates.Select(t => KeyValuePair.Create(TemplateTaskName(t.Task, t.Subset, t.Template), (JsonNode?)1.0))),
            ["n-shot"] = new JsonObject(summary.Templates.Select(t => KeyValuePair.Create(TemplateTaskName(t.Task, t.Subset, t.Template), (JsonNode?)0))),
            ["n-samples"] = samples,
            ["config"] = new JsonObject
            {
                ["model"] = "mlm-eval", ["model_args"] = $"pretrained={meta.ModelId}", ["batch_size"] = meta.BatchSize,
                ["device"] = meta.Device, ["limit"] = meta.Limit, ["scoring"] = meta.Scoring,
            },
            ["git_hash"] = meta.GitCommit,
            ["date"] = new DateTimeOffset(meta.StartedUtc).ToUnixTimeSeconds(),
            ["model_name"] = meta.ModelId,
            ["model_fingerprint"] = meta.ModelFingerprint,
        };
    }

    private static JsonObject Entry(string alias, AccuracyEstimate e, AccuracyEstimate? normalized)
    {
        var entry = new JsonObject
        {
            ["alias"] = alias, ["acc,none"] = Number(e.Accuracy), ["acc_stderr,none"] = Number(e.StdErr),
            ["acc_ci95_low,none"] = Number(e.CiLow), ["acc_ci95_high,none"] = Number(e.CiHigh),
        };
        if (normalized is { } n)
        {
            entry["acc_norm,none"] = Number(n.Accuracy);
            entry["acc_norm_stderr,none"] = Number(n.StdErr);
            entry["acc_norm_ci95_low,none"] = Number(n.CiLow);
            entry["acc_norm_ci95_high,none"] = Number(n.CiHigh);
        }
        entry["n"] = e.N;
        return entry;
    }

    /// <summary>acc, and acc_norm where the run has it.</summary>
    private static IEnumerable<(string Metric, AccuracyEstimate Estimate)> AccuracyMetrics(AccuracyEstimate acc, AccuracyEstimate? normalized)
    {
        yield return ("acc", acc);
        if (normalized is not null) yield return ("acc_norm", normalized);
    }

    /// <summary>A finite value to 12 significant digits (probabilities of 1e-8 keep their precision); null for NaN or infinity.</summary>
    private static JsonNode? Number(double v) =>
        double.IsFinite(v) ? JsonValue.Create(double.Parse(v.ToString("G12", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)) : null;

    private static IEnumerable<string[]> CsvRows(RunSummary summary)
    {
        static string F(double v) => double.IsFinite(v) ? v.ToString("0.######", CultureInfo.InvariantCulture) : "";
        yield return ["task", "subset", "split", "template", "metric", "value", "stderr", "ci95_low", "ci95_high", "n", "truncated", "multi_token_examples"];
        foreach (var t in summary.Templates)
            foreach (var (metric, e) in AccuracyMetrics(t.Estimate, t.Normalized))
                yield return [t.Task, t.Subset, t.Split, t.Template, metric, F(e.Accuracy), F(e.StdErr), F(e.CiLow), F(e.CiHigh),
                    e.N.ToString(CultureInfo.InvariantCulture), t.Truncated.ToString(CultureInfo.InvariantCulture), t.MultiTokenExamples.ToString(CultureInfo.InvariantCulture)];
        foreach (var g in summary.Groups)
            foreach (var (metric, e) in AccuracyMetrics(g.Estimate, g.Normalized))
                yield return [g.Task, g.Group, "", g.Template, metric, F(e.Accuracy), F(e.StdErr), F(e.CiLow), F(e.CiHigh),
                    e.N.ToString(CultureInfo.InvariantCulture), "", ""];
        foreach (var s in summary.Spreads)
            foreach (var (metric, value) in new[] { ("acc_mean_over_templates", s.Spread.Mean), ("acc_sd_over_templates", s.Spread.Sd), ("acc_min_over_templates", s.Spread.Min), ("acc_max_over_templates", s.Spread.Max) })
                yield return [s.Task, s.Subset, "", "*", metric, F(value), "", "", "", s.Examples.ToString(CultureInfo.InvariantCulture), "", ""];
    }

    private static string Markdown(RunSummary summary, RunMetadata meta)
    {
        static string P(double v) => double.IsFinite(v) ? (100 * v).ToString("0.00", CultureInfo.InvariantCulture) : "–";
        var md = new StringBuilder();
        md.AppendLine($"# {meta.ModelId}").AppendLine();
        md.AppendLine($"Scoring: `{meta.Scoring}` · batch size {meta.BatchSize} · max length {meta.MaxLength}" + (meta.Limit is { } l ? $" · limit {l}" : "") + $" · {meta.Device}").AppendLine();
        md.AppendLine("| task | lang | template | metric | value | ± | 95% CI | n |").AppendLine("|---|---|---|---|---:|---:|---|---:|");
        foreach (var t in summary.Templates)
            foreach (var (metric, e) in AccuracyMetrics(t.Estimate, t.Normalized))
                md.AppendLine($"| {t.Task} | {t.Subset} | {Cell(t.Template)} | {metric} | {P(e.Accuracy)} | {P(e.StdErr)} | {P(e.CiLow)}–{P(e.CiHigh)} | {e.N} |");
        if (summary.Spreads.Count > 0)
        {
            md.AppendLine().AppendLine("## Across templates").AppendLine();
            md.AppendLine("| task | lang / group | templates | mean | sd | min | max |").AppendLine("|---|---|---:|---:|---:|---:|---:|");
            foreach (var s in summary.Spreads)
                md.AppendLine($"| {s.Task} | {(s.IsGroup ? $"**{s.Subset}**" : s.Subset)} | {s.Spread.Templates} | {P(s.Spread.Mean)} | {P(s.Spread.Sd)} | {P(s.Spread.Min)} | {P(s.Spread.Max)} |");
        }
        var notes = summary.Templates.Where(t => t.Truncated > 0 || t.MultiTokenExamples > 0).ToList();
        if (notes.Count > 0)
        {
            md.AppendLine().AppendLine("## Notes").AppendLine();
            foreach (var t in notes)
            {
                var parts = new List<string>();
                if (t.Truncated > 0) parts.Add($"{t.Truncated} prompt(s) truncated from the left");
                if (t.MultiTokenExamples > 0)
                    parts.Add($"{t.MultiTokenExamples} example(s) scored with several masks" +
                              (t.MultiTokenChoices.Count > 0 ? $" (e.g. {string.Join(", ", t.MultiTokenChoices.Take(3).Select(c => $"\"{Cell(c)}\""))})" : ""));
                md.AppendLine($"- {t.Task} {t.Subset} · {Cell(t.Template)}: {string.Join("; ", parts)}");
            }
        }
        return md.ToString();
    }

    private static string Cell(string text) => text.Replace("|", "\\|").Replace("\n", " ");

    private static string Samples(RunOutcome outcome, string task, bool withText)
    {
        var sb = new StringBuilder();
        foreach (var e in outcome.Examples.Where(e => e.Task == task))
        {
            var line = new JsonObject
            {
                ["task"] = e.Task, ["language"] = e.Subset, ["split"] = e.Split, ["template"] = e.Template, ["doc_id"] = e.DocId,
                ["prompt"] = e.Prompt, ["choices"] = new JsonArray(e.Choices.Select(c => (JsonNode)c!).ToArray()),
                ["choice_tokens"] = new JsonArray(e.ChoiceLengths.Select(c => (JsonNode)c!).ToArray()),
                ["scores"] = new JsonArray(e.Scores.Select(s => Number(s)).ToArray()),
                ["prediction"] = e.Prediction, ["gold"] = e.Gold, ["correct"] = e.Correct, ["truncated"] = e.Truncated,
            };
            if (!withText)
            {
                line.Remove("prompt");
                line.Remove("choices");
                line["choice_count"] = e.Choices.Count;
                line["choice_chars"] = new JsonArray(e.Choices.Select(c => (JsonNode)Metrics.Characters(c)).ToArray());
            }
            sb.AppendLine(line.ToJsonString(new JsonSerializerOptions { Encoder = Indented.Encoder }));
        }
        return sb.ToString();
    }

    /// <summary>run.json of a run: what produced it (meta), what it evaluated and how long it took (outcome).</summary>
    public static RunManifest Manifest(RunOutcome outcome, RunMetadata meta, bool sampleText) => new()
    {
        Model = new RunModelEntry
        {
            Id = meta.ModelId, Path = meta.ModelPath, Architecture = meta.Architecture, Parameters = meta.Parameters,
            Fingerprint = meta.ModelFingerprint, WeightsSha256 = meta.WeightsSha256,
            Config = meta.ModelConfig?.DeepClone() ?? (File.Exists(Path.Combine(meta.ModelPath, "config.json"))
                ? JsonNode.Parse(File.ReadAllText(Path.Combine(meta.ModelPath, "config.json")))
                : null),   // a fairseq folder: the config is synthesised from the checkpoint's args
        },
        Tokenizer = new RunTokenizerEntry(meta.TokenizerPath, meta.TokenizerSha256),
        GitCommit = meta.GitCommit,
        Versions = new RunVersionsEntry(Environment.Version.ToString(), System.Runtime.InteropServices.RuntimeInformation.OSDescription,
            typeof(ResultWriter).Assembly.GetName().Version?.ToString()),
        Device = meta.Device,
        Machine = new RunMachineEntry(Environment.ProcessorCount, System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString()),
        Options = new RunOptionsEntry
        {
            Scoring = meta.Scoring, BatchSize = meta.BatchSize, MaxLength = meta.MaxLength, Limit = meta.Limit, SampleText = sampleText,
            CommandLine = meta.CommandLine,
        },
        Tasks = outcome.Tasks.Select(t => new RunTaskEntry(t.Task.Name, t.Task.FilePath, t.Split, Math.Round(t.Seconds, 3), t.Subsets, t.Templates,
            t.Data.ToDictionary(kv => kv.Key, kv => DataFileEntry.Of(kv.Value)))).ToList(),
        Timings = new RunTimingsEntry
        {
            StartedUtc = meta.StartedUtc.ToString("O", CultureInfo.InvariantCulture), Seconds = Math.Round(outcome.Seconds, 3),
            Examples = outcome.Examples.Count, Scored = outcome.Scored, FromCache = outcome.Cached,
            ScoredPerSecond = outcome.Seconds > 0 ? Math.Round(outcome.Scored / outcome.Seconds, 3) : null,
            DeviceWork = meta.DeviceWork,
        }.WithBatching(outcome.Batching),
        Plan = outcome.Plan?.ToEntry(),
        Shard = outcome.Shard?.ToEntry(),
        MergedFrom = meta.MergedFrom,
    };
}
