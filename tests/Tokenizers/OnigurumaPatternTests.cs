using System.Diagnostics;
using Eval.Tokenizers;

namespace Eval.Tests.Tokenizers;

/// <summary>
/// The Oniguruma engine alone: matches as onig's find_iter gives them (checked against the Rust library in
/// <see cref="ComponentCrossCheckTests"/>), syntax errors that name the construct and its offset, and the
/// backtracking budget that turns catastrophic backtracking into an error.
/// </summary>
[TestClass]
public sealed class OnigurumaPatternTests
{
    private static string[] Matches(string pattern, string text)
    {
        var matches = new List<(int Start, int End)>();
        OnigurumaPattern.Compile(pattern).FindAll(text, matches);
        return matches.Select(m => text[m.Start..m.End]).ToArray();
    }

    [TestMethod]
    [DataRow(@"\p{L}+", "a𝐀𝐁 b", "a𝐀𝐁|b")]
    [DataRow(@"x*", "abxxc", "||xx|")]
    [DataRow(@"a{1,2}+", "aaaaa", "aaaaa")]
    [DataRow(@"a{,2}", "aaa", "aa|a")]
    [DataRow(@"[^(\s|[.,!?])]+", "ab(c) d,e", "ab|c|d|e")]
    [DataRow(@"(?i:'S)|\d+?", "'s'ſ12", "'s|'ſ|1|2")]
    [DataRow(@"\s+(?!\S)|\s+", "a   b", "  | ")]
    [DataRow(@"^a|b$", "a\na b\nb", "a|a|b|b")]
    [DataRow(@"(?<=a|bc)d", "ad bcd cd", "d|d")]
    [DataRow(@"(?<=a+)b|(?<!a\w*)c", "aab b c ac", "b|c")]
    [DataRow(@"\p{N}{1,3}", "12345", "123|45")]
    [DataRow(@"[a-z&&[^c]]+", "abcd", "ab|d")]
    [DataRow(@"(?m)a.b", "a\nb", "a\nb")]
    [DataRow(@"\w+", "²a¼", "²a¼")]
    [DataRow(@"[\w]+|[^\w]+", "²a¼", "²|a|¼")]
    [DataRow(@"(?i)\p{Ll}+|(?i)[\p{Ll}]+", "aAa", "a|Aa")]
    public void FindsWhatOnigurumaFinds(string pattern, string text, string expected) =>
        Assert.AreEqual(expected, string.Join("|", Matches(pattern, text)));

    [TestMethod]
    public void ReplaceKeepsEmptyMatchesAndLeavesEmptyTextAlone()
    {
        Assert.AreEqual("_a_b_c_", OnigurumaPattern.Compile("x*").Replace("abxxc", "_"));
        Assert.AreEqual("", OnigurumaPattern.Compile("x*").Replace("", "_"));
    }

    [TestMethod]
    [DataRow("a(b", "'(' without its ')'", 1)]
    [DataRow("ab)", "unmatched ')'", 2)]
    [DataRow("[ab", "'[' without its ']'", 0)]
    [DataRow(@"a\1", "backreferences", 1)]
    [DataRow(@"\p{Klingon}", "\\p{Klingon} is not supported", 0)]
    [DataRow("*a", "quantifier without a target", 0)]
    [DataRow(@"(?x) a", "option 'x'", 2)]
    [DataRow(@"[[:alpha:]]", "POSIX bracket", 1)]
    [DataRow(@"\R", "escape '\\R' is not supported", 0)]
    [DataRow(@"[z-a]", "empty range", 1)]
    [DataRow(@"(?i)aße", "U+00DF", 5)]
    [DataRow(@"(?i:'ss)", "sequence that Oniguruma also matches as one code point", 6)]
    public void UnsupportedOrInvalidSyntaxIsANamedError(string pattern, string what, int offset)
    {
        var error = Assert.ThrowsExactly<TokenizerFormatException>(() => OnigurumaPattern.Compile(pattern));
        StringAssert.Contains(error.Message, $"regex '{pattern}'");
        StringAssert.Contains(error.Message, what);
        if (offset >= 0) StringAssert.Contains(error.Message, $"at offset {offset}");
    }

    [TestMethod]
    public void CatastrophicBacktrackingIsAnErrorNotAHang()
    {
        var pattern = OnigurumaPattern.Compile("(a*)*b");
        var clock = Stopwatch.StartNew();
        var error = Assert.ThrowsExactly<RegexBacktrackingLimitException>(() => pattern.FindAll(new string('a', 5000), []));
        StringAssert.Contains(error.Message, "(a*)*b");
        Assert.IsTrue(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
        CollectionAssert.AreEqual(new[] { "aaab" }, Matches("(a*)*b", "aaab"));
    }

    [TestMethod]
    public void SplitFromTokenizerJsonUsesTheEngine()
    {
        var error = Assert.ThrowsExactly<TokenizerFormatException>(() => OnigurumaPattern.Compile(@"\k<x>"));
        StringAssert.Contains(error.Message, "\\k");
        var split = new RegexSplitPreTokenizer(OnigurumaPattern.Compile(@"\s+"), SplitBehavior.MergedWithPrevious, invert: false);
        CollectionAssert.AreEqual(new[] { "a ", "b  ", "c" }, split.Split("a b  c", 0).ToArray());
    }
}
