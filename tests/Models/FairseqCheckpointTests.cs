using System.Text.Json;
using Eval.Cli;
using Eval.Engine.Cpu;
using Eval.Engine.IO;
using Eval.Models;
using Eval.Tokenizers;

namespace Eval.Tests.Models;

/// <summary>
/// fairseq folders (stock RoBERTa/XLM-R model.pt, Instruct-XLMR checkpoint_last.pt; post-LN and pre-LN) through
/// `forward` against their goldens, the length head included, and the dict.txt check against an HF tokenizer.
/// </summary>
[TestClass]
public sealed class FairseqCheckpointTests
{
    [TestMethod]
    [DataRow("xlmr-tiny-fairseq", "XLMRobertaForMaskedLM")]
    [DataRow("xlmr-xl-tiny-fairseq", "XLMRobertaXLForMaskedLM")]
    [DataRow("xlmr-tiny-instruct", "XLMRobertaForMaskedLM")]
    [DataRow("xlmr-xl-tiny-instruct", "XLMRobertaXLForMaskedLM")]
    public void FairseqCheckpointMatchesGolden(string fixture, string architecture)
    {
        var dir = SharedFixtures.Checkpoint(fixture);
        var outputPath = Path.Combine(SharedFixtures.TempDirectory(), "out.safetensors");
        using (var backend = new CpuBackend(2))
        using (var model = ModelLoader.Load(dir, backend))
        {
            Assert.AreEqual(architecture, ModelLoader.ResolveArchitecture(model.Config));
            Assert.AreEqual(fixture.EndsWith("instruct"), ((ISourceTargetModel)model).HasLengthHead);
            ForwardDump.Run(model, Path.Combine(dir, "golden.safetensors"), outputPath);
        }
        GoldenParityTests.AssertMatchesGolden(Path.Combine(dir, "golden.safetensors"), outputPath, fixture);
        using var golden = new SafetensorsFile(Path.Combine(dir, "golden.safetensors"));
        Assert.AreEqual(fixture.EndsWith("instruct"), golden.Entries.ContainsKey("length_logits"), "the golden's length head was compared");
    }

    [TestMethod]
    public void ConfigComesFromArgsAndOverridesWin()
    {
        var path = Path.Combine(SharedFixtures.Checkpoint("xlmr-xl-tiny-instruct"), "checkpoint_last.pt");
        using (var fairseq = FairseqCheckpoint.Open(path))
        {
            Assert.AreEqual("Instruct-XLMR", fairseq.Layout);
            Assert.AreEqual((1000, 64, 128, 3, 4, 514), (fairseq.Config.VocabSize, fairseq.Config.HiddenSize, fairseq.Config.IntermediateSize,
                fairseq.Config.NumHiddenLayers, fairseq.Config.NumAttentionHeads, fairseq.Config.MaxPositionEmbeddings));
            StringAssert.Contains(fairseq.Config.Path, path);
        }
        using (var overridden = FairseqCheckpoint.Open(path, new FairseqOverrides(Heads: 8)))
            Assert.AreEqual(8, overridden.Config.NumAttentionHeads);
    }

    [TestMethod]
    public void WhatCannotBeKnownIsNamed()
    {
        // The stock fixture's state dict re-saved without args: the heads are not in any shape.
        var source = Path.Combine(SharedFixtures.Checkpoint("xlmr-tiny-fairseq"), "model.pt");
        var dir = SharedFixtures.TempDirectory();
        using (var original = new TorchCheckpoint(source))
        {
            var entries = new List<(string, string, string, long, long, long[], long[])>();
            var storages = new List<(string, byte[])>();
            foreach (var name in original.TensorNames)
            {
                var info = original.Info(name);
                var values = new float[info.ElementCount];
                original.ReadAsFloat32(name, values);
                var key = storages.Count.ToString();
                long[] stride = info.Shape.Length == 2 ? [info.Shape[1], 1] : [1];
                entries.Add((name, "FloatStorage", key, values.Length, 0, info.Shape, stride));
                storages.Add((key, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray()));
            }
            Engine.TorchZipWriter.Write(Path.Combine(dir, "model.pt"), Engine.PickleBuilder.StateDict(entries), storages);
        }
        var e = Assert.ThrowsException<CheckpointFormatException>(() => ModelLoader.Load(dir, new CpuBackend(1)));
        StringAssert.Contains(e.Message, Path.Combine(dir, "model.pt"));
        StringAssert.Contains(e.Message, "the number of attention heads cannot be known");
        StringAssert.Contains(e.Message, "encoder_attention_heads");
        using var model = ModelLoader.Load(dir, new CpuBackend(1), new FairseqOverrides(Heads: 4));
        Assert.AreEqual("XLMRobertaForMaskedLM", ModelLoader.ResolveArchitecture(model.Config), "layernorm_embedding says post-LN");
    }

