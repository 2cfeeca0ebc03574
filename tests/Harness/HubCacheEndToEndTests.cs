using System.Text.Json;
using Eval.Engine.IO;

namespace Eval.Tests.Harness;

/// <summary>
/// The first hour of a real user, in child processes: `eval`, `forward` and `convert` given a hub id (org/name) resolve
/// it through a Hugging Face hub cache laid out with relative links (single file, sharded safetensors, pytorch_model.bin,
/// sharded .bin), offline, and give what the same model gives from a plain folder; a blob deleted from the cache is one
/// error line naming the link and its target, from every command.
/// </summary>
[TestClass]
public sealed class HubCacheEndToEndTests
{
    private static readonly Lazy<Dictionary<string, string>> PlainFolderScores = new(() =>
    {
        var output = SharedFixtures.TempDirectory();
        var (code, text) = Run(SharedFixtures.TempDirectory(), output,
            ["eval", "--model", SharedFixtures.Model("modernbert-tiny"), "--tokenizer", Path.Combine(SharedFixtures.Shared, "tokenizers", "modernbert"), .. EvalOptions(output)]);
        Assert.AreEqual(0, code, text);
        return Scores(output);
    });

    private static string[] EvalOptions(string output) =>
        ["--task", "xcopa", "--languages", "et", "--limit", "3", "--threads", "1", "--offline",
         "--data-dir", Path.Combine(SharedFixtures.Shared, "datasets"), "--output", output];

    /// <summary>mlm-eval with the hub cache at cacheRoot (HF_HUB_CACHE), offline, run from a temporary folder.</summary>
    private static (int ExitCode, string Output) Run(string cacheRoot, string workDirectory, string[] args) =>
        ProgramProcess.Wait(ProgramProcess.Start(args, new Dictionary<string, string>
        {
            ["HF_HUB_CACHE"] = cacheRoot,
            ["HF_HUB_OFFLINE"] = "1",
            ["EVAL_PROMPTS"] = Path.Combine(SharedFixtures.ProjectRoot, "prompts"),
            ["EVAL_DATA_CACHE"] = Path.Combine(workDirectory, "data-cache"),
        }, workingDirectory: workDirectory), TimeSpan.FromMinutes(5));

    /// <summary>Each sample's (template, document) → its scores and prediction, as written.</summary>
    private static Dictionary<string, string> Scores(string folder) =>
        File.ReadLines(Path.Combine(folder, "samples_xcopa.jsonl")).Select(line => JsonDocument.Parse(line).RootElement).ToDictionary(
            e => $"{e.GetProperty("template").GetString()}#{e.GetProperty("doc_id").GetInt32()}",
            e => $"{e.GetProperty("scores").GetRawText()} → {e.GetProperty("prediction").GetInt32()}");

    [TestMethod]
    [DynamicData(nameof(HubCacheTests.Layouts), typeof(HubCacheTests))]
    public void EvalOfAHubIdReadsTheCacheAndScoresAsThePlainFolder(string layout)
    {
        var cache = HubCacheLayout.ModernBert(SharedFixtures.TempDirectory(), layout);
        var output = SharedFixtures.TempDirectory();
        var (code, text) = Run(cache.Root, SharedFixtures.TempDirectory(), ["eval", "--model", "org/tiny", .. EvalOptions(output)]);
        Assert.AreEqual(0, code, text);
        CollectionAssert.AreEquivalent(PlainFolderScores.Value.ToList(), Scores(output).ToList(), $"{layout}: scores and predictions");

        using var run = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "run.json")));
        var model = run.RootElement.GetProperty("model");
        var digests = model.GetProperty("weights_sha256").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
        Assert.IsTrue(digests.Count > 0, text);
        foreach (var (file, digest) in digests)
            Assert.AreEqual(Path.GetFileName(cache.BlobOf(file)), digest, $"{layout}: {file} is fingerprinted by its blob's sha256");
    }

    [TestMethod]
    public void ForwardAndConvertTakeHubIds()
    {
        var cache = HubCacheLayout.ModernBert(SharedFixtures.TempDirectory(), "sharded-safetensors");
        var fixture = SharedFixtures.Model("modernbert-tiny");
        var temp = SharedFixtures.TempDirectory();

        var viaHub = Path.Combine(temp, "hub.safetensors");
        var (code, text) = Run(cache.Root, temp, ["forward", "--model", "org/tiny", "--offline", "--input", Path.Combine(fixture, "golden.safetensors"), "--output", viaHub]);
        Assert.AreEqual(0, code, text);
        var viaFolder = Path.Combine(temp, "folder.safetensors");
        (code, text) = Run(cache.Root, temp, ["forward", "--model", fixture, "--input", Path.Combine(fixture, "golden.safetensors"), "--output", viaFolder]);
        Assert.AreEqual(0, code, text);
        CollectionAssert.AreEqual(File.ReadAllBytes(viaFolder), File.ReadAllBytes(viaHub), "forward through the hub cache = forward on the folder");

        var converted = Path.Combine(temp, "converted");
        (code, text) = Run(cache.Root, temp, ["convert", "org/tiny", converted, "--offline"]);
        Assert.AreEqual(0, code, text);
        Models.ConvertTests.AssertSameTensors(fixture, converted, "convert org/tiny");
        Assert.IsTrue(File.Exists(Path.Combine(converted, "tokenizer.json")) && new FileInfo(Path.Combine(converted, "tokenizer.json")).LinkTarget is null);
    }

    [TestMethod]
    public void ABlobDeletedFromTheCacheIsOneErrorLineFromEveryCommand()
    {
        var cache = HubCacheLayout.ModernBert(SharedFixtures.TempDirectory(), "safetensors");
        File.Delete(cache.BlobOf(Checkpoint.SingleFile));
        var temp = SharedFixtures.TempDirectory();
        var golden = Path.Combine(SharedFixtures.Model("modernbert-tiny"), "golden.safetensors");
        foreach (var args in new[]
                 {
                     ["eval", "--model", "org/tiny", .. EvalOptions(Path.Combine(temp, "eval"))],
                     ["eval", "--model", cache.Snapshot, .. EvalOptions(Path.Combine(temp, "eval-folder"))],
                     ["forward", "--model", "org/tiny", "--input", golden, "--output", Path.Combine(temp, "out.safetensors")],
                     new[] { "convert", "org/tiny", Path.Combine(temp, "converted") },
                 })
        {
            var (code, output) = Run(cache.Root, temp, args);
            Assert.AreEqual(1, code, $"{string.Join(' ', args)}: {output}");
            var errors = output.Split('\n').Where(l => l.StartsWith("error: ", StringComparison.Ordinal)).ToList();
            Assert.AreEqual(1, errors.Count, $"{args[0]}: {output}");
            Assert.IsFalse(output.Contains("   at "), $"{args[0]}: no stack trace: {output}");
            HubCacheTests.AssertNamesBrokenLink(errors[0], cache, Checkpoint.SingleFile);
        }
    }
}
