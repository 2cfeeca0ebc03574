using System.Buffers;
using Eval.Tokenizers;
using MlTokenizer = Microsoft.ML.Tokenizers.Tokenizer;

namespace Eval.Tests.Tokenizers;

/// <summary>
/// <see cref="MlTokenizersAdapter"/> used only through the Microsoft.ML.Tokenizers base class: ids equal to the fixture
/// goldens (Rust tokenizers), offsets equal to the Rust library's, counting, cutting by token count, decoding.
/// </summary>
[TestClass]
public sealed class MlTokenizersAdapterTests
{
    /// <summary>Texts whose Rust offsets (npm tokenizers 0.23.2, code points converted to UTF-16) are pinned below.</summary>
    private static readonly string[] OffsetTexts =
        ["Größe 😀 naïve café", "مرحبا بالعالم 1930!", "日本語の  テキスト🇫🇷", "  e\u0301 ﬁne\u3000end  "];

    private static MlTokenizer Load(string name, bool addSpecialTokens = true) =>
        MlTokenizersAdapter.Load(TokenizerFixtureTests.TokenizerDirectory(name), addSpecialTokens);

    [TestMethod]
    [DynamicData(nameof(TokenizerFixtureTests.TokenizerNames), typeof(TokenizerFixtureTests), DynamicDataSourceType.Method)]
    public void EveryFixtureLineIsIdExactThroughTheBaseClass(string name)
    {
        var withSpecials = Load(name, addSpecialTokens: true);
        var withoutSpecials = Load(name, addSpecialTokens: false);
        var failures = new List<string>();
        int lines = 0;
        foreach (var (text, addSpecial, ids, tokens) in TokenizerFixtureTests.Lines(name))
        {
            lines++;
            var tokenizer = addSpecial ? withSpecials : withoutSpecials;
            var encoded = tokenizer.EncodeToTokens(text, out var normalized);
            // These older files (made with the JS port, ids checked against Rust) give an lstrip/rstrip added token's bare
            // content, where Rust's token text — and ours — includes the whitespace it takes (TokenizerFixtureTests).
            var inner = ((MlTokenizersAdapter)tokenizer).Inner;
            bool tokensAgree = encoded.Count == tokens.Length && tokens.Select((t, i) =>
                t == encoded[i].Value || inner.AddedTokens.Any(a => a.Id == ids[i] && a.Content == t)).All(agree => agree);
            if (!tokenizer.EncodeToIds(text).SequenceEqual(ids) || tokenizer.CountTokens(text) != ids.Length
                || !encoded.Select(t => t.Id).SequenceEqual(ids) || !tokensAgree
                || normalized is not null || !WellFormed(encoded, text.Length))
                failures.Add($"line {lines} {text[..Math.Min(60, text.Length)]} special={addSpecial}");
        }
        Assert.IsTrue(lines > 800, $"{name}: only {lines} fixture lines");
        Assert.AreEqual(0, failures.Count, $"{name}: {failures.Count} of {lines} lines differ:\n{string.Join("\n", failures.Take(8))}");
    }

    [TestMethod]
    [DynamicData(nameof(TokenizerFixtureTests.TokenizerNames), typeof(TokenizerFixtureTests), DynamicDataSourceType.Method)]
    public void AdversarialLinesGiveTheWrappedTokenizersIdsWithWellFormedOffsets(string name)
    {
        var adapter = MlTokenizersAdapter.Load(TokenizerFixtureTests.TokenizerDirectory(name), addSpecialTokens: true);
        MlTokenizer tokenizer = adapter;
        foreach (var (text, _, _, _) in TokenizerFixtureTests.Lines(name + "-adversarial"))
        {
            var encoded = tokenizer.EncodeToTokens(text, out _);
            CollectionAssert.AreEqual(adapter.Inner.Encode(text).Ids.ToArray(), encoded.Select(t => t.Id).ToArray(), text);
            Assert.IsTrue(WellFormed(encoded, text.Length), $"offsets of {text}");
        }
    }

