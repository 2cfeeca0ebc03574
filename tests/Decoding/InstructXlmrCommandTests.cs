using System.Text.Json.Nodes;
using Eval.Engine.IO;

namespace Eval.Tests.Decoding;

/// <summary>
/// An Instruct-XLMR training folder (checkpoint_last.pt + dict.txt, no config.json) through the commands users run:
/// `generate` takes the target length from the checkpoint's length head, `forward` writes its length logits, and a
/// tokenizer whose ids disagree with dict.txt is refused.
/// </summary>
[TestClass]
public sealed class InstructXlmrCommandTests
{
    private static string Fixture => Path.Combine(SharedFixtures.Shared, "fixtures", "checkpoints", "xlmr-tiny-instruct");

    /// <summary>
    /// A tokenizer.json over dict.txt's symbols in fairseq's id order (&lt;s&gt; &lt;pad&gt; &lt;/s&gt; &lt;unk&gt;, the file's
    /// lines, &lt;mask&gt;), Metaspace-split like XLM-R's SentencePiece, with RoBERTa's &lt;s&gt; … &lt;/s&gt;.
    /// </summary>
    private static string TokenizerFolder(Func<string[], string[]>? reorder = null)
    {
        var symbols = File.ReadLines(Path.Combine(Fixture, "dict.txt")).Select(l => l.Split(' ')[0]).ToArray();
        string[] vocab = ["<s>", "<pad>", "</s>", "<unk>", .. symbols, "<mask>"];
        if (reorder is not null) vocab = reorder(vocab);
        var special = new[] { "<s>", "<pad>", "</s>", "<unk>", "<mask>" };
        JsonObject Metaspace() => new() { ["type"] = "Metaspace", ["replacement"] = "\u2581", ["prepend_scheme"] = "always", ["split"] = true };
        return Models.SmallTokenizers.XlmrShaped(vocab.Select((v, i) => (v, special.Contains(v) ? 0.0 : -1.0 - i * 1e-3)).ToList(), null, Metaspace(), Metaspace());
    }

    /// <summary>The golden's first input as text: its ids between &lt;s&gt; and &lt;/s&gt; as dict.txt's symbols.</summary>
    private static (string Text, int[] Ids, int LengthArgmax) GoldenPrompt()
    {
        using var golden = new SafetensorsFile(Path.Combine(Fixture, "golden.safetensors"));
        int length = (int)golden.Get("input_ids").Shape[1];
        var ids = golden.ReadAsInt32("input_ids")[..length];
        var mask = golden.ReadAsInt32("attention_mask")[..length];
        ids = ids.Where((_, i) => mask[i] != 0).ToArray();
        var symbols = File.ReadLines(Path.Combine(Fixture, "dict.txt")).Select(l => l.Split(' ')[0]).ToArray();
        Assert.AreEqual(0, ids[0], "the golden prompt starts with <s>");
        Assert.AreEqual(2, ids[^1], "the golden prompt ends with </s>");
        var text = string.Concat(ids[1..^1].Select(id => symbols[id - 4])).Replace('\u2581', ' ').Trim();
        return (text, ids, golden.ReadAsInt32("length_argmax")[0]);
    }

    [TestMethod]
    public void GenerateTakesTheTargetLengthFromTheLengthHead()
    {
        var tokenizer = TokenizerFolder();
        var (text, ids, lengthArgmax) = GoldenPrompt();
        // The test's own premise: this tokenizer gives the golden's ids back for the golden's text.
        var ours = Eval.Tokenizers.Tokenizer.Load(tokenizer).Encode(text, addSpecialTokens: true).Ids.ToArray();
        CollectionAssert.AreEqual(ids, ours, "the test tokenizer reproduces the golden prompt's ids");

        var (code, output) = ProgramProcess.Wait(ProgramProcess.Start(
            ["generate", "--model", Fixture, "--tokenizer", tokenizer, "--prompt", text, "--iterations", "2", "--device", "cpu", "--offline"]),
            TimeSpan.FromSeconds(180));
        Assert.AreEqual(0, code, output);
        // The head's argmax counts the target's <s> and </s>.
        StringAssert.Contains(output, $"Mask-Predict (SourceTarget): {lengthArgmax - 2} tokens, 2 iterations", output);
    }

    [TestMethod]
    public void ATokenizerWhoseIdsDisagreeWithDictTxtIsRefused()
    {
        // Swap two of the file's symbols: the same vocabulary, other ids.
        var tokenizer = TokenizerFolder(v => { var c = (string[])v.Clone(); (c[10], c[11]) = (c[11], c[10]); return c; });
        var (code, output) = ProgramProcess.Wait(ProgramProcess.Start(
            ["generate", "--model", Fixture, "--tokenizer", tokenizer, "--prompt", "w4 w5", "--device", "cpu", "--offline"]),
            TimeSpan.FromSeconds(120));
        Assert.AreEqual(1, code, output);
        StringAssert.Contains(output, "dict.txt", output);
    }

    [TestMethod]
    public void ForwardWithTheHeadsGivenOnTheCommandLineMatchesTheGolden()
    {
        // --heads agrees with the checkpoint's args here, so the outputs must still be the golden's; a wrong count
        // changes the attention and is caught by the golden comparison of FairseqCheckpointTests.
        var output = Path.Combine(SharedFixtures.TempDirectory(), "out.safetensors");
        var (code, log) = ProgramProcess.Wait(ProgramProcess.Start(
            ["forward", "--model", Fixture, "--input", Path.Combine(Fixture, "golden.safetensors"), "--output", output, "--device", "cpu", "--heads", "4"]),
            TimeSpan.FromSeconds(120));
        Assert.AreEqual(0, code, log);
        using var golden = new SafetensorsFile(Path.Combine(Fixture, "golden.safetensors"));
        using var ours = new SafetensorsFile(output);
        CollectionAssert.AreEqual(golden.ReadAsInt32("length_argmax"), ours.ReadAsInt32("length_argmax"));
        var (wrong, message) = ProgramProcess.Wait(ProgramProcess.Start(
            ["forward", "--model", Fixture, "--input", Path.Combine(Fixture, "golden.safetensors"), "--output", output, "--device", "cpu", "--heads", "0"]),
            TimeSpan.FromSeconds(120));
        Assert.AreEqual(1, wrong, message);
        StringAssert.Contains(message, "--heads must be at least 1");
    }
}
