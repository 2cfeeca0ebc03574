using System.Security.Cryptography;
using System.Text.Json;
using Eval.Cli;
using Eval.Engine.Cpu;
using Eval.Engine.IO;
using Eval.Harness.Data;
using Eval.Harness.Scoring;
using Eval.Models;
using Eval.Tokenizers;

namespace Eval.Tests.Models;

/// <summary>
/// BERT, ELECTRA generators and EuroBERT beyond the goldens' own inputs: a second segment (token type 1) and the older
/// tensor spellings, each as a variant of the fixture whose forward must equal the original's golden; the one-line
/// errors for a config that disagrees with the tensors; and the MLM answer read out of their logits.
/// </summary>
[TestClass]
public sealed class BertFamilyTests
{
    private static string Golden(string fixture) => Path.Combine(SharedFixtures.Model(fixture), "golden.safetensors");

    private static string Forward(string modelDirectory, string inputPath)
    {
        var output = Path.Combine(SharedFixtures.TempDirectory(), "out.safetensors");
        using var backend = new CpuBackend(2);
        using var model = ModelLoader.Load(modelDirectory, backend);
        ForwardDump.Run(model, inputPath, output);
        return output;
    }

    /// <summary>The fixture's weights with rows 0 and 1 of its token-type table swapped.</summary>
    private static List<FixtureTensor> WithTokenTypeRowsSwapped(string fixture, string table)
    {
        var tensors = FixtureVariants.ReadWeights(fixture);
        int index = tensors.FindIndex(t => t.Name == table);
        var types = tensors[index];
        int width = (int)types.Shape[1];
        tensors[index] = types with { Values = [.. types.Values[width..(2 * width)], .. types.Values[..width], .. types.Values[(2 * width)..]] };
        return tensors;
    }

    [TestMethod]
    [DataRow("bert-tiny", "bert.embeddings.token_type_embeddings.weight")]
    [DataRow("electra-generator-tiny", "electra.embeddings.token_type_embeddings.weight")]
    public void TokenTypeOneReadsTheSecondRowOfTheTokenTypeTable(string fixture, string table)
    {
        // The variant's row 1 is the fixture's row 0: with every real token of type 1 it must compute the golden, whose
        // tokens are all of type 0. Reading type 1 as 0 moves the logits by ~20 (fixtures README).
        var variant = FixtureVariants.WriteFolder(FixtureVariants.ReadConfig(fixture), WithTokenTypeRowsSwapped(fixture, table));
        using var golden = new SafetensorsFile(Golden(fixture));
        var input = FixtureVariants.GoldenWith(fixture, "token_type_ids", golden.ReadAsInt32("attention_mask"));
        GoldenParityTests.AssertMatchesGolden(input, Forward(variant, input), $"{fixture} with token type 1 on the swapped table");
    }

