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
        scoring == ScoringMode.LogLikelihood ? Metrics.NormalizedPrediction(s.Scores, s.Choices.Select(Metrics.Characters).ToList()) : null);
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

    /// <summary>The batches this process scored: their prompts' tokens and padding (none for a run that scored nothing).</summary>
    public BatchingTally Batching { get; init; } = BatchingTally.None;
}

/// <summary>
/// Runs evaluation: loads each (task, subset) split, renders and tokenizes every example per template (for a masked LM's
/// answer slot or a causal LM's continuation; on EncodingThreads threads, in document order), takes what the score cache
/// already holds, and scores the rest in the batches of <see cref="BatchLayout"/>: all of a task's (subset, template)
/// groups sorted by length together, so batches are full and little of them is padding.
/// <para>
/// The host work is a bounded pipeline around the model: while a task's batches are scored, the next task's prompts
/// are rendered and tokenized on other threads, and each scored batch is stored on the store thread
/// (<see cref="BackgroundScoreStore"/>, two batches deep) while the model scores the next. None of it decides a score.
/// What does: the model and its backend and precision, the prompt's tokens (task, template, document, max length,
/// scoring mode — the cache key), and the batch the prompt is scored in (its padded width and its rows: kernels may sum
/// in another order for another shape, so scores can differ in the last bits between layouts). The batch is fixed by
/// the layout, which depends only on the plan and the batching options; every process — one uninterrupted, resumed,
/// or one shard — scores a prompt in the same batch and gets bit for bit the same score.
/// </para>
/// </summary>
/// <param name="warn">Told while the score cache is locked by another process (the run waits for it).</param>
public sealed class EvaluationRunner
{
    private readonly ModelKindEntry kind;
    private readonly IChoiceScorer scorer;
    private readonly Tokenizer tokenizer;
    private readonly DatasetStore data;
    private readonly ScoreCache cache;
    private readonly string modelFingerprint;
    private readonly Action<string>? warn;

    public EvaluationRunner(ILanguageModel model, Tokenizer tokenizer, DatasetStore data, ScoreCache cache, string modelFingerprint,
        Action<string>? warn = null)
        : this(ModelKinds.Of(model), ModelKinds.Of(model).CreateScorer(model, tokenizer,
            model.Config.PadTokenId ?? (tokenizer.Specials.Pad is { } pad ? tokenizer.TokenToId(pad) : null) ?? 0), tokenizer, data, cache, modelFingerprint, warn)
    {
    }

    /// <summary>A runner around a given scorer for prompts of a model kind (`bench host-pipeline` passes one that costs nothing).</summary>
    public EvaluationRunner(ModelKindEntry kind, IChoiceScorer scorer, Tokenizer tokenizer, DatasetStore data, ScoreCache cache, string modelFingerprint,
        Action<string>? warn = null)
    {
        (this.kind, this.scorer, this.tokenizer, this.data, this.cache, this.modelFingerprint, this.warn) =
            (kind, scorer, tokenizer, data, cache, modelFingerprint, warn);
    }

    /// <summary>One group of a task as this run evaluates it: its documents (this shard's), what the cache holds and what is still wanted.</summary>
    private sealed record GroupWork(PlanGroup Group, IReadOnlyList<Document> Docs, Dictionary<int, CachedScore> Have, HashSet<int> Wanted)
    {
        public string Label => $"{Group.Task} {Group.Subset} · {Group.Template}";

        public ScoreCacheRows Rows(IReadOnlyCollection<CachedScore> scores) => new(Group.Task, Group.Subset, Group.Split, Group.TemplateKey, scores);
    }

