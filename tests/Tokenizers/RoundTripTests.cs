using System.Text;
using Eval.Tokenizers;

namespace Eval.Tests.Tokenizers;

/// <summary>decode(encode(text)) gives the text back, modulo what the normaliser changes.</summary>
[TestClass]
public sealed class RoundTripTests
{
    [TestMethod]
    [DataRow("modernbert", true)]
    [DataRow("smollm2", false)]
    [DataRow("llama2-phi3", false)]
    public void ByteLevelAndByteFallbackTokenizersAreLossless(string name, bool normalizesToNfc)
    {
        var tokenizer = Tokenizer.Load(TokenizerFixtureTests.TokenizerDirectory(name));
        int checkedLines = 0;
        foreach (var (text, _, _, _) in TokenizerFixtureTests.Lines(name).DistinctBy(l => l.Text))
        {
            // Literal special-token text is not round-trippable (lstrip/rstrip swallow the spaces beside it).
            if (tokenizer.AddedTokens.Any(a => a.Special && text.Contains(a.Content))) continue;
            // The NFC of the Rust library, which RustUnicodeNormalizationTests check against the library itself.
            var expected = normalizesToNfc ? new UnicodeNormalizer(NormalizationForm.FormC).Normalize(text) : text;
            var decoded = tokenizer.Decode(tokenizer.Encode(text, addSpecialTokens: false).Ids);
            Assert.AreEqual(expected, decoded, $"{name}: round trip of {System.Text.Json.JsonSerializer.Serialize(text)}");
            checkedLines++;
        }
        Assert.IsTrue(checkedLines > 400);
    }

    [TestMethod]
    [DataRow("unigram-t5-small")]
    [DataRow("unigram-t5-ru")]
    public void UnigramTokenizersKeepEveryNonSpaceCharacter(string name)
    {
        var tokenizer = Tokenizer.Load(TokenizerFixtureTests.TokenizerDirectory(name));
        int unk = ((UnigramModel)tokenizer.Model).UnknownId, checkedLines = 0;
        foreach (var (text, _, _, _) in TokenizerFixtureTests.Lines(name).DistinctBy(l => l.Text))
        {
            var ids = tokenizer.Encode(text, addSpecialTokens: false).Ids;
            if (ids.Contains(unk)) continue;
            string Squeeze(string s) => string.Concat(s.Where(c => !char.IsWhiteSpace(c)));
            var expected = Squeeze(tokenizer.Normalizer?.Normalize(text) ?? text);
            Assert.AreEqual(expected, Squeeze(tokenizer.Decode(ids)), $"{name}: round trip of {System.Text.Json.JsonSerializer.Serialize(text)}");
            checkedLines++;
        }
        Assert.IsTrue(checkedLines > 150, $"{name}: only {checkedLines} lines without unknown tokens");
    }

    [TestMethod]
    public void SpecialTokensComeFromTokenizerConfig()
    {
        var modernBert = Tokenizer.Load(TokenizerFixtureTests.TokenizerDirectory("modernbert"));
        Assert.AreEqual("[MASK]", modernBert.Specials.Mask);
        Assert.AreEqual("[unused0]", modernBert.Specials.Unused0);
        Assert.AreEqual("[PAD]", modernBert.Specials.Pad);
        Assert.AreEqual(50284, modernBert.TokenToId(modernBert.Specials.Mask!));
        var llama = Tokenizer.Load(TokenizerFixtureTests.TokenizerDirectory("llama2-phi3"));
        Assert.AreEqual("<s>", llama.Specials.Bos);
    }

    [TestMethod]
    public void EncodingIsSafeInParallel()
    {
        var tokenizer = Tokenizer.Load(TokenizerFixtureTests.TokenizerDirectory("modernbert"));
        var lines = TokenizerFixtureTests.Lines("modernbert").ToArray();
        Parallel.For(0, lines.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var e = tokenizer.Encode(lines[i].Text, lines[i].AddSpecial);
            CollectionAssert.AreEqual(lines[i].Ids, e.Ids.ToArray(), $"line {i + 1} differs under parallel use");
        });
    }
}
