using System.Text;
using System.Text.Json;
using Eval.Tokenizers;

namespace Eval.Tests.Tokenizers;

/// <summary>
/// Normalizers and pre-tokenizers that none of the five shared tokenizers uses (BERT's normalizer and pre-tokenizer,
/// Lowercase, StripAccents, the Unicode forms, Whitespace, Punctuation, Digits, Metaspace, Split and Replace with a
/// user's regex), each run alone on our side and in Hugging Face's Rust library (npm <c>tokenizers</c>: the tokenizer's
/// getNormalizer().normalizeString and getPreTokenizer().preTokenizeString), over the Rust-made adversarial texts and
/// every code point of planes 0–3 and 14 in runs of 64. The normalized strings and the pieces must be equal.
/// The Unicode normalization forms (NFD, NFKD, NFC, NFKC, BERT's accent stripping) follow the library's own tables
/// (<c>RustUnicodeNormalization</c>), not the machine's ICU, so every run is compared for every pipeline.
/// Split and Replace with a user's regex (<see cref="UserRegexPipelines"/>) go through our Oniguruma engine, as the
/// Rust library's go through Oniguruma: Bloom's, DeepSeek's, Qwen2's, o200k's and GPT-4's patterns and constructs of
/// their own (lazy and possessive quantifiers, look-around, empty matches, class intersection, (?i)).
/// </summary>
[TestClass]
public sealed class ComponentCrossCheckTests
{
    public static IEnumerable<object[]> Pipelines() =>
    [
        ["bert-uncased", """{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":null,"lowercase":true}""", """{"type":"BertPreTokenizer"}"""],
        ["bert-cased", """{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":null,"lowercase":false}""", """{"type":"Whitespace"}"""],
        ["bert-strip-only", """{"type":"BertNormalizer","clean_text":false,"handle_chinese_chars":false,"strip_accents":true,"lowercase":false}""", """{"type":"WhitespaceSplit"}"""],
        ["nfd-strip-lower", """{"type":"Sequence","normalizers":[{"type":"NFD"},{"type":"StripAccents"},{"type":"Lowercase"}]}""",
            """{"type":"Sequence","pretokenizers":[{"type":"WhitespaceSplit"},{"type":"Punctuation","behavior":"Isolated"},{"type":"Digits","individual_digits":true}]}"""],
        ["nfkc-strip", """{"type":"Sequence","normalizers":[{"type":"NFKC"},{"type":"Strip","strip_left":true,"strip_right":true}]}""",
            """{"type":"Sequence","pretokenizers":[{"type":"Punctuation","behavior":"Removed"},{"type":"Digits","individual_digits":false}]}"""],
        ["nfkd-metaspace", """{"type":"NFKD"}""", """{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true}"""],
        .. UserRegexPipelines(),
    ];

    /// <summary>Split and Replace with user regexes, which the Rust library runs through Oniguruma (<see cref="OnigurumaPattern"/>).</summary>
    public static IEnumerable<object[]> UserRegexPipelines() =>
    [
        ["regex-words", Replace(@"\s+", " "), Split(@"\w+|[^\w\s]+", "Isolated")],
        ["regex-letters-numbers", "null", Split(@"\p{L}+|\p{N}|\d+|[^\p{L}\p{N}]", "MergedWithPrevious")],
        ["regex-bloom", "null", Split(" ?[^(\\s|[.,!?…。，、।۔،])]+", "Isolated")],
        ["regex-bloom-removed-inverted", "null", Split(" ?[^(\\s|[.,!?…。，、।۔،])]+", "Removed", invert: true)],
        ["regex-deepseek-v3", "null", Sequence(
            Split(@"\p{N}{1,3}", "Isolated"),
            Split("[一-龥\u3040-ゟ゠-ヿ]+", "Isolated"),
            Split(@"[!""#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+", "Isolated"))],
        ["regex-deepseek-llm", "null", Sequence(
            Split(@"[\r\n]", "Isolated"),
            Split(@"\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\x{1F7D}ᾀ-ᾴᾶ-ᾼ\x{1FBE}ῂ-ῄῆ-ῌῐ-\x{1FD3}ῖ-\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\x{2126}ℨ\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+", "Isolated"),
            Split(@"\s?[!-/:-~！-／：-～‘-‟　-。]+", "Isolated"),
            Split(@"\s+$", "Isolated"),
            Split("[一-龥ࠀ-一가-퟿]+", "Isolated"),
            Split(@"\p{N}+", "Isolated"))],
        ["regex-qwen2", "null", Split(@"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+", "Isolated")],
        ["regex-o200k", "null", Split(@"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+", "Isolated")],
        ["regex-gpt4-possessive", "null", Split(@"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+", "Isolated")],
        ["regex-lazy", "null", Split(@"\p{L}+?\p{L}|\s+?|\S{2,4}?\d", "MergedWithPrevious")],
        ["regex-lookahead-removed", "null", Split(@"\s+(?!\S)", "Removed")],
        ["regex-lookbehind", "null", Split(@"(?<=^|\s)\p{L}+|(?<!\p{L}\p{M}*)\p{N}+|(?<=\p{Lu}\p{Ll}?)\p{P}", "MergedWithPrevious")],
        ["regex-empty-matches", Replace(@"(?=\p{Lu})|x*", "_"), Split(@"(?<=\p{L})(?=\p{N})|(?<=.)", "MergedWithNext")],
        ["regex-punctuation-inverted", Replace(@"^\s+|\s+$|\P{Any}", ""), Split(@"[\p{P}\p{S}&&[^\p{Sm}]]+|\h", "MergedWithNext", invert: true)],
        ["regex-classes-contiguous", "null", Split(@"[\d\p{Nl}\p{No}]|\p{Han}|[\p{Hiragana}\p{Katakana}]|\b", "Contiguous")],
        ["regex-case-insensitive", "null", Split(@"(?i)[a-z]+|(?i:σ|ǆ|\x{212B})|\p{^Lu}{3}|[^\p{Ll}\d]{2}", "Isolated")],
        ["regex-case-folding", "null", Split(@"(?i)[\p{Lu}\p{Lt}]", "Isolated")],
        ["string-empty", """{"type":"Replace","pattern":{"String":""},"content":"_"}""", """{"type":"Split","pattern":{"String":""},"behavior":"MergedWithNext","invert":false}"""],
        ["string-empty-inverted", """{"type":"Replace","pattern":{"String":"a"},"content":""}""", """{"type":"Split","pattern":{"String":""},"behavior":"Removed","invert":true}"""],
        ["string-literal", """{"type":"Replace","pattern":{"String":"ab"},"content":"x"}""", """{"type":"Split","pattern":{"String":" "},"behavior":"Contiguous","invert":false}"""],
    ];

