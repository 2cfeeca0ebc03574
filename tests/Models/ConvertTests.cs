using System.Text.Json;
using Eval.Cli;
using Eval.Engine.Cpu;
using Eval.Engine.IO;
using Eval.Models;

namespace Eval.Tests.Models;

/// <summary>
/// `convert` keeps every tensor's dtype, shape and bytes, so a converted fixture gives bit-identical hidden states
/// and logits; a small shard size writes transformers' sharded layout, which loads identically; a failed
/// conversion leaves nothing under the destination's name.
/// </summary>
[TestClass]
public sealed class ConvertTests
{
    public static IEnumerable<object[]> Fixtures => [["modernbert-tiny"], ["xlmr-tiny"], ["xlmr-xl-tiny"], ["llama-tiny"], ["qwen2-tiny"], ["bloom-tiny"]];

    [TestMethod]
    [DynamicData(nameof(Fixtures))]
    public void RoundTripKeepsEveryTensorAndGivesBitIdenticalOutputs(string fixture)
    {
        var source = SharedFixtures.Model(fixture);
        var destination = Path.Combine(SharedFixtures.TempDirectory(), "converted");
        var summary = ModelFolderConverter.Convert(source, destination);

        CollectionAssert.AreEqual(new[] { Checkpoint.SingleFile }, summary.WeightFiles.ToArray());
        CollectionAssert.AreEqual(File.ReadAllBytes(Path.Combine(source, "config.json")), File.ReadAllBytes(Path.Combine(destination, "config.json")));
        Assert.IsFalse(Directory.Exists(destination + ".tmp"), "the staging folder is renamed away");
        AssertSameTensors(source, destination, fixture);
        AssertSameForward(source, destination, fixture);
    }

    [TestMethod]
    public void SmallShardSizeWritesAnIndexedShardedCheckpointThatLoadsIdentically()
    {
        var source = SharedFixtures.Model("xlmr-xl-tiny");
        long totalBytes;
        using (var checkpoint = Checkpoint.Open(source)) totalBytes = checkpoint.Tensors.Sum(t => t.ByteCount);
        var destination = Path.Combine(SharedFixtures.TempDirectory(), "sharded");
        var summary = ModelFolderConverter.Convert(source, destination, maxShardBytes: totalBytes / 3);

        Assert.IsFalse(File.Exists(Path.Combine(destination, Checkpoint.SingleFile)));
        var shards = summary.WeightFiles.Where(f => f != Checkpoint.IndexFile).ToList();
        Assert.IsTrue(shards.Count >= 3, $"{shards.Count} shards");
        for (int i = 0; i < shards.Count; i++)
            Assert.AreEqual($"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors", shards[i]);

        var indexText = File.ReadAllText(Path.Combine(destination, Checkpoint.IndexFile));
        StringAssert.StartsWith(indexText, "{\n  \"metadata\": {\n    \"total_size\": ");
        StringAssert.EndsWith(indexText, "}\n");
        using var index = JsonDocument.Parse(indexText);
        Assert.AreEqual(totalBytes, index.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64());
        var weightMap = index.RootElement.GetProperty("weight_map").EnumerateObject().ToList();
        CollectionAssert.AreEqual(weightMap.Select(p => p.Name).Order(StringComparer.Ordinal).ToList(), weightMap.Select(p => p.Name).ToList(), "weight_map is sorted");
        long mappedBytes = 0;
        var seen = new HashSet<string>();
        foreach (var shard in shards)
        {
            using var file = new SafetensorsFile(Path.Combine(destination, shard));
            Assert.AreEqual("pt", file.Metadata["format"]);
            Assert.IsTrue(file.Entries.Count > 0, shard);
            foreach (var entry in file.Entries.Values)
            {
                Assert.IsTrue(seen.Add(entry.Name), $"'{entry.Name}' is in two shards");
                Assert.AreEqual(shard, weightMap.Single(p => p.Name == entry.Name).Value.GetString(), entry.Name);
                mappedBytes += entry.End - entry.Begin;
            }
        }
        Assert.AreEqual(weightMap.Count, seen.Count, "every tensor of the index is in a shard");
        Assert.AreEqual(totalBytes, mappedBytes);
        AssertSameTensors(source, destination, "sharded");
        AssertSameForward(source, destination, "sharded");

        // The sharded checkpoint is itself a source: back to one file, the same tensors.
        var single = Path.Combine(SharedFixtures.TempDirectory(), "single");
        ModelFolderConverter.Convert(destination, single);
        Assert.IsTrue(File.Exists(Path.Combine(single, Checkpoint.SingleFile)));
        Assert.IsFalse(File.Exists(Path.Combine(single, Checkpoint.IndexFile)));
        AssertSameTensors(source, single, "re-joined");
    }

