using System.Text.Json;
using Eval.Harness.Data;
using Eval.Harness.Runs;
using Eval.Harness.Scoring;

namespace Eval.Harness.Reports;

/// <summary>Where a row of accuracy lives: task, language (or subject), template.</summary>
public readonly record struct RowKey(string Task, string Language, string Template)
{
    public override string ToString() => $"{Task} · {Language} · {Template}";
}

/// <summary>
/// One scored example as samples_&lt;task&gt;.jsonl holds it. NormalizedPrediction is acc_norm's choice (log-likelihood
/// per character), for examples a causal LM scored by log-likelihood.
/// </summary>
public sealed record RunSample(string Task, string Language, string Template, int DocId, int Prediction, int Gold, int ChoiceCount,
    int? NormalizedPrediction = null)
{
    public bool Correct => Prediction == Gold;
    public RowKey Key => new(Task, Language, Template);
}

/// <summary>A finished run read back from its folder: who was evaluated (run.json) and every example (samples_*.jsonl).</summary>
public sealed record RunRecord(string Folder, string Name, string ModelId, string Architecture, long Parameters, string Scoring,
    string? Fingerprint, string? ModelPath, IReadOnlyList<RunSample> Samples)
{
    public IReadOnlyList<string> Tasks => Samples.Select(s => s.Task).Distinct().ToList();

    public IReadOnlyList<string> Languages(string task) => Samples.Where(s => s.Task == task).Select(s => s.Language).Distinct().ToList();

    public IReadOnlyList<string> Templates(string task) => Samples.Where(s => s.Task == task).Select(s => s.Template).Distinct().ToList();

    /// <summary>Accuracy pooled over the examples that pass the filter, with its bootstrap CI.</summary>
    public AccuracyEstimate Accuracy(Func<RunSample, bool> filter) => Metrics.Accuracy(Samples.Where(filter).Select(s => s.Correct).ToList());

    public const string Acc = "acc", AccNorm = "acc_norm";

    public bool HasNormalizedAccuracy => Samples.Count > 0 && Samples.All(s => s.NormalizedPrediction is not null);

    /// <summary>
    /// The run as the metric sees it: for acc_norm, each prediction becomes the length-normalized one. A run without
    /// acc_norm (a masked LM, or another scoring mode) stays as it is; the caller says so.
    /// </summary>
    public RunRecord ForMetric(string metric) => metric switch
    {
        Acc => this,
        AccNorm => HasNormalizedAccuracy ? this with { Samples = Samples.Select(s => s with { Prediction = s.NormalizedPrediction!.Value }).ToList() } : this,
        _ => throw new ArgumentException($"--metric must be {Acc} or {AccNorm}, got '{metric}'"),
    };

    /// <summary>Expected accuracy of guessing uniformly among each example's choices.</summary>
    public double Chance(string task)
    {
        var choices = Samples.Where(s => s.Task == task && s.ChoiceCount > 0).Select(s => 1.0 / s.ChoiceCount).ToList();
        return choices.Count > 0 ? choices.Average() : double.NaN;
    }

    /// <summary>Accuracy of each (task, language, template).</summary>
    public IReadOnlyDictionary<RowKey, AccuracyEstimate> Rows() =>
        Samples.GroupBy(s => s.Key).ToDictionary(g => g.Key, g => Metrics.Accuracy(g.Select(s => s.Correct).ToList()));

    /// <summary>Reads a run folder written by `eval`; errors name the folder, file and line.</summary>
    public static RunRecord Load(string folder)
    {
        var runJson = Path.Combine(folder, "run.json");
        if (!Directory.Exists(folder)) throw new ArgumentException($"run folder {folder} does not exist");
        if (!File.Exists(runJson)) throw new ArgumentException($"{folder} is not a run folder: it has no run.json (`mlm-eval eval` writes one)");
        var run = RunManifest.Read(runJson);
        var scoring = run.Options.Scoring;
        var files = Directory.GetFiles(folder, "samples_*.jsonl").Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new ArgumentException($"run folder {folder} has no samples_<task>.jsonl files");
        var samples = new List<RunSample>();
        var seen = new Dictionary<(RowKey, int), string>();
        foreach (var file in files)
            foreach (var (sample, line) in ReadSamples(file, scoring == ScoringModes.NameOf(ScoringMode.LogLikelihood)))
            {
                // One line per scored document: a second would be counted twice and cannot be paired by `compare`.
                if (!seen.TryAdd((sample.Key, sample.DocId), $"{file}:{line}"))
                    throw new FormatException($"{file}:{line}: document {sample.DocId} of {sample.Key} is already at {seen[(sample.Key, sample.DocId)]}");
                samples.Add(sample);
            }
        return new RunRecord(Path.GetFullPath(folder), HubModelStore.ShortName(run.Model.Id), run.Model.Id, run.Model.Architecture ?? "", run.Model.Parameters,
            scoring, run.Model.Fingerprint, run.Model.Path, samples);
    }

    /// <summary>
    /// Loads several runs, each named by its model: the hub name, or the model folder's name. When two models' folders
    /// have the same name (…/llama/hf and …/qwen/hf) each is named by as much of its path as tells them apart (llama/hf,
    /// qwen/hf); runs of one model (one per scoring mode, say) are named by their run folders instead.
    /// </summary>
    public static IReadOnlyList<RunRecord> LoadAll(IReadOnlyList<string> folders)
    {
        if (folders.Count == 0) throw new ArgumentException("give at least one run folder");
        var runs = folders.Select(Load).ToList();
        var renamed = runs.Select(r =>
        {
            var namesakes = runs.Where(o => o.Name == r.Name).Select(o => o.ModelId).ToList();
            if (namesakes.Count == 1) return r;
            return namesakes.Distinct().Count() == namesakes.Count
                ? r with { Name = DistinguishingPath(r.ModelId, namesakes) }
                : r with { Name = Path.GetFileName(Path.TrimEndingDirectorySeparator(r.Folder)) };
        }).ToList();
        var clash = renamed.GroupBy(r => r.Name).FirstOrDefault(g => g.Count() > 1);
        if (clash is not null)
            throw new ArgumentException($"two runs would both be called '{clash.Key}' ({string.Join(", ", clash.Select(r => r.Folder))}); give each run its own folder name");
        return renamed;
    }

    /// <summary>The shortest tail of the model's path (or hub id, without @revision) that no other of the given models ends with.</summary>
    private static string DistinguishingPath(string model, IReadOnlyList<string> models)
    {
        static string[] Parts(string id) => id.Split('@')[0].Split(['/', '\\'], StringSplitOptions.RemoveEmptyEntries);
        var parts = Parts(model);
        var others = models.Where(m => m != model).Select(Parts).ToList();
        for (int k = 1; k <= parts.Length; k++)
        {
            var tail = parts[^k..];
            if (others.All(o => o.Length < k || !o[^k..].SequenceEqual(tail))) return string.Join('/', tail);
        }
        return model;
    }

    /// <summary>The run folders a path stands for: itself when it is one, else its subfolders that are (keyed by their names).</summary>
    public static IReadOnlyDictionary<string, string> Expand(string path)
    {
        if (!Directory.Exists(path)) throw new ArgumentException($"folder {path} does not exist");
        if (File.Exists(Path.Combine(path, "run.json"))) return new Dictionary<string, string> { ["."] = path };
        var runs = Directory.GetDirectories(path).Where(d => File.Exists(Path.Combine(d, "run.json"))).Order(StringComparer.Ordinal)
            .ToDictionary(d => Path.GetFileName(d)!, d => d);
        if (runs.Count == 0) throw new ArgumentException($"{path} holds no run: neither it nor any folder in it has a run.json");
        return runs;
    }

    private static IEnumerable<(RunSample Sample, int Line)> ReadSamples(string file, bool logLikelihood)
    {
        int lineNumber = 0;
        foreach (var line in File.ReadLines(file))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            RunSample sample;
            try
            {
                using var doc = JsonDocument.Parse(line);
                var e = doc.RootElement;
                // Choice lengths in characters: from the choice texts, or from choice_chars when the texts were left out.
                var characters = e.TryGetProperty("choices", out var choices) ? choices.EnumerateArray().Select(c => Metrics.Characters(Text(c, "choices[]"))).ToList()
                    : e.TryGetProperty("choice_chars", out var chars) ? chars.EnumerateArray().Select(c => c.GetInt32()).ToList() : null;
                int choiceCount = choices.ValueKind == JsonValueKind.Array ? choices.GetArrayLength() : e.GetProperty("choice_count").GetInt32();
                int? normalized = null;
                if (logLikelihood && characters is not null && e.TryGetProperty("scores", out var scores)
                    && scores.EnumerateArray().All(v => v.ValueKind == JsonValueKind.Number))
                {
                    if (scores.GetArrayLength() != characters.Count)
                        throw new FormatException($"{scores.GetArrayLength()} scores for {characters.Count} choices");
                    normalized = Metrics.NormalizedPrediction(scores.EnumerateArray().Select(v => v.GetDouble()).ToList(), characters);
                }
                sample = new RunSample(Text(e.GetProperty("task"), "task"), Text(e.GetProperty("language"), "language"), Text(e.GetProperty("template"), "template"),
                    e.GetProperty("doc_id").GetInt32(), e.GetProperty("prediction").GetInt32(), e.GetProperty("gold").GetInt32(), choiceCount, normalized);
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw new FormatException($"{file}:{lineNumber}: not a sample line ({ex.Message})", ex);
            }
            yield return (sample, lineNumber);
        }
    }

    /// <summary>A JSON string's text; null or any other kind is a FormatException naming the field.</summary>
    private static string Text(JsonElement value, string field) =>
        value.ValueKind == JsonValueKind.String ? value.GetString()! : throw new FormatException($"{field} is {value.ValueKind}, not a string");
}
