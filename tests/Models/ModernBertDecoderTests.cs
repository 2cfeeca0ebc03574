using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Eval.Cli;
using Eval.Engine;
using Eval.Engine.Cpu;
using Eval.Engine.IO;
using Eval.Harness.Data;
using Eval.Models;

namespace Eval.Tests.Models;

/// <summary>
/// ModernBertDecoderForCausalLM beyond the golden rows of <see cref="GoldenParityTests"/>: a double-precision re-statement
/// (<see cref="ModernBertDecoderReference"/>, itself checked against the golden) for other windows, sizes, seeds, biases
/// and layer patterns; config spellings of transformers 4 and 5 and both names of the tied matrix giving identical
/// outputs; the KV cache past the window, alone and beside prompts of other lengths; one-line errors for bad folders.
/// </summary>
[TestClass]
public sealed class ModernBertDecoderTests
{
    private const string TokEmbeddings = "model.embeddings.tok_embeddings.weight";

    private static string Fixture => SharedFixtures.Model("modernbert-decoder-tiny");
    private static string Golden => Path.Combine(Fixture, "golden.safetensors");

    /// <summary>The fixture's shape: layers 0 and 3 full (θ 160000), 1 and 2 sliding (θ 10000) over window keys.</summary>
    private static ModernBertDecoderReference.Shape FixtureShape(int window = 8) =>
        new(1000, 64, 4, 4, 96, 1e-5, 160000, 10000, window, l => l % 3 == 0);

    /// <summary>The golden's sequences, each cut to its real tokens.</summary>
    private static List<int[]> GoldenSequences()
    {
        using var golden = new SafetensorsFile(Golden);
        var ids = golden.ReadAsInt32("input_ids");
        var mask = golden.ReadAsInt32("attention_mask");
        int batch = (int)golden.Get("input_ids").Shape[0], length = (int)golden.Get("input_ids").Shape[1];
        return Enumerable.Range(0, batch).Select(b => Enumerable.Range(0, length).Where(i => mask[b * length + i] != 0)
            .Select(i => ids[b * length + i]).ToArray()).ToList();
    }

    /// <summary>The reference reproduces transformers' logits: what the other tests trust it for.</summary>
    [TestMethod]
    public void ReferenceMatchesTheGolden()
    {
        using var golden = new SafetensorsFile(Golden);
        var logits = new float[golden.Get("logits").ElementCount];
        golden.ReadAsFloat32(golden.Get("logits"), logits);
        int length = (int)golden.Get("logits").Shape[1], vocab = (int)golden.Get("logits").Shape[2];
        var reference = ModernBertDecoderReference.FromFile(FixtureShape(), Path.Combine(Fixture, "model.safetensors"));
        var sequences = GoldenSequences();
        double max = 0;
        for (int b = 0; b < sequences.Count; b++)
        {
            var expected = reference.Logits(sequences[b]);
            for (int i = 0; i < sequences[b].Length; i++)
                for (int t = 0; t < vocab; t++)
                    max = Math.Max(max, Math.Abs(expected[i][t] - logits[(b * length + i) * vocab + t]));
        }
        Assert.IsTrue(max < 1e-3, $"reference against golden: max |diff| {max:E2}");
    }

    /// <summary>
    /// Other windows than the fixture's 16 → 8: local_attention 10 (5 keys), 7 (3 keys: local_attention // 2 rounds down),
    /// 40 (20 keys, past most of the sequence) and 2 (1 key: only itself). Each changes the logits, and each matches the
    /// reference with its window.
    /// </summary>
    [TestMethod]
    [DataRow(10, 5)]
    [DataRow(7, 3)]
    [DataRow(40, 20)]
    [DataRow(2, 1)]
    public void OtherWindowsMatchTheReference(int localAttention, int window)
    {
        var folder = FixtureVariant(config =>
        {
            config["local_attention"] = localAttention;
            config["sliding_window"] = localAttention / 2;
        });
        var reference = ModernBertDecoderReference.FromFile(FixtureShape(window), Path.Combine(folder, "model.safetensors"));
        var sequences = GoldenSequences();
        using var backend = new CpuBackend(2, GemmPath.Managed);
        using var model = (ModernBertDecoderModel)ModelLoader.Load(folder, backend);
        Assert.AreEqual(window, model.SlidingWindow);
        using var original = ModelLoader.Load(Fixture, backend);
        var (ours, changed) = (AllLogits(model, sequences), AllLogits(original, sequences));
        double fromReference = 0, fromOriginal = 0;
        for (int b = 0; b < sequences.Count; b++)
        {
            var expected = reference.Logits(sequences[b]);
            for (int i = 0; i < sequences[b].Length; i++)
                for (int t = 0; t < expected[i].Length; t++)
                {
                    fromReference = Math.Max(fromReference, Math.Abs(expected[i][t] - ours[b][i][t]));
                    fromOriginal = Math.Max(fromOriginal, Math.Abs(changed[b][i][t] - ours[b][i][t]));
                }
        }
        Assert.IsTrue(fromReference < 1e-3, $"local_attention {localAttention}: max |diff| from the reference {fromReference:E2}");
        Assert.IsTrue(fromOriginal > 1e-2, $"local_attention {localAttention}: the window changed nothing ({fromOriginal:E2})");
    }

