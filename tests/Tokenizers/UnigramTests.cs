using System.Text.Json;
using Eval.Tokenizers;

namespace Eval.Tests.Tokenizers;

/// <summary>Small Unigram tokenizers built here, with Viterbi segmentations worked out by hand.</summary>
[TestClass]
public sealed class UnigramTests
{
    // Scores: ▁ -2, a -3, b -3, ab -4, ▁ab -4.5, c -5, abc -6, ▁a -3.5; min -6 so the unknown scores -16.
    private static readonly object[][] Vocab =
        [["<unk>", 0.0], ["▁", -2.0], ["a", -3.0], ["b", -3.0], ["ab", -4.0], ["▁ab", -4.5], ["c", -5.0], ["abc", -6.0], ["▁a", -3.5]];

    private static Tokenizer Build(object? normalizer)
    {
        var json = new Dictionary<string, object?>
        {
            ["added_tokens"] = new[] { new { id = 0, content = "<unk>", special = true, single_word = false, lstrip = false, rstrip = false, normalized = false } },
            ["normalizer"] = normalizer,
            ["pre_tokenizer"] = new { type = "Metaspace", replacement = "▁", prepend_scheme = "always", split = true },
            ["post_processor"] = null,
            ["decoder"] = new { type = "Metaspace", replacement = "▁", prepend_scheme = "always" },
            ["model"] = new { type = "Unigram", unk_id = 0, vocab = Vocab },
        };
        var dir = SharedFixtures.TempDirectory();
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), JsonSerializer.Serialize(json));
        return Tokenizer.Load(dir);
    }

    [TestMethod]
    [DataRow("ab", "▁ab", "5")]                 // ▁ab -4.5 beats ▁+ab -6, ▁a+b -6.5, ▁+a+b -8
    [DataRow("abc", "▁ abc", "1 7")]            // ▁+abc -8 beats ▁ab+c -9.5, ▁+ab+c -11, ▁a+b+c -11.5
    [DataRow("abd", "▁ab d", "5 0")]            // d is unknown (-16): ▁ab+d -20.5 beats ▁+ab+d -22
    [DataRow("dd", "▁ dd", "1 0")]              // two unknowns fuse into one
    [DataRow("a b", "▁a ▁ b", "8 1 3")]         // per word: ▁a -3.5; ▁+b -5
    public void ViterbiWithoutCharsmap(string text, string tokens, string ids)
    {
        var e = Build(null).Encode(text, addSpecialTokens: false);
        Assert.AreEqual(tokens, string.Join(" ", e.Tokens));
        Assert.AreEqual(ids, string.Join(" ", e.Ids));
    }

    [TestMethod]
    [DataRow("\uFF41\uFF42", "▁ab", "5")]        // full-width letters fold to ASCII (NFKC in the charsmap)
    [DataRow("a\u00A0b", "▁a ▁ b", "8 1 3")]     // no-break space becomes a space
    [DataRow("ab\u0001c", "▁ abc", "1 7")]       // control characters are removed
    public void ViterbiWithPrecompiledCharsmap(string text, string tokens, string ids)
    {
        using var t5 = JsonDocument.Parse(File.ReadAllText(Path.Combine(TokenizerFixtureTests.TokenizerDirectory("unigram-t5-small"), "tokenizer.json")));
        var charsmap = t5.RootElement.GetProperty("normalizer").GetProperty("precompiled_charsmap").GetString();
        var e = Build(new { type = "Precompiled", precompiled_charsmap = charsmap }).Encode(text, addSpecialTokens: false);
        Assert.AreEqual(tokens, string.Join(" ", e.Tokens));
        Assert.AreEqual(ids, string.Join(" ", e.Ids));
    }

    [TestMethod]
    public void UnsupportedComponentIsNamed()
    {
        var dir = SharedFixtures.TempDirectory();
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"),
            """{"added_tokens":[],"normalizer":{"type":"Fancy"},"model":{"type":"Unigram","unk_id":0,"vocab":[["<unk>",0]]}}""");
        var e = Assert.ThrowsException<TokenizerFormatException>(() => Tokenizer.Load(dir));
        StringAssert.Contains(e.Message, "normalizer");
        StringAssert.Contains(e.Message, "'Fancy'");
    }

    /// <summary>
    /// Unigram scores with exponents past 32 bits (a fuzz finding: OverflowException): as serde_json reads them, a tiny
    /// value is 0, a zero significand is 0 whatever its exponent, a huge value is an error; ordinary ones are unchanged.
    /// </summary>
    [TestMethod]
    [DataRow("1e-99999999999", 0.0)]
    [DataRow("-1e-99999999999", -0.0)]
    [DataRow("0e99999999999", 0.0)]
    [DataRow("-2.5e-3", -0.0025)]
    [DataRow("12.5E+2", 1250.0)]
    public void ScoresWithHugeExponentsReadAsSerdeJsonReadsThem(string text, double expected) =>
        Assert.AreEqual(expected, RustJsonNumber.Parse(text));

    [TestMethod]
    [DataRow("1e99999999999")]
    [DataRow("-3e400")]
    public void ScoresOutOfRangeAreAFormatError(string text) =>
        Assert.ThrowsExactly<FormatException>(() => RustJsonNumber.Parse(text));
}