    [TestMethod]
    public void APairTakesItsSegmentsFromTheTokenizersTemplateIntoTheModel()
    {
        var tokenizer = Tokenizer.Load(FixtureVariants.WriteBertTokenizer(SharedFixtures.TempDirectory()));
        var encoding = tokenizer.Encode("The premise is right.", addSpecialTokens: true, pair: "So the hypothesis is [MASK].");
        var ids = encoding.Ids.ToArray();
        int firstSep = Array.IndexOf(ids, 102);
        Assert.IsTrue(firstSep > 0 && ids[^1] == 102 && ids[0] == 101, string.Join(" ", encoding.Tokens));
        var types = encoding.TypeIds.ToArray();
        CollectionAssert.AreEqual(Enumerable.Range(0, ids.Length).Select(i => i <= firstSep ? 0 : 1).ToArray(), types,
            "[CLS] A [SEP] is segment 0, B [SEP] segment 1");

        // The fixture with these segments computes what the swapped-table variant computes with the segments flipped;
        // and the segments matter: read as all 0, the second segment's logits move.
        var fixture = "bert-tiny";
        var variant = FixtureVariants.WriteFolder(FixtureVariants.ReadConfig(fixture),
            WithTokenTypeRowsSwapped(fixture, "bert.embeddings.token_type_embeddings.weight"));
        using var backend = new CpuBackend(2);
        using var original = ModelLoader.Load(SharedFixtures.Model(fixture), backend);
        using var swapped = ModelLoader.Load(variant, backend);
        var batch = new TokenBatch(ids, Enumerable.Repeat(1, ids.Length).ToArray(), 1, ids.Length) { TokenTypeIds = types };
        var rows = Enumerable.Range(0, ids.Length).ToArray();
        float[] Logits(ILanguageModel model, TokenBatch input)
        {
            using var output = model.Forward(input);
            using var logits = model.Logits(output.LastHidden, rows);
            return logits.Span.ToArray();
        }
        var expected = Logits(original, batch);
        var flipped = Logits(swapped, batch with { TokenTypeIds = types.Select(t => 1 - t).ToArray() });
        Assert.IsTrue(Engine.Reference.MaxAbsDiff(expected, flipped) < 1e-4, "segments flipped on the swapped table");
        var allZero = Logits(original, batch with { TokenTypeIds = null });
        Assert.IsTrue(Engine.Reference.MaxAbsDiff(expected, allZero) > 0.1, "the second segment's type changes nothing");
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void GoogleSpellingsAndPretrainingExtrasGiveTheSameForward(bool asPickle)
    {
        // bert-base-uncased's own files: every LayerNorm as gamma/beta, BertForPreTraining's pooler and seq_relationship,
        // and (in the pickle) the tied decoder weight as a copy of the word embeddings.
        var fixture = "bert-tiny";
        var tensors = FixtureVariants.ReadWeights(fixture)
            .Select(t => t with { Name = t.Name.Replace("LayerNorm.weight", "LayerNorm.gamma").Replace("LayerNorm.bias", "LayerNorm.beta") })
            .ToList();
        Assert.AreEqual(2 * (1 + 2 * 3 + 1), tensors.Count(t => t.Name.EndsWith(".gamma") || t.Name.EndsWith(".beta")));
        var words = tensors.Single(t => t.Name == "bert.embeddings.word_embeddings.weight");
        var rng = new Random(5);
        float[] Noise(int n) => Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        tensors.AddRange([
            new("cls.predictions.decoder.weight", words.Shape, words.Values),
            new("bert.pooler.dense.weight", [64, 64], Noise(64 * 64)), new("bert.pooler.dense.bias", [64], Noise(64)),
            new("cls.seq_relationship.weight", [2, 64], Noise(128)), new("cls.seq_relationship.bias", [2], Noise(2)),
        ]);
        var variant = FixtureVariants.WriteFolder(FixtureVariants.ReadConfig(fixture), tensors, asPickle);
        GoldenParityTests.AssertMatchesGolden(Golden(fixture), Forward(variant, Golden(fixture)), $"{fixture} in Google's spelling");

        using var backend = new CpuBackend(1);
        using var original = ModelLoader.Load(SharedFixtures.Model(fixture), backend);
        using var google = ModelLoader.Load(variant, backend);
        Assert.AreEqual(original.ParameterCount, google.ParameterCount, "the extras are not read");
    }

    [TestMethod]
    public void AnElectraPickleWithItsTiedHeadCopyGivesTheSameForward()
    {
        var fixture = "electra-generator-tiny";
        var tensors = FixtureVariants.ReadWeights(fixture);
        var words = tensors.Single(t => t.Name == "electra.embeddings.word_embeddings.weight");
        tensors.Add(new("generator_lm_head.weight", words.Shape, words.Values));
        var variant = FixtureVariants.WriteFolder(FixtureVariants.ReadConfig(fixture), tensors, asPickle: true);
        GoldenParityTests.AssertMatchesGolden(Golden(fixture), Forward(variant, Golden(fixture)), $"{fixture} as a pickle");
    }

    [TestMethod]
    public void ATypeVocabSizeThatDisagreesWithTheTensorIsAOneLineError()
    {
        var config = FixtureVariants.ReadConfig("bert-tiny");
        config["type_vocab_size"] = 3;
        var dir = FixtureVariants.WriteFolder(config, FixtureVariants.ReadWeights("bert-tiny"));
        using var backend = new CpuBackend(1);
        var e = Assert.ThrowsExactly<CheckpointFormatException>(() => ModelLoader.Load(dir, backend));
        StringAssert.StartsWith(e.Message, Path.Combine(dir, "model.safetensors") + ": tensor 'bert.embeddings.token_type_embeddings.weight' has shape [2, 64], expected [3, 64]");
        StringAssert.Contains(e.Message, $"{Path.Combine(dir, "config.json")} says type_vocab_size 3");
        Assert.IsFalse(e.Message.Contains('\n'), e.Message);
    }

    [TestMethod]
    public void AnElectraCheckpointWithoutItsProjectionIsAOneLineError()
    {
        var fixture = "electra-generator-tiny";
        var dir = FixtureVariants.WriteFolder(FixtureVariants.ReadConfig(fixture),
            FixtureVariants.ReadWeights(fixture).Where(t => !t.Name.StartsWith("electra.embeddings_project.")));
        using var backend = new CpuBackend(1);
        var e = Assert.ThrowsExactly<CheckpointFormatException>(() => ModelLoader.Load(dir, backend));
        StringAssert.StartsWith(e.Message, $"{dir}: tensor 'electra.embeddings_project.weight' is missing (expected shape [64, 32])");
        StringAssert.Contains(e.Message, "ElectraForMaskedLM");
        StringAssert.Contains(e.Message, "embedding_size 32 and hidden_size 64");
        Assert.IsFalse(e.Message.Contains('\n'), e.Message);

        // The command says it in one line too.
        var (code, output) = ProgramProcess.Run(SharedFixtures.TempDirectory(), "forward", "--model", dir, "--input", Golden(fixture),
            "--output", Path.Combine(SharedFixtures.TempDirectory(), "out.safetensors"), "--device", "cpu");
        Assert.AreNotEqual(0, code, output);
        StringAssert.Contains(output, "'electra.embeddings_project.weight' is missing");
        Assert.IsFalse(output.Contains("   at "), output);
    }

    [TestMethod]
    [DataRow("bert-tiny", 2, "token type 2 at sequence 0, position 1 is outside BertForMaskedLM's 2 token types")]
    [DataRow("electra-generator-tiny", 2, "token type 2 at sequence 0, position 1 is outside ElectraForMaskedLM's 2 token types")]
    [DataRow("xlmr-tiny", 1, "token type 1 at sequence 0, position 1: XLMRobertaForMaskedLM takes only token type 0")]
    [DataRow("eurobert-tiny", 1, "token type 1 at sequence 0, position 1: EuroBertForMaskedLM takes only token type 0")]
    [DataRow("modernbert-tiny", 1, "token type 1 at sequence 0, position 1: ModernBertForMaskedLM takes only token type 0")]
    public void ATokenTypeTheModelHasNoRowForIsRefused(string fixture, int type, string message)
    {
        using var backend = new CpuBackend(1);
        using var model = ModelLoader.Load(SharedFixtures.Model(fixture), backend);
        var batch = new TokenBatch([5, 6, 7], [1, 1, 1], 1, 3) { TokenTypeIds = [0, type, 0] };
        var e = Assert.ThrowsExactly<ArgumentException>(() => model.Forward(batch).Dispose());
        Assert.AreEqual(message, e.Message);
    }

    /// <summary>
    /// The MLM answer at each [MASK] of the golden inputs, scored as for every masked LM (restricted, eval-py,
    /// unrestricted), equals what the transformers logits give: log-softmax of the choice ids, P("X") + P(" X"), and the
    /// full-vocabulary argmax.
    /// </summary>
    [TestMethod]
    [DataRow("bert-tiny", 103)]
    [DataRow("electra-generator-tiny", 103)]
    [DataRow("eurobert-tiny", 746)]
    public void TheAnswerAtTheMaskIsReadAsForEveryMaskedLm(string fixture, int maskId)
    {
        using var golden = new SafetensorsFile(Golden(fixture));
        var ids = golden.ReadAsInt32("input_ids");
        var mask = golden.ReadAsInt32("attention_mask");
        var shape = golden.Get("logits").Shape;
        int length = (int)shape[1], vocab = (int)shape[2];
        var logits = new float[golden.Get("logits").ElementCount];
        golden.ReadAsFloat32("logits", logits);

        using var backend = new CpuBackend(2);
        using var model = ModelLoader.Load(SharedFixtures.Model(fixture), backend);
        Assert.AreEqual(ModelKind.Masked, model.Kind);
        var kind = ModelKinds.Of(model);
        var scorer = kind.CreateScorer(model, null, model.Config.PadTokenId ?? 0);
        CollectionAssert.AreEqual(new[] { ScoringMode.Restricted, ScoringMode.EvalPy, ScoringMode.Unrestricted }, scorer.Modes.ToArray());

        var prompts = new List<MaskedPrompt>();
        var expectedRows = new List<double[]>();
        for (int b = 0; b < shape[0]; b++)
            for (int i = 0; i < length; i++)
            {
                if (ids[b * length + i] != maskId || mask[b * length + i] == 0) continue;
                var row = logits.AsSpan((b * length + i) * vocab, vocab).ToArray();
                double max = row.Max(), logSum = max + Math.Log(row.Sum(x => Math.Exp(x - max)));
                expectedRows.Add(row.Select(x => x - logSum).ToArray());
                int best = Array.IndexOf(row, row.Max());
                int[] choices = [best, (best + 1) % vocab, (best + 7) % vocab];
                int real = mask.Skip(b * length).Take(length).Sum();
                prompts.Add(new MaskedPrompt(new Document(prompts.Count, new Dictionary<string, object?>(), "golden"), "", ["a", "b", "c"], 0,
                    ids[(b * length)..(b * length + real)], i, 1, choices.Select(c => new[] { c }).ToList(), [(best + 3) % vocab, -1, -1], false));
            }
        Assert.IsTrue(prompts.Count >= 2, $"{fixture}: only {prompts.Count} masks in the golden inputs");

        var restricted = scorer.Score(prompts, ScoringMode.Restricted);
        var evalPy = scorer.Score(prompts, ScoringMode.EvalPy);
        var unrestricted = scorer.Score(prompts, ScoringMode.Unrestricted);
        for (int p = 0; p < prompts.Count; p++)
        {
            var expected = expectedRows[p];
            var choices = prompts[p].ChoiceIds.Select(c => c[0]).ToArray();
            for (int c = 0; c < 3; c++)
                Assert.AreEqual(expected[choices[c]], restricted[p].Scores[c], 2e-3, $"{fixture} mask {p} restricted choice {c}");
            Assert.AreEqual(Math.Exp(expected[choices[0]]) + Math.Exp(expected[prompts[p].BareChoiceFirstIds[0]]), evalPy[p].Scores[0], 1e-4,
                $"{fixture} mask {p} eval-py");
            // The random tiny models have near-ties; the argmax is asserted where the golden's top two are apart.
            double runnerUp = expected.Where((_, id) => id != choices[0]).Max();
            if (expected[choices[0]] - runnerUp < 1e-3) continue;
            Assert.AreEqual(0, restricted[p].Prediction, $"{fixture} mask {p}: the golden's argmax is choice 0");
            Assert.AreEqual(0, unrestricted[p].Prediction, $"{fixture} mask {p}: the full-vocabulary argmax is choice 0");
        }
    }
    [TestMethod]
    public void AModelLoadsFromAHuggingFaceCacheSnapshotOfRelativeLinksIntoBlobs()
    {
        // The hub cache's layout: refs/main names the revision, snapshots/<rev>/<file> is a relative link ../../blobs/<sha256>.
        var cache = SharedFixtures.TempDirectory();
        var repo = Path.Combine(cache, "models--google-bert--bert-tiny");
        const string revision = "86b5e0934494bd15c9632b12f734a8a67f723594";
        var snapshot = Path.Combine(repo, "snapshots", revision);
        Directory.CreateDirectory(Path.Combine(repo, "blobs"));
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        Directory.CreateDirectory(snapshot);
        File.WriteAllText(Path.Combine(repo, "refs", "main"), revision);
        var tokenizer = FixtureVariants.WriteBertTokenizer(SharedFixtures.TempDirectory());
        string[] files = [Path.Combine(SharedFixtures.Model("bert-tiny"), "config.json"), Path.Combine(SharedFixtures.Model("bert-tiny"), "model.safetensors"),
            Path.Combine(tokenizer, "tokenizer.json"), Path.Combine(tokenizer, "tokenizer_config.json")];
        foreach (var file in files)
        {
            var hash = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file)));
            File.Copy(file, Path.Combine(repo, "blobs", hash));
            File.CreateSymbolicLink(Path.Combine(snapshot, Path.GetFileName(file)), Path.Combine("..", "..", "blobs", hash));
        }

        var folder = new HubModelStore(cache, "https://huggingface.co", offline: true, token: null, http: null).Resolve("google-bert/bert-tiny");
        Assert.AreEqual(snapshot, folder);
        GoldenParityTests.AssertMatchesGolden(Golden("bert-tiny"), Forward(folder, Golden("bert-tiny")), "bert-tiny from a hub cache snapshot");
        Assert.AreEqual(101, Tokenizer.Load(folder).Encode("yes").Ids[0]);
    }

    [TestMethod]
    public void ATokenizerWhoseMaskIsNotTheConfigsMaskTokenIdIsRefused()
    {
        // EuroBERT's config names mask_token_id 746; a BERT tokenizer's [MASK] is 103.
        var tokenizer = Tokenizer.Load(FixtureVariants.WriteBertTokenizer(SharedFixtures.TempDirectory()));
        using var backend = new CpuBackend(1);
        using var model = ModelLoader.Load(SharedFixtures.Model("eurobert-tiny"), backend);
        var e = Assert.ThrowsExactly<ArgumentException>(() => ModelKinds.Of(model).CreateScorer(model, tokenizer, 745));
        Assert.AreEqual($"{tokenizer.Path}: mask token '[MASK]' has id 103, but {model.Config.Path} says mask_token_id 746: the tokenizer is not this model's", e.Message);
        using var bert = ModelLoader.Load(SharedFixtures.Model("bert-tiny"), backend);
        Assert.IsNotNull(ModelKinds.Of(bert).CreateScorer(bert, tokenizer, 0), "BERT's config names no mask_token_id: the tokenizer's [MASK] is taken");
    }

    /// <summary>
    /// `eval` on bert-tiny with a bert-base-uncased-style tokenizer, the task's own templates, in each masked scoring mode:
    /// the prompts end at the tokenizer's [MASK], and MMLU's answer anchor is left out ([unused0] is in BERT's vocabulary
    /// but the model was not trained with it: it is no added token there, unlike ModernBERT-Instruct's).
    /// </summary>
    [TestMethod]
    [DataRow("restricted")]
    [DataRow("eval-py")]
    [DataRow("unrestricted")]
    public void EvalScoresBertAtItsMaskInEachMaskedScoringMode(string scoring)
    {
        var tokenizer = FixtureVariants.WriteBertTokenizer(SharedFixtures.TempDirectory());
        var output = SharedFixtures.TempDirectory();
        var (code, log) = ProgramProcess.Wait(ProgramProcess.Start(
            ["eval", "--model", SharedFixtures.Model("bert-tiny"), "--tokenizer", tokenizer, "--task", "xnli,mmlu", "--languages", "en,anatomy",
             "--limit", "4", "--scoring", scoring, "--data-dir", Path.Combine(SharedFixtures.Shared, "datasets"), "--offline", "--threads", "1",
             "--output", output],
            new Dictionary<string, string>
            {
                ["EVAL_PROMPTS"] = Path.Combine(SharedFixtures.ProjectRoot, "prompts"),
                ["EVAL_DATA_CACHE"] = Path.Combine(output, "data-cache"),
                ["HF_HUB_OFFLINE"] = "1",
            }));
        Assert.AreEqual(0, code, log);
        using var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "results.json")));
        var perTemplate = results.RootElement.GetProperty("results").EnumerateObject().Where(p => p.Name.Contains("::")).ToList();
        Assert.AreEqual(5 + 3, perTemplate.Count, "XNLI's 5 templates for en, MMLU's 3 for anatomy");
        Assert.IsTrue(perTemplate.All(r => r.Value.GetProperty("n").GetInt32() == 4));
        var mmlu = File.ReadLines(Path.Combine(output, "samples_mmlu.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .First(e => e.GetProperty("template").GetString() == "modernbert_instruct_eval_py");
        StringAssert.EndsWith(mmlu.GetProperty("prompt").GetString(), "Answer: [MASK]");
        var xnli = File.ReadLines(Path.Combine(output, "samples_xnli.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.IsTrue(xnli.All(e => e.GetProperty("prompt").GetString()!.Contains("[MASK]")));
        if (scoring == "unrestricted")
            Assert.IsTrue(xnli.All(e => e.GetProperty("prediction").GetInt32() >= -1));
        using var run = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "run.json")));
        Assert.AreEqual("BertForMaskedLM", run.RootElement.GetProperty("model").GetProperty("architecture").GetString());
    }
    [TestMethod]
    public void EuroBertsMaskTokenIsFoundByItsSpellingWithoutATokenizerConfig()
    {
        // A Llama-3-style tokenizer.json with EuroBERT's <|mask|> as an added token and no tokenizer_config.json beside it.
        var dir = SharedFixtures.TempDirectory();
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(SharedFixtures.Shared, "tokenizers", "smollm2", "tokenizer.json")))!.AsObject();
        var added = json["added_tokens"]!.AsArray();
        int id = json["model"]!["vocab"]!.AsObject().Count;
        added.Add(new System.Text.Json.Nodes.JsonObject
        {
            ["id"] = id, ["content"] = "<|mask|>", ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
        });
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json.ToJsonString());
        var tokenizer = Tokenizer.Load(dir);
        Assert.AreEqual("<|mask|>", tokenizer.Specials.Mask);
        CollectionAssert.Contains(tokenizer.Encode("The answer is <|mask|>.", addSpecialTokens: false).Ids.ToList(), id);
    }
}