    public RunOutcome Run(EvalRequest request, IProgress<RunProgress>? progress = null, CancellationToken cancel = default)
    {
        if (request.BatchSize < 1) throw new ArgumentException($"--batch-size must be at least 1, got {request.BatchSize}");
        var clock = Stopwatch.StartNew();
        kind.RequireScoring(request.Scoring);

        // Plan first, so progress knows the total and bad data or templates fail before any model time is spent
        // (eval itself runs TaskPlanner before it loads the model).
        var plan = Plan(request);
        var assignment = request.Shard is { } shard ? ShardPartition.Assign(UnitTokens(plan, request, progress, cancel), shard) : null;
        long total = assignment?.Units ?? plan.Units;
        long done = 0, scored = 0, cached = 0, position = 0;
        var batching = BatchingTally.None;
        var examples = new List<ExampleResult>();
        var seconds = plan.Tasks.ToDictionary(t => t.Task.Name, _ => 0.0);
        var evaluated = new List<PlanGroup>();
        var works = new List<List<GroupWork>>();
        foreach (var info in plan.Tasks)
        {
            var work = new List<GroupWork>();
            foreach (var group in plan.Groups.Where(g => g.Task == info.Task.Name))
            {
                var start = position;
                var docs = Limited(info.Data[group.Subset], request).Where((_, i) => assignment?.Contains(start + i) ?? true).ToList();
                position += group.DocIds.Count;
                var have = docs.Count == 0 ? [] : cache.Load(modelFingerprint, group.Task, group.Subset, group.Split, group.TemplateKey);
                work.Add(new GroupWork(group, docs, have, docs.Where(d => !have.ContainsKey(d.Index)).Select(d => d.Index).ToHashSet()));
            }
            works.Add(work);
        }

        using var encoding = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        Task<IReadOnlyList<IScoredPrompt[]>>? nextPrompts = null;
        Task<IReadOnlyList<IScoredPrompt[]>>? Encode(int t) => works[t].Any(w => w.Wanted.Count > 0)
            ? Task.Run(() => EncodeTask(plan.Tasks[t], works[t], request, encoding.Token), encoding.Token)
            : null;
        var store = new BackgroundScoreStore(cache, modelFingerprint, warn);
        try
        {
            nextPrompts = Encode(0);
            for (int t = 0; t < works.Count; t++)
            {
                cancel.ThrowIfCancellationRequested();
                var taskClock = Stopwatch.StartNew();
                var work = works[t];
                var prompts = nextPrompts;
                nextPrompts = t + 1 < works.Count ? Encode(t + 1) : null;
                int hits = work.Sum(w => w.Docs.Count - w.Wanted.Count);
                cached += hits;
                done += hits;
                if (work.FirstOrDefault(w => w.Docs.Count > 0) is { } first) progress?.Report(new RunProgress(first.Label, done, total) { Scored = scored });
                if (prompts is not null)
                {
                    // Every batch of the task's layout that holds a wanted unit is scored whole, as one process scores it.
                    var batches = BatchLayout.OfTask(prompts.GetAwaiter().GetResult(), request)
                        .Select(b => (Prompts: b, Needed: b.Count(p => work[p.Group].Wanted.Contains(p.Prompt.Document.Index))))
                        .Where(b => b.Needed > 0).ToList();
                    for (int i = 0; i < batches.Count; i++)
                    {
                        var (batch, needed) = batches[i];
                        cancel.ThrowIfCancellationRequested();
                        // The scorer may send the next batch's inputs to the device while this one runs.
                        scorer.Upcoming(i + 1 < batches.Count ? batches[i + 1].Prompts.Select(p => p.Prompt).ToArray() : null);
                        var scores = scorer.Score(batch.Select(p => p.Prompt).ToArray(), request.Scoring);
                        var rows = batch.Select((p, i) => (p.Group, Score: new CachedScore(p.Prompt.Document.Index, scores[i].Prediction, p.Prompt.Gold,
                            scores[i].Scores, p.Prompt.Truncated, p.Prompt.Text, p.Prompt.Choices, p.Prompt.ChoiceIds.Select(c => c.Length).ToArray()))).ToList();
                        store.Add(rows.GroupBy(r => r.Group).Select(g => work[g.Key].Rows(g.Select(r => r.Score).ToList())).ToList());
                        foreach (var (g, score) in rows) work[g].Have[score.DocId] = score;
                        batching = batching.Add(batch.Select(p => p.Prompt.TokenCount).ToList());
                        done += needed;
                        scored += needed;
                        progress?.Report(new RunProgress(work[batch[0].Group].Label, done, total) { Scored = scored });
                    }
                }
                foreach (var w in work.Where(w => w.Docs.Count > 0 || assignment is null))
                {
                    evaluated.Add(w.Group);
                    examples.AddRange(w.Docs.Select(d => ExampleResult.FromScore(w.Group, w.Have[d.Index], request.Scoring)));
                }
                seconds[plan.Tasks[t].Task.Name] += taskClock.Elapsed.TotalSeconds;
            }
            store.Finish();
        }
        finally
        {
            encoding.Cancel();
            try
            {
                nextPrompts?.Wait(CancellationToken.None);
            }
            catch (AggregateException)
            {
                // the run stopped before it needed these prompts
            }
            store.Dispose();
        }
        var infos = plan.Tasks.Select(t => t with { Seconds = seconds[t.Task.Name] }).ToList();
        if (assignment is not null) infos = infos.Select(t => Covering(t, evaluated)).Where(t => t.Subsets.Count > 0).ToList();
        return new RunOutcome(examples, infos, scored, cached, clock.Elapsed.TotalSeconds) { Plan = plan, Shard = assignment, Batching = batching };
    }

    /// <summary>Every document's prompt of each group of a task (all of them, whatever the shard or the cache: the layout needs them all).</summary>
    private IReadOnlyList<IScoredPrompt[]> EncodeTask(TaskRunInfo info, IReadOnlyList<GroupWork> work, EvalRequest request, CancellationToken cancel) =>
        work.Select(w => ParallelPromptEncoding.EncodeAll(Limited(info.Data[w.Group.Subset], request),
            Encoder(info.Task, info.Task.Template(w.Group.Template), request), request.EncodingThreads, cancel: cancel)).ToList();

    private Func<Document, IScoredPrompt> Encoder(TaskDefinition task, Templates.PromptTemplate template, EvalRequest request) =>
        kind.CreateEncoder(tokenizer, task, template, request.MaxLength);

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
    private List<int> UnitTokens(RunPlan plan, EvalRequest request, IProgress<RunProgress>? progress, CancellationToken cancel)
    {
        var tokens = new List<int>((int)plan.Units);
        foreach (var group in plan.Groups)
        {
            cancel.ThrowIfCancellationRequested();
            var info = plan.Tasks.First(t => t.Task.Name == group.Task);
            var encode = Encoder(info.Task, info.Task.Template(group.Template), request);
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

    /// <summary>Consecutive batches of prompts sorted by length, cut as <see cref="BatchLayout.Cut"/> cuts them.</summary>
    public static IEnumerable<IScoredPrompt[]> Batches(IReadOnlyList<IScoredPrompt> sorted, EvalRequest request) =>
        BatchLayout.Cut(sorted.Select(p => p.TokenCount).ToArray(), request).Select(r => sorted.Take(r).ToArray());

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