    [TestMethod]
    public void ShardsArePlannedInOrderAsHuggingFaceHubDoes()
    {
        // huggingface_hub's documented example: limit 10, sizes [6, 6, 2, 6, 2, 2] → [6], [6+2], [6+2+2].
        var tensors = new[] { 6, 6, 2, 6, 2, 2 }.Select((size, i) => new StoredTensor($"t{i}", SafetensorsDType.U8, [size])).ToList();
        var shards = ShardedCheckpointWriter.PlanShards(tensors, 10);
        CollectionAssert.AreEqual(new long[] { 6, 8, 10 }, shards.Select(s => s.ByteCount).ToArray());
        Assert.AreEqual("model-00003-of-00003.safetensors", shards[2].FileName);

        // A tensor above the limit gets a shard of its own, at once (before the shard being filled, as huggingface_hub
        // orders them); everything under the limit is one model.safetensors.
        var big = ShardedCheckpointWriter.PlanShards([new("a", SafetensorsDType.F32, [1]), new("b", SafetensorsDType.F32, [10]), new("c", SafetensorsDType.F32, [1])], 8);
        CollectionAssert.AreEqual(new[] { "b", "a,c" }, big.Select(s => string.Join(",", s.Tensors.Select(t => t.Name))).ToArray());
        var one = ShardedCheckpointWriter.PlanShards(tensors, 1000);
        Assert.AreEqual(Checkpoint.SingleFile, one.Single().FileName);
    }

    [TestMethod]
    public void ShardSizesParseAsTransformersDoes()
    {
        Assert.AreEqual(5_000_000_000, ShardedCheckpointWriter.ParseSize("5GB"));
        Assert.AreEqual(500_000_000, ShardedCheckpointWriter.ParseSize("500MB"));
        Assert.AreEqual(1_500, ShardedCheckpointWriter.ParseSize("1.5kb"));
        Assert.AreEqual(2L << 30, ShardedCheckpointWriter.ParseSize("2GiB"));
        Assert.AreEqual(4096, ShardedCheckpointWriter.ParseSize("4096"));
        foreach (var bad in new[] { "", "0", "-1MB", "5XB", "GB", "1e30TB" })
            StringAssert.Contains(Assert.ThrowsException<ArgumentException>(() => ShardedCheckpointWriter.ParseSize(bad)).Message, "shard size", bad);
    }

    [TestMethod]
    public void WriterKeepsHalfPrecisionBytesAsStored()
    {
        var path = Path.Combine(SharedFixtures.TempDirectory(), "half.safetensors");
        byte[] bf16 = [0x80, 0x3F, 0x00, 0xC0, 0x49, 0x40];   // 1, -2, 3.140625
        byte[] f16 = [0x00, 0x3C, 0x00, 0xC0];               // 1, -2
        new SafetensorsWriter().Add("b", SafetensorsDType.BF16, bf16, 3).Add("h", SafetensorsDType.F16, f16, 2, 1).Write(path);
        using var file = new SafetensorsFile(path);
        Assert.AreEqual(SafetensorsDType.BF16, file.Get("b").DType);
        CollectionAssert.AreEqual(bf16, file.Bytes(file.Get("b")).ToArray());
        CollectionAssert.AreEqual(new[] { 1f, -2f, 3.140625f }, file.ReadTensor("b").ToArray());
        Assert.AreEqual(SafetensorsDType.F16, file.Get("h").DType);
        CollectionAssert.AreEqual(new long[] { 2, 1 }, file.Get("h").Shape);
        CollectionAssert.AreEqual(new[] { 1f, -2f }, file.ReadTensor("h").ToArray());
        Assert.ThrowsException<ArgumentException>(() => new SafetensorsWriter().Add("x", SafetensorsDType.BF16, f16, 3));
    }

    [TestMethod]
    public void AFailedConversionLeavesNoDestinationAndNoStagingFolder()
    {
        var source = SharedFixtures.Model("llama-tiny");
        var destination = Path.Combine(SharedFixtures.TempDirectory(), "out");
        using var checkpoint = Checkpoint.Open(source);
        var failing = new FailingCatalog(checkpoint, failAfter: 3);
        var e = Assert.ThrowsException<CheckpointFormatException>(() => ModelFolderConverter.Convert(failing, source, destination, 1000, force: false));
        StringAssert.Contains(e.Message, "read failed");
        Assert.IsFalse(Directory.Exists(destination));
        Assert.IsFalse(Directory.Exists(destination + ".tmp"));
    }

