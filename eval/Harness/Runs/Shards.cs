using System.Globalization;

namespace Eval.Harness.Runs;

/// <summary>Shard Index of Count (0-based, as Slurm array indices from 0 and Kubernetes' JOB_COMPLETION_INDEX count).</summary>
public sealed record ShardSpec(int Index, int Count)
{
    public override string ToString() => $"{Index}/{Count}";

    /// <summary>"K/N" with 0 ≤ K &lt; N.</summary>
    public static ShardSpec Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var index)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var count))
            throw new ArgumentException($"--shard '{text}' must be K/N (shard K of N, K from 0 to N-1) or auto");
        return Of(index, count, $"--shard {text}");
    }

    public static ShardSpec Of(int index, int count, string origin)
    {
        if (count < 1) throw new ArgumentException($"{origin}: the shard count must be at least 1, got {count}");
        if (index < 0 || index >= count) throw new ArgumentException($"{origin}: shard {index} is not one of 0..{count - 1} (shards are numbered from 0)");
        return new ShardSpec(index, count);
    }

    /// <summary>
    /// The shard a scheduler gives this process: a Slurm job array (SLURM_ARRAY_TASK_ID less SLURM_ARRAY_TASK_MIN, of
    /// SLURM_ARRAY_TASK_COUNT), else a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, of the count given, which must
    /// equal the Job's completions). A count given beside a Slurm array must agree with it.
    /// </summary>
    public static ShardSpec FromScheduler(Func<string, string?> environment, int? count)
    {
        int? Number(string name)
        {
            var value = environment(name);
            if (string.IsNullOrEmpty(value)) return null;
            return int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n
                : throw new ArgumentException($"--shard auto: {name}='{value}' is not a number");
        }
        if (Number("SLURM_ARRAY_TASK_ID") is { } task)
        {
            var arrayCount = Number("SLURM_ARRAY_TASK_COUNT") ?? throw new ArgumentException("--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not");
            if (count is { } given && given != arrayCount)
                throw new ArgumentException($"--shard auto: --shard-count {given} disagrees with the Slurm array's SLURM_ARRAY_TASK_COUNT={arrayCount}");
            int min = Number("SLURM_ARRAY_TASK_MIN") ?? 0;
            return Of(task - min, arrayCount, $"--shard auto (SLURM_ARRAY_TASK_ID={task}, SLURM_ARRAY_TASK_MIN={min}, SLURM_ARRAY_TASK_COUNT={arrayCount})");
        }
        if (Number("JOB_COMPLETION_INDEX") is { } index)
        {
            var n = count ?? throw new ArgumentException("--shard auto: JOB_COMPLETION_INDEX is set; give the Indexed Job's completions as --shard-count");
            return Of(index, n, $"--shard auto (JOB_COMPLETION_INDEX={index}, --shard-count {n})");
        }
        throw new ArgumentException("--shard auto: neither a Slurm job array (SLURM_ARRAY_TASK_ID) nor a Kubernetes Indexed Job (JOB_COMPLETION_INDEX) is in the environment");
    }
}

/// <summary>The units of a plan one shard evaluates: plan positions [FirstUnit, EndUnit), with their tokens and the plan's.</summary>
public sealed record ShardAssignment(ShardSpec Shard, long FirstUnit, long EndUnit, long Tokens, long PlanTokens)
{
    public long Units => EndUnit - FirstUnit;

    public bool Contains(long unit) => unit >= FirstUnit && unit < EndUnit;

    /// <summary>The assignment as run.json's "shard" holds it.</summary>
    public ShardEntry ToEntry() => new(Shard.Index, Shard.Count, FirstUnit, EndUnit, Units, Tokens, PlanTokens);

    public static ShardAssignment FromEntry(ShardEntry entry) =>
        new(new ShardSpec(entry.Index, entry.Count), entry.FirstUnit, entry.EndUnit, entry.Tokens, entry.PlanTokens);
}

/// <summary>
/// Splits a plan's units, in plan order, into contiguous parts of nearly equal token count: unit i (tokens t_i, the
/// units before it P_i, all units T) goes to shard ⌊(P_i + t_i/2)·N / T⌋, the shard its midpoint falls in. Each part
/// is within one unit's tokens of T/N; a part depends only on the plan's token counts and N (not on the batch size,
/// nor on which other shards run), and a shard keeps whole runs of a template's documents, so its batches stay full.
/// </summary>
public static class ShardPartition
{
    /// <summary>Count + 1 boundaries: shard k holds units [b[k], b[k+1]).</summary>
    public static long[] Boundaries(IReadOnlyList<int> tokens, int count)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), "the shard count must be at least 1");
        long total = 0;
        foreach (var t in tokens)
        {
            if (t < 0) throw new ArgumentException("token counts cannot be negative");
            total += t;
        }
        var bounds = new long[count + 1];
        bounds[count] = tokens.Count;
        int shard = 0;
        long before = 0;
        for (int i = 0; i < tokens.Count; i++)
        {
            // 2·(P + t/2)·N / (2·T) in integers; with no tokens at all every unit weighs the same.
            var target = total > 0
                ? (int)Math.Min(count - 1, (2 * before + tokens[i]) * count / (2 * total))
                : (int)Math.Min(count - 1, (2L * i + 1) * count / (2L * tokens.Count));
            while (shard < target) bounds[++shard] = i;
            before += tokens[i];
        }
        while (shard < count - 1) bounds[++shard] = tokens.Count;
        return bounds;
    }

    public static ShardAssignment Assign(IReadOnlyList<int> tokens, ShardSpec shard)
    {
        var bounds = Boundaries(tokens, shard.Count);
        long first = bounds[shard.Index], end = bounds[shard.Index + 1];
        long mine = 0, all = 0;
        for (int i = 0; i < tokens.Count; i++)
        {
            all += tokens[i];
            if (i >= first && i < end) mine += tokens[i];
        }
        return new ShardAssignment(shard, first, end, mine, all);
    }
}
