using System.Globalization;
using System.Text.Json.Nodes;
using Eval.Cli;
using Eval.Engine.Cpu;
using Eval.Engine.IO;
using Eval.Harness.Benchmarks;
using Eval.Models;

namespace Eval.Tests.Harness;

/// <summary>
/// The Ettin pairs through the harness: their carried shapes (sizes as published), `bench decode` on them (the decoders
/// by log-likelihood, next token and greedy; the encoders by single [MASK] and Mask-Predict, each beside its decoder),
/// and `eval` + `scaling --series kind` over random-weight miniatures of both kinds at three sizes.
/// </summary>
[TestClass]
public sealed class EttinEndToEndTests
{
    /// <summary>Parameters of a ModernBERT body with its head and tied decoder, counted from the config.</summary>
    private static long Count(ModelConfig c)
    {
        long h = c.HiddenSize, v = c.VocabSize, inner = c.IntermediateSize, layers = c.NumHiddenLayers;
        long perLayer = 4 * h * h + 3 * inner * h + 2 * h;   // q, k, v, o; Wi (2·I) and Wo; attn_norm and mlp_norm
        return v * h + h + layers * perLayer - h + h + h * h + h + v;   // embeddings + norm, layers (no attn_norm in layer 0), final norm, head, decoder bias
    }

    [TestMethod]
    public void EttinShapesHaveTheirPublishedSizes()
    {
        var names = ModelShapes.Expand(["ettin"]);
        Assert.AreEqual(12, names.Count);
        foreach (var size in new[] { "17m", "32m", "68m", "150m", "400m", "1b" })
        {
            var encoder = ModelShapes.Load($"ettin-encoder-{size}");
            var decoder = ModelShapes.Load($"ettin-decoder-{size}");
            Assert.AreEqual("ModernBertForMaskedLM", ModelLoader.ResolveArchitecture(encoder));
            Assert.AreEqual("ModernBertDecoderForCausalLM", ModelLoader.ResolveArchitecture(decoder));
            Assert.AreEqual((encoder.HiddenSize, encoder.NumHiddenLayers, encoder.IntermediateSize, encoder.NumAttentionHeads, encoder.VocabSize, encoder.LocalAttention),
                (decoder.HiddenSize, decoder.NumHiddenLayers, decoder.IntermediateSize, decoder.NumAttentionHeads, decoder.VocabSize, decoder.LocalAttention),
                $"{size}: the pair shares its shape");
            double nominal = double.Parse(size[..^1], CultureInfo.InvariantCulture) * (size.EndsWith('b') ? 1e9 : 1e6);
            Assert.AreEqual(1, Count(decoder) / nominal, 0.1, $"{size}: {Count(decoder)} parameters");
        }
        Assert.IsFalse(ModelShapes.DefaultNames.Any(n => n.StartsWith("ettin", StringComparison.Ordinal)), "the default set stays the original comparison");
        var e = Assert.ThrowsExactly<ArgumentException>(() => ModelShapes.Expand(["ettin-xl"]));
        StringAssert.Contains(e.Message, "unknown model shape 'ettin-xl'");
        StringAssert.Contains(e.Message, "groups: ettin, ettin-encoders, ettin-decoders");

        // The 17M pair built at full size counts what the config says (the tied matrix once).
        using var backend = new CpuBackend(2);
        foreach (var name in new[] { "ettin-encoder-17m", "ettin-decoder-17m" })
        {
            var config = ModelShapes.Load(name);
            using var model = ModelLoader.Create(config, new RandomWeights(1), backend);
            Assert.AreEqual(Count(config), model.ParameterCount, name);
        }
    }

    /// <summary>`bench decode --quick --models ettin`: every row measured, each kind by its own methods, each encoder beside a decoder; `scaling --bench` reads it.</summary>
    [TestMethod]
    public void BenchDecodeMeasuresTheEttinPairs()
    {
        var dir = SharedFixtures.TempDirectory();
        var (code, output) = ProgramProcess.Wait(ProgramProcess.Start(["bench", "decode", "--quick", "--models", "ettin-encoders,ettin-decoder-17m,ettin-decoder-1b",
            "--output", dir, "--threads", "1"]));
        Assert.AreEqual(0, code, output);
        var csv = Directory.GetFiles(dir, "decode-quick-*.csv").Single();
        var rows = Eval.Harness.Reports.DecodeSpeedSection.Read(csv);
        Assert.IsTrue(rows.All(r => r.Status == "ok" && r.MedianMs > 0), string.Join("\n", rows.Where(r => r.Status != "ok").Select(r => r.Status)));
        CollectionAssert.AreEquivalent(new[] { "ettin-encoder-17m-mini", "ettin-encoder-32m-mini", "ettin-encoder-68m-mini", "ettin-encoder-150m-mini",
            "ettin-encoder-400m-mini", "ettin-encoder-1b-mini", "ettin-decoder-17m-mini", "ettin-decoder-1b-mini" }, rows.Select(r => r.Model).Distinct().ToList());
        foreach (var model in rows.GroupBy(r => r.Model))
        {
            var methods = model.Select(r => r.Method).Distinct().Order(StringComparer.Ordinal).ToList();
            bool decoder = model.Key.Contains("decoder");
            CollectionAssert.AreEqual(decoder ? new[] { "greedy", "loglik", "next-token" } : new[] { "mask-predict", "single-mask" }, methods, model.Key);
            Assert.IsTrue(model.All(r => r.Architecture == (decoder ? "ModernBertDecoderForCausalLM" : "ModernBertForMaskedLM")));
            if (!decoder) Assert.IsTrue(model.All(r => r.Peer.StartsWith("ettin-decoder-", StringComparison.Ordinal)), $"{model.Key}'s peer is an Ettin decoder");
        }

        var scaling = Path.Combine(dir, "scaling");
        (code, output) = ProgramProcess.Run(dir, "scaling", "--bench", csv, "--series", "kind", "--output", scaling);
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(File.ReadAllText(Path.Combine(scaling, "scaling.md")), "## Decode speed against size");
        Assert.IsTrue(Directory.GetFiles(Path.Combine(scaling, "charts"), "speed-*.png").Length > 0);
    }

