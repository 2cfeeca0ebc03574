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
}

/// <summary>
/// Writes a run's folder: results.json (shaped like lm-evaluation-harness's, so its tools read it), results.csv,
/// results.md, samples_&lt;task&gt;.jsonl and run.json. Files are written to a temporary name and renamed.
/// </summary>
public static class ResultWriter
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Writes the run folder; without sample text, samples keep ids, scores and predictions but not prompts or choice texts.</summary>
    public static IReadOnlyList<string> Write(string folder, RunOutcome outcome, RunSummary summary, RunMetadata meta, bool sampleText = true)
    {
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
        written.Add(ResultFiles.WriteText(Path.Combine(folder, "run.json"), RunJson(outcome, meta, sampleText).ToJsonString(Indented)));
        return written;
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
                line["choice_chars"] = new JsonArray(e.Choices.Select(c => (JsonNode)c.Length).ToArray());
            }
            sb.AppendLine(line.ToJsonString(new JsonSerializerOptions { Encoder = Indented.Encoder }));
        }
        return sb.ToString();
    }

    /// <summary>A data file as run.json records it; a hub dataset's file also names its repository file and whether its sha256 is pinned.</summary>
    private static JsonObject DataJson(Data.LoadedSplit data)
    {
        var entry = new JsonObject { ["path"] = data.Path, ["format"] = data.Format, ["sha256"] = data.Sha256 };
        if (data.HubFile is { } hubFile) entry["hub_file"] = hubFile;
        if (data.Sha256Pinned is { } pinned) entry["sha256_pinned"] = pinned;
        return entry;
    }

    private static JsonObject RunJson(RunOutcome outcome, RunMetadata meta, bool sampleText)
    {
        var run = RunJsonCommon(outcome, meta, sampleText);
        if (outcome.Plan is { } plan) run["plan"] = plan.ToJson();
        if (outcome.Shard is { } shard) run["shard"] = shard.ToJson();
        if (meta.MergedFrom is { } shards) run["merged_from"] = new JsonArray(shards.Select(f => (JsonNode)f!).ToArray());
        return run;
    }

    private static JsonObject RunJsonCommon(RunOutcome outcome, RunMetadata meta, bool sampleText) => new()
    {
        ["model"] = new JsonObject
        {
            ["id"] = meta.ModelId, ["path"] = meta.ModelPath, ["architecture"] = meta.Architecture, ["parameters"] = meta.Parameters,
            ["fingerprint"] = meta.ModelFingerprint,
            ["weights_sha256"] = new JsonObject(meta.WeightsSha256.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["config"] = meta.ModelConfig?.DeepClone() ?? (File.Exists(Path.Combine(meta.ModelPath, "config.json"))
                ? JsonNode.Parse(File.ReadAllText(Path.Combine(meta.ModelPath, "config.json")))
                : null),   // a fairseq folder: the config is synthesised from the checkpoint's args
        },
        ["tokenizer"] = new JsonObject { ["path"] = meta.TokenizerPath, ["sha256"] = meta.TokenizerSha256 },
        ["git_commit"] = meta.GitCommit,
        ["versions"] = new JsonObject
        {
            ["dotnet"] = Environment.Version.ToString(), ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
            ["harness"] = typeof(ResultWriter).Assembly.GetName().Version?.ToString(),
        },
        ["device"] = meta.Device,
        ["machine"] = new JsonObject { ["cores"] = Environment.ProcessorCount, ["arch"] = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString() },
        ["options"] = new JsonObject
        {
            ["scoring"] = meta.Scoring, ["batch_size"] = meta.BatchSize, ["max_length"] = meta.MaxLength, ["limit"] = meta.Limit, ["sample_text"] = sampleText,
            ["command_line"] = new JsonArray(meta.CommandLine.Select(a => (JsonNode)a!).ToArray()),
        },
        ["tasks"] = new JsonArray(outcome.Tasks.Select(t => (JsonNode)new JsonObject
        {
            ["task"] = t.Task.Name, ["file"] = t.Task.FilePath, ["split"] = t.Split, ["seconds"] = Math.Round(t.Seconds, 3),
            ["subsets"] = new JsonArray(t.Subsets.Select(s => (JsonNode)s!).ToArray()),
            ["templates"] = new JsonArray(t.Templates.Select(s => (JsonNode)s!).ToArray()),
            ["data"] = new JsonObject(t.Data.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)DataJson(kv.Value)))),
        }).ToArray()),
        ["timings"] = new JsonObject
        {
            ["started_utc"] = meta.StartedUtc.ToString("O", CultureInfo.InvariantCulture), ["seconds"] = Math.Round(outcome.Seconds, 3),
            ["examples"] = outcome.Examples.Count, ["scored"] = outcome.Scored, ["from_cache"] = outcome.Cached,
            ["scored_per_second"] = outcome.Seconds > 0 ? Math.Round(outcome.Scored / outcome.Seconds, 3) : null,
        },
    };
}
