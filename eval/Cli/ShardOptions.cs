using System.CommandLine;
using Eval.Harness.Runs;

namespace Eval.Cli;

/// <summary>`eval --shard K/N | auto [--shard-count N]`: evaluate one part of a run, as a Slurm array task or a Kubernetes Indexed Job pod.</summary>
public sealed class ShardOptions
{
    public Option<string?> Shard { get; } = new("--shard")
    {
        Description = "evaluate shard K of N (K from 0 to N-1) of the run's units, balanced by tokens, into this run folder; `merge` joins the shards. " +
                      "auto: from a Slurm job array (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX with --shard-count)",
    };

    public Option<int?> ShardCount { get; } = new Option<int?>("--shard-count")
    {
        Description = "with --shard auto: the number of shards (a Kubernetes Indexed Job's completions; checked against a Slurm array's count)",
    }.AtLeast(1);

    public void AddTo(Command command)
    {
        command.Options.Add(Shard);
        command.Options.Add(ShardCount);
    }

    /// <summary>The shard to run, or null for the whole run; the environment is read only for --shard auto.</summary>
    public ShardSpec? Resolve(ParseResult result, Func<string, string?> environment)
    {
        var count = result.GetValue(ShardCount);
        switch (result.GetValue(Shard))
        {
            case null:
                if (count is not null) throw new ArgumentException("--shard-count goes with --shard auto");
                return null;
            case "auto":
                return ShardSpec.FromScheduler(environment, count);
            case var text:
                if (count is not null) throw new ArgumentException("--shard-count goes with --shard auto; --shard K/N names the count itself");
                return ShardSpec.Parse(text);
        }
    }
}
