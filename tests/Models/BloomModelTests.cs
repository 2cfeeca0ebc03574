using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Eval.Cli;
using Eval.Engine;
using Eval.Engine.Cpu;
using Eval.Engine.IO;
using Eval.Harness.Decoding;
using Eval.Harness.Data;
using Eval.Models;

namespace Eval.Tests.Models;

/// <summary>
/// BloomForCausalLM beyond the golden rows of <see cref="GoldenParityTests"/>: the fixture under save_pretrained's
/// <c>transformer.</c> prefix and under each config spelling, random models of other head counts (6 and 12: slopes of
/// a non-power of two) and of apply_residual_connection_post_layernorm against a double-precision re-statement,
/// left padding, greedy decoding beside padded prompts, a Hugging Face cache of links, and bad folders refused in one
/// line that names the file and the tensor.
/// </summary>
[TestClass]
public sealed class BloomModelTests
{
    private static string Fixture => SharedFixtures.Model("bloom-tiny");

    private static string Golden => Path.Combine(Fixture, "golden.safetensors");

    /// <summary>The fixture's tensors (name, float32 values, shape).</summary>
    private static List<(string Name, float[] Values, long[] Shape)> FixtureTensors()
    {
        using var file = new SafetensorsFile(Path.Combine(Fixture, "model.safetensors"));
        return file.Entries.Values.OrderBy(e => e.Name, StringComparer.Ordinal).Select(e =>
        {
            var values = new float[e.ElementCount];
            file.ReadAsFloat32(e, values);
            return (e.Name, values, e.Shape);
        }).ToList();
    }

    /// <summary>A model folder: config.json and an F32 model.safetensors.</summary>
    private static string WriteFolder(JsonObject config, IEnumerable<(string Name, float[] Values, long[] Shape)> tensors)
    {
        var dir = SharedFixtures.TempDirectory();
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        var writer = new SafetensorsWriter();
        foreach (var (name, values, shape) in tensors) writer.Add(name, values, shape);
        writer.Write(Path.Combine(dir, "model.safetensors"));
        return dir;
    }

