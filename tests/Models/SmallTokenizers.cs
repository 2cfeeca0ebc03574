using System.Text.Json.Nodes;

namespace Eval.Tests.Models;

/// <summary>
/// Real tokenizers cut down to the tiny fixtures' 1000 ids, so the fixture models can run on real task text:
/// SmolLM2's byte-level BPE (the family of BLOOM's tokenizer, whose own file is not in ../shared) keeping the ids
/// below the bound and the merges among them (every byte still has its token, so any text encodes); and XLM-R's layout
/// (a SentencePiece Unigram with &lt;s&gt; &lt;pad&gt; &lt;/s&gt; &lt;unk&gt; first, &lt;mask&gt; last, RoBERTa's post-processor)
/// over t5-small's first pieces and its normalizer (what the pieces do not cover becomes &lt;unk&gt;).
/// </summary>
public static class SmallTokenizers
{
    /// <summary>A folder with tokenizer.json (SmolLM2's, ids &lt; idCount) and a tokenizer_config.json naming &lt;|im_end|&gt; (id 2) as EOS and &lt;repo_name&gt; (id 3) as padding: bloom-tiny's eos_token_id and pad_token_id.</summary>
    public static string ByteLevelBpe(int idCount = 1000)
    {
        var tokenizer = JsonNode.Parse(File.ReadAllText(Path.Combine(SharedFixtures.Shared, "tokenizers", "smollm2", "tokenizer.json")))!.AsObject();
        var model = tokenizer["model"]!.AsObject();
        var vocab = model["vocab"]!.AsObject();
        var kept = new JsonObject();
        foreach (var (token, id) in vocab.ToList())
            if (id!.GetValue<int>() < idCount) kept[token] = id.GetValue<int>();
        var merges = new JsonArray(model["merges"]!.AsArray().Select(m => m!.GetValue<string>())
            .Where(m => m.Split(' ') is [var a, var b] && kept.ContainsKey(a) && kept.ContainsKey(b) && kept.ContainsKey(a + b))
            .Select(m => (JsonNode)JsonValue.Create(m)).ToArray());
        model["vocab"] = kept;
        model["merges"] = merges;
        tokenizer["added_tokens"] = new JsonArray(tokenizer["added_tokens"]!.AsArray()
            .Where(t => t!["id"]!.GetValue<int>() < idCount).Select(t => t!.DeepClone()).ToArray());
        var dir = SharedFixtures.TempDirectory();
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), tokenizer.ToJsonString());
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), new JsonObject
        {
            ["eos_token"] = "<|im_end|>", ["bos_token"] = "<|im_start|>", ["pad_token"] = "<repo_name>", ["unk_token"] = "<|endoftext|>",
        }.ToJsonString());
        return dir;
    }

    /// <summary>
    /// A folder with an XLM-R-shaped tokenizer of idCount ids (&lt;s&gt;=0 &lt;pad&gt;=1 &lt;/s&gt;=2 &lt;unk&gt;=3, t5-small's
    /// pieces after its own three specials, &lt;mask&gt; last) and its tokenizer_config.json: xlmr-tiny's and xlmr-xl-tiny's ids.
    /// </summary>
    public static string XlmrUnigram(int idCount = 1000)
    {
        var t5 = JsonNode.Parse(File.ReadAllText(Path.Combine(SharedFixtures.Shared, "tokenizers", "unigram-t5-small", "tokenizer.json")))!.AsObject();
        var pieces = t5["model"]!["vocab"]!.AsArray().Skip(3).Take(idCount - 5).Select(p => (p![0]!.GetValue<string>(), p[1]!.GetValue<double>()));
        (string, double)[] vocab = [("<s>", 0), ("<pad>", 0), ("</s>", 0), ("<unk>", 0), .. pieces, ("<mask>", 0)];
        return XlmrShaped(vocab, t5["normalizer"]!.DeepClone(), t5["pre_tokenizer"]!.DeepClone(), t5["decoder"]!.DeepClone());
    }

    /// <summary>
    /// A folder with a SentencePiece Unigram tokenizer.json in XLM-R's shape — &lt;s&gt; &lt;pad&gt; &lt;/s&gt; &lt;unk&gt; &lt;mask&gt;
    /// as special added tokens wherever the vocabulary puts them, RoBERTa's &lt;s&gt; … &lt;/s&gt; post-processor — and the
    /// tokenizer_config.json naming them.
    /// </summary>
    public static string XlmrShaped(IReadOnlyList<(string Piece, double Score)> vocab, JsonNode? normalizer, JsonNode preTokenizer, JsonNode decoder)
    {
        var pieces = vocab.Select(v => v.Piece).ToList();
        int Id(string piece) => pieces.IndexOf(piece);
        var tokenizer = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(new[] { "<s>", "<pad>", "</s>", "<unk>", "<mask>" }.Select(s => (JsonNode)new JsonObject
            {
                ["id"] = Id(s), ["content"] = s, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
            }).ToArray()),
            ["normalizer"] = normalizer,
            ["pre_tokenizer"] = preTokenizer,
            ["post_processor"] = new JsonObject
            {
                ["type"] = "RobertaProcessing", ["sep"] = new JsonArray("</s>", Id("</s>")), ["cls"] = new JsonArray("<s>", Id("<s>")),
                ["trim_offsets"] = true, ["add_prefix_space"] = true,
            },
            ["decoder"] = decoder,
            ["model"] = new JsonObject
            {
                ["type"] = "Unigram", ["unk_id"] = Id("<unk>"),
                ["vocab"] = new JsonArray(vocab.Select(v => (JsonNode)new JsonArray(v.Piece, v.Score)).ToArray()),
            },
        };
        var dir = SharedFixtures.TempDirectory();
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), tokenizer.ToJsonString());
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), new JsonObject
        {
            ["bos_token"] = "<s>", ["eos_token"] = "</s>", ["cls_token"] = "<s>", ["sep_token"] = "</s>", ["pad_token"] = "<pad>",
            ["unk_token"] = "<unk>", ["mask_token"] = "<mask>",
        }.ToJsonString());
        return dir;
    }
}
