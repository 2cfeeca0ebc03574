using Eval.Cli;
using Eval.Harness.Runs;
using YamlDotNet.RepresentationModel;

namespace Eval.Tests.Cluster;

/// <summary>
/// The Kubernetes recipe (eval/Cli/recipes/kubernetes) on paper, as no cluster is here: the Indexed Job and the merge
/// Job have the shape Kubernetes needs, their commands parse with the program's own eval and merge commands, the shard
/// count agrees with the Job's completions, and the merge reads the folders the shards write.
/// </summary>
[TestClass]
public sealed class KubernetesRecipeTests
{
    private static string Recipe(string file) => Path.Combine(SharedFixtures.ProjectRoot, "eval", "Cli", "recipes", "kubernetes", file);

    private static YamlMappingNode Load(string file)
    {
        var stream = new YamlStream();
        using (var reader = new StreamReader(Recipe(file))) stream.Load(reader);
        Assert.AreEqual(1, stream.Documents.Count, file);
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }

    private static YamlNode At(YamlNode node, params object[] path)
    {
        foreach (var step in path)
            node = step switch
            {
                string key => ((YamlMappingNode)node).Children.TryGetValue(new YamlScalarNode(key), out var child) ? child
                    : throw new AssertFailedException($"no '{key}' at line {node.Start.Line}"),
                int index => ((YamlSequenceNode)node).Children[index],
                _ => throw new ArgumentException($"{step}"),
            };
        return node;
    }

    private static string Text(YamlNode node, params object[] path) => ((YamlScalarNode)At(node, path)).Value!;

    /// <summary>The one container's `sh -c "exec mlm-eval ARGS"`: ARGS split on whitespace.</summary>
    private static string[] ProgramArguments(YamlMappingNode job)
    {
        var containers = (YamlSequenceNode)At(job, "spec", "template", "spec", "containers");
        Assert.AreEqual(1, containers.Children.Count);
        var command = ((YamlSequenceNode)At(containers[0], "command")).Children.Select(c => ((YamlScalarNode)c).Value!).ToList();
        Assert.AreEqual("sh", command[0]);
        Assert.AreEqual("-c", command[1]);
        var words = command[2].Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
        CollectionAssert.AreEqual(new[] { "exec", "mlm-eval" }, words[..2], command[2]);
        return words[2..];
    }

    private static void RequireJob(YamlMappingNode job, string file)
    {
        Assert.AreEqual("batch/v1", Text(job, "apiVersion"), file);
        Assert.AreEqual("Job", Text(job, "kind"), file);
        Assert.IsTrue(Text(job, "spec", "template", "spec", "restartPolicy") is "Never" or "OnFailure", file);
        // Every mount names a volume of the pod, and every claim is a PVC.
        var volumes = ((YamlSequenceNode)At(job, "spec", "template", "spec", "volumes")).Children.ToDictionary(v => Text(v, "name"), v => Text(v, "persistentVolumeClaim", "claimName"));
        foreach (var mount in ((YamlSequenceNode)At(job, "spec", "template", "spec", "containers", 0, "volumeMounts")).Children)
            Assert.IsTrue(volumes.ContainsKey(Text(mount, "name")), $"{file}: mount {Text(mount, "name")} has no volume");
    }

    private static IReadOnlyList<string> Mounts(YamlMappingNode job) =>
        ((YamlSequenceNode)At(job, "spec", "template", "spec", "containers", 0, "volumeMounts")).Children.Select(m => Text(m, "mountPath")).ToList();

    [TestMethod]
    public void TheIndexedJobAndTheMergeJobHaveTheShapeAndArgumentsTheyNeed()
    {
        var shards = Load("shards-job.yaml");
        RequireJob(shards, "shards-job.yaml");
        Assert.AreEqual("Indexed", Text(shards, "spec", "completionMode"));
        int completions = int.Parse(Text(shards, "spec", "completions"));
        Assert.AreEqual(completions, int.Parse(Text(shards, "spec", "parallelism")), "every shard at once");
        Assert.AreEqual("1", Text(shards, "spec", "template", "spec", "containers", 0, "resources", "limits", "nvidia.com/gpu"), "one GPU per shard");

        var eval = ProgramArguments(shards);
        Assert.AreEqual("eval", eval[0]);
        var parsed = new EvalCommand().Build().Parse(eval[1..]);
        Assert.AreEqual(0, parsed.Errors.Count, string.Join("; ", parsed.Errors.Select(e => e.Message)));
        string Option(string[] args, string name) => args[Array.IndexOf(args, name) + 1];
        Assert.AreEqual("auto", Option(eval, "--shard"));
        Assert.AreEqual(completions, int.Parse(Option(eval, "--shard-count")), "--shard-count is the Job's completions");
        var output = Option(eval, "--output");
        StringAssert.EndsWith(output, "/shard-$JOB_COMPLETION_INDEX");
        foreach (var path in new[] { Option(eval, "--model"), Option(eval, "--data-dir"), output })
            Assert.IsTrue(Mounts(shards).Any(m => path == m || path.StartsWith(m + "/", StringComparison.Ordinal)), $"{path} is on no mounted volume");
        // The controller's last index is a valid shard of that count.
        Assert.AreEqual(new ShardSpec(completions - 1, completions),
            ShardSpec.FromScheduler(name => name == "JOB_COMPLETION_INDEX" ? $"{completions - 1}" : null, completions));

        var merge = Load("merge-job.yaml");
        RequireJob(merge, "merge-job.yaml");
        Assert.AreEqual("1", Text(merge, "spec", "completions"));
        var args = ProgramArguments(merge);
        Assert.AreEqual("merge", args[0]);
        var mergeParsed = MergeCommand.Build().Parse(args[1..]);
        Assert.AreEqual(0, mergeParsed.Errors.Count, string.Join("; ", mergeParsed.Errors.Select(e => e.Message)));
        var root = output[..output.LastIndexOf('/')];
        Assert.AreEqual($"{root}/shard-*", args[1], "the merge reads the folders the shards write");
        Assert.AreEqual($"{root}/merged", Option(args, "--output"));
        Assert.AreEqual(Text(shards, "spec", "template", "spec", "volumes", 0, "persistentVolumeClaim", "claimName"),
            Text(merge, "spec", "template", "spec", "volumes", 0, "persistentVolumeClaim", "claimName"), "the same runs volume");
        Assert.IsTrue(Mounts(merge).Any(m => root.StartsWith(m + "/", StringComparison.Ordinal)));
    }
}
