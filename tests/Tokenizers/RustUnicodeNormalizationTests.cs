using System.Text;
using Eval.Tokenizers;

namespace Eval.Tests.Tokenizers;

/// <summary>
/// The NFC, NFD, NFKC and NFKD normalizers (<see cref="UnicodeNormalizer"/>, on the Rust library's normalization
/// data) against Hugging Face's Rust tokenizers themselves (npm <c>tokenizers</c>, a tokenizer.json with only the
/// normalizer): canonical reordering of marks of several classes, composition and its blocking, Hangul, characters
/// newer than the library's Unicode (where .NET's ICU differs), noncharacters, random mark sequences; and the
/// generated tables against a fresh run of their generator.
/// </summary>
[TestClass]
public sealed class RustUnicodeNormalizationTests
{
    private static readonly (string Name, NormalizationForm Form)[] Forms =
        [("NFC", NormalizationForm.FormC), ("NFD", NormalizationForm.FormD), ("NFKC", NormalizationForm.FormKC), ("NFKD", NormalizationForm.FormKD)];

    private static readonly string[] Crafted =
    [
        "", "plain ASCII text", "Café déjà vu", "e\u0301", "\u00E9", "a\u0301\u0323", "a\u0323\u0301", "e\u0302\u0301\u0327",
        "a\u0315\u0300\u05AE\u0301\u0316", "\u05D1\u05B0\u05B1\u0591\u05C1\u05BC", "x\u0345\u0301\u0334\u0308\u0327", // several classes reordered
        "a\u0301\u0301", "a\u0300\u0301", "a\u0310\u0301", "a\u0334\u0338\u0301", "a\u0323\u0302", "a\u05B0\u0301", "\u0301a", "\u0301\u0301e",               // blocking, leading marks
        "\u0B47\u0B3E", "\u0B47\u0334\u0B3E", "\u0B47\u0B3E\u0B57", "\u09C7\u09BE\u09D7", "\u0DD9\u0DCF\u0DCA",          // starters composing
        "\u1100\u1161", "\u1100\u1161\u11A8", "\uAC00\u11A8", "\uAC01\u11A8", "\u1100\u1161\u11A7", "\uAC00\u11A7",      // Hangul
        "\uD4DB", "\uD7A3", "한국어 텍스트", "\u1112\u1175\u11C2\u0301", "\u1100\u0301\u1161",
        "\u00F9\u0323", "\u00E0\u05B0\u0323\u0301", "\uFB01", "\u2474\u00BD\u2126\u212B\u1E9B\u0323", "\uFDFA", "\u3307", "\u0344\u0F73\u0F75\u0F81", "\u0958\u2ADC",  // compatibility, exclusions
        "\U0001D15E\U0001D160", "\U0001D1BB\U0001D1C0", "\u0F71\u0F72\u0F74", "\u3099\u304B\u3099\u30AB\u309A",
        "a\uFFFEb\u0301\uFFFE\u0301", "\uFFFF\u0301", "\U0010FFFF\u0301", "\U0001E000", "a\U0001E000\u0316", "\U0001E030", "\U00011935\U00011930",
        "\u32FF", "\u1DFA", "\uAB69", "\u0880\u0898", "\U0001F16C", "\u1AC0\u1AC1", "\uA7F2", "\U00010780", "\U00010F46", "\U0001E4EC",
    ];

    /// <summary>Characters newer than the library's Unicode, where .NET's ICU 72 (Unicode 15) normalizes differently.</summary>
    private static readonly (string Text, NormalizationForm Form)[] NewerThanTheLibrary =
    [
        ("\U00011935\U00011930", NormalizationForm.FormC),   // Dives Akuru U+11938 (Unicode 13) composes in ICU only
        ("\u32FF", NormalizationForm.FormKC),                // the Reiwa square (Unicode 12.1): ICU decomposes it to 令和
        ("\U0001E030", NormalizationForm.FormKD),            // Cyrillic modifier U+1E030 (Unicode 15): ICU decomposes it to U+0430
        ("a\u0301\u1DFA", NormalizationForm.FormD),          // U+1DFA (Unicode 14): class 218 in ICU
        ("\uAB69", NormalizationForm.FormKD),                // U+AB69 (Unicode 13) decomposes to U+028D in ICU
        ("\U0001F16C", NormalizationForm.FormKC),            // U+1F16C (Unicode 12) decomposes to "MR" in ICU
    ];

