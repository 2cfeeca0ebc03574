using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Eval.Cli;
using Eval.Engine.Cpu;
using Eval.Engine.IO;
using Eval.Harness.Data;
using Eval.Models;
using Eval.Tests.Engine;

namespace Eval.Tests.Models;

/// <summary>
/// How mT5 checkpoints are found and refused: the layouts they ship in (mt0-xl's sharded pytorch_model.bin with the
/// embedding copies, the Hugging Face cache's symlinked snapshots), the config's two spellings of each size, and
/// one-line errors naming the file and the tensor or key for a missing position table, a wrong shape, an inconsistent
/// or impossible config.
/// </summary>
[TestClass]
public sealed class T5CheckpointTests
{
    private static Exception LoadError(string dir)
    {
        using var backend = new CpuBackend(1);
        try
        {
            using var model = ModelLoader.Load(dir, backend);
        }
        catch (Exception e)
        {
            Assert.IsFalse(e.Message.Contains('\n'), $"a one-line error: {e.Message}");
            return e;
        }
        Assert.Fail($"{dir} loaded");
        return null!;
    }

    private static void AssertForwardMatchesGolden(string dir, string label)
    {
        var output = Path.Combine(SharedFixtures.TempDirectory(), "out.safetensors");
        using (var backend = new CpuBackend(2))
        using (var model = ModelLoader.Load(dir, backend))
            ForwardDump.Run(model, T5Fixtures.GoldenPath, output);
        GoldenParityTests.AssertMatchesGolden(T5Fixtures.GoldenPath, output, label);
    }

    [TestMethod]
    [DataRow("encoder")]
    [DataRow("decoder")]
    public void AMissingRelativeAttentionBiasNamesTheTensor(string stack)
    {
        var name = $"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight";
        var dir = T5Fixtures.Variant(rename: n => n == name ? null : n);
        var e = LoadError(dir);
        Assert.IsInstanceOfType<CheckpointFormatException>(e);
        StringAssert.Contains(e.Message, dir);
        StringAssert.Contains(e.Message, $"tensor '{name}' is missing");
        StringAssert.Contains(e.Message, "MT5ForConditionalGeneration");
    }

    [TestMethod]
    public void AWrongShapeNamesTheFileTheTensorAndBothShapes()
    {
        const string Name = "decoder.block.1.layer.1.EncDecAttention.k.weight";
        var dir = T5Fixtures.Variant(rename: n => n == Name ? null : n, extra: new Dictionary<string, (float[], long[])> { [Name] = (new float[48 * 64], [48, 64]) });
        var e = LoadError(dir);
        Assert.IsInstanceOfType<CheckpointFormatException>(e);
        StringAssert.Contains(e.Message, Path.Combine(dir, "model.safetensors"));
        StringAssert.Contains(e.Message, $"tensor '{Name}' has shape [48, 64], expected [64, 64]");
    }

    [TestMethod]
    public void AnUntiedHeadWithoutLmHeadAndAFolderWithoutEmbeddingsAreRefused()
    {
        var e = LoadError(T5Fixtures.Variant(rename: n => n == "lm_head.weight" ? null : n));
        StringAssert.Contains(e.Message, "tensor 'lm_head.weight' required by MT5ForConditionalGeneration is missing and tie_word_embeddings is false");
        e = LoadError(T5Fixtures.Variant(rename: n => n == "shared.weight" ? null : n));
        StringAssert.Contains(e.Message, "no embedding matrix: none of 'shared.weight', 'encoder.embed_tokens.weight', 'decoder.embed_tokens.weight'");
    }

    [TestMethod]
    [DataRow("hidden_size", 32, "'hidden_size' is 32 but 'd_model' is 64; they name the same field")]
    [DataRow("num_attention_heads", 8, "'num_attention_heads' is 8 but 'num_heads' is 4; they name the same field")]
    [DataRow("num_hidden_layers", 3, "'num_hidden_layers' is 3 but 'num_layers' is 2; they name the same field")]
    [DataRow("head_dim", 8, "'head_dim' is 8 but 'd_kv' is 16; they name the same field")]
    [DataRow("d_kv", 0, "'d_kv' must be a positive integer (got 0)")]
    [DataRow("relative_attention_num_buckets", 2, "'relative_attention_num_buckets' is 2; the encoder's two directions need at least 4")]
    [DataRow("relative_attention_max_distance", 16, "'relative_attention_max_distance' 16 must exceed the decoder's 16 exact buckets")]
    [DataRow("decoder_start_token_id", 1000, "'decoder_start_token_id' 1000 is outside the vocabulary of 1000")]
    public void AnInconsistentOrImpossibleConfigIsAOneLineErrorNamingTheFileAndKey(string key, int value, string message)
    {
        var dir = T5Fixtures.Variant(editConfig: c => c[key] = value);
        var e = LoadError(dir);
        Assert.IsInstanceOfType<InvalidDataException>(e);
        StringAssert.StartsWith(e.Message, Path.Combine(dir, "config.json") + ": ");
        StringAssert.Contains(e.Message, message);
    }

