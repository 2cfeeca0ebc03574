using System.Globalization;
using System.Text;

namespace Eval.Tokenizers;

/// <summary>Turns token strings back into text (tokenizer.json "decoder"); each step maps the token list.</summary>
public interface IDecoder
{
    List<string> Decode(List<string> tokens);
}

public sealed class ByteLevelDecoder : IDecoder
{
    public List<string> Decode(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (var t in tokens) ByteLevelAlphabet.Decode(t, bytes);
        return [Encoding.UTF8.GetString(bytes.ToArray())];
    }
}

public sealed class MetaspaceDecoder(string replacement, bool stripLeading) : IDecoder
{
    public List<string> Decode(List<string> tokens) => tokens.Select((t, i) =>
    {
        var text = t.Replace(replacement, " ", StringComparison.Ordinal);
        return i == 0 && stripLeading && text.StartsWith(' ') ? text[1..] : text;
    }).ToList();
}

/// <summary>Replaces a String (or Regex) pattern in each token, as the Replace normalizer does in the text.</summary>
public sealed class ReplaceDecoder(string? literal, OnigurumaPattern? regex, string content) : IDecoder
{
    public List<string> Decode(List<string> tokens) =>
        tokens.Select(t => regex is null ? t.Replace(literal!, content, StringComparison.Ordinal) : regex.Replace(t, content)).ToList();
}

/// <summary>Runs of &lt;0xXX&gt; tokens become the UTF-8 text they spell (invalid bytes → U+FFFD each).</summary>
public sealed class ByteFallbackDecoder : IDecoder
{
    public List<string> Decode(List<string> tokens)
    {
        var result = new List<string>();
        var pending = new List<byte>();
        void Flush()
        {
            if (pending.Count == 0) return;
            var strict = new UTF8Encoding(false, true);
            try { result.Add(strict.GetString(pending.ToArray())); }
            catch (DecoderFallbackException) { result.AddRange(pending.Select(_ => "\uFFFD")); }
            pending.Clear();
        }
        foreach (var t in tokens)
        {
            if (t.Length == 6 && t.StartsWith("<0x") && t.EndsWith('>') &&
                byte.TryParse(t.AsSpan(3, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var b))
                pending.Add(b);
            else
            {
                Flush();
                result.Add(t);
            }
        }
        Flush();
        return result;
    }
}

public sealed class FuseDecoder : IDecoder
{
    public List<string> Decode(List<string> tokens) => [string.Concat(tokens)];
}

public sealed class StripDecoder(string content, int start, int stop) : IDecoder
{
    public List<string> Decode(List<string> tokens) => tokens.Select(t =>
    {
        int from = 0, to = t.Length;
        for (int i = 0; i < start && t.AsSpan(from).StartsWith(content); i++) from += content.Length;
        for (int i = 0; i < stop && to - content.Length >= from && t.AsSpan(from, to - from).EndsWith(content); i++) to -= content.Length;
        return t[from..to];
    }).ToList();
}

/// <summary>
/// WordPiece: after the first token, a continuation drops its prefix (compared ordinally: "##" followed by a combining
/// mark is still "##") and any other token gets a space before it; with cleanup, the tokenization spaces before
/// punctuation and English contractions are removed token by token, as the Rust library does.
/// </summary>
public sealed class WordPieceDecoder(string prefix, bool cleanup = true) : IDecoder
{
    public List<string> Decode(List<string> tokens) => tokens.Select((t, i) =>
    {
        if (i != 0) t = t.StartsWith(prefix, StringComparison.Ordinal) ? t[prefix.Length..] : " " + t;
        return cleanup ? Cleanup(t) : t;
    }).ToList();

    private static string Cleanup(string token) => token.Replace(" .", ".", StringComparison.Ordinal)
        .Replace(" ?", "?", StringComparison.Ordinal).Replace(" !", "!", StringComparison.Ordinal)
        .Replace(" ,", ",", StringComparison.Ordinal).Replace(" ' ", "'", StringComparison.Ordinal)
        .Replace(" n't", "n't", StringComparison.Ordinal).Replace(" 'm", "'m", StringComparison.Ordinal)
        .Replace(" do not", " don't", StringComparison.Ordinal).Replace(" 's", "'s", StringComparison.Ordinal)
        .Replace(" 've", "'ve", StringComparison.Ordinal).Replace(" 're", "'re", StringComparison.Ordinal);
}

public sealed class SequenceDecoder(IReadOnlyList<IDecoder> steps) : IDecoder
{
    public List<string> Decode(List<string> tokens)
    {
        foreach (var s in steps) tokens = s.Decode(tokens);
        return tokens;
    }
}

internal static class DecoderFactory
{
    public static IDecoder Create(JsonConfig c) => c.Type switch
    {
        "ByteLevel" => new ByteLevelDecoder(),
        "Metaspace" => new MetaspaceDecoder(c.Char("replacement", "\u2581"),
            c.String("prepend_scheme") is { } s ? s != "never" : c.Bool("add_prefix_space", true)),
        "Replace" => CreateReplace(c),
        "ByteFallback" => new ByteFallbackDecoder(),
        "Fuse" => new FuseDecoder(),
        "Strip" => new StripDecoder(c.Char("content", " "), c.Count("start", 0), c.Count("stop", 0)),
        "WordPiece" => new WordPieceDecoder(c.String("prefix") ?? "##", c.Bool("cleanup", true)),
        "Sequence" => new SequenceDecoder(c.Array("decoders").Select(Create).ToArray()),
        _ => throw c.Unsupported("decoder", "ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, WordPiece, Sequence"),
    };

    private static ReplaceDecoder CreateReplace(JsonConfig c)
    {
        var (literal, regex) = Patterns.Read(c.Child("pattern"));
        return new ReplaceDecoder(literal, regex, c.String("content") ?? "");
    }
}