    [TestMethod]
    public void DictionaryMustMapToTheTokenizersIds()
    {
        var fixture = SharedFixtures.Checkpoint("xlmr-tiny-instruct");
        var dictionary = FairseqDictionary.Load(Path.Combine(fixture, FairseqDictionary.FileName));
        Assert.AreEqual(1000, dictionary.Symbols.Count);
        Assert.AreEqual("<mask>", dictionary.Symbols[999]);

        var consistent = WriteUnigramTokenizer(dictionary.Symbols);
        FairseqDictionary.VerifyFolder(fixture, consistent.TokenToId, consistent.Path);

        var swapped = dictionary.Symbols.ToArray();
        (swapped[10], swapped[11]) = (swapped[11], swapped[10]);
        var inconsistent = WriteUnigramTokenizer(swapped);
        var e = Assert.ThrowsException<InvalidDataException>(() => FairseqDictionary.VerifyFolder(fixture, inconsistent.TokenToId, inconsistent.Path));
        StringAssert.Contains(e.Message, $"symbol '{dictionary.Symbols[10]}' (line 7) has fairseq id 10 but id 11 in {inconsistent.Path}");

        var missingMask = WriteUnigramTokenizer(dictionary.Symbols.Take(999).ToArray());
        e = Assert.ThrowsException<InvalidDataException>(() => FairseqDictionary.VerifyFolder(fixture, missingMask.TokenToId, missingMask.Path));
        StringAssert.Contains(e.Message, "symbol '<mask>' (appended last) has fairseq id 999 but is not in");
    }

    /// <summary>`convert` of a fairseq folder: HF names, the derived config.json, the same outputs (length head included).</summary>
    [TestMethod]
    [DataRow("xlmr-xl-tiny-instruct")]
    [DataRow("xlmr-tiny-fairseq")]
    public void ConvertedFairseqFolderMatchesGolden(string fixture)
    {
        var dir = SharedFixtures.Checkpoint(fixture);
        var converted = Path.Combine(SharedFixtures.TempDirectory(), "converted");
        ModelFolderConverter.Convert(dir, converted);
        Assert.IsTrue(File.Exists(Path.Combine(converted, "config.json")));
        Assert.IsTrue(File.Exists(Path.Combine(converted, FairseqDictionary.FileName)), "dict.txt travels with the model");
        var outputPath = Path.Combine(SharedFixtures.TempDirectory(), "out.safetensors");
        using (var backend = new CpuBackend(2))
        using (var model = ModelLoader.Load(converted, backend))
            ForwardDump.Run(model, Path.Combine(dir, "golden.safetensors"), outputPath);
        GoldenParityTests.AssertMatchesGolden(Path.Combine(dir, "golden.safetensors"), outputPath, fixture + " converted");
    }

    /// <summary>Mask-Predict on an Instruct-XLMR folder without a given length takes it from the checkpoint's length head.</summary>
    [TestMethod]
    [DataRow("xlmr-tiny-instruct")]
    [DataRow("xlmr-xl-tiny-instruct")]
    public void MaskPredictTakesTheLengthFromTheHead(string fixture)
    {
        var dir = SharedFixtures.Checkpoint(fixture);
        using var golden = new SafetensorsFile(Path.Combine(dir, "golden.safetensors"));
        var ids = golden.ReadAsInt32("input_ids");
        var mask = golden.ReadAsInt32("attention_mask");
        int length = (int)golden.Get("input_ids").Shape[1];
        var source = ids.Take(length).Where((_, i) => mask[i] != 0).ToArray();
        using var backend = new CpuBackend(2);
        using var model = ModelLoader.Load(dir, backend);
        using var output = model.Forward(new TokenBatch(source, Enumerable.Repeat(1, source.Length).ToArray(), 1, source.Length));
        int predicted = ((ISourceTargetModel)model).PredictTargetLengths(output.LastHidden, new TokenBatch(source, Enumerable.Repeat(1, source.Length).ToArray(), 1, source.Length))![0];
        Assert.AreEqual(golden.ReadAsInt32("length_argmax")[0], predicted, "the head's argmax for the golden's first sequence");

        var decoded = new Eval.Harness.Decoding.MaskPredictDecoder(model, 999, 1, 0, 2)
            .Decode([new Eval.Harness.Decoding.MaskPredictInput(source, [])], 2, null, Eval.Harness.Decoding.MaskPredictLayout.SourceTarget)[0];
        Assert.AreEqual(Math.Max(predicted, 2) - 2, decoded.Tokens.Length, "the target takes the predicted length, less <s> and </s>");
    }

    private static Tokenizer WriteUnigramTokenizer(IReadOnlyList<string> pieces)
    {
        var dir = SharedFixtures.TempDirectory();
        var json = JsonSerializer.Serialize(new
        {
            model = new { type = "Unigram", unk_id = 3, vocab = pieces.Select(p => new object[] { p, -1.0 }).ToArray() },
        });
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json);
        return Tokenizer.Load(dir);
    }
}