    [TestMethod]
    [DataRow("modernbert", 0, new[] { 50281, 3594, 2381, 44366, 49042, 211, 36060, 36241, 50282 }, "0,0 0,2 2,3 3,5 5,8 6,8 8,14 14,19 0,0")]
    [DataRow("modernbert", 1, new[] { 50281, 5843, 6900, 21931, 13621, 3142, 15677, 7427, 13793, 7427, 5843, 17437, 2, 50282 }, "0,0 0,1 1,2 2,3 3,4 4,5 5,7 7,9 9,10 10,12 12,13 13,18 18,19 0,0")]
    [DataRow("modernbert", 2, new[] { 50281, 49868, 19119, 241, 3917, 50276, 28656, 33548, 38206, 14931, 218, 106, 14931, 218, 117, 50282 }, "0,0 0,2 2,3 2,3 3,4 4,6 6,7 7,8 8,10 10,12 10,12 10,12 12,14 12,14 12,14 0,0")]
    [DataRow("modernbert", 3, new[] { 50281, 50276, 860, 16141, 107, 212, 570, 19409, 423, 50276, 50282 }, "0,0 0,2 2,3 4,6 5,6 5,6 6,8 8,9 9,12 12,14 0,0")]
    [DataRow("smollm2", 0, new[] { 27302, 7466, 34878, 85, 40303, 218, 15486, 46494, 37366 }, "0,2 2,3 3,4 4,5 5,8 6,8 8,11 11,14 14,19")]
    [DataRow("smollm2", 1, new[] { 21706, 20602, 44626, 31462, 10805, 45726, 22208, 34966, 22208, 21706, 216, 33, 41, 35, 32, 17 }, "0,1 1,2 2,3 3,4 4,5 5,7 7,9 9,10 10,12 12,13 13,14 14,15 15,16 16,17 17,18 18,19")]
    [DataRow("smollm2", 2, new[] { 23274, 115, 40993, 179, 120, 248, 26453, 216, 216, 11100, 224, 10391, 251, 10391, 134, 11100, 226, 10813, 225, 121, 10813, 225, 132 }, "0,1 0,1 1,2 2,3 2,3 2,3 3,4 4,5 5,6 6,7 6,7 7,8 7,8 8,9 8,9 9,10 9,10 10,12 10,12 10,12 12,14 12,14 12,14")]
    [DataRow("smollm2", 3, new[] { 216, 297, 151, 219, 40367, 662, 12109, 218, 486, 256 }, "0,1 1,3 3,4 3,4 4,6 6,8 8,9 8,9 9,12 12,14")]
    [DataRow("llama2-phi3", 0, new[] { 1, 1632, 29997, 5831, 29871, 243, 162, 155, 131, 1055, 30085, 345, 274, 28059 }, "0,0 0,2 2,3 3,5 5,6 6,8 6,8 6,8 6,8 8,11 11,12 12,14 14,16 16,19")]
    [DataRow("llama2-phi3", 1, new[] { 1, 29871, 30159, 30156, 30240, 30177, 30112, 29871, 30177, 19233, 30218, 19233, 30159, 29871, 29896, 29929, 29941, 29900, 29991 }, "0,0 0,1 0,1 1,2 2,3 3,4 4,5 5,6 6,7 7,9 9,10 10,12 12,13 13,14 14,15 15,16 16,17 17,18 18,19")]
    [DataRow("llama2-phi3", 2, new[] { 1, 29871, 30325, 30346, 30968, 30199, 259, 30572, 30454, 30255, 30279, 243, 162, 138, 174, 243, 162, 138, 186 }, "0,0 0,1 0,1 1,2 2,3 3,4 4,6 6,7 7,8 8,9 9,10 10,12 10,12 10,12 10,12 12,14 12,14 12,14 12,14")]
    [DataRow("llama2-phi3", 3, new[] { 1, 259, 321, 30103, 29871, 31017, 484, 30358, 355, 259 }, "0,0 0,1 1,3 3,4 4,5 5,6 6,8 8,9 9,12 12,14")]
    [DataRow("unigram-t5-small", 0, new[] { 12622, 3, 2, 3, 29, 9, 2, 162, 11949, 1 }, "0,5 6,8 6,8 9,10 9,10 10,11 11,12 12,14 15,19 0,0")]
    [DataRow("unigram-t5-small", 1, new[] { 3, 2, 3, 2, 15559, 55, 1 }, "0,1 0,5 6,7 6,13 14,18 18,19 0,0")]
    [DataRow("unigram-t5-small", 2, new[] { 3, 2, 3, 2, 1 }, "0,1 0,4 6,7 6,14 0,0")]
    [DataRow("unigram-t5-small", 3, new[] { 3, 154, 1399, 414, 1 }, "2,3 2,3 5,8 9,12 0,0")]
    [DataRow("unigram-t5-ru", 0, new[] { 12245, 0, 402, 8, 0, 13121, 0, 4326, 8, 4701, 828, 0, 2 }, "0,2 2,4 4,5 5,6 6,8 8,11 11,12 12,14 14,15 15,17 17,18 18,19 0,0")]
    [DataRow("unigram-t5-ru", 1, new[] { 8, 0, 8, 0, 14512, 40, 2 }, "0,1 0,5 5,6 6,13 13,18 18,19 0,0")]
    [DataRow("unigram-t5-ru", 2, new[] { 8, 0, 8, 0, 2 }, "0,1 0,4 5,6 6,14 0,0")]
    [DataRow("unigram-t5-ru", 3, new[] { 8, 0, 2367, 3853, 8, 7723, 8, 2 }, "1,2 2,3 4,6 5,8 8,9 9,12 13,14 0,0")]
    public void OffsetsAreTheRustLibrarys(string name, int text, int[] ids, string offsets)
    {
        var encoded = Load(name).EncodeToTokens(OffsetTexts[text], out _);
        CollectionAssert.AreEqual(ids, encoded.Select(t => t.Id).ToArray());
        var expected = offsets.Split(' ');
        var actual = encoded.Select(t => $"{t.Offset.Start.Value},{t.Offset.End.Value}").ToArray();
        CollectionAssert.AreEqual(expected, actual, $"{name} «{OffsetTexts[text]}»: {string.Join(" ", actual)}");
    }

