using System.Text;
using System.Text.Json.Nodes;
using Eval.Engine.Cpu;
using Eval.Engine.IO;
using Eval.Harness.Benchmarks;
using Eval.Models;
using Eval.Tests.Tokenizers;
using Eval.Tokenizers;

namespace Eval.Tests.Models;

/// <summary>
/// mmBERT (jhu-clsp's multilingual ModernBERT) is ModernBertForMaskedLM with one RoPE θ for local and global layers,
/// 8,192 positions, mask_token_id 4 and Gemma's 256k-token SentencePiece-BPE tokenizer: its config in both the
/// published and the transformers 5 form, and a small tokenizer.json of that kind against the Rust library.
/// </summary>
[TestClass]
public sealed class MmBertTests
{
    /// <summary>jhu-clsp/mmBERT-small's config.json as published (the fields a loader reads).</summary>
    private const string PublishedConfig = """
        {
          "architectures": ["ModernBertForMaskedLM"], "model_type": "modernbert",
          "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 2, "classifier_activation": "gelu",
          "classifier_bias": false, "classifier_dropout": 0.0, "classifier_pooling": "mean", "cls_token_id": 1,
          "decoder_bias": true, "deterministic_flash_attn": false, "embedding_dropout": 0.0, "eos_token_id": 1,
          "global_attn_every_n_layers": 3, "global_rope_theta": 160000, "gradient_checkpointing": false,
          "hidden_activation": "gelu", "hidden_size": 384, "initializer_cutoff_factor": 2.0, "initializer_range": 0.02,
          "intermediate_size": 1152, "layer_norm_eps": 1e-05, "local_attention": 128, "local_rope_theta": 160000,
          "max_position_embeddings": 8192, "mlp_bias": false, "mlp_dropout": 0.0, "norm_bias": false, "norm_eps": 1e-05,
          "num_attention_heads": 6, "num_hidden_layers": 22, "pad_token_id": 0, "position_embedding_type": "sans_pos",
          "sep_token_id": 1, "tie_word_embeddings": true, "torch_dtype": "float32", "transformers_version": "4.47.0.dev0",
          "vocab_size": 256000, "mask_token_id": 4
        }
        """;