    /// <summary>
    /// Random-weight ModernBERT encoders and Ettin decoders of three sizes each (hidden 32, 64, 96), with the demo's
    /// WordPiece vocabulary, evaluated on the demo's synthetic XNLI rows (the decoders by log-likelihood), then
    /// `scaling --series kind`: run.json's architectures put them in two series, each fitted, and their crossing estimated.
    /// </summary>
    [TestMethod]
    public void ScalingGroupsEvaluatedMiniaturesOfBothKinds()
    {
        var dir = SharedFixtures.TempDirectory();
        Assert.AreEqual(0, DemoCommand.Build().Parse(["--output", dir]).Invoke());
        var tokenizerFolder = Path.Combine(dir, DemoCommand.MaskedModel);
        int vocab = JsonNode.Parse(File.ReadAllText(Path.Combine(tokenizerFolder, "config.json")))!["vocab_size"]!.GetValue<int>();
        var runs = new List<string>();
        foreach (var (kind, hidden) in new[] { ("encoder", 32), ("encoder", 64), ("encoder", 96), ("decoder", 32), ("decoder", 64), ("decoder", 96) })
        {
            var model = Path.Combine(dir, $"ettin-{kind}-h{hidden}");
            Directory.CreateDirectory(model);
            foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json" })
                File.Copy(Path.Combine(tokenizerFolder, file), Path.Combine(model, file));
            var config = new JsonObject
            {
                ["architectures"] = new JsonArray(kind == "encoder" ? "ModernBertForMaskedLM" : "ModernBertDecoderForCausalLM"),
                ["model_type"] = kind == "encoder" ? "modernbert" : "modernbert-decoder",
                ["vocab_size"] = vocab, ["hidden_size"] = hidden, ["intermediate_size"] = 3 * hidden / 2, ["num_hidden_layers"] = 3,
                ["num_attention_heads"] = hidden / 16, ["global_attn_every_n_layers"] = 3, ["local_attention"] = 16,
                ["global_rope_theta"] = 160000.0, ["local_rope_theta"] = 10000.0, ["norm_eps"] = 1e-5, ["norm_bias"] = false,
                ["max_position_embeddings"] = 512, ["pad_token_id"] = 0, ["bos_token_id"] = 2, ["eos_token_id"] = 3, ["cls_token_id"] = 2,
                ["sep_token_id"] = 3, ["tie_word_embeddings"] = true,
            };
            File.WriteAllText(Path.Combine(model, "config.json"), config.ToJsonString());
            DemoCommand.WriteRandomWeights(model, seed: hidden);
            var run = Path.Combine(dir, "runs", Path.GetFileName(model));
            Assert.AreEqual(0, new EvalCommand().Build().Parse(["--task", "xnli", "--languages", "en", "--model", model, "--data-dir", Path.Combine(dir, "data"),
                "--offline", "--output", run, "--batch-size", "16"]).Invoke(), run);
            runs.Add(run);
        }
        var output = Path.Combine(dir, "scaling");
        Assert.AreEqual(0, ReportCommands.Scaling().Parse([.. runs, "--series", "kind", "--output", output]).Invoke());
        var fits = File.ReadAllLines(Path.Combine(output, "scaling-fits.csv")).Skip(1).Select(l => l.Split(',')).Where(r => r[3] == "log-linear").ToList();
        CollectionAssert.AreEquivalent(new[] { "causal", "masked" }, fits.Select(r => r[1]).ToList());
        Assert.IsTrue(fits.All(r => r[12] == "3"), "three sizes in each series");
        var crossing = File.ReadAllLines(Path.Combine(output, "scaling-crossings.csv")).Skip(1).Single().Split(',');
        Assert.AreEqual(("xnli", "causal", "masked"), (crossing[0], crossing[1], crossing[2]));
        Assert.AreEqual(1000, int.Parse(crossing[11], CultureInfo.InvariantCulture), "every replicate counted");
        foreach (var file in new[] { "scaling.html", "scaling.md", "charts/scaling-xnli.png" })
            Assert.IsTrue(File.Exists(Path.Combine(output, file)), file);
    }
}