    [TestMethod]
    [DataRow("gated-gelu-new", "'feed_forward_proj' is 'gated-gelu-new'")]
    [DataRow("double-gelu", "'feed_forward_proj' is 'double-gelu'")]
    [DataRow("gated-mish", "activation 'mish' is not supported")]
    public void AFeedForwardTransformersWouldRefuseIsRefused(string projection, string message)
    {
        var e = LoadError(T5Fixtures.Variant(editConfig: c =>
        {
            c["feed_forward_proj"] = projection;
            c.Remove("dense_act_fn");
            c.Remove("is_gated_act");
        }));
        StringAssert.Contains(e.Message, message);
    }

    /// <summary>
    /// What T5Config makes of feed_forward_proj and of the dense_act_fn / is_gated_act a file may also carry (those win,
    /// as attributes set after the derived ones); mT5's and T5's defaults where a key is absent.
    /// </summary>
    [TestMethod]
    public void ConfigSpellingsAndDefaultsAreTransformers()
    {
        static ModelConfig Parse(string json) => ModelConfig.Parse(Encoding.UTF8.GetBytes(json), "config.json");
        Assert.AreEqual((Eval.Engine.ActivationKind.GeluTanh, true), Parse("""{"feed_forward_proj": "gated-gelu"}""").FeedForward());
        Assert.AreEqual((Eval.Engine.ActivationKind.Gelu, false), Parse("""{"feed_forward_proj": "gelu"}""").FeedForward());
        Assert.AreEqual((Eval.Engine.ActivationKind.Relu, false), Parse("""{"model_type": "t5"}""").FeedForward());
        Assert.AreEqual((Eval.Engine.ActivationKind.Silu, true), Parse("""{"feed_forward_proj": "gated-silu"}""").FeedForward());
        Assert.AreEqual((Eval.Engine.ActivationKind.Gelu, false),
            Parse("""{"feed_forward_proj": "gated-gelu", "dense_act_fn": "gelu", "is_gated_act": false}""").FeedForward());

        var mt5 = Parse("""{"model_type": "mt5", "d_model": 64, "num_heads": 4, "d_kv": 16, "d_ff": 96, "num_layers": 2}""");
        var generic = Parse("""{"model_type": "mt5", "hidden_size": 64, "num_attention_heads": 4, "head_dim": 16, "d_ff": 96, "num_hidden_layers": 2, "d_model": 64}""");
        foreach (var c in new[] { mt5, generic })
        {
            Assert.AreEqual((64, 4, 16, 96, 2), (c.HiddenSize, c.NumAttentionHeads, c.HeadDim, c.IntermediateSize, c.NumHiddenLayers));
            Assert.IsNull(c.NumDecoderLayers);
            Assert.IsFalse(c.TieWordEmbeddings, "MT5Config's default head is untied");
            Assert.AreEqual(1e-6, c.NormEpsilon);
            Assert.AreEqual((32, 128), (c.RelativeAttentionNumBuckets, c.RelativeAttentionMaxDistance));
        }
        Assert.IsTrue(Parse("""{"model_type": "t5"}""").TieWordEmbeddings, "T5Config's default head is tied");
        Assert.AreEqual(0, Parse("""{"pad_token_id": 0}""").DecoderStart, "decoder_start_token_id falls back to pad_token_id");
        Assert.AreEqual(7, Parse("""{"pad_token_id": 0, "decoder_start_token_id": 7}""").DecoderStart);

        // The real files: mT0-XL and google/mt5-xl (no relative_attention_max_distance, no dense_act_fn).
        foreach (var name in new[] { "bigscience__mt0-xl", "google__mt5-xl", "bigscience__mt0-base", "bigscience__mt0-xxl-mt" })
        {
            var real = ModelConfig.Load(Path.Combine(SharedFixtures.Shared, "configs", $"{name}.config.json"));
            Assert.AreEqual("MT5ForConditionalGeneration", ModelArchitectures.Resolve(real).Name, name);
            Assert.AreEqual((Eval.Engine.ActivationKind.GeluTanh, true), real.FeedForward(), name);
            Assert.AreEqual((32, 128, 1e-6, false), (real.RelativeAttentionNumBuckets, real.RelativeAttentionMaxDistance, real.NormEpsilon, real.TieWordEmbeddings), name);
            Assert.AreEqual(real.NumHiddenLayers, real.NumDecoderLayers, name);
            Assert.AreEqual(64, real.HeadDim, name);
        }
    }

