using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Eval.Harness.Data;
using Eval.Harness.Scoring;
using Eval.Harness.Tasks;
using Eval.Models;
using Eval.Tokenizers;

namespace Eval.Harness.Runs;

/// <summary>What to evaluate: tasks, optional subset/template filters, split, limit, batching and scoring.</summary>
public sealed record EvalRequest(
    IReadOnlyList<TaskDefinition> Tasks,
    IReadOnlyList<string>? Subsets,
    IReadOnlyList<string>? Templates,
    string? Split,
    int? Limit,
    int BatchSize,
    ScoringMode Scoring,
    int MaxLength)
{
    /// <summary>When set, a batch takes prompts while count × longest stays within this many tokens (and count ≤ BatchSize).</summary>
    public int? MaxBatchTokens { get; init; }
}

/// <summary>One scored example.</summary>
public sealed record ExampleResult(
    string Task, string Subset, string Split, string Template, int DocId, string Prompt, IReadOnlyList<string> Choices,
    double[] Scores, int Prediction, int Gold, bool Truncated, int[] ChoiceLengths, int? NormalizedPrediction = null)
{
    public bool Correct => Prediction == Gold;

    /// <summary>acc_norm's outcome, for log-likelihood scoring; null otherwise.</summary>
    public bool? NormalizedCorrect => NormalizedPrediction is { } p ? p == Gold : null;
}

/// <summary>What a task's part of the run used: split, subsets, templates and the data file of each subset.</summary>
public sealed record TaskRunInfo(TaskDefinition Task, string Split, IReadOnlyList<string> Subsets, IReadOnlyList<string> Templates,
    IReadOnlyDictionary<string, LoadedSplit> Data, double Seconds);

public sealed record RunProgress(string Description, long Done, long Total);

public sealed record RunOutcome(IReadOnlyList<ExampleResult> Examples, IReadOnlyList<TaskRunInfo> Tasks, long Scored, long Cached, double Seconds);

/// <summary>
/// Runs evaluation: loads each (task, subset) split, renders and tokenizes every example per template (for a masked LM's
/// answer slot or a causal LM's continuation), takes what the score cache already holds, and scores the rest in
/// length-bucketed batches, storing each batch as it finishes.
/// </summary>
public sealed class EvaluationRunner(ILanguageModel model, Tokenizer tokenizer, DatasetStore data, ScoreCache cache, string modelFingerprint)
{
    public RunOutcome Run(EvalRequest request, IProgress<RunProgress>? progress = null, CancellationToken cancel = default)
    {
        if (request.BatchSize < 1) throw new ArgumentException($"--batch-size must be at least 1, got {request.BatchSize}");
        var clock = Stopwatch.StartNew();
        var padId = model.Config.PadTokenId ?? (tokenizer.Specials.Pad is { } pad ? tokenizer.TokenToId(pad) : null) ?? 0;
        IChoiceScorer scorer = model.IsCausal ? new CausalChoiceScorer(model, tokenizer, padId) : new MaskedChoiceScorer(model, padId);
        ScoringModes.Require(scorer, request.Scoring, model.IsCausal ? "a causal LM" : "a masked LM");
        Func<Document, IScoredPrompt> Encoder(TaskDefinition task, Templates.PromptTemplate template) => model.IsCausal
            ? new CausalPromptEncoder(tokenizer, task, template, request.MaxLength).Encode
            : new MaskedPromptEncoder(tokenizer, task, template, request.MaxLength).Encode;

        // Plan first, so progress knows the total and bad data or templates fail before any model time is spent.
        var plans = request.Tasks.Select(t => Plan(t, request)).ToList();
        long total = plans.Sum(p => p.Templates.Count * p.Data.Values.Sum(d => Limited(d, request).Count));
        long done = 0, scored = 0, cached = 0;
        var examples = new List<ExampleResult>();
        var infos = new List<TaskRunInfo>();
        foreach (var info in plans)
        {
            var taskClock = Stopwatch.StartNew();
            foreach (var subset in info.Subsets)
            {
                var docs = Limited(info.Data[subset], request);
                foreach (var templateName in info.Templates)
                {
                    cancel.ThrowIfCancellationRequested();
                    var template = info.Task.Template(templateName);
                    var encode = Encoder(info.Task, template);
                    var key = TemplateKey(info.Task, template, request);
                    var have = cache.Load(modelFingerprint, info.Task.Name, subset, info.Split, key);
                    var label = $"{info.Task.Name} {subset} · {templateName}";
                    int hits = docs.Count(d => have.ContainsKey(d.Index));
                    cached += hits;
                    done += hits;
                    progress?.Report(new RunProgress(label, done, total));
                    var missing = docs.Where(d => !have.ContainsKey(d.Index)).Select(encode)
                        .OrderBy(p => p.TokenCount).ThenBy(p => p.Document.Index).ToList();
                    foreach (var batch in Batches(missing, request))
                    {
                        cancel.ThrowIfCancellationRequested();
                        var scores = scorer.Score(batch, request.Scoring);
                        var stored = batch.Select((p, i) => new CachedScore(p.Document.Index, scores[i].Prediction, p.Gold, scores[i].Scores,
                            p.Truncated, p.Text, p.Choices, p.ChoiceIds.Select(c => c.Length).ToArray())).ToList();
                        cache.Store(modelFingerprint, info.Task.Name, subset, info.Split, key, stored);
                        foreach (var s in stored) have[s.DocId] = s;
                        done += batch.Length;
                        scored += batch.Length;
                        progress?.Report(new RunProgress(label, done, total));
                    }
                    foreach (var d in docs)
                    {
                        var s = have[d.Index];
                        int? normalized = request.Scoring == ScoringMode.LogLikelihood ? CausalChoiceScorer.NormalizedPrediction(s.Scores, s.Choices) : null;
                        examples.Add(new ExampleResult(info.Task.Name, subset, info.Split, templateName, d.Index, s.Prompt, s.Choices,
                            s.Scores, s.Prediction, s.Gold, s.Truncated, s.ChoiceLengths, normalized));
                    }
                }
            }
            infos.Add(info with { Seconds = taskClock.Elapsed.TotalSeconds });
        }
        return new RunOutcome(examples, infos, scored, cached, clock.Elapsed.TotalSeconds);
    }