    [TestMethod]
    public void CraftedTextsNormalizeAsTheRustLibraryDoes()
    {
        foreach (var (name, form) in Forms) AssertMatchesTheRustLibrary(name, form, Crafted);
    }

    [TestMethod]
    public void CharactersNewerThanTheLibraryFollowTheLibraryNotIcu()
    {
        foreach (var (text, form) in NewerThanTheLibrary)
        {
            var rust = Rust(Forms.Single(f => f.Form == form).Name, [text])[0];
            Assert.AreNotEqual(Describe(rust), Describe(text.Normalize(form)), $"{form} of {Describe(text)}: ICU agrees with the library");
            Assert.AreEqual(Describe(rust), Describe(new UnicodeNormalizer(form).Normalize(text)), $"{form} of {Describe(text)}");
        }
    }

    /// <summary>Lone surrogates, which the library never sees (node hands it U+FFFD instead), pass through unchanged.</summary>
    [TestMethod]
    public void LoneSurrogatesPassThroughAsTheLibraryPassesUFffd()
    {
        string[] texts = ["a\uD800\u0301", "e\uDC00\u0301b", "\u0301\uDBFF", "\uD800\uD800e\u0301\uDFFF", "\u1100\uDC00\u1161"];
        foreach (var (name, form) in Forms)
        {
            var rust = Rust(name, texts.Select(t => string.Concat(t.Select(c => char.IsSurrogate(c) ? '\uFFFD' : c))).ToArray());
            for (int i = 0; i < texts.Length; i++)
            {
                var ours = new UnicodeNormalizer(form).Normalize(texts[i]);
                Assert.AreEqual(texts[i].Count(char.IsSurrogate), ours.Count(char.IsSurrogate), $"{name} of {Describe(texts[i])} lost a surrogate");
                var replaced = string.Concat(ours.Select(c => char.IsSurrogate(c) ? '\uFFFD' : c));
                Assert.AreEqual(Describe(rust[i]), Describe(replaced), $"{name} of {Describe(texts[i])}");
            }
        }
    }

    /// <summary>
    /// Random sequences (seeded) of starters and marks from the blocks where composition, reordering and
    /// compatibility mappings live, old and new: every form equals the library's.
    /// </summary>
    [TestMethod]
    public void RandomMarkSequencesNormalizeAsTheRustLibraryDoes()
    {
        (int First, int Last)[] blocks =
        [
            (0x41, 0x7A), (0xC0, 0x17F), (0x300, 0x36F), (0x391, 0x3C9), (0x591, 0x5C7), (0x610, 0x61A), (0x64B, 0x65F), (0x880, 0x8FF),
            (0x900, 0x97F), (0x9BC, 0x9D7), (0xB3C, 0xB57), (0xBBE, 0xBD7), (0xCBC, 0xCD6), (0xD3E, 0xD57), (0xDCA, 0xDDF), (0xE30, 0xE4E),
            (0xF71, 0xF84), (0x1025, 0x102E), (0x1100, 0x11FF), (0x1AB0, 0x1ACE), (0x1B05, 0x1B44), (0x1DC0, 0x1DFF), (0x1E00, 0x1EFF),
            (0x1F00, 0x1FFF), (0x20D0, 0x20F0), (0x2460, 0x24FF), (0x3099, 0x30FF), (0x32C0, 0x33FF), (0xA66F, 0xA67D), (0xA7F0, 0xA7FF),
            (0xAB5C, 0xAB6B), (0xAC00, 0xAC40), (0xFB00, 0xFB4F), (0xFF61, 0xFFDC), (0x110B9, 0x110BA), (0x11127, 0x11134),
            (0x1133B, 0x1134D), (0x114B0, 0x114C3), (0x115AF, 0x115C0), (0x11930, 0x11943), (0x1D15E, 0x1D1C0), (0x1D400, 0x1D420),
            (0x1E000, 0x1E02A), (0x1E4EC, 0x1E4EF), (0x1F100, 0x1F16F), (0x2F800, 0x2F840),
        ];
        var random = new Random(20261129);
        var texts = new List<string>();
        for (int i = 0; i < 4000; i++)
        {
            var builder = new StringBuilder();
            int length = random.Next(1, 12);
            for (int j = 0; j < length; j++)
            {
                var (first, last) = blocks[random.Next(blocks.Length)];
                builder.Append(char.ConvertFromUtf32(random.Next(first, last + 1)));
            }
            texts.Add(builder.ToString());
        }
        foreach (var (name, form) in Forms) AssertMatchesTheRustLibrary(name, form, texts);
    }

