using System.Text.Json;

namespace Eval.Tokenizers;

/// <summary>
/// The special tokens a model needs (from tokenizer_config.json, else guessed from the added tokens by their usual
/// spellings): mask ([MASK] / &lt;mask&gt; / &lt;|mask|&gt;), pad, cls/sep, bos/eos, unk, and ModernBERT-Instruct's [unused0] anchor.
/// </summary>
public sealed record SpecialTokens(string? Mask, string? Pad, string? Cls, string? Sep, string? Bos, string? Eos, string? Unk, string? Unused0)
{
    public static SpecialTokens Load(string configPath, IReadOnlyList<AddedToken> added)
    {
        var fields = new Dictionary<string, string>();
        if (File.Exists(configPath))
        {
            // Only the *_token members are parsed (not added_tokens_decoder, a chat template, …).
            using var doc = TokenizerJson.Read(configPath, name => name.EndsWith("_token", StringComparison.Ordinal));
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                var value = p.Value.ValueKind switch
                {
                    JsonValueKind.String => p.Value.GetString(),
                    JsonValueKind.Object when p.Value.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String => content.GetString(),
                    _ => null,
                };
                if (value is not null) fields[p.Name] = value;
            }
        }
        string? Pick(string field, params string[] spellings) =>
            fields.TryGetValue(field, out var v) ? v : spellings.FirstOrDefault(s => added.Any(a => a.Content == s));
        return new SpecialTokens(
            Pick("mask_token", "[MASK]", "<mask>", "<|mask|>"), Pick("pad_token", "[PAD]", "<pad>", "<|padding|>"),
            Pick("cls_token", "[CLS]", "<s>"), Pick("sep_token", "[SEP]", "</s>"), Pick("bos_token", "<s>", "<|endoftext|>"),
            Pick("eos_token", "</s>", "<|endoftext|>"), Pick("unk_token", "[UNK]", "<unk>"),
            added.Any(a => a.Content == "[unused0]") ? "[unused0]" : null);
    }
}
