using System.Text;
using Eval.Engine.Cpu;
using Eval.Engine.IO;
using Eval.Models;

namespace Eval.Tests.Engine;

/// <summary>Every way a checkpoint can be broken gets an error that names the file and the problem.</summary>
[TestClass]
public sealed class CheckpointErrorTests
{
    private static string WriteRaw(string dir, string fileName, string headerJson, int dataBytes, long? declaredHeaderLength = null)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        var path = Path.Combine(dir, fileName);
        using var stream = File.Create(path);
        stream.Write(BitConverter.GetBytes((ulong)(declaredHeaderLength ?? header.Length)));
        stream.Write(header);
        stream.Write(new byte[dataBytes]);
        return path;
    }

    private static CheckpointFormatException OpenFails(string path) =>
        Assert.ThrowsException<CheckpointFormatException>(() => new SafetensorsFile(path).Dispose());

    [TestMethod]
    public void TruncatedDataIsReported()
    {
        var dir = SharedFixtures.TempDirectory();
        var path = WriteRaw(dir, "model.safetensors", """{"w":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]}}""", 40);
        var e = OpenFails(path);
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "'w'");
        StringAssert.Contains(e.Message, "truncated");
    }

    [TestMethod]
    public void FileShorterThanHeaderIsReported()
    {
        var dir = SharedFixtures.TempDirectory();
        var path = Path.Combine(dir, "model.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        StringAssert.Contains(OpenFails(path).Message, "shorter than the 8-byte header length");
        var tooLong = WriteRaw(dir, "b.safetensors", "{}", 0, declaredHeaderLength: 1000);
        StringAssert.Contains(OpenFails(tooLong).Message, "header length 1000");
    }

    [TestMethod]
    public void InvalidJsonHeaderIsReported()
    {
        var path = WriteRaw(SharedFixtures.TempDirectory(), "x.safetensors", """{"w": {"dtype": "F32", """, 0);
        StringAssert.Contains(OpenFails(path).Message, "not valid JSON");
    }

    [TestMethod]
    public void AShapeWhoseByteCountOverflowsIsReported()
    {
        // 2^62 × 4 elements wrap to 0 in 64 bits: without checked arithmetic this passed as an empty tensor.
        var path = WriteRaw(SharedFixtures.TempDirectory(), "x.safetensors",
            """{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}""", 0);
        var e = OpenFails(path);
        StringAssert.Contains(e.Message, "'w'");
        StringAssert.Contains(e.Message, "more bytes than a file can hold");
    }

    [TestMethod]
    public void OverlappingOffsetsAreReported()
    {
        var path = WriteRaw(SharedFixtures.TempDirectory(), "x.safetensors",
            """{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}""", 24);
        var e = OpenFails(path);
        StringAssert.Contains(e.Message, "'a'");
        StringAssert.Contains(e.Message, "'b'");
        StringAssert.Contains(e.Message, "overlap");
    }

    [TestMethod]
    public void ShapeTimesDTypeMustEqualByteSpan()
    {
        var path = WriteRaw(SharedFixtures.TempDirectory(), "x.safetensors", """{"w":{"dtype":"BF16","shape":[3,4],"data_offsets":[0,48]}}""", 48);
        var e = OpenFails(path);
        StringAssert.Contains(e.Message, "[3, 4] × BF16 needs 24 bytes but data_offsets span 48");
    }

    [TestMethod]
    public void UnknownDTypeIsReported()
    {
        var path = WriteRaw(SharedFixtures.TempDirectory(), "x.safetensors", """{"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}""", 4);
        StringAssert.Contains(OpenFails(path).Message, "unsupported dtype 'F8_E4M3'");
    }

    [TestMethod]
    public void IntegerWeightIsRejectedByTheLoader()
    {
        var dir = CopyFixture("llama-tiny");
        ReplaceTensor(dir, "model.norm.weight", "I32", [64], 256);
        var e = Assert.ThrowsException<CheckpointFormatException>(() => ModelLoader.Load(dir, new CpuBackend(1)));
        StringAssert.Contains(e.Message, "'model.norm.weight'");
        StringAssert.Contains(e.Message, "dtype I32");
    }

    [TestMethod]
    public void MissingTensorIsNamedWithItsExpectedShape()
    {
        var dir = CopyFixture("xlmr-tiny");
        RemoveTensor(dir, "roberta.encoder.layer.1.intermediate.dense.weight");
        var e = Assert.ThrowsException<CheckpointFormatException>(() => ModelLoader.Load(dir, new CpuBackend(1)));
        StringAssert.Contains(e.Message, "'roberta.encoder.layer.1.intermediate.dense.weight'");
        StringAssert.Contains(e.Message, "missing");
        StringAssert.Contains(e.Message, "[128, 64]");
    }

    [TestMethod]
    public void WrongShapeNamesBothShapes()
    {
        var dir = CopyFixture("llama-tiny");
        ReplaceTensor(dir, "model.layers.0.self_attn.k_proj.weight", "BF16", [64, 64], 64 * 64 * 2);
        var e = Assert.ThrowsException<CheckpointFormatException>(() => ModelLoader.Load(dir, new CpuBackend(1)));
        StringAssert.Contains(e.Message, "'model.layers.0.self_attn.k_proj.weight'");
        StringAssert.Contains(e.Message, "[64, 64]");
        StringAssert.Contains(e.Message, "expected [32, 64]");
        StringAssert.Contains(e.Message, "LlamaForCausalLM");
    }

    [TestMethod]
    public void UntiedHeadWithoutWeightIsReported()
    {
        var dir = CopyFixture("qwen2-tiny");
        RemoveTensor(dir, "lm_head.weight");
        var e = Assert.ThrowsException<CheckpointFormatException>(() => ModelLoader.Load(dir, new CpuBackend(1)));
        StringAssert.Contains(e.Message, "'lm_head.weight'");
        StringAssert.Contains(e.Message, "tie_word_embeddings is false");
    }

    [TestMethod]
    public void FolderWithoutWeightsNamesEveryAcceptedFile()
    {
        var dir = SharedFixtures.TempDirectory();
        File.Copy(Path.Combine(SharedFixtures.Model("xlmr-tiny"), "config.json"), Path.Combine(dir, "config.json"));
        var e = Assert.ThrowsException<CheckpointFormatException>(() => ModelLoader.Load(dir, new CpuBackend(1)));
        StringAssert.Contains(e.Message, "no model.safetensors, model.safetensors.index.json, pytorch_model.bin or pytorch_model.bin.index.json");

        // A pytorch_model.bin is read now; one that is not a checkpoint says so.
        var path = Path.Combine(dir, "pytorch_model.bin");
        File.WriteAllBytes(path, [0x50, 0x4b]);
        e = Assert.ThrowsException<CheckpointFormatException>(() => ModelLoader.Load(dir, new CpuBackend(1)));
        StringAssert.Contains(e.Message, $"{path}: file is 2 bytes: not a PyTorch checkpoint");
        File.WriteAllBytes(path, "not a pickle at all"u8.ToArray());
        e = Assert.ThrowsException<CheckpointFormatException>(() => ModelLoader.Load(dir, new CpuBackend(1)));
        StringAssert.Contains(e.Message, "neither a zip archive");
    }

    [TestMethod]
    public void UnknownArchitectureListsTheSupportedOnes()
    {
        var dir = SharedFixtures.TempDirectory();
        File.WriteAllText(Path.Combine(dir, "config.json"), """{"architectures":["GPT2LMHeadModel"],"model_type":"gpt2"}""");
        var e = Assert.ThrowsException<NotSupportedException>(() => ModelLoader.Load(dir, new CpuBackend(1)));
        StringAssert.Contains(e.Message, "GPT2LMHeadModel");
        StringAssert.Contains(e.Message, "ModernBertForMaskedLM");
        StringAssert.Contains(e.Message, "Qwen2ForCausalLM");
    }

    [TestMethod]
    public void ShardedCheckpointLoadsLikeTheSingleFile()
    {
        var source = SharedFixtures.Model("llama-tiny");
        var dir = SharedFixtures.TempDirectory();
        File.Copy(Path.Combine(source, "config.json"), Path.Combine(dir, "config.json"));
        var map = new Dictionary<string, string>();
        using (var file = new SafetensorsFile(Path.Combine(source, "model.safetensors")))
        {
            var names = file.Entries.Keys.OrderBy(n => n, StringComparer.Ordinal).ToArray();
            for (int shard = 0; shard < 2; shard++)
            {
                var shardName = $"model-0000{shard + 1}-of-00002.safetensors";
                var writer = new SafetensorsWriter();
                foreach (var name in names.Where((_, i) => i % 2 == shard))
                {
                    var entry = file.Get(name);
                    var values = new float[entry.ElementCount];
                    file.ReadAsFloat32(entry, values);
                    writer.Add(name, values, entry.Shape);
                    map[name] = shardName;
                }
                writer.Write(Path.Combine(dir, shardName));
            }
        }
        File.WriteAllText(Path.Combine(dir, Checkpoint.IndexFile),
            System.Text.Json.JsonSerializer.Serialize(new { metadata = new { }, weight_map = map }));

        int[] ids = [1, 99, 421, 625, 496];
        var batch = new TokenBatch(ids, [1, 1, 1, 1, 1], 1, ids.Length);
        using var backend = new CpuBackend(1);
        using var single = ModelLoader.Load(source, backend);
        using var sharded = ModelLoader.Load(dir, backend);
        using var a = single.Forward(batch);
        using var b = sharded.Forward(batch);
        using var la = single.Logits(a.LastHidden, [4]);
        using var lb = sharded.Logits(b.LastHidden, [4]);
        Assert.AreEqual(0.0, Reference.MaxAbsDiff(la.Span, lb.Span), "sharded weights give other logits");

        // A shard the index names but the folder lacks.
        File.Delete(Path.Combine(dir, "model-00002-of-00002.safetensors"));
        var e = Assert.ThrowsException<CheckpointFormatException>(() => ModelLoader.Load(dir, backend));
        StringAssert.Contains(e.Message, "shard 'model-00002-of-00002.safetensors' is missing");
    }

    [TestMethod]
    public void WriterRoundTripsFloatAndIntegerTensors()
    {
        var path = Path.Combine(SharedFixtures.TempDirectory(), "t.safetensors");
        float[] values = [1.5f, -2f, 3.25f, 0f, 1e-8f, 65504f];
        long[] ids = [1, 2, 3, 40000];
        new SafetensorsWriter().Add("f", values, 2, 3).Add("i", ids, 4).Write(path);
        using var file = new SafetensorsFile(path);
        using var t = file.ReadTensor("f");
        CollectionAssert.AreEqual(new[] { 2, 3 }, t.Shape.ToArray());
        CollectionAssert.AreEqual(values, t.ToArray());
        CollectionAssert.AreEqual(new[] { 1, 2, 3, 40000 }, file.ReadAsInt32("i"));
        var headerLength = BitConverter.ToUInt64(File.ReadAllBytes(path).AsSpan(0, 8));
        Assert.AreEqual(0UL, headerLength % 8, "data should start 8-byte aligned");
    }

    [TestMethod]
    public void HalfAndBFloat16AreWidenedExactly()
    {
        var dir = SharedFixtures.TempDirectory();
        // 1.0, -2.5, 65504 (max half) as F16; 1.0, -2.5, 3.0e38 as BF16.
        ushort[] f16 = [0x3C00, 0xC100, 0x7BFF];
        ushort[] bf16 = [0x3F80, 0xC020, 0x7F62];
        var header = """{"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[3],"data_offsets":[6,12]}}""";
        var path = Path.Combine(dir, "x.safetensors");
        using (var s = File.Create(path))
        {
            var h = Encoding.UTF8.GetBytes(header);
            s.Write(BitConverter.GetBytes((ulong)h.Length));
            s.Write(h);
            foreach (var v in f16.Concat(bf16)) s.Write(BitConverter.GetBytes(v));
        }
        using var file = new SafetensorsFile(path);
        using var half = file.ReadTensor("h");
        using var brain = file.ReadTensor("b");
        CollectionAssert.AreEqual(new[] { 1f, -2.5f, 65504f }, half.ToArray());
        CollectionAssert.AreEqual(new[] { 1f, -2.5f, BitConverter.UInt32BitsToSingle(0x7F620000) }, brain.ToArray());
    }

    private static string CopyFixture(string name)
    {
        var dir = SharedFixtures.TempDirectory();
        foreach (var f in new[] { "config.json", "model.safetensors" })
            File.Copy(Path.Combine(SharedFixtures.Model(name), f), Path.Combine(dir, f));
        return dir;
    }

    /// <summary>Rewrites the checkpoint in dir with one tensor replaced by a zero tensor of another dtype/shape.</summary>
    private static void ReplaceTensor(string dir, string name, string dtype, long[] shape, int bytes) =>
        Rewrite(dir, (n, e) => n == name ? (dtype, shape, new byte[bytes]) : null);

    private static void RemoveTensor(string dir, string name) =>
        Rewrite(dir, (n, e) => n == name ? ("", [], []) : null);

    private static void Rewrite(string dir, Func<string, SafetensorsEntry, (string DType, long[] Shape, byte[] Data)?> change)
    {
        var path = Path.Combine(dir, "model.safetensors");
        var parts = new List<(string Name, string DType, long[] Shape, byte[] Data)>();
        using (var file = new SafetensorsFile(path))
            foreach (var (n, e) in file.Entries)
            {
                var replaced = change(n, e);
                if (replaced is { DType: "" }) continue;
                parts.Add(replaced is { } r ? (n, r.DType, r.Shape, r.Data) : (n, e.DType.ToString(), e.Shape, file.Bytes(e).ToArray()));
            }
        long offset = 0;
        var header = new Dictionary<string, object>();
        foreach (var p in parts)
        {
            header[p.Name] = new { dtype = p.DType, shape = p.Shape, data_offsets = new[] { offset, offset + p.Data.Length } };
            offset += p.Data.Length;
        }
        var json = Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(header));
        using var stream = File.Create(path);
        stream.Write(BitConverter.GetBytes((ulong)json.Length));
        stream.Write(json);
        foreach (var p in parts) stream.Write(p.Data);
    }
}