    /// <summary>A BLOOM config.json in one of the spellings that occur (the sizes the same).</summary>
    private static JsonObject Config(string spelling, int hidden, int heads, int layers, int vocab, bool residualFromNormed = false)
    {
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("BloomForCausalLM"), ["model_type"] = "bloom", ["vocab_size"] = vocab,
            ["layer_norm_epsilon"] = 1e-5, ["apply_residual_connection_post_layernorm"] = residualFromNormed,
            ["bos_token_id"] = 1, ["eos_token_id"] = 2, ["pad_token_id"] = 3, ["unk_token_id"] = 0, ["n_inner"] = null,
        };
        switch (spelling)
        {
            case "bigscience":        // bigscience/bloomz-*'s own files
                config["n_embed"] = hidden; config["num_attention_heads"] = heads; config["n_layer"] = layers;
                config["seq_length"] = 2048; config["pretraining_tp"] = 4; config["slow_but_exact"] = false;
                break;
            case "save_pretrained":   // what transformers writes (the fixture's spelling)
                config["hidden_size"] = hidden; config["n_head"] = heads; config["n_layer"] = layers;
                break;
            case "generic":           // BloomConfig's attribute_map names
                config["hidden_size"] = hidden; config["num_attention_heads"] = heads; config["num_hidden_layers"] = layers;
                break;
            case "both":              // both spellings, agreeing
                config["hidden_size"] = hidden; config["n_embed"] = hidden; config["n_head"] = heads;
                config["num_attention_heads"] = heads; config["n_layer"] = layers;
                break;
            default: throw new ArgumentException(spelling);
        }
        return config;
    }

    [TestMethod]
    [DataRow("", "bigscience")]
    [DataRow("transformer.", "bigscience")]
    [DataRow("transformer.", "save_pretrained")]
    [DataRow("", "generic")]
    [DataRow("transformer.", "both")]
    public void TheFixtureUnderEitherPrefixAndEveryConfigSpellingMatchesTheGolden(string prefix, string spelling)
    {
        var dir = WriteFolder(Config(spelling, 64, 4, 2, 1000), FixtureTensors().Select(t => (prefix + t.Name, t.Values, t.Shape)));
        var output = Path.Combine(SharedFixtures.TempDirectory(), "out.safetensors");
        using (var backend = new CpuBackend(2))
        using (var model = ModelLoader.Load(dir, backend))
        {
            Assert.IsInstanceOfType<BloomModel>(model);
            ForwardDump.Run(model, Golden, output);
        }
        GoldenParityTests.AssertMatchesGolden(Golden, output, $"bloom-tiny, prefix '{prefix}', {spelling} config");
    }

    [TestMethod]
    public void TheDoublePrecisionReferenceReproducesTheGolden()
    {
        var reference = new BloomReference(BloomReference.ReadWeights(Path.Combine(Fixture, "model.safetensors")), 64, 4, 2, 1e-5, false);
        using var golden = new SafetensorsFile(Golden);
        var ids = golden.ReadAsInt32("input_ids");
        var mask = golden.ReadAsInt32("attention_mask");
        var shape = golden.Get("logits").Shape;
        int batch = (int)shape[0], length = (int)shape[1], vocab = (int)shape[2];
        var logits = new float[golden.Get("logits").ElementCount];
        golden.ReadAsFloat32(golden.Get("logits"), logits);
        double worst = 0;
        for (int b = 0; b < batch; b++)
        {
            var rows = reference.Logits(ids[(b * length)..((b + 1) * length)], mask[(b * length)..((b + 1) * length)]);
            for (int i = 0; i < length; i++)
                if (mask[b * length + i] != 0)
                    for (int v = 0; v < vocab; v++)
                        worst = Math.Max(worst, Math.Abs(rows[i][v] - logits[(b * length + i) * vocab + v]));
        }
        Assert.IsTrue(worst < 1e-3, $"reference vs golden: {worst:E2}");
    }

    /// <summary>Random BLOOM weights, large enough that every part moves the logits (ALiBi slopes up to 1/2 over a dozen keys).</summary>
    private static List<(string Name, float[] Values, long[] Shape)> RandomTensors(int hidden, int layers, int vocab, int seed)
    {
        var rng = new Random(seed);
        var tensors = new List<(string, float[], long[])>();
        void Add(string name, float center, float spread, params long[] shape) =>
            tensors.Add((name, Enumerable.Range(0, (int)shape.Aggregate(1L, (a, b) => a * b)).Select(_ => center + spread * (float)(rng.NextDouble() * 2 - 1)).ToArray(), shape));
        Add("word_embeddings.weight", 0, 1, vocab, hidden);
        Add("word_embeddings_layernorm.weight", 1, 0.3f, hidden);
        Add("word_embeddings_layernorm.bias", 0, 0.2f, hidden);
        float scale = 1.5f / MathF.Sqrt(hidden);
        for (int l = 0; l < layers; l++)
        {
            string p = $"h.{l}.";
            Add(p + "input_layernorm.weight", 1, 0.3f, hidden);
            Add(p + "input_layernorm.bias", 0, 0.2f, hidden);
            Add(p + "self_attention.query_key_value.weight", 0, scale, 3 * hidden, hidden);
            Add(p + "self_attention.query_key_value.bias", 0, 0.2f, 3 * hidden);
            Add(p + "self_attention.dense.weight", 0, scale, hidden, hidden);
            Add(p + "self_attention.dense.bias", 0, 0.2f, hidden);
            Add(p + "post_attention_layernorm.weight", 1, 0.3f, hidden);
            Add(p + "post_attention_layernorm.bias", 0, 0.2f, hidden);
            Add(p + "mlp.dense_h_to_4h.weight", 0, scale, 4 * hidden, hidden);
            Add(p + "mlp.dense_h_to_4h.bias", 0, 0.2f, 4 * hidden);
            Add(p + "mlp.dense_4h_to_h.weight", 0, scale / 2, hidden, 4 * hidden);
            Add(p + "mlp.dense_4h_to_h.bias", 0, 0.2f, hidden);
        }
        Add("ln_f.weight", 1, 0.3f, hidden);
        Add("ln_f.bias", 0, 0.2f, hidden);
        return tensors;
    }

    /// <summary>
    /// Random models of other shapes against <see cref="BloomReference"/> (double precision, written from
    /// modeling_bloom.py): head counts that are not powers of two (6, 12: the extra slopes), one head, the residual
    /// after the LayerNorm, both name prefixes and config spellings; a batch with right- and left-padded rows.
    /// </summary>
    [TestMethod]
    [DataRow(6, 48, 2, false, "", "bigscience", "cpu")]
    [DataRow(12, 96, 3, false, "transformer.", "save_pretrained", "cpu")]
    [DataRow(6, 48, 2, true, "transformer.", "generic", "cpu")]
    [DataRow(1, 16, 2, false, "", "save_pretrained", "cpu")]
    [DataRow(6, 48, 2, false, "", "bigscience", "ilgpu-cpu")]
    [DataRow(12, 96, 2, true, "", "bigscience", "ilgpu-cpu")]
    public void RandomModelsMatchTheDoublePrecisionReference(int heads, int hidden, int layers, bool residualFromNormed, string prefix,
        string spelling, string backendName)
    {
        const int Vocab = 300;
        var tensors = RandomTensors(hidden, layers, Vocab, seed: heads * 100 + hidden + layers);
        var dir = WriteFolder(Config(spelling, hidden, heads, layers, Vocab, residualFromNormed), tensors.Select(t => (prefix + t.Name, t.Values, t.Shape)));
        var reference = new BloomReference(tensors.ToDictionary(t => t.Name, t => t.Values), hidden, heads, layers, 1e-5, residualFromNormed);

        // Row 0 full; row 1 right-padded; row 2 left-padded; row 3 padded on both sides.
        const int Length = 14;
        var rng = new Random(11);
        int[][] masks =
        [
            Enumerable.Repeat(1, Length).ToArray(),
            [.. Enumerable.Repeat(1, 9), .. Enumerable.Repeat(0, Length - 9)],
            [.. Enumerable.Repeat(0, 5), .. Enumerable.Repeat(1, Length - 5)],
            [0, 0, .. Enumerable.Repeat(1, 8), .. Enumerable.Repeat(0, Length - 10)],
        ];
        var ids = masks.SelectMany(m => m.Select(valid => valid == 1 ? rng.Next(4, Vocab) : 3)).ToArray();
        var batch = new TokenBatch(ids, masks.SelectMany(m => m).ToArray(), masks.Length, Length);

        using var backend = GoldenParityTests.Backend(backendName);
        using var model = ModelLoader.Load(dir, backend);
        using var output = model.Forward(batch);
        using var logits = model.Logits(output.LastHidden, Enumerable.Range(0, batch.Tokens).ToArray());
        double worst = 0, spread = 0;
        for (int b = 0; b < masks.Length; b++)
        {
            var expected = reference.Logits(ids[(b * Length)..((b + 1) * Length)], masks[b]);
            for (int i = 0; i < Length; i++)
            {
                if (masks[b][i] == 0) continue;
                var actual = logits.Row(b * Length + i);
                spread = Math.Max(spread, expected[i].Max() - expected[i].Min());
                for (int v = 0; v < Vocab; v++) worst = Math.Max(worst, Math.Abs(expected[i][v] - actual[v]));
            }
        }
        Assert.IsTrue(spread > 1, $"the random model's logits barely vary ({spread:F3}): the comparison would prove little");
        Assert.IsTrue(worst < 1e-3, $"{heads} heads, hidden {hidden}, residual from normed {residualFromNormed}, {backendName}: max |diff| {worst:E2}");
    }

    [TestMethod]
    [DataRow("cpu")]
    [DataRow("ilgpu-cpu")]
    public void LeftAndRightPaddingGiveEachSequenceItsLogitsAlone(string backendName)
    {
        using var backend = GoldenParityTests.Backend(backendName);
        using var model = ModelLoader.Load(Fixture, backend);
        var rng = new Random(5);
        var sequences = new[] { 6, 17, 11 }.Select(n => Enumerable.Range(0, n).Select(_ => rng.Next(4, 1000)).ToArray()).ToArray();
        int length = sequences.Max(s => s.Length);
        foreach (bool left in new[] { false, true })
        {
            var ids = new int[sequences.Length * length];
            var mask = new int[ids.Length];
            Array.Fill(ids, 3);
            for (int b = 0; b < sequences.Length; b++)
            {
                int start = left ? length - sequences[b].Length : 0;
                for (int i = 0; i < sequences[b].Length; i++) { ids[b * length + start + i] = sequences[b][i]; mask[b * length + start + i] = 1; }
            }
            using var together = model.Forward(new TokenBatch(ids, mask, sequences.Length, length));
            for (int b = 0; b < sequences.Length; b++)
            {
                int n = sequences[b].Length, start = left ? length - n : 0;
                using var single = model.Forward(new TokenBatch(sequences[b], Enumerable.Repeat(1, n).ToArray(), 1, n));
                using var expected = model.Logits(single.LastHidden, Enumerable.Range(0, n).ToArray());
                using var actual = model.Logits(together.LastHidden, Enumerable.Range(0, n).Select(i => b * length + start + i).ToArray());
                double diff = Engine.Reference.MaxAbsDiff(expected.Span, actual.Span);
                Assert.IsTrue(diff < 1e-4, $"{backendName}, {(left ? "left" : "right")} padding: sequence {b} differs by {diff}");
            }
        }
    }

    /// <summary>greedy.json's prompt decoded in a batch beside a longer and a shorter prompt: padding sits in the KV cache between prompt and new tokens.</summary>
    [TestMethod]
    [DataRow("cpu")]
    [DataRow("ilgpu-cpu")]
    public void GreedyDecodingBesidePaddedPromptsReproducesTheGolden(string backendName)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixture, "greedy.json")));
        var prompt = doc.RootElement.GetProperty("prompt").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var expected = doc.RootElement.GetProperty("greedy_new_tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        using var backend = GoldenParityTests.Backend(backendName);
        using var model = (ICausalLanguageModel)ModelLoader.Load(Fixture, backend);
        int[][] prompts = [[5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18], prompt, [40, 41, 42]];
        var outputs = new GreedyDecoder(model, 3).Generate(prompts, expected.Length, new HashSet<int>());
        CollectionAssert.AreEqual(expected, outputs[1].Tokens, $"{backendName}: the golden prompt in a padded batch");
        var alone = new GreedyDecoder(model, 3).Generate([prompts[2]], expected.Length, new HashSet<int>());
        CollectionAssert.AreEqual(alone[0].Tokens, outputs[2].Tokens, $"{backendName}: the short prompt alone and in the batch");
    }

    [TestMethod]
    public void SlopesOfTheReferenceAndTheEngineAgreeForEveryHeadCountUpTo64()
    {
        for (int heads = 1; heads <= 64; heads++)
        {
            var engine = AttentionBias.AlibiSlopes(heads);
            var reference = BloomReference.Slopes(heads);
            for (int h = 0; h < heads; h++)
                Assert.AreEqual(reference[h], engine[h], 1e-6 * reference[h], $"{heads} heads, head {h}");   // float32 powers, as torch
        }
        CollectionAssert.AreEqual(new[] { 0.25, 0.0625, 1 / 64.0, 1 / 256.0, 0.5, 0.125 }, BloomReference.Slopes(6), "the fixture README's 6 heads");
    }

    [TestMethod]
    public void TheFusedProjectionIsRegroupedFromItsPerHeadLayout()
    {
        // 2 heads of d = 3: stored rows q0 q0 q0 k0 k0 k0 v0 v0 v0 q1 q1 q1 k1 k1 k1 v1 v1 v1.
        CollectionAssert.AreEqual(new[] { 0, 1, 2, 9, 10, 11, 3, 4, 5, 12, 13, 14, 6, 7, 8, 15, 16, 17 }, BloomModel.FusedQkvRows(2, 3));
    }

    // ---- bad folders: one line naming the file and the tensor ----

    private static string LoadError(string dir)
    {
        using var backend = new CpuBackend(1);
        var e = Assert.Throws<Exception>(() => ModelLoader.Load(dir, backend).Dispose());
        Assert.IsTrue(e is InvalidDataException or CheckpointFormatException, $"{e.GetType().Name}: {e.Message}");
        Assert.IsFalse(e.Message.Contains('\n'), e.Message);
        return e.Message;
    }

    [TestMethod]
    public void DisagreeingSpellingsOfTheWidthAreOneLineNamingTheConfigAndBothKeys()
    {
        var config = Config("save_pretrained", 64, 4, 2, 1000);
        config["n_embed"] = 128;
        var dir = WriteFolder(config, FixtureTensors());
        var message = LoadError(dir);
        StringAssert.Contains(message, Path.Combine(dir, "config.json"));
        StringAssert.Contains(message, "'hidden_size' is 64 but 'n_embed' is 128");

        config = Config("bigscience", 64, 4, 2, 1000);
        config["n_head"] = 8;
        StringAssert.Contains(LoadError(WriteFolder(config, FixtureTensors())), "'num_attention_heads' is 4 but 'n_head' is 8");

        // As users meet it: `forward` prints the one line and exits with 1.
        var (code, output) = ProgramProcess.Run(dir, "forward", "--device", "cpu", "--model", dir, "--input", Golden, "--output", Path.Combine(dir, "out.safetensors"));
        Assert.AreEqual(1, code, output);
        Assert.AreEqual($"error: {Path.Combine(dir, "config.json")}: 'hidden_size' is 64 but 'n_embed' is 128; they name the same field", output.Trim());
    }

    [TestMethod]
    [DataRow(64L, 192L)]     // transposed
    [DataRow(3 * 64L, 32L)]  // too narrow
    [DataRow(64L * 64 * 3)]  // flat
    public void AQueryKeyValueOfTheWrongShapeIsOneLineNamingTheFileAndTensor(params long[] shape)
    {
        var tensors = FixtureTensors().Select(t => t.Name == "h.1.self_attention.query_key_value.weight"
            ? (t.Name, new float[shape.Aggregate(1L, (a, b) => a * b)], shape) : t);
        var dir = WriteFolder(Config("save_pretrained", 64, 4, 2, 1000), tensors);
        var message = LoadError(dir);
        StringAssert.Contains(message, Path.Combine(dir, "model.safetensors"));
        StringAssert.Contains(message, "'h.1.self_attention.query_key_value.weight'");
        StringAssert.Contains(message, "expected [192, 64]");
    }

    [TestMethod]
    [DataRow("", "h.1.mlp.dense_4h_to_h.bias")]
    [DataRow("transformer.", "transformer.ln_f.weight")]
    [DataRow("transformer.", "transformer.h.0.self_attention.query_key_value.bias")]
    [DataRow("", "word_embeddings_layernorm.weight")]
    public void AMissingTensorIsOneLineNamingTheFolderAndTensor(string prefix, string missing)
    {
        var dir = WriteFolder(Config("save_pretrained", 64, 4, 2, 1000),
            FixtureTensors().Select(t => (prefix + t.Name, t.Values, t.Shape)).Where(t => t.Item1 != missing));
        var message = LoadError(dir);
        StringAssert.Contains(message, dir);
        StringAssert.Contains(message, $"tensor '{missing}' is missing");
        StringAssert.Contains(message, "BloomForCausalLM");
    }

    [TestMethod]
    public void HeadsThatDoNotDivideTheWidthAreRefusedInOneLine()
    {
        var message = LoadError(WriteFolder(Config("save_pretrained", 64, 6, 2, 1000), FixtureTensors()));
        StringAssert.Contains(message, "hidden_size 64 is not a multiple of n_head 6");
    }

    /// <summary>
    /// bloom-tiny in a Hugging Face hub cache as huggingface_hub writes it (models--org--name/refs/main, snapshots/REV/FILE
    /// as relative links to ../../blobs/HASH), resolved offline by id and run through the links.
    /// </summary>
    [TestMethod]
    public void LoadsThroughAHubCacheOfRelativeSymlinks()
    {
        var cache = SharedFixtures.TempDirectory();
        var repo = Path.Combine(cache, "models--bigscience--bloom-tiny");
        const string Revision = "89abcdef0123456789abcdef0123456789abcdef";
        var snapshot = Path.Combine(repo, "snapshots", Revision);
        Directory.CreateDirectory(Path.Combine(repo, "blobs"));
        Directory.CreateDirectory(snapshot);
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        File.WriteAllText(Path.Combine(repo, "refs", "main"), Revision);
        // bloom-tiny has no tokenizer; a hub snapshot has one: SmolLM2's, byte-level BPE as BLOOM's (not BLOOM's own).
        foreach (var (file, from) in new[] { ("config.json", Fixture), ("model.safetensors", Fixture),
                     ("tokenizer.json", Path.Combine(SharedFixtures.Shared, "tokenizers", "smollm2")) })
        {
            var bytes = File.ReadAllBytes(Path.Combine(from, file));
            var hash = Convert.ToHexStringLower(SHA256.HashData(bytes));
            File.WriteAllBytes(Path.Combine(repo, "blobs", hash), bytes);
            File.CreateSymbolicLink(Path.Combine(snapshot, file), Path.Combine("..", "..", "blobs", hash));
        }
        var resolved = new HubModelStore(cache, "http://127.0.0.1:9", offline: true, token: null, http: null).Resolve("bigscience/bloom-tiny");
        Assert.AreEqual(snapshot, resolved);
        var output = Path.Combine(SharedFixtures.TempDirectory(), "out.safetensors");
        using (var backend = new CpuBackend(2))
        using (var model = ModelLoader.Load(resolved, backend))
            ForwardDump.Run(model, Golden, output);
        GoldenParityTests.AssertMatchesGolden(Golden, output, "bloom-tiny through a hub cache");
    }
}
