using Eval.Models;
using Eval.Tokenizers;

namespace Eval.Fuzz.Targets;

/// <summary>
/// config.json → <see cref="ModelConfig"/> (refused with InvalidDataException naming the file and field;
/// NotSupportedException for an activation the models lack), and tokenizer.json → <see cref="Tokenizer"/> (refused
/// with <see cref="TokenizerFormatException"/>), which must then encode and decode without failing.
/// </summary>
public static class ConfigTargets
{
    /// <summary>Texts every tokenizer that loads must encode: ASCII, accents, CJK, emoji, whitespace runs, markup.</summary>
    private static readonly string[] SampleTexts =
    [
        "Hello world!", "  héllo\tWORLD  123 ", "日本語のテキスト", "emoji 🙂 and \u0301 combining", "<mask> <s></s> [CLS] [SEP] <unk>", "",
    ];

    public static FuzzTarget ModelConfigJson { get; } = new(
        "model-config",
        "config.json",
        "the input as config.json: ModelConfig.Parse, then its activations (T5's feed-forward too) looked up and its positive dimensions checked as the models do",
        [typeof(InvalidDataException), typeof(NotSupportedException)],
        (input, workspace) =>
        {
            var config = ModelConfig.Parse(input, "config.json");
            config.Activation(config.HiddenActivation);
            config.Activation(config.ClassifierActivation);
            config.FeedForward();
            _ = config.RopeScaling?.Factor;
        });

    public static FuzzTarget TokenizerJson { get; } = new(
        "tokenizer",
        "tokenizer.json",
        "the input as tokenizer.json: Tokenizer.Load, then a few texts (and a pair) encoded, their ids decoded and tokens looked up",
        [typeof(TokenizerFormatException)],
        (input, workspace) =>
        {
            var path = workspace.WriteFile("tokenizer", "tokenizer.json", input);
            var tokenizer = Tokenizer.Load(path);
            foreach (var text in SampleTexts)
            {
                var encoding = tokenizer.Encode(text);
                tokenizer.Decode(encoding.Ids);
                tokenizer.Decode(encoding.Ids, skipSpecialTokens: true);
                foreach (var token in encoding.Tokens) tokenizer.TokenToId(token);
            }
            tokenizer.Encode(SampleTexts[0], addSpecialTokens: true, pair: SampleTexts[1]);
            for (int id = 0; id < Math.Min(tokenizer.IdCount, 64); id++) tokenizer.IdToToken(id);
        });
}
