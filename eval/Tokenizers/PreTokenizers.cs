using System.Text;
using System.Text.RegularExpressions;

namespace Eval.Tokenizers;

/// <summary>Splits normalised text into the pieces the model tokenizes (tokenizer.json "pre_tokenizer").</summary>
public interface IPreTokenizer
{
    /// <summary>sectionIndex is the index of the text between added tokens (Metaspace's prepend_scheme "first").</summary>
    IEnumerable<string> Split(string text, int sectionIndex);
}

internal static class CharacterClasses
{
    /// <summary>ECMAScript's \s, which the reference implementation's regexes use.</summary>
    public const string Space = @"\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff";
    public static readonly Regex NonSpaceRuns = new($"[^{Space}]+", RegexOptions.Compiled | RegexOptions.CultureInvariant);
}

/// <summary>GPT-2 byte-level: optional GPT-2 regex split, then every UTF-8 byte mapped to a printable character.</summary>
public sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : IPreTokenizer
{
    private static readonly Regex Gpt2Pattern = new(
        $@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{{L}}+| ?\p{{N}}+| ?[^{CharacterClasses.Space}\p{{L}}\p{{N}}]+|[{CharacterClasses.Space}]+(?![^{CharacterClasses.Space}])|[{CharacterClasses.Space}]+",
        RegexOptions.Compiled | RegexOptions.CultureInvariant);

    public IEnumerable<string> Split(string text, int sectionIndex)
    {
        if (addPrefixSpace && !text.StartsWith(' ')) text = " " + text;
        if (!useRegex) return [ByteLevelAlphabet.Encode(text)];
        var pieces = new List<string>();
        foreach (Match m in Gpt2Pattern.Matches(text)) pieces.Add(ByteLevelAlphabet.Encode(m.Value));
        return pieces;
    }
}

/// <summary>The 256 printable characters GPT-2 uses for bytes.</summary>
public static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = BuildTable();
    private static readonly Dictionary<char, byte> CharToByte = ByteToChar.Select((c, b) => (c, (byte)b)).ToDictionary(p => p.c, p => p.Item2);

    public static string Encode(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        return string.Create(bytes.Length, bytes, (span, b) => { for (int i = 0; i < b.Length; i++) span[i] = ByteToChar[b[i]]; });
    }

    /// <summary>Back to bytes; characters outside the alphabet are kept as their UTF-8.</summary>
    public static void Decode(string text, List<byte> output)
    {
        foreach (var c in text)
        {
            if (CharToByte.TryGetValue(c, out var b)) output.Add(b);
            else output.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
        }
    }

    private static char[] BuildTable()
    {
        var table = new char[256];
        var printable = new bool[256];
        for (int b = '!'; b <= '~'; b++) printable[b] = true;
        for (int b = 0xA1; b <= 0xAC; b++) printable[b] = true;
        for (int b = 0xAE; b <= 0xFF; b++) printable[b] = true;
        int next = 0;
        for (int b = 0; b < 256; b++) table[b] = printable[b] ? (char)b : (char)(256 + next++);
        return table;
    }
}

public enum PrependScheme { Always, First, Never }

/// <summary>SentencePiece-style: spaces become ▁, a ▁ is prepended per the scheme, and the text splits before each ▁.</summary>
public sealed class MetaspacePreTokenizer(string replacement, PrependScheme scheme, bool split) : IPreTokenizer
{
    public IEnumerable<string> Split(string text, int sectionIndex)
    {
        var replaced = text.Replace(" ", replacement, StringComparison.Ordinal);
        if (!replaced.StartsWith(replacement, StringComparison.Ordinal)
            && (scheme == PrependScheme.Always || scheme == PrependScheme.First && sectionIndex == 0))
            replaced = replacement + replaced;
        if (!split) return [replaced];
        var pieces = new List<string>();
        int start = 0;
        for (int i = replaced.IndexOf(replacement, 1, StringComparison.Ordinal); i > 0; i = replaced.IndexOf(replacement, i + 1, StringComparison.Ordinal))
        {
            pieces.Add(replaced[start..i]);
            start = i;
        }
        pieces.Add(replaced[start..]);
        return pieces.Where(p => p.Length > 0);
    }
}

public enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>Splits around matches of a pattern, keeping the matches as the behaviour says (Split, Punctuation, Digits).</summary>
public sealed class PatternPreTokenizer(Regex pattern, SplitBehavior behavior, bool invert = false) : IPreTokenizer
{
    public IEnumerable<string> Split(string text, int sectionIndex)
    {
        // (start, end, isMatch) spans covering the text.
        var spans = new List<(int Start, int End, bool IsMatch)>();
        int position = 0;
        foreach (Match m in pattern.Matches(text))
        {
            if (m.Length == 0) continue;
            if (m.Index > position) spans.Add((position, m.Index, invert));
            spans.Add((m.Index, m.Index + m.Length, !invert));
            position = m.Index + m.Length;
        }
        if (position < text.Length) spans.Add((position, text.Length, invert));

        var pieces = new List<string>();
        switch (behavior)
        {
            case SplitBehavior.Removed:
                pieces.AddRange(spans.Where(s => !s.IsMatch).Select(s => text[s.Start..s.End]));
                break;
            case SplitBehavior.Isolated:
                pieces.AddRange(spans.Select(s => text[s.Start..s.End]));
                break;
            case SplitBehavior.Contiguous:
                for (int i = 0; i < spans.Count; i++)
                {
                    int start = spans[i].Start;
                    while (i + 1 < spans.Count && spans[i + 1].IsMatch && spans[i].IsMatch) i++;
                    pieces.Add(text[start..spans[i].End]);
                }
                break;
            case SplitBehavior.MergedWithPrevious:
                for (int i = 0; i < spans.Count; i++)
                {
                    if (spans[i].IsMatch && pieces.Count > 0 && !spans[i - 1].IsMatch) pieces[^1] += text[spans[i].Start..spans[i].End];
                    else pieces.Add(text[spans[i].Start..spans[i].End]);
                }
                break;
            case SplitBehavior.MergedWithNext:
                for (int i = 0; i < spans.Count; i++)
                {
                    var piece = text[spans[i].Start..spans[i].End];
                    if (spans[i].IsMatch && i + 1 < spans.Count && !spans[i + 1].IsMatch)
                        piece += text[spans[++i].Start..spans[i].End];
                    pieces.Add(piece);
                }
                break;
        }
        return pieces.Where(p => p.Length > 0);
    }
}

/// <summary>Pieces are the runs of non-whitespace (WhitespaceSplit) or of \w / other non-space (Whitespace).</summary>
public sealed class RegexMatchesPreTokenizer(Regex pieces) : IPreTokenizer
{
    public static readonly RegexMatchesPreTokenizer WhitespaceSplit = new(CharacterClasses.NonSpaceRuns);
    public static readonly RegexMatchesPreTokenizer Whitespace = new(new Regex($@"\w+|[^\w{CharacterClasses.Space}]+", RegexOptions.Compiled | RegexOptions.CultureInvariant));

    public IEnumerable<string> Split(string text, int sectionIndex) => pieces.Matches(text).Select(m => m.Value);
}

public sealed class SequencePreTokenizer(IReadOnlyList<IPreTokenizer> steps) : IPreTokenizer
{
    public IEnumerable<string> Split(string text, int sectionIndex)
    {
        IEnumerable<string> pieces = [text];
        foreach (var step in steps) pieces = pieces.SelectMany(p => step.Split(p, sectionIndex)).ToList();
        return pieces;
    }
}

internal static class PreTokenizerFactory
{
    private const string Punctuation = @"\p{P}\u0021-\u002F\u003A-\u0040\u005B-\u0060\u007B-\u007E";

    public static IPreTokenizer Create(JsonConfig c) => c.Type switch
    {
        "ByteLevel" => new ByteLevelPreTokenizer(c.Bool("add_prefix_space", false), c.Bool("use_regex", true)),
        "Metaspace" => new MetaspacePreTokenizer(c.String("replacement") ?? "\u2581", Scheme(c), c.Bool("split", true)),
        "Whitespace" => RegexMatchesPreTokenizer.Whitespace,
        "WhitespaceSplit" => RegexMatchesPreTokenizer.WhitespaceSplit,
        "Digits" => new PatternPreTokenizer(new Regex(c.Bool("individual_digits", false) ? "[0-9]" : "[0-9]+", RegexOptions.Compiled), SplitBehavior.Isolated),
        "Punctuation" => new PatternPreTokenizer(new Regex($"[{Punctuation}]", RegexOptions.Compiled), Behavior(c, SplitBehavior.Isolated)),
        "BertPreTokenizer" => new SequencePreTokenizer([RegexMatchesPreTokenizer.WhitespaceSplit,
            new PatternPreTokenizer(new Regex($"[{Punctuation}]", RegexOptions.Compiled), SplitBehavior.Isolated)]),
        "Split" => CreateSplit(c),
        "Sequence" => new SequencePreTokenizer(c.Array("pretokenizers").Select(Create).ToArray()),
        _ => throw c.Unsupported("pre_tokenizer", "ByteLevel, Metaspace, Whitespace, WhitespaceSplit, Digits, Punctuation, BertPreTokenizer, Split, Sequence"),
    };

    private static IPreTokenizer CreateSplit(JsonConfig c)
    {
        var (literal, regex) = Patterns.Read(c.Child("pattern"));
        regex ??= new Regex(Regex.Escape(literal!), RegexOptions.Compiled);
        return new PatternPreTokenizer(regex, Behavior(c, SplitBehavior.Isolated), c.Bool("invert", false));
    }

    private static SplitBehavior Behavior(JsonConfig c, SplitBehavior fallback) =>
        c.String("behavior") is { } b
            ? Enum.TryParse<SplitBehavior>(b, out var parsed) ? parsed : throw c.Error($"behavior '{b}' is not one of {string.Join(", ", Enum.GetNames<SplitBehavior>())}")
            : fallback;

    private static PrependScheme Scheme(JsonConfig c) => c.String("prepend_scheme") switch
    {
        "always" => PrependScheme.Always,
        "first" => PrependScheme.First,
        "never" => PrependScheme.Never,
        null => c.Bool("add_prefix_space", true) ? PrependScheme.Always : PrependScheme.Never,
        var other => throw c.Error($"prepend_scheme '{other}' is not one of always, first, never"),
    };
}
