using System.Text;
using Eval.Engine.IO;
using Eval.Harness.Tasks;
using Eval.Tests.Tokenizers;
using Eval.Tokenizers;

namespace Eval.Tests.Properties;

/// <summary>The concrete inputs with which the property tests of this folder found bugs, kept as plain regression tests.</summary>
[TestClass]
public sealed class PropertyFindingsTests
{
    private static string WriteSafetensors(string header, int dataBytes = 0)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BitConverter.GetBytes((ulong)json.Length).CopyTo(bytes, 0);
        json.CopyTo(bytes, 8);
        var path = Path.Combine(SharedFixtures.TempDirectory(), "model.safetensors");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] WithRawHeaderBytes(byte[] header)
    {
        var bytes = new byte[8 + header.Length];
        BitConverter.GetBytes((ulong)header.Length).CopyTo(bytes, 0);
        header.CopyTo(bytes, 8);
        return bytes;
    }

    [TestMethod]
    [DataRow("""{"\ud800":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}""", "not valid Unicode", DisplayName = "lone surrogate escape in a name (was InvalidOperationException)")]
    [DataRow("""{"a":{"dtype":"5","shape":[],"data_offsets":[0,2]}}""", "unsupported dtype '5'", DisplayName = "numeric dtype (was read as I16)")]
    [DataRow("""{"a":{"dtype":"F32, I8","shape":[],"data_offsets":[0,4]}}""", "unsupported dtype", DisplayName = "dtype list (was read as F16)")]
    [DataRow("""{"a":{"dtype":"U8","shape":[4611686018427387904,4],"data_offsets":[0,0]}}""", "more bytes than a file can hold", DisplayName = "element count overflowing to 0 bytes (was accepted)")]
    [DataRow("""{"a":{"dtype":"U8","shape":[1],"data_offsets":["0",1]}}""", "data_offsets must be", DisplayName = "string offset (was InvalidOperationException)")]
    public void MalformedSafetensorsHeaderIsACheckpointFormatException(string header, string message)
    {
        var path = WriteSafetensors(header, dataBytes: 4);
        var e = Assert.ThrowsException<CheckpointFormatException>(() => new SafetensorsFile(path).Dispose());
        StringAssert.Contains(e.Message, message);
    }

    [TestMethod]
    public void SafetensorsHeaderWithInvalidUtf8IsACheckpointFormatException()
    {
        var path = Path.Combine(SharedFixtures.TempDirectory(), "model.safetensors");
        File.WriteAllBytes(path, WithRawHeaderBytes([.. "{\"a"u8, 0xFF, .. "\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}"u8]));
        var e = Assert.ThrowsException<CheckpointFormatException>(() => new SafetensorsFile(path).Dispose());
        StringAssert.Contains(e.Message, "UTF-8");
    }

    [TestMethod]
    public void EmptyTensorWithADimensionPastInt32ReadsAsACheckpointFormatException()
    {
        // Valid safetensors (0 elements), but no Tensor can have the dimension: was an OverflowException.
        var path = WriteSafetensors("""{"a":{"dtype":"F32","shape":[0,4611686018427387904],"data_offsets":[0,0]}}""");
        using var file = new SafetensorsFile(path);
        var e = Assert.ThrowsException<CheckpointFormatException>(() => file.ReadTensor("a"));
        StringAssert.Contains(e.Message, "dimension");
    }

    private static TaskDefinition Task(string name) =>
        TaskRegistry.Load(Path.Combine(SharedFixtures.ProjectRoot, "prompts")).Get(name);

    [TestMethod]
    public void PipesInsideAValueAreNotTemplateSeparators()
    {
        // Was "renders 2 '|||' separators; a template has at most one".
        var xnli = Task("xnli").Template("GPT-3 style");
        var rendered = xnli.Render(new Dictionary<string, object?> { ["premise"] = "", ["hypothesis"] = "|||", ["label"] = 1L });
        Assert.AreEqual("Question: ||| True, False, or Neither?", rendered.Input);
        Assert.AreEqual("Neither", rendered.Target);

        // Was split after "g5": the value's "||" and the template's "|||" made "|||||".
        var winograd = Task("xwinograd").Template("True or False");
        rendered = winograd.Render(new Dictionary<string, object?> { ["sentence"] = "g5||", ["option1"] = "a", ["option2"] = "b|", ["answer"] = "1" });
        Assert.AreEqual("The _ in the sentence below refers to a. True or False?\ng5||", rendered.Input);
        Assert.AreEqual("True", rendered.Target);
        CollectionAssert.AreEqual(new[] { "True", "False" }, rendered.Choices.ToList());

        // A choice printed by the main template keeps its pipes too (xcopa prints answer_choices before its "|||").
        var xcopa = Task("xcopa").Template("C1 or C2? premise, so/because…");
        rendered = xcopa.Render(new Dictionary<string, object?>
        {
            ["premise"] = "p", ["choice1"] = "x|||y", ["choice2"] = "\uFDD0|", ["question"] = "cause", ["label"] = 0L,
        });
        Assert.AreEqual("\"x|||y\" or \"\uFDD0|\"? p  because", rendered.Input);
        Assert.AreEqual("x|||y", rendered.Target);
    }

    [TestMethod]
    public void OffsetsStepOverACharacterTheByteLevelModelDrops()
    {
        // smollm2's vocabulary has no token for byte 0x06, so BPE drops U+0006; the '\r' after it was given [1, 1).
        var tokenizer = Tokenizer.Load(TokenizerFixtureTests.TokenizerDirectory("smollm2"));
        var tokens = new TokenOffsetAligner(tokenizer).Encode("a\u0006\r", addSpecialTokens: false);
        Assert.AreEqual("a\r", tokenizer.Decode(tokens.Select(t => t.Id)));
        CollectionAssert.AreEqual(new[] { (0, 1), (2, 3) }, tokens.Select(t => (t.Start, t.End)).ToArray());

        // BPE merges the symbols either side of the dropped U+0013 into "@@"; its span is the whole "@\u0013@". (The
        // Rust library reports [0, 2) here: its word offsets count only the bytes kept, so its span misses the second '@'.)
        tokens = new TokenOffsetAligner(tokenizer).Encode("@\u0013@", addSpecialTokens: false);
        CollectionAssert.AreEqual(new[] { "@@" }, tokens.Select(t => t.Text).ToArray());
        CollectionAssert.AreEqual(new[] { (0, 3) }, tokens.Select(t => (t.Start, t.End)).ToArray());

        // A dropped byte before a token that starts with a space: the space was given the dropped U+0016's [0, 1).
        tokens = new TokenOffsetAligner(tokenizer).Encode("\u0016 ]", addSpecialTokens: false);
        Assert.AreEqual(1, tokens[0].Start);
        Assert.AreEqual(3, tokens[^1].End);
    }
}