    /// <summary>The same as transformers 5 writes it: rope_parameters per attention kind, dtype.</summary>
    private static string TransformersFiveConfig()
    {
        var json = JsonNode.Parse(PublishedConfig)!.AsObject();
        json.Remove("global_rope_theta");
        json.Remove("local_rope_theta");
        json.Remove("torch_dtype");
        json["dtype"] = "float32";
        json["rope_parameters"] = JsonNode.Parse("""
            {"full_attention": {"rope_type": "default", "rope_theta": 160000.0},
             "sliding_attention": {"rope_type": "default", "rope_theta": 160000.0}}
            """);
        return json.ToJsonString();
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void TheConfigLoadsWithOneThetaForLocalAndGlobalLayersAnd8192Positions(bool transformersFive)
    {
        var text = transformersFive ? TransformersFiveConfig() : PublishedConfig;
        var config = ModelConfig.Parse(Encoding.UTF8.GetBytes(text), "/models/mmBERT-small/config.json");
        Assert.AreEqual("ModernBertForMaskedLM", ModelArchitectures.Resolve(config).Name);
        Assert.AreEqual(160000, config.GlobalRopeTheta);
        Assert.AreEqual(160000, config.LocalRopeTheta);
        Assert.AreEqual(8192, config.MaxPositionEmbeddings);
        Assert.AreEqual(256000, config.VocabSize);
        Assert.AreEqual(4, config.MaskTokenId);
        Assert.IsTrue(config.IsGlobalAttentionLayer(0) && !config.IsGlobalAttentionLayer(1) && config.IsGlobalAttentionLayer(3));

        // At toy size (random weights) the model runs past ModernBERT-base's 512 positions, and its sliding layers rotate
        // by θ 160000: as with no local θ at all (every layer the global one), unlike ModernBERT's usual 10000.
        var tiny = ModelShapes.Miniature(config) with { LocalAttention = 16 };
        using var backend = new CpuBackend(2);
        float[] Logits(ModelConfig c)
        {
            using var model = ModelLoader.Create(c, new RandomWeights(3, 0.2f), backend);
            Assert.AreEqual(ModelKind.Masked, model.Kind);
            Assert.AreEqual(8192, model.MaxSequenceLength);
            var ids = Enumerable.Range(0, 600).Select(i => 5 + i * 7 % 990).ToArray();
            using var output = model.Forward(new TokenBatch(ids, Enumerable.Repeat(1, ids.Length).ToArray(), 1, ids.Length));
            using var logits = model.Logits(output.LastHidden, [0, 300, 599], [4, 5, 6, 7, 8]);
            return logits.Span.ToArray();
        }
        var mmBert = Logits(tiny);
        Assert.IsTrue(Engine.Reference.MaxAbsDiff(mmBert, Logits(tiny with { LocalRopeTheta = null })) < 1e-6, "local layers use θ 160000");
        Assert.IsTrue(Engine.Reference.MaxAbsDiff(mmBert, Logits(tiny with { LocalRopeTheta = 10000 })) > 1e-4, "θ reaches the local layers");
    }

    /// <summary>
    /// A Gemma-style tokenizer.json as mmBERT ships it (small): spaces replaced by ▁ in the normalizer, no pre-tokenizer
    /// (or Split on " ", which the ▁ leaves nothing to split), BPE with byte fallback and fused unknowns over
    /// &lt;pad&gt; 0, &lt;eos&gt; 1, &lt;bos&gt; 2, &lt;unk&gt; 3, &lt;mask&gt; 4 and the 256 byte pieces, pieces that hold ▁ inside
    /// (merges across words), &lt;bos&gt; … &lt;eos&gt; around a text.
    /// </summary>
    private static string WriteGemmaStyleTokenizer(bool splitPreTokenizer, bool mergesAsPairs)
    {
        var vocab = new List<string> { "<pad>", "<eos>", "<bos>", "<unk>", "<mask>" };
        vocab.AddRange(Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>"));
        string[] words =
        [
            "▁the", "▁The", "▁capital", "▁of", "▁France", "▁is", "▁Paris", "▁Die", "▁Hauptstadt", "▁von", "▁ist", "▁über",
            "▁große", "▁Straße", "▁capitale", "▁della", "▁Francia", "▁è", "▁столица", "▁Франции", "▁это", "▁Париж", "▁का",
            "▁राजधानी", "▁東京", "▁は", "▁answer", "▁Answer", ":", "▁yes", "▁no", "▁maybe", "▁▁", "▁▁▁▁", "\n", "\n\n", "▁of▁the",
            "▁is▁", "ing", "▁play", "▁playing", ".", ",", "?", "!", "▁(", ")", "▁\"", "\"", "'s", "▁1", "▁2", "0", "1", "9",
        ];
        var chars = words.SelectMany(w => EnumerateTextElements(w)).Distinct().ToList();
        vocab.AddRange(chars.Where(c => !vocab.Contains(c)));
        var merges = new List<(string, string)>();
        foreach (var word in words)
        {
            var pieces = EnumerateTextElements(word).ToList();
            var current = pieces[0];
            foreach (var next in pieces.Skip(1))
            {
                var merged = current + next;
                if (!vocab.Contains(merged))
                {
                    merges.Add((current, next));
                    vocab.Add(merged);
                }
                current = merged;
            }
        }
        var vocabJson = new JsonObject();
        for (int i = 0; i < vocab.Count; i++) vocabJson[vocab[i]] = i;
        JsonObject Piece(string kind, string id, int typeId) => new() { [kind] = new JsonObject { ["id"] = id, ["type_id"] = typeId } };
        JsonObject Special(string token) => new() { ["id"] = token, ["ids"] = new JsonArray(vocab.IndexOf(token)), ["tokens"] = new JsonArray(token) };
        var tokenizer = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new JsonArray(vocab.Take(5).Select((t, i) => (JsonNode)new JsonObject
            {
                ["id"] = i, ["content"] = t, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
            }).ToArray()),
            ["normalizer"] = JsonNode.Parse("""{"type": "Replace", "pattern": {"String": " "}, "content": "▁"}"""),
            ["pre_tokenizer"] = splitPreTokenizer
                ? JsonNode.Parse("""{"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": false}""")
                : null,
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(Piece("SpecialToken", "<bos>", 0), Piece("Sequence", "A", 0), Piece("SpecialToken", "<eos>", 0)),
                ["pair"] = new JsonArray(Piece("SpecialToken", "<bos>", 0), Piece("Sequence", "A", 0), Piece("SpecialToken", "<eos>", 0),
                    Piece("Sequence", "B", 1), Piece("SpecialToken", "<eos>", 1)),
                ["special_tokens"] = new JsonObject { ["<bos>"] = Special("<bos>"), ["<eos>"] = Special("<eos>") },
            },
            ["decoder"] = JsonNode.Parse("""
                {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                 {"type": "ByteFallback"}, {"type": "Fuse"}]}
                """),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = "<unk>", ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null, ["fuse_unk"] = true, ["byte_fallback"] = true, ["ignore_merges"] = false,
                ["vocab"] = vocabJson,
                ["merges"] = new JsonArray(merges.Select(m => mergesAsPairs ? (JsonNode)new JsonArray(m.Item1, m.Item2) : $"{m.Item1} {m.Item2}").ToArray()),
            },
        };
        var dir = SharedFixtures.TempDirectory();
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), tokenizer.ToJsonString());
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"),
            """{"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>", "mask_token": "<mask>", "cls_token": "<bos>", "sep_token": "<eos>"}""");
        return dir;
    }

    private static IEnumerable<string> EnumerateTextElements(string text)
    {
        for (int i = 0; i < text.Length; i += char.IsSurrogatePair(text, i) ? 2 : 1)
            yield return text.Substring(i, char.IsSurrogatePair(text, i) ? 2 : 1);
    }

    private static readonly string[] Texts =
    [
        "The capital of France is <mask>.",
        "Die Hauptstadt von Frankreich ist <mask>.",
        "La capitale della Francia è Parigi?",
        "Столица Франции это Париж!",
        "भारत की राजधानी नई दिल्ली है",
        "東京は日本の首都です。",
        "Answer: <mask>",
        "  two leading spaces,   three inside, and trailing  ",
        "tabs\tand\nnew\n\nlines \n\n end",
        "emoji 👍🏽 and a flag 🇫🇷 fall back to bytes",
        "große Straße über the playing (Paris) \"yes\" 1902 1999",
        "literal <bos> and <eos> and <pad> in text",
        "",
        " ",
        string.Concat(Enumerable.Repeat("The capital of France is Paris, the capital of the French. ", 60)),
    ];

    [TestMethod]
    [DataRow(false, false)]
    [DataRow(true, false)]
    [DataRow(false, true)]
    public void AGemmaStyleSentencePieceBpeTokenizerEqualsTheRustLibrary(bool splitPreTokenizer, bool mergesAsPairs)
    {
        var folder = WriteGemmaStyleTokenizer(splitPreTokenizer, mergesAsPairs);
        var tokenizer = Tokenizer.Load(folder);
        var items = Texts.SelectMany(t => new[] { (t, true), (t, false) }).ToList();
        var rust = RustTokenizersOracle.Encode(folder, items, "ids,tokens,decoded");
        for (int i = 0; i < items.Count; i++)
        {
            var (text, special) = items[i];
            var ours = tokenizer.Encode(text, special);
            var label = $"'{(text.Length > 60 ? text[..60] + "…" : text)}' (add_special_tokens {special})";
            CollectionAssert.AreEqual(rust[i].Ids, ours.Ids.ToArray(), $"{label}: ids");
            CollectionAssert.AreEqual(rust[i].Tokens, ours.Tokens.ToArray(), $"{label}: tokens");
            Assert.AreEqual(rust[i].Decoded, tokenizer.Decode(ours.Ids), $"{label}: decoded");
        }

        // The mask a masked-LM prompt needs is the tokenizer's <mask>, id 4 as mmBERT's mask_token_id; byte fallback happened.
        Assert.AreEqual("<mask>", tokenizer.Specials.Mask);
        Assert.AreEqual(4, tokenizer.TokenToId("<mask>"));
        Assert.AreEqual(2, tokenizer.Encode("Answer: <mask>").Ids.Count(id => id is 2 or 4));
        Assert.IsTrue(tokenizer.Encode("👍").Ids.Any(id => id is >= 5 and < 261), "an emoji falls back to byte pieces");
    }
}