    /// <summary>
    /// The same weights under every spelling a file may use give bit-identical logits: transformers 5's config
    /// (rope_parameters per attention kind, layer_types, dtype, norm_eps alone), transformers 4's without layer_types,
    /// model_type without architectures, sliding_window without local_attention, and the tied matrix stored as
    /// model.embeddings.tok_embeddings.weight instead of decoder.weight, or under both names.
    /// </summary>
    [TestMethod]
    public void EverySpellingGivesIdenticalOutputs()
    {
        var variants = new Dictionary<string, string>
        {
            ["transformers 5 config"] = FixtureVariant(config =>
            {
                foreach (var key in new[] { "global_rope_theta", "local_rope_theta", "torch_dtype", "layer_norm_eps", "global_attn_every_n_layers" })
                    config.Remove(key);
                config["dtype"] = "bfloat16";
                config["rope_parameters"] = JsonNode.Parse("""
                    {"full_attention": {"rope_type": "default", "rope_theta": 160000.0},
                     "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}
                    """);
            }),
            ["transformers 4 config without layer_types"] = FixtureVariant(config => config.Remove("layer_types")),
            ["model_type only"] = FixtureVariant(config => config.Remove("architectures")),
            ["sliding_window only"] = FixtureVariant(config => config.Remove("local_attention")),
            ["tied matrix as tok_embeddings"] = FixtureVariant(weights: name => name == "decoder.weight" ? [TokEmbeddings] : [name]),
            ["tied matrix under both names"] = FixtureVariant(weights: name => name == "decoder.weight" ? [name, TokEmbeddings] : [name]),
        };
        var sequences = GoldenSequences();
        using var backend = new CpuBackend(2, GemmPath.Managed);
        List<float[][]> expected;
        long parameters;
        using (var original = ModelLoader.Load(Fixture, backend))
        {
            expected = AllLogits(original, sequences);
            parameters = original.ParameterCount;
        }
        foreach (var (label, folder) in variants)
        {
            using var model = ModelLoader.Load(folder, backend);
            Assert.IsInstanceOfType<ModernBertDecoderModel>(model, label);
            Assert.AreEqual(parameters, model.ParameterCount, $"{label}: the tied matrix counts once");
            var actual = AllLogits(model, sequences);
            for (int b = 0; b < sequences.Count; b++)
                for (int i = 0; i < sequences[b].Length; i++)
                    CollectionAssert.AreEqual(expected[b][i], actual[b][i], $"{label}: sequence {b} position {i}");
        }
    }

    /// <summary>A variant of the model drawn at random: its shape, layer pattern, biases, window and spelling.</summary>
    public sealed record Variant(int Seed, int Hidden, int Heads, int Layers, int Inner, int Vocab, int LocalAttention, string[]? LayerTypes,
        int EveryN, bool Biases, bool TransformersFive, bool TiedAsEmbeddings)
    {
        public override string ToString() =>
            $"seed {Seed}: hidden {Hidden}, {Heads} heads, {Layers} layers, window {LocalAttention / 2}{(Biases ? ", biases" : "")}{(TransformersFive ? ", transformers 5" : "")}";
    }

    public static IEnumerable<object[]> Variants() =>
    [
        [new Variant(11, 48, 6, 5, 80, 300, 12, null, 2, Biases: false, TransformersFive: false, TiedAsEmbeddings: false)],
        [new Variant(12, 32, 2, 3, 40, 257, 9, ["sliding_attention", "full_attention", "sliding_attention"], 3, Biases: true, TransformersFive: true, TiedAsEmbeddings: true)],
        [new Variant(13, 64, 8, 4, 64, 500, 20, null, 4, Biases: true, TransformersFive: false, TiedAsEmbeddings: false)],
    ];

