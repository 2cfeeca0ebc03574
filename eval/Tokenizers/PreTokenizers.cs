using System.Text;
using System.Text.RegularExpressions;

namespace Eval.Tokenizers;

/// <summary>Splits normalised text into the pieces the model tokenizes (tokenizer.json "pre_tokenizer").</summary>
public interface IPreTokenizer
{
    /// <summary>sectionIndex is the index of the text between added tokens (Metaspace's prepend_scheme "first").</summary>
    IEnumerable<string> Split(string text, int sectionIndex);
}

/// <summary>GPT-2 byte-level: optional GPT-2 pattern split, then every UTF-8 byte mapped to a printable character.</summary>
public sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : IPreTokenizer
{
    public IEnumerable<string> Split(string text, int sectionIndex)
    {
        if (addPrefixSpace && !text.StartsWith(' ')) text = " " + text;
        if (!useRegex) return [ByteLevelAlphabet.Encode(text)];
        var matches = new List<(int Start, int Length)>();
        Gpt2Pattern.Matches(text, matches);
        var pieces = new List<string>(matches.Count);
        foreach (var (start, length) in matches) pieces.Add(ByteLevelAlphabet.Encode(text.AsSpan(start, length)));
        return pieces;
    }
}

/// <summary>The 256 printable characters GPT-2 uses for bytes.</summary>
public static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = BuildTable();
    private static readonly Dictionary<char, byte> CharToByte = ByteToChar.Select((c, b) => (c, (byte)b)).ToDictionary(p => p.c, p => p.Item2);

    public static string Encode(ReadOnlySpan<char> text)
    {
        int count = Encoding.UTF8.GetByteCount(text);
        Span<byte> bytes = count <= 256 ? stackalloc byte[count] : new byte[count];
        Encoding.UTF8.GetBytes(text, bytes);
        Span<char> chars = count <= 256 ? stackalloc char[count] : new char[count];
        for (int i = 0; i < count; i++) chars[i] = ByteToChar[bytes[i]];
        return new string(chars);
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

/// <summary>
/// Splits around matches, keeping them as the behaviour says: matches of a regex (Split) or every code point of a class
/// (Punctuation; Digits, where Contiguous keeps runs together).
/// </summary>
public sealed class PatternPreTokenizer : IPreTokenizer
{
    private readonly Regex? pattern;
    private readonly Func<Rune, bool>? codePointClass;
    private readonly SplitBehavior behavior;
    private readonly bool invert;

    private PatternPreTokenizer(Regex? pattern, Func<Rune, bool>? codePointClass, SplitBehavior behavior, bool invert)
    {
        this.pattern = pattern;
        this.codePointClass = codePointClass;
        this.behavior = behavior;
        this.invert = invert;
    }

    public static PatternPreTokenizer RegexMatches(Regex pattern, SplitBehavior behavior, bool invert = false) => new(pattern, null, behavior, invert);

    /// <summary>Each code point of the class is a match of its own, as Rust's split on a char predicate.</summary>
    public static PatternPreTokenizer EachCodePoint(Func<Rune, bool> codePointClass, SplitBehavior behavior) => new(null, codePointClass, behavior, false);

    private List<(int Start, int End)> Matches(string text)
    {
        var matches = new List<(int Start, int End)>();
        if (pattern is not null)
        {
            foreach (Match m in pattern.Matches(text))
                if (m.Length > 0) matches.Add((m.Index, m.Index + m.Length));
            return matches;
        }
        for (int i = 0; i < text.Length;)
        {
            var rune = UnicodeProperties.At(text, i, out int length);
            if (codePointClass!(rune)) matches.Add((i, i + length));
            i += length;
        }
        return matches;
    }

    public IEnumerable<string> Split(string text, int sectionIndex)
    {
        // (start, end, isMatch) spans covering the text.
        var spans = new List<(int Start, int End, bool IsMatch)>();
        int position = 0;
        foreach (var (start, end) in Matches(text))
        {
            if (start > position) spans.Add((position, start, invert));
            spans.Add((start, end, !invert));
            position = end;
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

/// <summary>
/// Pieces are the maximal runs of code points of one class, whitespace dropped: runs of non-whitespace
/// (WhitespaceSplit), or of \w and of other non-space (Whitespace, the regex <c>\w+|[^\w\s]+</c>).
/// </summary>
public sealed class CodePointRunsPreTokenizer : IPreTokenizer
{
    private readonly bool separateWords;

    private CodePointRunsPreTokenizer(bool separateWords) => this.separateWords = separateWords;

    public static readonly CodePointRunsPreTokenizer WhitespaceSplit = new(false);
    public static readonly CodePointRunsPreTokenizer Whitespace = new(true);

    /// <summary>0 for whitespace, else the class whose runs are pieces.</summary>
    private int ClassOf(Rune rune) =>
        UnicodeProperties.IsWhiteSpace(rune) ? 0 : !separateWords || UnicodeProperties.IsWordCharacter(rune) ? 1 : 2;

    public IEnumerable<string> Split(string text, int sectionIndex)
    {
        var pieces = new List<string>();
        int runStart = 0, runClass = 0;
        for (int i = 0; i < text.Length;)
        {
            int cls = ClassOf(UnicodeProperties.At(text, i, out int length));
            if (cls != runClass)
            {
                if (runClass != 0) pieces.Add(text[runStart..i]);
                runStart = i;
                runClass = cls;
            }
            i += length;
        }
        if (runClass != 0) pieces.Add(text[runStart..]);
        return pieces;
    }
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
    public static IPreTokenizer Create(JsonConfig c) => c.Type switch
    {
        "ByteLevel" => new ByteLevelPreTokenizer(c.Bool("add_prefix_space", false), c.Bool("use_regex", true)),
        "Metaspace" => new MetaspacePreTokenizer(c.String("replacement") ?? "\u2581", Scheme(c), c.Bool("split", true)),
        "Whitespace" => CodePointRunsPreTokenizer.Whitespace,
        "WhitespaceSplit" => CodePointRunsPreTokenizer.WhitespaceSplit,
        "Digits" => PatternPreTokenizer.EachCodePoint(UnicodeProperties.IsNumeric,
            c.Bool("individual_digits", false) ? SplitBehavior.Isolated : SplitBehavior.Contiguous),
        "Punctuation" => PatternPreTokenizer.EachCodePoint(UnicodeProperties.IsPunctuation, Behavior(c, SplitBehavior.Isolated)),
        "BertPreTokenizer" => new SequencePreTokenizer([CodePointRunsPreTokenizer.WhitespaceSplit,
            PatternPreTokenizer.EachCodePoint(UnicodeProperties.IsPunctuation, SplitBehavior.Isolated)]),
        "Split" => CreateSplit(c),
        "Sequence" => new SequencePreTokenizer(c.Array("pretokenizers").Select(Create).ToArray()),
        _ => throw c.Unsupported("pre_tokenizer", "ByteLevel, Metaspace, Whitespace, WhitespaceSplit, Digits, Punctuation, BertPreTokenizer, Split, Sequence"),
    };

    private static IPreTokenizer CreateSplit(JsonConfig c)
    {
        var (literal, regex) = Patterns.Read(c.Child("pattern"));
        if (regex is not null) return new RegexSplitPreTokenizer(regex, Behavior(c, SplitBehavior.Isolated), c.Bool("invert", false));
        return PatternPreTokenizer.RegexMatches(new Regex(Regex.Escape(literal!), RegexOptions.Compiled), Behavior(c, SplitBehavior.Isolated), c.Bool("invert", false));
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