    private static string Split(string regex, string behavior, bool invert = false) =>
        $$"""{"type":"Split","pattern":{"Regex":{{JsonSerializer.Serialize(regex)}}},"behavior":"{{behavior}}","invert":{{(invert ? "true" : "false")}}}""";

    private static string Replace(string regex, string content) =>
        $$"""{"type":"Replace","pattern":{"Regex":{{JsonSerializer.Serialize(regex)}}},"content":{{JsonSerializer.Serialize(content)}}}""";

    private static string Sequence(params string[] preTokenizers) => $$"""{"type":"Sequence","pretokenizers":[{{string.Join(",", preTokenizers)}}]}""";

    [TestMethod]
    [DynamicData(nameof(Pipelines))]
    public void NormalizerAndPreTokenizerMatchTheRustLibrary(string name, string normalizer, string preTokenizer)
    {
        var path = Path.Combine(SharedFixtures.TempDirectory(), name + ".json");
        File.WriteAllText(path,
            "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[],\"normalizer\":" + normalizer +
            ",\"pre_tokenizer\":" + preTokenizer + ",\"post_processor\":null,\"decoder\":null,\"model\":{\"type\":\"WordPiece\"," +
            "\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\",\"max_input_chars_per_word\":100,\"vocab\":{\"[UNK]\":0}}}",
            new UTF8Encoding(false));
        var texts = Texts();
        var rust = RustTokenizersOracle.RunComponents(path, texts);
        var ours = Tokenizer.Load(path);

        var differences = new List<string>();
        for (int i = 0; i < texts.Count && differences.Count < 12; i++)
        {
            string? normalized = ours.Normalizer?.Normalize(texts[i]);
            if (normalized != rust[i].Normalized)
            {
                differences.Add($"normalized line {i}: {Describe(texts[i])}\n  rust {Describe(rust[i].Normalized)}\n  ours {Describe(normalized)}");
                continue;
            }
            string[]? pieces = ours.PreTokenizer is { } ourPreTokenizer ? PreTokenizerPieces.Of(ourPreTokenizer, normalized ?? texts[i]) : null;
            if (pieces is null != rust[i].Pieces is null || pieces is not null && !pieces.SequenceEqual(rust[i].Pieces!))
                differences.Add($"pieces line {i}: {Describe(normalized ?? texts[i])}\n  rust [{string.Join(", ", rust[i].Pieces?.Select(Describe) ?? [])}]\n" +
                                $"  ours [{string.Join(", ", pieces?.Select(Describe) ?? [])}]");
        }
        Assert.AreEqual(0, differences.Count, $"{name}: {differences.Count}+ lines differ from the Rust library:\n{string.Join("\n", differences)}");
    }

