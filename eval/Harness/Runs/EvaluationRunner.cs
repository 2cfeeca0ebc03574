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

    /// <summary>When set, only this shard's part of the plan is evaluated (see ShardPartition).</summary>
    public ShardSpec? Shard { get; init; }

    /// <summary>Threads that render and tokenize a group's prompts (0: one per core); the prompts do not depend on it.</summary>
    public int EncodingThreads { get; init; }
}

/// <summary>One scored example.</summary>
public sealed record ExampleResult(
    string Task, string Subset, string Split, string Template, int DocId, string Prompt, IReadOnlyList<string> Choices,
    double[] Scores, int Prediction, int Gold, bool Truncated, int[] ChoiceLengths, int? NormalizedPrediction = null)
{
    public bool Correct => Prediction == Gold;

    /// <summary>acc_norm's outcome, for log-likelihood scoring; null otherwise.</summary>
    public bool? NormalizedCorrect => NormalizedPrediction is { } p ? p == Gold : null;

    /// <summary>A stored score as an example of its group; acc_norm's prediction is derived for log-likelihood scoring.</summary>
    public static ExampleResult FromScore(PlanGroup group, CachedScore s, ScoringMode scoring) => new(group.Task, group.Subset, group.Split,
        group.Template, s.DocId, s.Prompt, s.Choices, s.Scores, s.Prediction, s.Gold, s.Truncated, s.ChoiceLengths,
        scoring == ScoringMode.LogLikelihood ? Metrics.NormalizedPrediction(s.Scores, s.Choices.Select(c => c.Length).ToList()) : null);
}

/// <summary>What a task's part of the run used: split, subsets, templates and the data file of each subset.</summary>
public sealed record TaskRunInfo(TaskDefinition Task, string Split, IReadOnlyList<string> Subsets, IReadOnlyList<string> Templates,
    IReadOnlyDictionary<string, LoadedSplit> Data, double Seconds);

/// <summary>Where a run is: Done of Total units (cached ones included), Scored of them by the model in this process.</summary>
public sealed record RunProgress(string Description, long Done, long Total)
{
    public long Scored { get; init; }
}

/// <summary>A run's examples and tasks; Plan is the whole run's plan, Shard the part this run evaluated when it was one shard.</summary>
public sealed record RunOutcome(IReadOnlyList<ExampleResult> Examples, IReadOnlyList<TaskRunInfo> Tasks, long Scored, long Cached, double Seconds)
{
    public RunPlan? Plan { get; init; }
    public ShardAssignment? Shard { get; init; }
}

