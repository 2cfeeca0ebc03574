using System.Diagnostics;
using System.Text.Json;
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
    [DataRow(@"((?=a))*b|(^)*a", "aab b ab", "a|a|b|b|a|b")]
    [DataRow(@"(?i)[\w&&[^b]]|(?i)[^[^b]]", "bBa", "b|B|a")]
    [DataRow(@"(?<=\d*+)1|(?<=a\b)c", "21 ac", "1")]
    [DataRow(@"\p{N}{1,3}", "12345", "123|45")]
    [DataRow(@"[a-z&&[^c]]+", "abcd", "ab|d")]
    [DataRow(@"(?m)a.b", "a\nb", "a\nb")]
    [DataRow(@"a(?i)b|c", "aB C c ac", "aB|ac")]
    [DataRow(@"\w+", "²a¼", "²a¼")]
    [DataRow(@"[\w]+|[^\w]+", "²a¼", "²|a|¼")]
    [DataRow(@"(?i)\p{Ll}+|(?i)[\p{Ll}]+", "aAa", "a|Aa")]
    public void FindsWhatOnigurumaFinds(string pattern, string text, string expected) =>
        Assert.AreEqual(expected, string.Join("|", Matches(pattern, text)));

    /// <summary>
    /// Random patterns from a grammar of what the engine supports (classes, escapes, groups, look-around, anchors,
    /// greedy, lazy and possessive quantifiers, (?i)) over random texts of letters, digits, spaces, newlines and
    /// code points beyond the BMP: the Replace output and the Isolated pieces equal the Rust library's (Oniguruma).
    /// </summary>
    [TestMethod]
    public void RandomPatternsMatchTheRustLibrary()
    {
        var random = new Random(20261129);
        string[] atoms =
        [
            "a", "b", " ", @"\s", @"\S", @"\w", @"\W", @"\d", @"\p{L}", @"\p{N}", @"\P{L}", @"[^a\s]", @"[ab\d]", ".", @"\n",
            @"[\w&&[^b]]", @"[^\p{L}\p{N}]", @"\h", @"\x{1D400}", "é", "_",
        ];
        string[] anchors = ["^", "$", @"\b", @"\B", @"\A", @"\z", @"\Z"];
        string[] quantifiers = ["", "", "", "?", "*", "+", "{1,2}", "{2}", "{0,}", "??", "*?", "+?", "?+", "*+", "++", "{1,3}?"];
        // Oniguruma refuses look-around and some anchors inside a look-behind, and repeats of groups that hold only a
        // look-around; inside those (plain) the grammar makes neither, nor possessive quantifiers (whose look-behind
        // results at the text's start are an Oniguruma quirk we do not reproduce).
        string Atom(int depth, bool plain)
        {
            var quantifier = quantifiers[random.Next(plain ? 12 : quantifiers.Length)];
            return random.Next(depth > 2 ? 1 : 10) switch
            {
                < 5 => atoms[random.Next(atoms.Length)] + quantifier,
                5 => "(?:" + Alternation(depth + 1, plain || quantifier != "") + ")" + quantifier,
                6 => "(" + Alternation(depth + 1, plain || quantifier != "") + ")" + quantifier,
                7 when !plain => random.Next(4) switch
                {
                    0 => "(?=" + Alternation(depth + 1, false) + ")",
                    1 => "(?!" + Alternation(depth + 1, false) + ")",
                    2 => "(?<=" + Alternation(depth + 1, true) + ")",
                    _ => "(?<!" + Alternation(depth + 1, true) + ")",
                },
                8 when !plain => anchors[random.Next(anchors.Length)],
                7 or 8 => @"\d",
                _ => "(?i:" + Alternation(depth + 1, plain) + ")",
            };
        }
        string Sequence(int depth, bool plain) => string.Concat(Enumerable.Range(0, 1 + random.Next(3)).Select(_ => Atom(depth, plain)));
        string Alternation(int depth, bool plain = false) =>
            string.Join("|", Enumerable.Range(0, 1 + random.Next(depth == 0 ? 3 : 2)).Select(_ => Sequence(depth, plain)));
        string[] pieces = ["a", "b", "A", "B", " ", "  ", "\n", "1", "²", "é", "𝐀", "_", "-", "\u3000", "ß"];
        string Text() => string.Concat(Enumerable.Range(0, random.Next(12)).Select(_ => pieces[random.Next(pieces.Length)]));

        var cases = Enumerable.Range(0, 400).Select(_ => (Pattern: Alternation(0), Texts: Enumerable.Range(0, 12).Select(_ => Text()).ToArray())).ToList();
        var rust = RustTokenizersOracle.RunRegexes(cases);
        var differences = new List<string>();
        int compared = 0, overBudget = 0;
        for (int i = 0; i < cases.Count && differences.Count < 10; i++)
        {
            var (pattern, texts) = cases[i];
            OnigurumaPattern ours;
            try { ours = OnigurumaPattern.Compile(pattern); }
            catch (TokenizerFormatException e)
            {
                if (rust[i].Error is null) differences.Add($"{pattern}: ours refuses it ({e.Message}), the Rust library compiles it");
                continue;
            }
            // Oniguruma refuses more than we do (some constructs inside look-behinds, repeats of groups that reduce to an
            // anchor): a tokenizer.json with such a pattern does not load in the Rust library, so those are not compared.
            if (rust[i].Error is not null) continue;
            var split = new RegexSplitPreTokenizer(ours, SplitBehavior.Isolated, invert: false);
            for (int t = 0; t < texts.Length; t++)
            {
                compared++;
                string replaced;
                string[] ourPieces;
                try
                {
                    replaced = ours.Replace(texts[t], "\u0001");
                    ourPieces = PreTokenizerPieces.Of(split, texts[t]);
                }
                catch (RegexBacktrackingLimitException)
                {
                    // Deeply nested repeats of repeats that can match empty: Oniguruma's optimizations finish them, our
                    // plain backtracking refuses past its budget (an error, never a different answer).
                    overBudget++;
                    break;
                }
                if (replaced == rust[i].Replaced[t] && ourPieces.SequenceEqual(rust[i].Pieces[t])) continue;
                differences.Add($"{pattern} on {JsonSerializer.Serialize(texts[t])}: replaced rust {JsonSerializer.Serialize(rust[i].Replaced[t])} " +
                                $"ours {JsonSerializer.Serialize(replaced)}; pieces rust {JsonSerializer.Serialize(rust[i].Pieces[t])} ours {JsonSerializer.Serialize(ourPieces)}");
                break;
            }
        }
        Assert.AreEqual(0, differences.Count, $"{differences.Count}+ patterns differ:\n{string.Join("\n", differences)}");
        Assert.IsTrue(compared > 3000, $"only {compared} texts compared");
        Assert.IsTrue(overBudget <= 4, $"{overBudget} patterns over the backtracking budget");
    }

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
    [DataRow(@"a(?=b)*", "target of repeat operator is invalid", 1)]
    [DataRow(@"(?<=a(?!b))c", "invalid pattern in look-behind", 0)]
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

    /// <summary>
    /// Nesting at the limit compiles and matches on a thread with a 1 MiB stack (less than .NET's default for new
    /// threads); one level more, and 20,000 levels (a fuzz finding: a stack overflow), are a named error.
    /// </summary>
    [TestMethod]
    [DataRow("(", ")", "aa")]
    [DataRow("(?=", ")a", "a")]
    [DataRow("[", "]", "a")]
    public void NestingIsBoundedNotAStackOverflow(string open, string close, string text)
    {
        string Nested(int depth) => string.Concat(Enumerable.Repeat(open, depth)) + "a" + string.Concat(Enumerable.Repeat(close, depth));
        string[]? atLimit = null;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try { atLimit = Matches(Nested(OnigurumaPattern.MaxNesting - 1), text); }
            catch (Exception e) { failure = e; }
        }, maxStackSize: 1 << 20);
        thread.Start();
        thread.Join();
        Assert.IsNull(failure, failure?.ToString());
        Assert.IsTrue(atLimit!.Length > 0 && atLimit.All(m => m.Contains('a')), string.Join("|", atLimit));
        foreach (int depth in new[] { OnigurumaPattern.MaxNesting + 1, 20_000 })
        {
            var error = Assert.ThrowsExactly<TokenizerFormatException>(() => OnigurumaPattern.Compile(Nested(depth)));
            StringAssert.Contains(error.Message, $"nested more than {OnigurumaPattern.MaxNesting} deep");
        }
    }

    [TestMethod]
    public void SplitFromTokenizerJsonUsesTheEngine()
    {
        var error = Assert.ThrowsExactly<TokenizerFormatException>(() => OnigurumaPattern.Compile(@"\k<x>"));
        StringAssert.Contains(error.Message, "\\k");
        var split = new RegexSplitPreTokenizer(OnigurumaPattern.Compile(@"\s+"), SplitBehavior.MergedWithPrevious, invert: false);
        CollectionAssert.AreEqual(new[] { "a ", "b  ", "c" }, PreTokenizerPieces.Of(split, "a b  c"));
    }
}
