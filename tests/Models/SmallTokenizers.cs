using System.Text.Json.Nodes;

namespace Eval.Tests.Models;

/// <summary>
/// Real tokenizers cut down to the tiny fixtures' 1000 ids, so the fixture models can run on real task text:
/// SmolLM2's byte-level BPE (the family of BLOOM's tokenizer, whose own file is not in ../shared) keeping the ids
/// below the bound and the merges among them. Every byte still has its token, so any text encodes.
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
}