    /// <summary>Random-weight variants against the reference, in a padded batch of two sequences longer than their windows.</summary>
    [TestMethod]
    [DynamicData(nameof(Variants), DynamicDataSourceType.Method)]
    public void RandomVariantsMatchTheReference(Variant variant)
    {
        var (folder, shape) = RandomModel(variant);
        var reference = ModernBertDecoderReference.FromFile(shape, Path.Combine(folder, "model.safetensors"),
            variant.TiedAsEmbeddings ? TokEmbeddings : "decoder.weight");
        var rng = new Random(variant.Seed);
        var sequences = new[] { 31, 17 }.Select(n => Enumerable.Range(0, n).Select(_ => rng.Next(4, variant.Vocab)).ToArray()).ToList();
        foreach (var backendName in new[] { "managed", "ilgpu-cpu" })
        {
            using var backend = backendName == "managed" ? (IBackend)new CpuBackend(2, GemmPath.Managed) : Engine.TestBackends.IlgpuCpu(4);
            using var model = ModelLoader.Load(folder, backend);
            var ours = AllLogits(model, sequences);
            double max = 0;
            for (int b = 0; b < sequences.Count; b++)
            {
                var expected = reference.Logits(sequences[b]);
                for (int i = 0; i < sequences[b].Length; i++)
                    for (int t = 0; t < variant.Vocab; t++) max = Math.Max(max, Math.Abs(expected[i][t] - ours[b][i][t]));
            }
            Assert.IsTrue(max < 1e-3, $"{variant} ({backendName}): max |diff| from the reference {max:E2}");
        }
    }

    /// <summary>
    /// Decoding through the cache, 30 tokens in chunks of 7, 1, 5, 1, 1, 9, 1, 1, 4 — every sliding layer's window (8)
    /// passed several times over — gives the logits of one full pass.
    /// </summary>
    [TestMethod]
    [DataRow("cpu")]
    [DataRow("ilgpu-cpu")]
    public void IncrementalDecodingPastTheWindowEqualsFullRecomputation(string backendName)
    {
        using var backend = backendName == "cpu" ? (IBackend)new CpuBackend(2) : Engine.TestBackends.IlgpuCpu(4);
        using var model = (ICausalLanguageModel)ModelLoader.Load(Fixture, backend);
        var rng = new Random(5);
        var tokens = Enumerable.Range(0, 30).Select(_ => rng.Next(4, 1000)).ToArray();
        var full = AllLogits(model, [tokens])[0];
        using var cache = model.CreateCache(1, tokens.Length);
        int start = 0;
        foreach (int size in new[] { 7, 1, 5, 1, 1, 9, 1, 1, 4 })
        {
            using var output = model.Forward(new TokenBatch(tokens[start..(start + size)], Ones(size), 1, size), cache);
            using var logits = model.Logits(output.LastHidden, Enumerable.Range(0, size).ToArray());
            for (int i = 0; i < size; i++)
            {
                double diff = Engine.Reference.MaxAbsDiff(full[start + i], logits.Row(i));
                Assert.IsTrue(diff < 1e-4, $"{backendName}: position {start + i} differs by {diff} from the full pass");
            }
            start += size;
        }
        Assert.AreEqual(tokens.Length, start);
    }

    /// <summary>
    /// Right-padded prompts of 3, 21 and 12 tokens continued together through one cache (the shorter ones have padding
    /// slots between their prompt and their continuation): every continuation token's logits equal those of the
    /// sequence decoded alone, with sliding windows counted over its own tokens — log-likelihood scoring's layout.
    /// </summary>
    [TestMethod]
    [DataRow("cpu")]
    [DataRow("ilgpu-cpu")]
    public void ContinuationsBesidePromptsOfOtherLengthsEqualAlone(string backendName)
    {
        using var backend = backendName == "cpu" ? (IBackend)new CpuBackend(2) : Engine.TestBackends.IlgpuCpu(4);
        using var model = (ICausalLanguageModel)ModelLoader.Load(Fixture, backend);
        var rng = new Random(9);
        var prompts = new[] { 3, 21, 12 }.Select(n => Enumerable.Range(0, n).Select(_ => rng.Next(4, 1000)).ToArray()).ToList();
        var continuations = new[] { 11, 4, 9 }.Select(n => Enumerable.Range(0, n).Select(_ => rng.Next(4, 1000)).ToArray()).ToList();
        const int Pad = 3;
        var promptBatch = TokenBatch.FromSequences(prompts.Select(p => (IReadOnlyList<int>)p).ToList(), Pad);
        var continuationBatch = TokenBatch.FromSequences(continuations.Select(c => (IReadOnlyList<int>)c).ToList(), Pad);
        using var cache = model.CreateCache(prompts.Count, promptBatch.Length + continuationBatch.Length);
        model.Forward(promptBatch, cache).Dispose();
        using var output = model.Forward(continuationBatch, cache);
        for (int b = 0; b < prompts.Count; b++)
        {
            var alone = AllLogits(model, [[.. prompts[b], .. continuations[b]]])[0];
            using var logits = model.Logits(output.LastHidden, Enumerable.Range(0, continuations[b].Length).Select(i => b * continuationBatch.Length + i).ToArray());
            for (int i = 0; i < continuations[b].Length; i++)
            {
                double diff = Engine.Reference.MaxAbsDiff(alone[prompts[b].Length + i], logits.Row(i));
                Assert.IsTrue(diff < 1e-4, $"{backendName}: sequence {b}, continuation token {i} differs by {diff} from the sequence alone");
            }
        }
    }