    [TestMethod]
    public void ASourceMayDeriveItsOwnConfig()
    {
        // A reader of a format without config.json (fairseq) gives one; the folder's config.json is then not needed.
        var model = SharedFixtures.Model("qwen2-tiny");
        var bare = SharedFixtures.TempDirectory();
        using var checkpoint = Checkpoint.Open(model);
        var derived = new DerivedConfigCatalog(checkpoint, File.ReadAllBytes(Path.Combine(model, "config.json")));
        var destination = Path.Combine(SharedFixtures.TempDirectory(), "out");
        ModelFolderConverter.Convert(derived, bare, destination, ShardedCheckpointWriter.DefaultMaxShardBytes, force: false);
        AssertSameTensors(model, destination, "derived config");
        AssertSameForward(model, destination, "derived config");
    }

    internal static void AssertSameTensors(string expectedFolder, string actualFolder, string label)
    {
        using var expected = Checkpoint.Open(expectedFolder);
        using var actual = Checkpoint.Open(actualFolder);
        var expectedTensors = expected.Tensors.ToList();
        var actualTensors = actual.Tensors.ToDictionary(t => t.Name);
        Assert.AreEqual(expectedTensors.Count, actualTensors.Count, $"{label}: tensor count");
        foreach (var e in expectedTensors)
        {
            Assert.IsTrue(actualTensors.TryGetValue(e.Name, out var a), $"{label}: '{e.Name}' is missing");
            Assert.AreEqual(e.DType, a!.DType, $"{label}: dtype of '{e.Name}'");
            CollectionAssert.AreEqual(e.Shape, a.Shape, $"{label}: shape of '{e.Name}'");
            var expectedBytes = new byte[e.ByteCount];
            var actualBytes = new byte[a.ByteCount];
            expected.ReadRaw(e.Name, 0, expectedBytes);
            actual.ReadRaw(a.Name, 0, actualBytes);
            Assert.IsTrue(expectedBytes.AsSpan().SequenceEqual(actualBytes), $"{label}: bytes of '{e.Name}'");
        }
    }

    internal static void AssertSameForward(string expectedFolder, string actualFolder, string label)
    {
        var dir = SharedFixtures.TempDirectory();
        var golden = Path.Combine(expectedFolder, "golden.safetensors");
        var expectedPath = Path.Combine(dir, "expected.safetensors");
        var actualPath = Path.Combine(dir, "actual.safetensors");
        foreach (var (folder, output) in new[] { (expectedFolder, expectedPath), (actualFolder, actualPath) })
        {
            using var backend = new CpuBackend(1);
            using var model = ModelLoader.Load(folder, backend);
            ForwardDump.Run(model, golden, output);
        }
        using var expected = new SafetensorsFile(expectedPath);
        using var actual = new SafetensorsFile(actualPath);
        Assert.IsTrue(expected.Entries.ContainsKey("logits") && expected.Entries.Keys.Count(k => k.StartsWith("hidden.")) >= 2, $"{label}: outputs");
        foreach (var (name, entry) in expected.Entries)
            Assert.IsTrue(expected.Bytes(entry).SequenceEqual(actual.Bytes(actual.Get(name))), $"{label}: '{name}' differs");
        CollectionAssert.AreEqual(File.ReadAllBytes(expectedPath), File.ReadAllBytes(actualPath), $"{label}: forward outputs differ");
    }

    /// <summary>Delegates to a checkpoint and fails on the n-th read, as a broken source would.</summary>
    private sealed class FailingCatalog(ITensorCatalog inner, int failAfter) : ITensorCatalog
    {
        private int reads;
        public string Description => inner.Description;
        public IEnumerable<StoredTensor> Tensors => inner.Tensors;

        public void ReadRaw(string name, long offset, Span<byte> destination)
        {
            if (++reads > failAfter) throw new CheckpointFormatException($"{Description}: tensor '{name}': read failed");
            inner.ReadRaw(name, offset, destination);
        }
    }

    private sealed class DerivedConfigCatalog(ITensorCatalog inner, byte[] config) : ITensorCatalog
    {
        public string Description => inner.Description;
        public IEnumerable<StoredTensor> Tensors => inner.Tensors;
        public void ReadRaw(string name, long offset, Span<byte> destination) => inner.ReadRaw(name, offset, destination);
        public byte[]? ConfigJson => config;
    }
}
