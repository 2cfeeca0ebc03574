using System.Text.Json.Nodes;
using Eval.Tests.Models;
using Eval.Tokenizers;

namespace Eval.Tests.Tokenizers;

/// <summary>
/// Sentence pairs: ids and token type ids (BERT's segments) against the Rust library, for each kind of post-processor —
/// TemplateProcessing (bert-base-uncased's, ModernBERT's, Llama-2's with a type-1 &lt;s&gt;, T5's), BertProcessing,
/// RobertaProcessing and Llama-3's Sequence [ByteLevel, TemplateProcessing] — with and without special tokens.
/// </summary>
[TestClass]
public sealed class TokenTypeIdTests
{
    private static readonly (string Text, string? Pair)[] Texts =
    [
        ("The premise is right.", "So the hypothesis is [MASK]."),
        ("A man plays the guitar.", "Someone makes music."),
        ("Solo una frase.", null),
        ("First part", ""),
        ("", "second part only"),
    ];

    /// <summary>A copy of a tokenizer folder whose tokenizer.json has another post_processor.</summary>
    private static string WithPostProcessor(string source, JsonNode postProcessor)
    {
        var dir = SharedFixtures.TempDirectory();
        foreach (var file in Directory.GetFiles(source)) File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "tokenizer.json")))!.AsObject();
        json["post_processor"] = postProcessor;
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json.ToJsonString());
        return dir;
    }

    private static IEnumerable<object[]> Tokenizers()
    {
        yield return ["bert template"];
        yield return ["bert processing"];
        yield return ["roberta processing"];
        yield return ["modernbert"];
        yield return ["llama2-phi3"];
        yield return ["unigram-t5-small"];
        yield return ["llama-3 sequence"];
    }

    private static string Folder(string name)
    {
        var shared = Path.Combine(SharedFixtures.Shared, "tokenizers");
        return name switch
        {
            "bert template" => FixtureVariants.WriteBertTokenizer(SharedFixtures.TempDirectory()),
            "bert processing" => FixtureVariants.WriteBertTokenizer(SharedFixtures.TempDirectory(), bertProcessing: true),
            "roberta processing" => WithPostProcessor(FixtureVariants.WriteBertTokenizer(SharedFixtures.TempDirectory()), JsonNode.Parse(
                """{"type": "RobertaProcessing", "sep": ["[SEP]", 102], "cls": ["[CLS]", 101], "trim_offsets": true, "add_prefix_space": false}""")!),
            "llama-3 sequence" => WithPostProcessor(Path.Combine(shared, "smollm2"), JsonNode.Parse("""
                {"type": "Sequence", "processors": [
                  {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
                  {"type": "TemplateProcessing",
                   "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                   "pair": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                            {"SpecialToken": {"id": "<|endoftext|>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                   "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [0], "tokens": ["<|endoftext|>"]}}}]}
                """)!),
            _ => Path.Combine(shared, name),
        };
    }

    [TestMethod]
    [DynamicData(nameof(Tokenizers), DynamicDataSourceType.Method)]
    public void PairsGetTheRustLibrarysIdsAndTypeIds(string name)
    {
        var folder = Folder(name);
        var tokenizer = Tokenizer.Load(folder);
        var items = Texts.SelectMany(t => new[] { (t.Text, t.Pair, true), (t.Text, t.Pair, false) }).ToList();
        var rust = RustTokenizersOracle.Encode(folder, items, "ids,type_ids");
        for (int i = 0; i < items.Count; i++)
        {
            var (text, pair, special) = items[i];
            var ours = tokenizer.Encode(text, special, pair);
            var label = $"{name}: ({text}, {pair ?? "no pair"}), add_special_tokens {special}";
            CollectionAssert.AreEqual(rust[i].Ids, ours.Ids.ToArray(), $"{label}: ids");
            CollectionAssert.AreEqual(rust[i].TypeIds, ours.TypeIds.ToArray(), $"{label}: type ids");
        }
    }
}