    [TestMethod]
    public void CuttingByTokenCountNeverSplitsACharacter()
    {
        var tokenizer = Load("smollm2");
        const string text = "😀 abc";  // 😀 is three byte-level tokens, all with the span 0..2
        Assert.AreEqual(0, tokenizer.GetIndexByTokenCount(text, 2, out _, out int count));
        Assert.AreEqual(0, count);
        Assert.AreEqual(2, tokenizer.GetIndexByTokenCount(text, 3, out _, out count));
        Assert.AreEqual(3, count);
        Assert.AreEqual(text.Length, tokenizer.GetIndexByTokenCount(text, 100, out _, out count));
        Assert.AreEqual(tokenizer.CountTokens(text), count);
        Assert.AreEqual(2, tokenizer.GetIndexByTokenCountFromEnd(text, 1, out _, out count));
        Assert.AreEqual(1, count);
        var ids = tokenizer.EncodeToIds(text, 4, out _, out int consumed);
        Assert.AreEqual(4, ids.Count);
        Assert.AreEqual(text.Length, consumed);
        Assert.AreEqual(3, tokenizer.EncodeToIds(text, 3, out _, out consumed).Count);
        Assert.AreEqual(2, consumed);
        Assert.AreEqual(0, tokenizer.EncodeToIds(text, 2, out _, out consumed).Count);
        Assert.AreEqual(0, consumed);
    }

    [TestMethod]
    [DataRow("modernbert")]
    [DataRow("smollm2")]
    [DataRow("llama2-phi3")]
    public void DecodesWhatItEncodes(string name)
    {
        var tokenizer = Load(name, addSpecialTokens: false);
        const string text = "Größe 😀 naïve café, 日本語";
        var ids = tokenizer.EncodeToIds(text);
        Assert.AreEqual(text, tokenizer.Decode(ids));
        var buffer = new char[8];
        Assert.AreEqual(OperationStatus.DestinationTooSmall, tokenizer.Decode(ids, buffer, out int used, out int written));
        Assert.IsTrue(used > 0 && used < ids.Count && written <= buffer.Length);
        Assert.AreEqual(tokenizer.Decode(ids.Take(used)), new string(buffer, 0, written));
        var whole = new char[64];
        Assert.AreEqual(OperationStatus.Done, tokenizer.Decode(ids, whole, out used, out written));
        Assert.AreEqual(text, new string(whole, 0, written));
    }

    /// <summary>Every span inside the text; spans from text in order (starts never go back).</summary>
    private static bool WellFormed(IReadOnlyList<Microsoft.ML.Tokenizers.EncodedToken> tokens, int length)
    {
        int lastStart = 0;
        foreach (var t in tokens)
        {
            int start = t.Offset.Start.Value, end = t.Offset.End.Value;
            if (start < 0 || end > length || end < start) return false;
            if (end == start) continue;
            if (start < lastStart) return false;
            lastStart = start;
        }
        return true;
    }
}
