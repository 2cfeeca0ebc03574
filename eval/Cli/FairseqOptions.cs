using System.CommandLine;
using Eval.Models;

namespace Eval.Cli;

/// <summary>
/// What a fairseq checkpoint (model.pt, Instruct-XLMR's checkpoint_last.pt) may not say about itself, for every command
/// that loads a model: its attention heads and whether it is pre-LN. Ignored for folders with a config.json.
/// </summary>
public sealed class FairseqOptions
{
    public Option<int?> Heads { get; } = new Option<int?>("--heads")
    {
        Description = "fairseq checkpoints: attention heads, when the checkpoint's args/cfg do not say (they always have for fairseq's own releases)",
    }.AtLeast(1);

    public Option<bool?> NormalizeBefore { get; } = new("--normalize-before")
    {
        Description = "fairseq checkpoints: true for pre-LN (XLM-R XL/XXL layout), false for post-LN, overriding args/cfg",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Heads);
        command.Options.Add(NormalizeBefore);
    }

    public FairseqOverrides? Overrides(ParseResult result)
    {
        var heads = result.GetValue(Heads);
        var normalizeBefore = result.GetValue(NormalizeBefore);
        return heads is null && normalizeBefore is null ? null : new FairseqOverrides(heads, normalizeBefore);
    }
}
