using System.CommandLine;
using Eval.Engine.IO;
using Eval.Harness.Data;
using Eval.Models;

namespace Eval.Cli;

/// <summary>`mlm-eval convert SRC DST`: any supported model folder → Hugging Face layout (safetensors, sharded above a size).</summary>
public static class ConvertCommand
{
    public static Command Build()
    {
        var source = new Argument<string>("SRC") { Description = "model folder to convert, or hub id org/name[@revision] (downloaded into the hub cache)" };
        var destination = new Argument<string>("DST") { Description = "folder to write (built as DST.tmp, then renamed)" };
        var maxShardSize = new Option<string>("--max-shard-size")
        {
            Description = "largest weight file before sharding: 5GB (default, as transformers), 500MB, 2GiB or bytes",
            DefaultValueFactory = _ => "5GB",
        };
        var force = new Option<bool>("--force") { Description = "replace DST when it is not empty" };
        var offline = new Option<bool>("--offline") { Description = "never download; a hub id must be complete in the hub cache" };
        var command = new Command("convert", "Convert a model folder to Hugging Face layout: config.json, model.safetensors (sharded above --max-shard-size), tokenizer files");
        command.Arguments.Add(source);
        command.Arguments.Add(destination);
        command.Options.Add(maxShardSize);
        command.Options.Add(force);
        command.Options.Add(offline);
        command.SetAction(result => CommandRunner.Run(() =>
        {
            long maxBytes = ShardedCheckpointWriter.ParseSize(result.GetValue(maxShardSize)!);
            var sourceDir = HubModelStore.ResolveModel(result.GetValue(source)!, result.GetValue(offline), message => Console.Error.WriteLine(message));
            var summary = ModelFolderConverter.Convert(sourceDir, result.GetValue(destination)!, maxBytes, result.GetValue(force));
            Console.WriteLine($"wrote {summary.Destination}: {summary.TensorCount} tensors, {summary.TensorBytes} bytes in " +
                              $"{string.Join(", ", summary.WeightFiles)}; copied {string.Join(", ", summary.CopiedFiles)}");
        }));
        return command;
    }
}
