using System.Text;
using System.Text.RegularExpressions;

namespace Eval.Tokenizers;

/// <summary>Splits normalised text into the pieces the model tokenizes (tokenizer.json "pre_tokenizer").</summary>
public interface IPreTokenizer
{
    /// <summary>
    /// Appends the pieces of text to output (empty pieces dropped). sectionIndex is the index of the text between
    /// added tokens (Metaspace's prepend_scheme "first").
    /// </summary>
    void Split(ReadOnlySpan<char> text, int sectionIndex, PieceList output);
}

/// <summary>GPT-2 byte-level: optional GPT-2 pattern split, then every UTF-8 byte mapped to a printable character.</summary>
public sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : IPreTokenizer
{
    public void Split(ReadOnlySpan<char> text, int sectionIndex, PieceList output)
    {
        if (addPrefixSpace && (text.IsEmpty || text[0] != ' ')) text = string.Concat(" ", text);
        if (!useRegex)
        {
            Append(text, output);
            return;
        }
        for (int start = 0; start < text.Length;)
        {
            int end = Gpt2Pattern.MatchEnd(text, start);
            Append(text[start..end], output);
            start = end;
        }
    }

    private static void Append(ReadOnlySpan<char> piece, PieceList output) =>
        output.Commit(ByteLevelAlphabet.Encode(piece, output.Reserve(piece.Length * 3)));
}

/// <summary>The 256 printable characters GPT-2 uses for bytes.</summary>
public static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = BuildTable();
    private static readonly Dictionary<char, byte> CharToByte = ByteToChar.Select((c, b) => (c, (byte)b)).ToDictionary(p => p.c, p => p.Item2);

    /// <summary>The character that stands for one byte.</summary>
    public static char CharOf(byte value) => ByteToChar[value];

    public static string Encode(ReadOnlySpan<char> text)
    {
        Span<char> chars = text.Length <= 128 ? stackalloc char[text.Length * 3] : new char[text.Length * 3];
        return new string(chars[..Encode(text, chars)]);
    }

    /// <summary>
    /// Writes the alphabet's character for each UTF-8 byte of text (a lone surrogate as U+FFFD's bytes) into
    /// destination, which has room for 3 per UTF-16 unit; returns how many were written.
    /// </summary>
    public static int Encode(ReadOnlySpan<char> text, Span<char> destination)
    {
        var table = ByteToChar;
        Span<byte> bytes = stackalloc byte[4];
        int written = 0;
        for (int i = 0; i < text.Length;)
        {
            char c = text[i];
            if (c < 0x80)
            {
                destination[written++] = table[c];
                i++;
                continue;
            }
            var rune = UnicodeProperties.At(text, i, out int length);
            i += length;
            int count = rune.EncodeToUtf8(bytes);
            for (int b = 0; b < count; b++) destination[written++] = table[bytes[b]];
        }
        return written;
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
    [System.Runtime.CompilerServices.SkipLocalsInit]
    public void Split(ReadOnlySpan<char> text, int sectionIndex, PieceList output)
    {
        var mark = replacement.AsSpan();
        int room = mark.Length + text.Length * Math.Max(mark.Length, 1);
        Span<char> buffer = room <= 512 ? stackalloc char[room] : new char[room];
        // The text with spaces replaced, written after room for a prepended mark.
        int length = mark.Length;
        foreach (var c in text)
        {
            if (c == ' ')
            {
                mark.CopyTo(buffer[length..]);
                length += mark.Length;
            }
            else buffer[length++] = c;
        }
        int start = mark.Length;
        if (!buffer[start..length].StartsWith(mark)
            && (scheme == PrependScheme.Always || scheme == PrependScheme.First && sectionIndex == 0))
        {
            mark.CopyTo(buffer);
            start = 0;
        }
        var replaced = buffer[start..length];
        if (!split || mark.IsEmpty)
        {
            output.Add(replaced);
            return;
        }
        int pieceStart = 0;
        for (int i = NextMark(replaced, mark, 1); i > 0; i = NextMark(replaced, mark, i + 1))
        {
            output.Add(replaced[pieceStart..i]);
            pieceStart = i;
        }
        output.Add(replaced[pieceStart..]);
    }

    private static int NextMark(ReadOnlySpan<char> text, ReadOnlySpan<char> mark, int from)
    {
        if (from > text.Length) return -1;
        int found = text[from..].IndexOf(mark);
        return found < 0 ? -1 : from + found;
    }
}

public enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>
/// Splits around matches, keeping them as the behaviour says: matches of a regex (Split) or every code point of a class
/// (Punctuation; Digits, where Contiguous keeps runs together). Every piece is a range of the text.
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

    /// <summary>(start, end, isMatch) spans covering the text.</summary>
    private List<(int Start, int End, bool IsMatch)> Spans(ReadOnlySpan<char> text)
    {
        var spans = new List<(int Start, int End, bool IsMatch)>();
        int position = 0;
        void Match(int start, int end)
        {
            if (start > position) spans.Add((position, start, invert));
            spans.Add((start, end, !invert));
            position = end;
        }
        if (pattern is not null)
        {
            foreach (var m in pattern.EnumerateMatches(text))
                if (m.Length > 0) Match(m.Index, m.Index + m.Length);
        }
        else
        {
            for (int i = 0; i < text.Length;)
            {
                var rune = UnicodeProperties.At(text, i, out int length);
                if (codePointClass!(rune)) Match(i, i + length);
                i += length;
            }
        }
        if (position < text.Length) spans.Add((position, text.Length, invert));
        return spans;
    }

    public void Split(ReadOnlySpan<char> text, int sectionIndex, PieceList output)
    {
        var spans = Spans(text);
        switch (behavior)
        {
            case SplitBehavior.Removed:
                foreach (var s in spans)
                    if (!s.IsMatch) output.Add(text[s.Start..s.End]);
                break;
            case SplitBehavior.Isolated:
                foreach (var s in spans) output.Add(text[s.Start..s.End]);
                break;
            case SplitBehavior.Contiguous:
                for (int i = 0; i < spans.Count; i++)
                {
                    int start = spans[i].Start;
                    while (i + 1 < spans.Count && spans[i + 1].IsMatch && spans[i].IsMatch) i++;
                    output.Add(text[start..spans[i].End]);
                }
                break;
            case SplitBehavior.MergedWithPrevious:
                // A match joins the non-match before it (which is the piece just before, and adjacent).
                for (int i = 0; i < spans.Count; i++)
                {
                    int start = spans[i].Start;
                    if (!spans[i].IsMatch && i + 1 < spans.Count && spans[i + 1].IsMatch) i++;
                    output.Add(text[start..spans[i].End]);
                }
                break;
            case SplitBehavior.MergedWithNext:
                for (int i = 0; i < spans.Count; i++)
                {
                    int start = spans[i].Start;
                    if (spans[i].IsMatch && i + 1 < spans.Count && !spans[i + 1].IsMatch) i++;
                    output.Add(text[start..spans[i].End]);
                }
                break;
        }
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

    public void Split(ReadOnlySpan<char> text, int sectionIndex, PieceList output)
    {
        int runStart = 0, runClass = 0;
        for (int i = 0; i < text.Length;)
        {
            int cls = ClassOf(UnicodeProperties.At(text, i, out int length));
            if (cls != runClass)
            {
                if (runClass != 0) output.Add(text[runStart..i]);
                runStart = i;
                runClass = cls;
            }
            i += length;
        }
        if (runClass != 0) output.Add(text[runStart..]);
    }
}

/// <summary>Each step splits every piece of the step before; the pieces between steps live in per-thread scratch lists.</summary>
public sealed class SequencePreTokenizer(IReadOnlyList<IPreTokenizer> steps) : IPreTokenizer
{
    private readonly ThreadLocal<(PieceList Current, PieceList Next)> scratch = new(() => (new PieceList(1024), new PieceList(1024)));

    public void Split(ReadOnlySpan<char> text, int sectionIndex, PieceList output)
    {
        if (steps.Count == 0)
        {
            output.Add(text);
            return;
        }
        if (steps.Count == 1)
        {
            steps[0].Split(text, sectionIndex, output);
            return;
        }
        var (current, next) = scratch.Value;
        current.Clear();
        steps[0].Split(text, sectionIndex, current);
        for (int s = 1; s < steps.Count; s++)
        {
            var target = s == steps.Count - 1 ? output : next;
            if (target == next) next.Clear();
            for (int i = 0; i < current.Count; i++) steps[s].Split(current[i], sectionIndex, target);
            if (target == next) (current, next) = (next, current);
        }
    }
}

internal static class PreTokenizerFactory
{
    public static IPreTokenizer Create(JsonConfig c) => c.Type switch
    {
        "ByteLevel" => new ByteLevelPreTokenizer(c.Bool("add_prefix_space", false), c.Bool("use_regex", true)),
        "Metaspace" => new MetaspacePreTokenizer(c.Char("replacement", "\u2581"), Scheme(c), c.Bool("split", true)),
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