    private TaskRunInfo Plan(TaskDefinition task, EvalRequest request)
    {
        var split = request.Split ?? task.DefaultSplit;
        if (!task.Splits.Contains(split))
            throw new ArgumentException($"task '{task.Name}' has no split '{split}' (splits: {string.Join(", ", task.Splits)})");
        var subsets = request.Subsets is { Count: > 0 } wanted ? wanted.Where(task.Subsets.Contains).ToList() : task.Subsets.ToList();
        if (subsets.Count == 0)
            throw new ArgumentException($"none of {string.Join(", ", request.Subsets!)} is a {task.SubsetKind} of task '{task.Name}' ({string.Join(", ", task.Subsets)})");
        var templates = request.Templates is { Count: > 0 } names
            ? names.Where(n => task.Templates.Any(t => t.Name == n || t.Id == n)).Select(n => task.Template(n).Name).Distinct().ToList()
            : task.Templates.Select(t => t.Name).ToList();
        if (templates.Count == 0)
            throw new ArgumentException($"none of the templates {string.Join(", ", request.Templates!.Select(t => $"\"{t}\""))} is in task '{task.Name}' ({string.Join(", ", task.Templates.Select(t => $"\"{t.Name}\""))})");
        var loaded = subsets.ToDictionary(s => s, s => data.Load(task, s, split));
        return new TaskRunInfo(task, split, subsets, templates, loaded, 0);
    }

    /// <summary>
    /// Consecutive batches of prompts sorted by length: BatchSize prompts each, or with a token budget as many as fit
    /// count × longest ≤ MaxBatchTokens (a prompt longer than the budget goes alone). Scores do not depend on the split.
    /// </summary>
    public static IEnumerable<IScoredPrompt[]> Batches(IReadOnlyList<IScoredPrompt> sorted, EvalRequest request)
    {
        if (request.MaxBatchTokens is not { } budget)
        {
            foreach (var chunk in sorted.Chunk(request.BatchSize)) yield return chunk;
            yield break;
        }
        var batch = new List<IScoredPrompt>();
        int longest = 0;
        foreach (var prompt in sorted)
        {
            int widest = Math.Max(longest, prompt.TokenCount);
            if (batch.Count > 0 && ((long)(batch.Count + 1) * widest > budget || batch.Count >= request.BatchSize))
            {
                yield return batch.ToArray();
                batch.Clear();
                widest = prompt.TokenCount;
            }
            batch.Add(prompt);
            longest = widest;
        }
        if (batch.Count > 0) yield return batch.ToArray();
    }

    private static IReadOnlyList<Document> Limited(LoadedSplit split, EvalRequest request) =>
        request.Limit is { } limit ? split.Documents.Take(limit).ToList() : split.Documents;

    /// <summary>Everything besides the model and the document that decides a score: a change to any of it means rescoring.</summary>
    public static string TemplateKey(TaskDefinition task, Templates.PromptTemplate template, EvalRequest request)
    {
        var text = string.Join("\u001F", template.Name, template.Source, template.AnswerChoicesSource ?? "", task.AnswerSlot.Source,
            task.Gold.Source, request.Scoring.ToString(), request.MaxLength.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return template.Name + "#" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
    }
}
