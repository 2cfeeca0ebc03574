using System.Runtime.InteropServices;
using System.Text.Json;
using Eval.Cli;
using Eval.Engine.Cpu;
using Eval.Engine.IO;
using Eval.Models;
using Eval.Tests.Engine;

namespace Eval.Tests.Models;

/// <summary>PyTorch checkpoints (zip and legacy pytorch_model.bin, sharded .bin) through `forward` against their goldens.</summary>
[TestClass]
public sealed class TorchCheckpointParityTests
{
    [TestMethod]
    [DataRow("xlmr-tiny-bin")]
    [DataRow("llama-tiny-bin")]
    [DataRow("xlmr-xl-tiny-bin-legacy")]
    public void PytorchCheckpointMatchesGolden(string fixture)
    {
        var dir = SharedFixtures.Checkpoint(fixture);
        var outputPath = Path.Combine(SharedFixtures.TempDirectory(), "out.safetensors");
        using (var backend = new CpuBackend(2))
        using (var model = ModelLoader.Load(dir, backend))
            ForwardDump.Run(model, Path.Combine(dir, "golden.safetensors"), outputPath);
        GoldenParityTests.AssertMatchesGolden(Path.Combine(dir, "golden.safetensors"), outputPath, fixture);
    }

    [TestMethod]
    public void FixtureLayoutsAreReadAsDescribed()
    {
        using var zip = new TorchCheckpoint(Path.Combine(SharedFixtures.Checkpoint("xlmr-tiny-bin"), "pytorch_model.bin"));
        Assert.AreEqual("zip", zip.Layout);
        var first = zip.Views["roberta.embeddings.word_embeddings.weight"];
        Assert.AreEqual(7L, first.StorageOffset, "the first tensor is a view at a non-zero storage offset");
        using var legacy = new TorchCheckpoint(Path.Combine(SharedFixtures.Checkpoint("xlmr-xl-tiny-bin-legacy"), "pytorch_model.bin"));
        Assert.AreEqual("legacy", legacy.Layout);
        Assert.AreEqual(SafetensorsDType.F16, legacy.Info("roberta.embeddings.word_embeddings.weight").DType);
    }

    /// <summary>
    /// The xlmr-tiny-bin state dict re-saved as two zip shards + pytorch_model.bin.index.json, float32, with two tensors
    /// sharing one storage (the second at an offset) and one stored transposed (a non-contiguous view): the logits are
    /// exactly those of the single file.
    /// </summary>
    [TestMethod]
    public void ShardedPytorchCheckpointLoadsLikeTheSingleFile()
    {
        var source = SharedFixtures.Checkpoint("xlmr-tiny-bin");
        var dir = SharedFixtures.TempDirectory();
        File.Copy(Path.Combine(source, "config.json"), Path.Combine(dir, "config.json"));
        var map = new Dictionary<string, string>();
        using (var single = new TorchCheckpoint(Path.Combine(source, "pytorch_model.bin")))
        {
            var names = single.TensorNames.Where(n => single.Info(n).DType == SafetensorsDType.F32).Order(StringComparer.Ordinal).ToArray();
            const string Transposed = "roberta.encoder.layer.0.intermediate.dense.weight";
            string[] shared = ["roberta.encoder.layer.0.output.dense.bias", "roberta.encoder.layer.0.output.LayerNorm.bias"];
            for (int shard = 0; shard < 2; shard++)
            {
                var shardName = $"pytorch_model-0000{shard + 1}-of-00002.bin";
                var entries = new List<(string, string, string, long, long, long[], long[])>();
                var storages = new List<(string, byte[])>();
                var sharedValues = new List<float>();
                foreach (var name in names.Where((n, i) => (shared.Contains(n) ? 0 : i % 2) == shard))
                {
                    var info = single.Info(name);
                    var values = new float[info.ElementCount];
                    single.ReadAsFloat32(name, values);
                    map[name] = shardName;
                    var shape = info.Shape;
                    var stride = RowMajorStrides(shape);
                    if (shared.Contains(name))
                    {
                        entries.Add((name, "FloatStorage", "shared", shared.Sum(n => single.Info(n).ElementCount), sharedValues.Count, shape, stride));
                        sharedValues.AddRange(values);
                        continue;
                    }
                    if (name == Transposed)
                    {
                        values = Transpose(values, (int)shape[0], (int)shape[1]);
                        stride = [1, shape[0]];
                    }
                    var key = storages.Count.ToString();
                    entries.Add((name, "FloatStorage", key, values.Length, 0, shape, stride));
                    storages.Add((key, MemoryMarshal.AsBytes(values.AsSpan()).ToArray()));
                }
                if (sharedValues.Count > 0) storages.Add(("shared", MemoryMarshal.AsBytes(sharedValues.ToArray().AsSpan()).ToArray()));
                TorchZipWriter.Write(Path.Combine(dir, shardName), PickleBuilder.StateDict(entries), storages, archive: $"shard{shard}");
            }
        }
        File.WriteAllText(Path.Combine(dir, Checkpoint.PytorchIndexFile), JsonSerializer.Serialize(new { metadata = new { }, weight_map = map }));

        int[] ids = [0, 99, 421, 625, 496, 2];
        var batch = new TokenBatch(ids, [1, 1, 1, 1, 1, 1], 1, ids.Length);
        using var backend = new CpuBackend(1);
        using var reference = ModelLoader.Load(source, backend);
        using var sharded = ModelLoader.Load(dir, backend);
        using var a = reference.Forward(batch);
        using var b = sharded.Forward(batch);
        using var la = reference.Logits(a.LastHidden, [0, 3, 5]);
        using var lb = sharded.Logits(b.LastHidden, [0, 3, 5]);
        Assert.AreEqual(0.0, Engine.Reference.MaxAbsDiff(la.Span, lb.Span), "sharded .bin weights give other logits");

        File.Delete(Path.Combine(dir, "pytorch_model-00002-of-00002.bin"));
        var e = Assert.ThrowsException<CheckpointFormatException>(() => ModelLoader.Load(dir, backend));
        StringAssert.Contains(e.Message, "shard 'pytorch_model-00002-of-00002.bin' is missing");
    }

    private static long[] RowMajorStrides(long[] shape)
    {
        var strides = new long[shape.Length];
        long s = 1;
        for (int d = shape.Length - 1; d >= 0; d--) { strides[d] = s; s *= shape[d]; }
        return strides;
    }

    private static float[] Transpose(float[] values, int rows, int columns)
    {
        var result = new float[values.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
                result[c * rows + r] = values[r * columns + c];
        return result;
    }
}