/// <summary>
/// Runs evaluation: loads each (task, subset) split, renders and tokenizes every example per template (for a masked LM's
/// answer slot or a causal LM's continuation; on EncodingThreads threads, in document order), takes what the score cache already holds, and scores the rest in
/// length-bucketed batches, storing each batch as it finishes.
/// </summary>
/// <param name="warn">Told while the score cache is locked by another process (the run waits for it).</param>
public sealed class EvaluationRunner(ILanguageModel model, Tokenizer tokenizer, DatasetStore data, ScoreCache cache, string modelFingerprint,
    Action<string>? warn = null)
{
    public RunOutcome Run(EvalRequest request, IProgress<RunProgress>? progress = null, CancellationToken cancel = default)
    {
        if (request.BatchSize < 1) throw new ArgumentException($"--batch-size must be at least 1, got {request.BatchSize}");
        var clock = Stopwatch.StartNew();
        var padId = model.Config.PadTokenId ?? (tokenizer.Specials.Pad is { } pad ? tokenizer.TokenToId(pad) : null) ?? 0;
        var kind = ModelKinds.Of(model);
        kind.RequireScoring(request.Scoring);
        var scorer = kind.CreateScorer(model, tokenizer, padId);
        Func<Document, IScoredPrompt> Encoder(TaskDefinition task, Templates.PromptTemplate template) =>
            kind.CreateEncoder(tokenizer, task, template, request.MaxLength);

        // Plan first, so progress knows the total and bad data or templates fail before any model time is spent
        // (eval itself runs TaskPlanner before it loads the model).
        var plan = Plan(request);
        var assignment = request.Shard is { } shard ? ShardPartition.Assign(UnitTokens(plan, request, Encoder, progress, cancel), shard) : null;
        long total = assignment?.Units ?? plan.Units;
        long done = 0, scored = 0, cached = 0, position = 0;
        var examples = new List<ExampleResult>();
        var seconds = plan.Tasks.ToDictionary(t => t.Task.Name, _ => 0.0);
        var evaluated = new List<PlanGroup>();
        foreach (var group in plan.Groups)
        {
            cancel.ThrowIfCancellationRequested();
            var groupClock = Stopwatch.StartNew();
            var info = plan.Tasks.First(t => t.Task.Name == group.Task);
            var start = position;
            var docs = Limited(info.Data[group.Subset], request).Where((_, i) => assignment?.Contains(start + i) ?? true).ToList();
            position += group.DocIds.Count;
            if (docs.Count == 0 && assignment is not null) continue;
            evaluated.Add(group);
            var have = cache.Load(modelFingerprint, group.Task, group.Subset, group.Split, group.TemplateKey);
            var label = $"{group.Task} {group.Subset} · {group.Template}";
            int hits = docs.Count(d => have.ContainsKey(d.Index));
            cached += hits;
            done += hits;
            progress?.Report(new RunProgress(label, done, total) { Scored = scored });
            if (hits < docs.Count)
            {
                // The batches a single process forms from all the group's documents, length-sorted: a shard (or a resumed
                // run) scores whole batches of that layout, so its scores are bit for bit those of one uninterrupted process.
                var wanted = docs.Where(d => !have.ContainsKey(d.Index)).Select(d => d.Index).ToHashSet();
                var encode = Encoder(info.Task, info.Task.Template(group.Template));
                var layout = ParallelPromptEncoding.EncodeAll(Limited(info.Data[group.Subset], request), encode, request.EncodingThreads, cancel: cancel)
                    .OrderBy(p => p.TokenCount).ThenBy(p => p.Document.Index).ToList();
                foreach (var batch in Batches(layout, request))
                {
                    int needed = batch.Count(p => wanted.Contains(p.Document.Index));
                    if (needed == 0) continue;
                    cancel.ThrowIfCancellationRequested();
                    var scores = scorer.Score(batch, request.Scoring);
                    var stored = batch.Select((p, i) => new CachedScore(p.Document.Index, scores[i].Prediction, p.Gold, scores[i].Scores,
                        p.Truncated, p.Text, p.Choices, p.ChoiceIds.Select(c => c.Length).ToArray())).ToList();
                    cache.Store(modelFingerprint, group.Task, group.Subset, group.Split, group.TemplateKey, stored, warn);
                    foreach (var s in stored) have[s.DocId] = s;
                    done += needed;
                    scored += needed;
                    progress?.Report(new RunProgress(label, done, total) { Scored = scored });
                }
            }
            examples.AddRange(docs.Select(d => ExampleResult.FromScore(group, have[d.Index], request.Scoring)));
            seconds[group.Task] += groupClock.Elapsed.TotalSeconds;
        }
        var infos = plan.Tasks.Select(t => t with { Seconds = seconds[t.Task.Name] }).ToList();
        if (assignment is not null) infos = infos.Select(t => Covering(t, evaluated)).Where(t => t.Subsets.Count > 0).ToList();
        return new RunOutcome(examples, infos, scored, cached, clock.Elapsed.TotalSeconds) { Plan = plan, Shard = assignment };
    }

    /// <summary>The run's plan: each task's split, subsets, templates and data, and every (subset, template) group's documents.</summary>
    public RunPlan Plan(EvalRequest request)
    {
        var tasks = request.Tasks.Select(t => PlanTask(t, request)).ToList();
        var groups = tasks.SelectMany(info => info.Subsets.SelectMany(subset => info.Templates.Select(name => new PlanGroup(
            info.Task.Name, subset, info.Split, name, TemplateKey(info.Task, info.Task.Template(name), request.Scoring, request.MaxLength),
            Limited(info.Data[subset], request).Select(d => d.Index).ToList())))).ToList();
        return new RunPlan(modelFingerprint, tasks, groups);
    }

    /// <summary>Each unit's prompt length in tokens, in plan order: what the shards are balanced by.</summary>
    private static List<int> UnitTokens(RunPlan plan, EvalRequest request, Func<TaskDefinition, Templates.PromptTemplate, Func<Document, IScoredPrompt>> encoder,
        IProgress<RunProgress>? progress, CancellationToken cancel)
    {
        var tokens = new List<int>((int)plan.Units);
        foreach (var group in plan.Groups)
        {
            cancel.ThrowIfCancellationRequested();
            var info = plan.Tasks.First(t => t.Task.Name == group.Task);
            var encode = encoder(info.Task, info.Task.Template(group.Template));
            tokens.AddRange(ParallelPromptEncoding.EncodeAll(Limited(info.Data[group.Subset], request), encode, request.EncodingThreads, cancel: cancel)
                .Select(p => p.TokenCount));
            progress?.Report(new RunProgress($"sharding: {group.Task} {group.Subset} · {group.Template}", tokens.Count, plan.Units));
        }
        return tokens;
    }

    /// <summary>A task's part of the run restricted to the subsets and templates a shard evaluated.</summary>
    private static TaskRunInfo Covering(TaskRunInfo task, IReadOnlyList<PlanGroup> evaluated)
    {
        var mine = evaluated.Where(g => g.Task == task.Task.Name).ToList();
        return task with
        {
            Subsets = task.Subsets.Where(s => mine.Any(g => g.Subset == s)).ToList(),
            Templates = task.Templates.Where(t => mine.Any(g => g.Template == t)).ToList(),
        };
    }

    private TaskRunInfo PlanTask(TaskDefinition task, EvalRequest request) =>
        TaskPlanner.Plan(task, request.Subsets, request.Templates, request.Split, data);

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
    public static string TemplateKey(TaskDefinition task, Templates.PromptTemplate template, ScoringMode scoring, int maxLength)
    {
        var text = string.Join("\u001F", template.Name, template.Source, template.AnswerChoicesSource ?? "", task.AnswerSlot.Source,
            task.Gold.Source, scoring.ToString(), maxLength.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return template.Name + "#" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
    }
}