    /// <summary>Bad folders: each a one-line error naming the file and the tensor or field.</summary>
    [TestMethod]
    public void BadCheckpointsAndConfigsAreOneLineErrors()
    {
        var cases = new (string Folder, string[] Expected)[]
        {
            (FixtureVariant(weights: name => name == "model.layers.2.attn.k_proj.weight" ? [] : [name],
                    extra: [("model.layers.2.attn.k_proj.weight", new float[64 * 32], [64, 32])]),
                ["model.layers.2.attn.k_proj.weight", "[64, 32]", "ModernBertDecoderForCausalLM"]),
            (FixtureVariant(weights: name => name == "model.layers.1.attn.q_proj.weight" ? [] : [name]),
                ["'model.layers.1.attn.q_proj.weight' is missing", "ModernBertDecoderForCausalLM"]),
            (FixtureVariant(weights: name => name == "decoder.weight" ? [] : [name]),
                ["neither 'model.embeddings.tok_embeddings.weight' nor 'decoder.weight'", "[1000, 64]"]),
            (FixtureVariant(weights: name => name == "lm_head.norm.weight" ? [] : [name]), ["'lm_head.norm.weight' is missing"]),
            (FixtureVariant(config => config["tie_word_embeddings"] = false), ["'model.embeddings.tok_embeddings.weight' is missing"]),
            (FixtureVariant(config => config["sliding_window"] = 5), ["config.json", "'sliding_window' 5 disagrees with 'local_attention' 16"]),
            (FixtureVariant(config => config["num_attention_heads"] = 5), ["config.json", "hidden_size 64 is not a multiple of num_attention_heads 5"]),
            (FixtureVariant(config => config["layer_types"] = JsonNode.Parse("""["full_attention", "sliding_attention"]""")),
                ["config.json", "'layer_types' lists 2 layers but num_hidden_layers is 4"]),
            (FixtureVariant(config => { config["local_attention"] = 1; config.Remove("sliding_window"); }), ["config.json", "a sliding window of 0 keys"]),
            (FixtureVariant(config => { config.Remove("layer_types"); config["global_attn_every_n_layers"] = 0; }),
                ["config.json", "'global_attn_every_n_layers' must be a positive integer"]),
        };
        using var backend = new CpuBackend(1);
        foreach (var (folder, expected) in cases)
        {
            var e = Assert.Throws<Exception>(() => ModelLoader.Load(folder, backend).Dispose(), expected[0]);
            Assert.IsTrue(e is CheckpointFormatException or InvalidDataException, $"{expected[0]}: {e.GetType().Name}: {e.Message}");
            Assert.IsFalse(e.Message.Contains('\n'), e.Message);
            StringAssert.Contains(e.Message, folder, "the error names the model folder or its config.json");
            foreach (var part in expected) StringAssert.Contains(e.Message, part);
        }

        // Through the program: one line on stderr, exit code 1, no stack trace.
        var (code, log) = ProgramProcess.Run(SharedFixtures.TempDirectory(), "forward", "--model", cases[0].Folder, "--input", Golden,
            "--output", Path.Combine(SharedFixtures.TempDirectory(), "out.safetensors"));
        Assert.AreEqual(1, code, log);
        var errorLine = log.Split('\n').Single(l => l.StartsWith("error: ", StringComparison.Ordinal));
        StringAssert.Contains(errorLine, "model.layers.2.attn.k_proj.weight");
        Assert.IsFalse(log.Contains("   at "), log);
    }

