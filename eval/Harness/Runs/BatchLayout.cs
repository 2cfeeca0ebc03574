using Eval.Harness.Scoring;

namespace Eval.Harness.Runs;

/// <summary>A prompt of a task's layout: the index of its (subset, template) group among the task's groups, and the prompt.</summary>
public readonly record struct LaidOutPrompt(int Group, IScoredPrompt Prompt);

/// <summary>
/// How a run cuts prompts into batches. All the prompts of a task — every (subset, template) group of it — are sorted by
/// token count (ties: group, then document), and consecutive runs of them are cut by count, or by a padded-token budget
/// (count × longest ≤ MaxBatchTokens; a prompt longer than the budget goes alone). The layout depends only on the task's
/// planned groups and the request's batching options — not on the score cache, the shard, the threads or the timing —
/// so a resumed run or a shard, which scores every batch of the layout that holds a unit it needs, scores each prompt in
/// the very batch one uninterrupted process scores it in.
/// </summary>
public static class BatchLayout
{
    /// <summary>The batches of a task whose groups' prompts are given (each group's in document order).</summary>
    public static IReadOnlyList<LaidOutPrompt[]> OfTask(IReadOnlyList<IReadOnlyList<IScoredPrompt>> groups, EvalRequest request)
    {
        var sorted = groups.SelectMany((prompts, g) => prompts.Select(p => new LaidOutPrompt(g, p)))
            .OrderBy(p => p.Prompt.TokenCount).ThenBy(p => p.Group).ThenBy(p => p.Prompt.Document.Index).ToArray();
        return Cut(sorted.Select(p => p.Prompt.TokenCount).ToArray(), request).Select(r => sorted[r]).ToList();
    }

    /// <summary>
    /// Consecutive ranges of length-sorted prompts: BatchSize prompts each, or with a token budget as many as fit
    /// count × longest ≤ MaxBatchTokens (and count ≤ BatchSize; a prompt longer than the budget goes alone).
    /// </summary>
    public static IEnumerable<Range> Cut(IReadOnlyList<int> sortedTokenCounts, EvalRequest request)
    {
        int start = 0, longest = 0;
        for (int i = 0; i < sortedTokenCounts.Count; i++)
        {
            int count = i - start, widest = Math.Max(longest, sortedTokenCounts[i]);
            bool full = request.MaxBatchTokens is { } budget
                ? count > 0 && ((long)(count + 1) * widest > budget || count >= request.BatchSize)
                : count >= request.BatchSize;
            if (full)
            {
                yield return start..i;
                start = i;
                widest = sortedTokenCounts[i];
            }
            longest = widest;
        }
        if (start < sortedTokenCounts.Count) yield return start..sortedTokenCounts.Count;
    }
}

/// <summary>
/// What the batches a run scored held: prompt tokens (<see cref="IScoredPrompt.TokenCount"/>) and the slots they filled
/// (count × longest prompt of each batch); PaddingShare is the part of the slots that was padding.
/// </summary>
public sealed record BatchingTally(long Batches, long Prompts, long Tokens, long Slots)
{
    public static BatchingTally None { get; } = new(0, 0, 0, 0);

    public double PaddingShare => Slots > 0 ? 1 - (double)Tokens / Slots : 0;

    public BatchingTally Add(IReadOnlyCollection<int> tokenCounts) =>
        new(Batches + 1, Prompts + tokenCounts.Count, Tokens + tokenCounts.Sum(t => (long)t), Slots + (long)tokenCounts.Count * tokenCounts.Max());

    public BatchingTally Add(BatchingTally other) =>
        new(Batches + other.Batches, Prompts + other.Prompts, Tokens + other.Tokens, Slots + other.Slots);
}