    /// <summary>
    /// mt5-tiny saved as mt0-xl ships: two torch.save zip shards with pytorch_model.bin.index.json, the embedding under
    /// shared.weight and again as encoder.embed_tokens.weight and decoder.embed_tokens.weight, views of the same storage
    /// (as torch.save writes tied parameters); then with the copies only (decoder.embed_tokens.weight in place of shared).
    /// </summary>
    [TestMethod]
    public void ShardedPytorchCheckpointWithEmbeddingCopiesMatchesTheGolden()
    {
        foreach (var withShared in new[] { true, false })
        {
            var dir = SharedFixtures.TempDirectory();
            File.Copy(Path.Combine(T5Fixtures.Folder, "config.json"), Path.Combine(dir, "config.json"));
            var map = new Dictionary<string, string>();
            using (var source = new SafetensorsFile(Path.Combine(T5Fixtures.Folder, "model.safetensors")))
            {
                var names = source.Entries.Keys.Where(n => n != "shared.weight").Order(StringComparer.Ordinal).ToList();
                for (int shard = 0; shard < 2; shard++)
                {
                    var shardName = $"pytorch_model-0000{shard + 1}-of-00002.bin";
                    var entries = new List<(string, string, string, long, long, long[], long[])>();
                    var storages = new List<(string, byte[])>();
                    if (shard == 0)
                    {
                        var embedding = source.Get("shared.weight");
                        var values = new float[embedding.ElementCount];
                        source.ReadAsFloat32(embedding, values);
                        string[] tied = withShared ? ["shared.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight"] : ["decoder.embed_tokens.weight"];
                        foreach (var name in tied)
                        {
                            entries.Add((name, "FloatStorage", "tied", values.Length, 0, embedding.Shape, [embedding.Shape[1], 1]));
                            map[name] = shardName;
                        }
                        storages.Add(("tied", MemoryMarshal.AsBytes(values.AsSpan()).ToArray()));
                    }
                    foreach (var name in names.Where((_, i) => i % 2 == shard))
                    {
                        var entry = source.Get(name);
                        var values = new float[entry.ElementCount];
                        source.ReadAsFloat32(entry, values);
                        var key = $"s{storages.Count}";
                        entries.Add((name, "FloatStorage", key, values.Length, 0, entry.Shape,
                            entry.Shape.Length == 2 ? [entry.Shape[1], 1] : [1]));
                        storages.Add((key, MemoryMarshal.AsBytes(values.AsSpan()).ToArray()));
                        map[name] = shardName;
                    }
                    TorchZipWriter.Write(Path.Combine(dir, shardName), PickleBuilder.StateDict(entries), storages, archive: $"shard{shard}");
                }
            }
            File.WriteAllText(Path.Combine(dir, Checkpoint.PytorchIndexFile), JsonSerializer.Serialize(new { metadata = new { }, weight_map = map }));
            AssertForwardMatchesGolden(dir, withShared ? "mt5-tiny as sharded .bin with embedding copies" : "mt5-tiny as sharded .bin with decoder.embed_tokens only");
        }
    }

    /// <summary>
    /// A Hugging Face hub cache as huggingface_hub writes it: models--org--name/refs/main, snapshots/REV/FILE as relative
    /// links to ../../blobs/HASH; resolved offline by id and loaded through the links.
    /// </summary>
    [TestMethod]
    public void LoadsThroughAHubCacheOfRelativeSymlinks()
    {
        var cache = SharedFixtures.TempDirectory();
        var repo = Path.Combine(cache, "models--bigscience--mt5-tiny");
        const string Revision = "0123456789abcdef0123456789abcdef01234567";
        var snapshot = Path.Combine(repo, "snapshots", Revision);
        Directory.CreateDirectory(Path.Combine(repo, "blobs"));
        Directory.CreateDirectory(snapshot);
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        File.WriteAllText(Path.Combine(repo, "refs", "main"), Revision);
        foreach (var (file, from) in new[]
                 {
                     ("config.json", T5Fixtures.Folder), ("model.safetensors", T5Fixtures.Folder),
                     ("tokenizer.json", Path.Combine(SharedFixtures.Shared, "tokenizers", "unigram-t5-small")),
                 })
        {
            var bytes = File.ReadAllBytes(Path.Combine(from, file));
            var hash = Convert.ToHexStringLower(SHA256.HashData(bytes));
            File.WriteAllBytes(Path.Combine(repo, "blobs", hash), bytes);
            File.CreateSymbolicLink(Path.Combine(snapshot, file), Path.Combine("..", "..", "blobs", hash));
        }
        var resolved = new HubModelStore(cache, "http://127.0.0.1:9", offline: true, token: null, http: null).Resolve("bigscience/mt5-tiny");
        Assert.AreEqual(snapshot, resolved);
        AssertForwardMatchesGolden(resolved, "mt5-tiny through a hub cache");
    }
}