    /// <summary>A long run of marks of several classes, some alike, is put in order (the sort for long runs, stable) as the library does.</summary>
    [TestMethod]
    public void LongMarkRunsAreOrderedAsTheRustLibraryOrdersThem()
    {
        var marks = new StringBuilder("a");
        for (int i = 0; i < 300; i++) marks.Append("\u0301\u0316\u05B0\u0334\u0345\u0315\u0300\u0323\u0308"[i * 7 % 9]);
        string[] texts = [marks.ToString(), marks + "e\u0301" + marks, "\u0301" + marks];
        foreach (var (name, form) in Forms) AssertMatchesTheRustLibrary(name, form, texts);
    }

    /// <summary>The committed tables are what the generator makes of the library today (a change in either shows).</summary>
    [TestMethod]
    public void GeneratedTablesEqualAFreshRunOfTheGenerator()
    {
        var folder = SharedFixtures.TempDirectory();
        RustTokenizersOracle.WriteNormalizationTables(folder);
        var generated = Directory.GetFiles(folder, "RustNormalizationTables*.cs").Select(Path.GetFileName).Order().ToArray();
        var committedFolder = Path.Combine(SharedFixtures.ProjectRoot, "eval", "Tokenizers");
        var committed = Directory.GetFiles(committedFolder, "RustNormalizationTables*.cs").Select(Path.GetFileName).Order().ToArray();
        CollectionAssert.AreEqual(committed, generated, "the generator writes other files than are committed");
        foreach (var file in generated)
            Assert.IsTrue(File.ReadAllText(Path.Combine(folder, file!)) == File.ReadAllText(Path.Combine(committedFolder, file!)),
                $"{file} differs from a fresh run: cd tests/Tokenizers/RustOracle && node normalization_tables.mjs ../../../eval/Tokenizers");
    }

    private static void AssertMatchesTheRustLibrary(string name, NormalizationForm form, IReadOnlyList<string> texts)
    {
        var rust = Rust(name, texts);
        var normalizer = new UnicodeNormalizer(form);
        var differences = new List<string>();
        for (int i = 0; i < texts.Count && differences.Count < 12; i++)
        {
            var ours = normalizer.Normalize(texts[i]);
            if (ours != rust[i]) differences.Add($"{Describe(texts[i])}\n  rust {Describe(rust[i])}\n  ours {Describe(ours)}");
        }
        Assert.AreEqual(0, differences.Count, $"{name}: {differences.Count}+ texts differ from the Rust library:\n{string.Join("\n", differences)}");
    }

    /// <summary>The library's normalizer of that name (NFC, NFD, NFKC, NFKD) on each text.</summary>
    private static string[] Rust(string name, IReadOnlyList<string> texts)
    {
        var path = Path.Combine(SharedFixtures.TempDirectory(), name + ".json");
        File.WriteAllText(path,
            "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[],\"normalizer\":{\"type\":\"" + name + "\"}" +
            ",\"pre_tokenizer\":null,\"post_processor\":null,\"decoder\":null,\"model\":{\"type\":\"WordPiece\"," +
            "\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\",\"max_input_chars_per_word\":100,\"vocab\":{\"[UNK]\":0}}}",
            new UTF8Encoding(false));
        return RustTokenizersOracle.RunComponents(path, texts).Select(r => r.Normalized!).ToArray();
    }

    private static string Describe(string text) =>
        string.Join(" ", EnumerateCodeUnitsOrPoints(text).Select(c => c is < 0x7F and > 0x20 ? ((char)c).ToString() : $"U+{c:X4}"));

    private static IEnumerable<int> EnumerateCodeUnitsOrPoints(string text)
    {
        for (int i = 0; i < text.Length; i++)
            yield return char.IsSurrogatePair(text, i) ? char.ConvertToUtf32(text[i], text[++i]) : text[i];
    }
}