    /// <summary>
    /// A whole BERT-uncased tokenizer (BertNormalizer, BertPreTokenizer, WordPiece, [CLS] $A [SEP], special added
    /// tokens) with a vocabulary of every character, its ## form and the short words of the texts: ids and decoding
    /// equal the Rust library's, with and without special tokens. Decoded by WordPiece's decoder, and by Replace decoders
    /// with an empty String (it matches at every code point boundary of each token), a literal and a regex.
    /// </summary>
    [TestMethod]
    [DataRow("""{"type":"WordPiece","prefix":"##","cleanup":true}""")]
    [DataRow("""{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"##"},"content":""},{"type":"Replace","pattern":{"String":""},"content":"_"},{"type":"Replace","pattern":{"Regex":"_\\p{L}_|\\s"},"content":"|"}]}""")]
    public void BertUncasedTokenizerMatchesTheRustLibrary(string decoder)
    {
        var texts = Texts().Take(1000).ToList();
        var pieces = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var text in texts.Take(600))
            foreach (var word in text.ToLowerInvariant().Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                foreach (var rune in word.EnumerateRunes()) { pieces.Add(rune.ToString()); pieces.Add("##" + rune); }
                if (word.Length is > 1 and <= 6) { pieces.Add(word); pieces.Add("##" + word); }
            }
        var specials = new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" };
        var vocab = specials.Concat(pieces).Select((token, id) => (token, id)).ToDictionary(p => p.token, p => p.id);
        var json = new System.Text.Json.Nodes.JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new System.Text.Json.Nodes.JsonArray(specials.Select((t, id) => (System.Text.Json.Nodes.JsonNode)new System.Text.Json.Nodes.JsonObject
            {
                ["id"] = id, ["content"] = t, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
            }).ToArray()),
            ["normalizer"] = System.Text.Json.Nodes.JsonNode.Parse("""{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":null,"lowercase":true}"""),
            ["pre_tokenizer"] = System.Text.Json.Nodes.JsonNode.Parse("""{"type":"BertPreTokenizer"}"""),
            ["post_processor"] = System.Text.Json.Nodes.JsonNode.Parse("""
                {"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"[CLS]","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"[SEP]","type_id":0}}],
                 "pair":[{"SpecialToken":{"id":"[CLS]","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"[SEP]","type_id":0}},{"Sequence":{"id":"B","type_id":1}},{"SpecialToken":{"id":"[SEP]","type_id":1}}],
                 "special_tokens":{"[CLS]":{"id":"[CLS]","ids":[2],"tokens":["[CLS]"]},"[SEP]":{"id":"[SEP]","ids":[3],"tokens":["[SEP]"]}}}
                """),
            ["decoder"] = System.Text.Json.Nodes.JsonNode.Parse(decoder),
            ["model"] = new System.Text.Json.Nodes.JsonObject
            {
                ["type"] = "WordPiece", ["unk_token"] = "[UNK]", ["continuing_subword_prefix"] = "##", ["max_input_chars_per_word"] = 100,
                ["vocab"] = new System.Text.Json.Nodes.JsonObject(vocab.Select(p => KeyValuePair.Create(p.Key, (System.Text.Json.Nodes.JsonNode?)p.Value))),
            },
        };
        var folder = SharedFixtures.TempDirectory();
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), json.ToJsonString(), new UTF8Encoding(false));
        var items = texts.SelectMany(t => new[] { (t, true), (t, false) }).ToList();
        var rust = RustTokenizersOracle.Encode(folder, items, "ids,decoded");
        var ours = Tokenizer.Load(folder);

        var differences = new List<string>();
        for (int i = 0; i < items.Count && differences.Count < 12; i++)
        {
            var ids = ours.Encode(items[i].Item1, items[i].Item2).Ids.ToArray();
            if (!ids.SequenceEqual(rust[i].Ids))
                differences.Add($"ids of line {i / 2} (special {items[i].Item2}): {Describe(items[i].Item1)}\n  rust [{string.Join(",", rust[i].Ids)}]\n  ours [{string.Join(",", ids)}]");
            else if (ours.Decode(ids) != rust[i].Decoded)
                differences.Add($"decoding of line {i / 2}: rust {Describe(rust[i].Decoded)}\n  ours {Describe(ours.Decode(ids))}");
        }
        Assert.IsTrue(vocab.Count > 1000, $"only {vocab.Count} vocabulary entries");
        Assert.AreEqual(0, differences.Count, $"{differences.Count}+ lines differ from the Rust library:\n{string.Join("\n", differences)}");
    }

    /// <summary>
    /// The adversarial texts of all five fixture files, then runs of 64 code points over planes 0–3 and 14.
    /// </summary>
    private static List<string> Texts()
    {
        var texts = TokenizerFixtureTests.TokenizerNames().Select(n => (string)n[0])
            .SelectMany(n => TokenizerFixtureTests.Lines(n + "-adversarial").Select(l => l.Text)).Distinct().ToList();
        foreach (var (from, to) in new[] { (0, 0x40000), (0xE0000, 0xE1000) })
            for (int start = from; start < to; start += 64)
            {
                var builder = new StringBuilder();
                for (int c = start; c < start + 64; c++)
                    if (c is < 0xD800 or > 0xDFFF) builder.Append(char.ConvertFromUtf32(c));
                if (builder.Length > 0) texts.Add(builder.ToString());
            }
        return texts;
    }

    private static string Describe(string? text) =>
        text is null ? "null" : string.Join(" ", text.EnumerateRunes().Take(80).Select(r => r.Value < 0x7F && r.Value > 0x20 ? ((char)r.Value).ToString() : $"U+{r.Value:X4}"));
}
