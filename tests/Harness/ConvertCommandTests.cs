using Eval.Engine.IO;
using Eval.Tests.Models;

namespace Eval.Tests.Harness;

/// <summary>`mlm-eval convert` as users run it, in a child process: a success with sharding and tokenizer files, and each refusal as one line with exit code 1.</summary>
[TestClass]
public sealed class ConvertCommandTests
{
    private static (int ExitCode, string Output) Convert(params string[] args) =>
        ProgramProcess.Run(SharedFixtures.ProjectRoot, ["convert", .. args]);

    /// <summary>modernbert-tiny with the ModernBERT tokenizer files beside it, as a downloaded model folder has them.</summary>
    private static string ModelWithTokenizer()
    {
        var folder = Path.Combine(SharedFixtures.TempDirectory(), "modernbert");
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.GetFiles(SharedFixtures.Model("modernbert-tiny")))
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        foreach (var file in Directory.GetFiles(Path.Combine(SharedFixtures.Shared, "tokenizers", "modernbert")))
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        File.WriteAllText(Path.Combine(folder, "README.md"), "not copied");
        return folder;
    }

    [TestMethod]
    public void ConvertsShardedWithTokenizerFilesAndReplacesOnlyWithForce()
    {
        var source = ModelWithTokenizer();
        var destination = Path.Combine(SharedFixtures.TempDirectory(), "out");
        var (code, output) = Convert(source, destination, "--max-shard-size", "100KB");
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "model.safetensors.index.json");
        Assert.IsTrue(File.Exists(Path.Combine(destination, "model-00001-of-00002.safetensors")) || Directory.GetFiles(destination, "model-*-of-*.safetensors").Length >= 2, output);
        foreach (var name in new[] { "config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json" })
            CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(source, name)), File.ReadAllBytes(Path.Combine(destination, name)), name);
        Assert.IsFalse(File.Exists(Path.Combine(destination, "README.md")));
        Assert.IsFalse(File.Exists(Path.Combine(destination, "golden.safetensors")));
        ConvertTests.AssertSameTensors(source, destination, "cli");

        // The destination now holds a model: refused without --force (nothing changes), replaced with it.
        var before = Directory.GetFiles(destination).Order().ToList();
        (code, output) = Convert(source, destination);
        Assert.AreEqual(1, code, output);
        StringAssert.StartsWith(output.Trim(), "error: ");
        StringAssert.Contains(output, destination);
        StringAssert.Contains(output, "--force");
        Assert.AreEqual(1, output.Trim().Split('\n').Length, output);
        CollectionAssert.AreEqual(before, Directory.GetFiles(destination).Order().ToList());

        (code, output) = Convert(source, destination, "--force");
        Assert.AreEqual(0, code, output);
        Assert.IsTrue(File.Exists(Path.Combine(destination, Checkpoint.SingleFile)), "5GB default: one file");
        Assert.AreEqual(0, Directory.GetFiles(destination, "model-*").Length, "the old shards went with the old folder");
        ConvertTests.AssertSameForward(SharedFixtures.Model("modernbert-tiny"), destination, "cli --force");
    }

    [TestMethod]
    public void EachRefusalIsOneLineWithExitCodeOne()
    {
        var temp = SharedFixtures.TempDirectory();
        var missing = Path.Combine(temp, "no-such-model");
        var unsupported = Path.Combine(temp, "unsupported");
        Directory.CreateDirectory(unsupported);
        File.WriteAllText(Path.Combine(unsupported, "notes.txt"), "no weights here");
        var unknownArchitecture = Path.Combine(temp, "gpt2");
        Directory.CreateDirectory(unknownArchitecture);
        File.Copy(Path.Combine(SharedFixtures.Model("xlmr-tiny"), "model.safetensors"), Path.Combine(unknownArchitecture, "model.safetensors"));
        File.WriteAllText(Path.Combine(unknownArchitecture, "config.json"), """{"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}""");

        var cases = new (string[] Args, string Names, string Says)[]
        {
            ([missing, Path.Combine(temp, "a")], missing, "not found"),
            ([unsupported, Path.Combine(temp, "b")], unsupported, "model.safetensors"),
            ([unknownArchitecture, Path.Combine(temp, "c")], "GPT2LMHeadModel", "not supported"),
            ([SharedFixtures.Model("xlmr-tiny"), Path.Combine(temp, "d"), "--max-shard-size", "lots"], "lots", "shard size"),
            ([SharedFixtures.Model("xlmr-tiny"), SharedFixtures.Model("xlmr-tiny"), "--force"], "xlmr-tiny", "source"),
        };
        foreach (var (args, names, says) in cases)
        {
            var (code, output) = Convert(args);
            Assert.AreEqual(1, code, output);
            var line = output.Trim();
            Assert.AreEqual(1, line.Split('\n').Length, output);
            StringAssert.StartsWith(line, "error: ");
            StringAssert.Contains(line, names);
            StringAssert.Contains(line, says);
        }
        foreach (var name in new[] { "a", "b", "c", "d", "a.tmp", "b.tmp", "c.tmp", "d.tmp" })
            Assert.IsFalse(Path.Exists(Path.Combine(temp, name)), $"{name} was created");
    }
}
