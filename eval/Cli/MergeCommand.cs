using System.CommandLine;
using Eval.Harness.Runs;
using Eval.Harness.Tasks;
using Spectre.Console;

namespace Eval.Cli;

/// <summary>`merge SHARD_DIR... --output DIR`: the shards of one `eval --shard` run joined into the run folder a single process writes.</summary>
public static class MergeCommand
{
    public static Command Build()
    {
        var shards = new Argument<string[]>("SHARD_DIR") { Description = "the run folders of every shard (`eval --shard K/N`)", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string>("--output") { Description = "folder for the merged run (results, samples, run.json, scores.sqlite)", Required = true };
        var prompts = ProjectPaths.PromptsOption();
        var command = new Command("merge", "Join the shard folders of one sharded evaluation into one run folder, identical to a single-process run's; refuses shards of different runs and missing or repeated units");
        command.Arguments.Add(shards);
        command.Options.Add(output);
        command.Options.Add(prompts);
        command.SetAction(result => CommandRunner.Run(() =>
        {
            var registry = ProjectPaths.LoadTasks(result.GetValue(prompts));
            var folders = result.GetValue(shards)!;
            var finished = RunMerger.Merge(folders, result.GetValue(output)!, registry.Get);
            ProgressDisplay.PrintSummary(finished.Summary);
            AnsiConsole.MarkupLine($"merged {folders.Length} shard(s) → {Markup.Escape(result.GetValue(output)!)}");
            foreach (var f in finished.Files) Console.WriteLine($"  {f}");
        }));
        return command;
    }
}