    /// <summary>
    /// The fixture through a Hugging Face cache as huggingface_hub writes it: snapshots/&lt;rev&gt;/file are relative links
    /// to ../../blobs/&lt;sha256&gt;.
    /// </summary>
    [TestMethod]
    public void LoadsThroughAHubCacheOfRelativeSymlinks()
    {
        var cache = SharedFixtures.TempDirectory();
        var repo = Path.Combine(cache, "models--jhu-clsp--ettin-decoder-tiny");
        const string Revision = "0123456789abcdef0123456789abcdef01234567";
        var snapshot = Path.Combine(repo, "snapshots", Revision);
        Directory.CreateDirectory(Path.Combine(repo, "blobs"));
        Directory.CreateDirectory(snapshot);
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        File.WriteAllText(Path.Combine(repo, "refs", "main"), Revision);
        // The Ettin models use ModernBERT's tokenizer (a hub snapshot carries one; the fixture folder has none).
        var tokenizer = Path.Combine(SharedFixtures.Shared, "tokenizers", "modernbert");
        foreach (var (file, from) in new[] { ("config.json", Fixture), ("model.safetensors", Fixture), ("tokenizer.json", tokenizer) })
        {
            var bytes = File.ReadAllBytes(Path.Combine(from, file));
            var hash = Convert.ToHexStringLower(SHA256.HashData(bytes));
            File.WriteAllBytes(Path.Combine(repo, "blobs", hash), bytes);
            File.CreateSymbolicLink(Path.Combine(snapshot, file), Path.Combine("..", "..", "blobs", hash));
        }
        var resolved = new HubModelStore(cache, "http://127.0.0.1:9", offline: true, token: null, http: null).Resolve("jhu-clsp/ettin-decoder-tiny");
        Assert.AreEqual(snapshot, resolved);
        var output = Path.Combine(SharedFixtures.TempDirectory(), "out.safetensors");
        using (var backend = new CpuBackend(2))
        using (var model = ModelLoader.Load(resolved, backend))
            ForwardDump.Run(model, Golden, output);
        GoldenParityTests.AssertMatchesGolden(Golden, output, "modernbert-decoder-tiny through a hub cache");
    }

    /// <summary>Each sequence alone (no padding): its logits at every position, as float arrays.</summary>
    private static List<float[][]> AllLogits(ILanguageModel model, IReadOnlyList<int[]> sequences)
    {
        var batch = TokenBatch.FromSequences(sequences.Select(s => (IReadOnlyList<int>)s).ToList(), model.Config.PadTokenId ?? 0);
        using var output = model.Forward(batch);
        return sequences.Select((s, b) =>
        {
            using var logits = model.Logits(output.LastHidden, Enumerable.Range(0, s.Length).Select(i => b * batch.Length + i).ToArray());
            return Enumerable.Range(0, s.Length).Select(i => logits.Row(i).ToArray()).ToArray();
        }).ToList();
    }

    private static int[] Ones(int n) => Enumerable.Repeat(1, n).ToArray();

