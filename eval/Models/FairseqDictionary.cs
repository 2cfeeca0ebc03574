using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>
/// A fairseq dictionary (dict.txt): &lt;s&gt;=0, &lt;pad&gt;=1, &lt;/s&gt;=2, &lt;unk&gt;=3 are implicit, the file's
/// symbols follow from id 4 ("symbol count" per line, an optional "#fairseq:overwrite" flag), and the masked-LM tasks
/// append &lt;mask&gt; last. A fairseq folder evaluated with a Hugging Face tokenizer must give every symbol the same id.
/// </summary>
public sealed record FairseqDictionary(string Path, IReadOnlyList<string> Symbols)
{
    public const string FileName = "dict.txt";
    private static readonly string[] Specials = ["<s>", "<pad>", "</s>", "<unk>"];

    public static FairseqDictionary Load(string path)
    {
        var symbols = new List<string>(Specials);
        int lineNumber = 0;
        foreach (var line in LinkedFile.ReadLines(path))
        {
            lineNumber++;
            if (line.Length == 0) continue;
            var text = line.EndsWith(" #fairseq:overwrite", StringComparison.Ordinal) ? line[..^" #fairseq:overwrite".Length] : line;
            int space = text.LastIndexOf(' ');
            if (space <= 0 || !long.TryParse(text.AsSpan(space + 1), out _))
                throw new InvalidDataException($"{path}:{lineNumber}: expected 'symbol count', got '{line}'");
            symbols.Add(text[..space]);
        }
        symbols.Add("<mask>");
        return new FairseqDictionary(path, symbols);
    }

    /// <summary>
    /// Throws unless every symbol has its fairseq id in the tokenizer (tokenToId, e.g. Tokenizer.TokenToId); the error
    /// names the first symbol that differs, its line and both ids.
    /// </summary>
    public void RequireSameIds(Func<string, int?> tokenToId, string tokenizerName)
    {
        for (int id = 0; id < Symbols.Count; id++)
        {
            var theirs = tokenToId(Symbols[id]);
            if (theirs != id)
            {
                var where = id < Specials.Length ? "implicit" : id == Symbols.Count - 1 ? "appended last" : $"line {id - Specials.Length + 1}";
                throw new InvalidDataException(
                    $"{Path}: symbol '{Symbols[id]}' ({where}) has fairseq id {id} but {(theirs is null ? "is not in" : $"id {theirs} in")} {tokenizerName}: " +
                    "the tokenizer does not belong to this fairseq model");
            }
        }
    }

    /// <summary>Checks a model folder's dict.txt, when it has one, against the tokenizer.</summary>
    public static void VerifyFolder(string modelDirectory, Func<string, int?> tokenToId, string tokenizerName)
    {
        var path = System.IO.Path.Combine(modelDirectory, FileName);
        if (File.Exists(path)) Load(path).RequireSameIds(tokenToId, tokenizerName);
    }
}
