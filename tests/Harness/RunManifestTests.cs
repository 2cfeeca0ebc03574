using System.Text.Json.Nodes;
using Eval.Harness.Reports;
using Eval.Harness.Runs;

namespace Eval.Tests.Harness;

/// <summary>
/// run.json through its one typed record (RunManifest): files written by the previous, untyped code — the committed
/// regression baselines, and a shard and a merged run in tests/Harness/Fixtures/previous-runs — read back and written
/// again byte for byte, and read by `report`/`compare` (RunRecord) and `merge` (ShardRun); bad files are one clear error.
/// </summary>
[TestClass]
public sealed class RunManifestTests
{
    private static string PreviousRuns => Path.Combine(SharedFixtures.ProjectRoot, "tests", "Harness", "Fixtures", "previous-runs");

    private static IEnumerable<string> RunFoldersOfThePreviousCode() =>
        Directory.GetDirectories(Path.Combine(SharedFixtures.ProjectRoot, "results", "baselines", "tiny"))
            .Concat([Path.Combine(PreviousRuns, "shard-1"), Path.Combine(PreviousRuns, "merged")]);

    [TestMethod]
    public void RunJsonOfThePreviousCodeReadsBackAndWritesTheSameBytes()
    {
        var folders = RunFoldersOfThePreviousCode().ToList();
        Assert.AreEqual(5, folders.Count, string.Join(", ", folders));
        foreach (var folder in folders)
        {
            var path = Path.Combine(folder, "run.json");
            Assert.AreEqual(File.ReadAllText(path), RunManifest.Read(path).ToJson(), $"{path}: every field kept, in its order, with its digits");
        }
    }

    [TestMethod]
    public void EachFieldReadsAsItsType()
    {
        var shard = RunManifest.Read(Path.Combine(PreviousRuns, "shard-1", "run.json"));
        Assert.AreEqual(("demo/model-causal", "LlamaForCausalLM", 70784L), (shard.Model.Id, shard.Model.Architecture, shard.Model.Parameters));
        Assert.AreEqual(141, shard.Model.Config!["vocab_size"]!.GetValue<int>());
        Assert.AreEqual(("loglik", 8, 512, 12, true), (shard.Options.Scoring, shard.Options.BatchSize, shard.Options.MaxLength, shard.Options.Limit, shard.Options.SampleText));
        Assert.AreEqual(new ShardEntry(1, 2, 30, 60, 30, 886, 1772), shard.Shard);
        Assert.AreEqual(60, shard.Plan!.Units);
        Assert.AreEqual(5, shard.Plan.Groups.Count);
        CollectionAssert.AreEqual(new[] { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 }, DocumentRanges.Parse(shard.Plan.Groups[0].Documents).ToArray());
        Assert.AreEqual(new DateTime(2026, 12, 7, 2, 45, 33, DateTimeKind.Utc).AddTicks(7385837), shard.StartedUtc());
        Assert.AreEqual(0, shard.MissingFields().Count, string.Join(", ", shard.MissingFields()));
        Assert.IsNull(shard.MergedFrom);

        var merged = RunManifest.Read(Path.Combine(PreviousRuns, "merged", "run.json"));
        Assert.AreEqual(2, merged.MergedFrom!.Count);
        Assert.IsNull(merged.Shard, "a merged run is the whole run, not a shard");

        // A baseline from before --no-sample-text was recorded: the option is absent, not false.
        var baseline = RunManifest.Read(Path.Combine(SharedFixtures.ProjectRoot, "results", "baselines", "tiny", "modernbert-tiny-restricted", "run.json"));
        Assert.IsNull(baseline.Options.SampleText);
        CollectionAssert.Contains(baseline.MissingFields().ToList(), "options.sample_text");
        Assert.AreEqual(8, baseline.Options.Limit);
    }

    [TestMethod]
    public void ReportsReadRunFoldersOfThePreviousCode()
    {
        var merged = RunRecord.Load(Path.Combine(PreviousRuns, "merged"));
        Assert.AreEqual(("model-causal", "LlamaForCausalLM", "loglik", 60), (merged.Name, merged.Architecture, merged.Scoring, merged.Samples.Count));
        Assert.IsTrue(merged.HasNormalizedAccuracy, "acc_norm is recomputed from the scores and the choice texts of a log-likelihood run");
        var baseline = RunRecord.Load(Path.Combine(SharedFixtures.ProjectRoot, "results", "baselines", "tiny", "modernbert-tiny-restricted"));
        Assert.AreEqual(("modernbert-tiny", "restricted"), (baseline.ModelId[(baseline.ModelId.LastIndexOf('/') + 1)..], baseline.Scoring));
        Assert.IsFalse(baseline.HasNormalizedAccuracy);
    }

    [TestMethod]
    public void ABadRunJsonIsOneFormatExceptionNamingTheFile()
    {
        var dir = SharedFixtures.TempDirectory();
        var path = Path.Combine(dir, "run.json");
        foreach (var (text, says) in new[]
                 {
                     ("{\"options\": {\"scoring\": \"restricted\"}}", "model"),                            // required field missing
                     ("{\"model\": {\"path\": \"/m\"}, \"options\": {\"scoring\": \"restricted\"}}", "id"),
                     ("{\"model\": {\"id\": null}, \"options\": {\"scoring\": \"restricted\"}}", "id"),      // null where text must be
                     ("{\"model\": {\"id\": \"m\", \"parameters\": \"many\"}, \"options\": {\"scoring\": \"r\"}}", "parameters"),
                     ("{\"model\": {\"id\": \"m\"}, \"options\": {\"scoring\": \"r\"}, \"shard\": {\"index\": 1}}", "count"),
                     ("null", "null"),
                     ("[1, 2]", "not a run.json"),
                     ("{\"model\": ", "not a run.json"),
                 })
        {
            File.WriteAllText(path, text);
            var e = Assert.ThrowsException<FormatException>(() => RunManifest.Read(path), text);
            StringAssert.Contains(e.Message, path, text);
            StringAssert.Contains(e.Message, says, text);
        }

        // What `report` needs is model.id and options.scoring; what `merge` needs besides is named when missing.
        File.WriteAllText(path, "{\"model\": {\"id\": \"org/m\", \"unknown\": [1]}, \"options\": {\"scoring\": \"restricted\"}, \"later_field\": {}}");
        var minimal = RunManifest.Read(path);
        Assert.AreEqual("org/m", minimal.Model.Id);
        CollectionAssert.IsSubsetOf(new[] { "model.path", "tokenizer", "options.max_length", "tasks", "timings" }, minimal.MissingFields().ToList());
    }

    [TestMethod]
    public void AShardWithoutWhatMergeReadsIsRefusedNamingTheFields()
    {
        var dir = SharedFixtures.TempDirectory();
        var run = JsonNode.Parse(File.ReadAllText(Path.Combine(PreviousRuns, "shard-1", "run.json")))!.AsObject();
        run.Remove("timings");
        run["options"]!.AsObject().Remove("sample_text");
        File.WriteAllText(Path.Combine(dir, "run.json"), run.ToJsonString());
        File.WriteAllBytes(Path.Combine(dir, "scores.sqlite"), []);
        var e = Assert.ThrowsException<FormatException>(() => ShardRun.Load(dir));
        StringAssert.Contains(e.Message, Path.Combine(dir, "run.json"));
        StringAssert.Contains(e.Message, "options.sample_text, timings");
    }
}