    /// <summary>
    /// A copy of the fixture folder with its config rewritten and its tensors renamed (weights maps each name to the
    /// names it is stored under: none drops it, two store it twice) and extra tensors added.
    /// </summary>
    private static string FixtureVariant(Action<JsonObject>? config = null, Func<string, string[]>? weights = null,
        (string Name, float[] Values, long[] Shape)[]? extra = null)
    {
        var folder = SharedFixtures.TempDirectory();
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixture, "config.json")))!.AsObject();
        config?.Invoke(json);
        File.WriteAllText(Path.Combine(folder, "config.json"), json.ToJsonString());
        var source = Path.Combine(Fixture, "model.safetensors");
        if (weights is null && extra is null)
        {
            File.Copy(source, Path.Combine(folder, "model.safetensors"));
            return folder;
        }
        using var file = new SafetensorsFile(source);
        var writer = new SafetensorsWriter();
        foreach (var entry in file.Entries.Values)
            foreach (var name in weights?.Invoke(entry.Name) ?? [entry.Name])
                writer.Add(name, entry.DType, file.Bytes(entry), entry.Shape);
        foreach (var (name, values, shape) in extra ?? []) writer.Add(name, values, shape);
        writer.Write(Path.Combine(folder, "model.safetensors"));
        return folder;
    }

    /// <summary>A model folder of random float32 weights for a variant, and the reference's view of its shape.</summary>
    private static (string Folder, ModernBertDecoderReference.Shape Shape) RandomModel(Variant v)
    {
        var rng = new Random(v.Seed);
        float[] Uniform(int count, double scale, double centre = 0) =>
            Enumerable.Range(0, count).Select(_ => (float)(centre + (rng.NextDouble() * 2 - 1) * scale)).ToArray();
        int h = v.Hidden, inner = v.Inner;
        var tensors = new List<(string Name, float[] Values, long[] Shape)>();
        void Matrix(string name, int rows, int columns, bool bias)
        {
            tensors.Add((name + ".weight", Uniform(rows * columns, Math.Sqrt(3.0 / columns)), [rows, columns]));
            if (bias) tensors.Add((name + ".bias", Uniform(rows, 0.1), [rows]));
        }
        void Norm(string name)
        {
            tensors.Add((name + ".weight", Uniform(h, 0.2, 1), [h]));
            if (v.Biases) tensors.Add((name + ".bias", Uniform(h, 0.1), [h]));
        }
        tensors.Add((v.TiedAsEmbeddings ? TokEmbeddings : "decoder.weight", Uniform(v.Vocab * h, 1), [v.Vocab, h]));
        Norm("model.embeddings.norm");
        for (int l = 0; l < v.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            if (l > 0) Norm(p + "attn_norm");
            foreach (var part in new[] { "q_proj", "k_proj", "v_proj", "Wo" }) Matrix(p + "attn." + part, h, h, v.Biases);
            Norm(p + "mlp_norm");
            Matrix(p + "mlp.Wi", 2 * inner, h, v.Biases);
            Matrix(p + "mlp.Wo", h, inner, v.Biases);
        }
        Norm("model.final_norm");
        Matrix("lm_head.dense", h, h, v.Biases);
        Norm("lm_head.norm");
        tensors.Add(("decoder.bias", Uniform(v.Vocab, 0.5), [v.Vocab]));

        var folder = SharedFixtures.TempDirectory();
        var writer = new SafetensorsWriter();
        foreach (var (name, values, shape) in tensors) writer.Add(name, values, shape);
        writer.Write(Path.Combine(folder, "model.safetensors"));

        const double GlobalTheta = 160000, LocalTheta = 10000;
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("ModernBertDecoderForCausalLM"), ["model_type"] = "modernbert-decoder",
            ["vocab_size"] = v.Vocab, ["hidden_size"] = h, ["intermediate_size"] = inner, ["num_hidden_layers"] = v.Layers,
            ["num_attention_heads"] = v.Heads, ["hidden_activation"] = "gelu", ["classifier_activation"] = "gelu",
            ["max_position_embeddings"] = 512, ["local_attention"] = v.LocalAttention, ["pad_token_id"] = 3, ["bos_token_id"] = 1,
            ["eos_token_id"] = 2, ["tie_word_embeddings"] = true, ["decoder_bias"] = true, ["attention_bias"] = v.Biases,
            ["mlp_bias"] = v.Biases, ["norm_bias"] = v.Biases, ["classifier_bias"] = v.Biases, ["norm_eps"] = 1e-5,
        };
        if (v.TransformersFive)
        {
            config["dtype"] = "float32";
            config["rope_parameters"] = new JsonObject
            {
                ["full_attention"] = new JsonObject { ["rope_type"] = "default", ["rope_theta"] = GlobalTheta },
                ["sliding_attention"] = new JsonObject { ["rope_type"] = "default", ["rope_theta"] = LocalTheta },
            };
        }
        else
        {
            config["torch_dtype"] = "float32";
            config["layer_norm_eps"] = 1e-5;
            config["global_rope_theta"] = GlobalTheta;
            config["local_rope_theta"] = LocalTheta;
            config["global_attn_every_n_layers"] = v.EveryN;
        }
        if (v.LayerTypes is { } types) config["layer_types"] = new JsonArray(types.Select(t => (JsonNode)t).ToArray());
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
        Func<int, bool> isGlobal = v.LayerTypes is { } lt ? l => lt[l] == "full_attention" : l => l % v.EveryN == 0;
        return (folder, new ModernBertDecoderReference.Shape(v.Vocab, h, v.Heads, v.Layers, inner, 1e-5, GlobalTheta, LocalTheta,
            v.LocalAttention / 2, isGlobal, NormBias: v.Biases, AttentionBias: v.Biases, MlpBias: v.Biases, ClassifierBias: v.Biases));
    }
}
