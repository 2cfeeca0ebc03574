namespace Eval.Tokenizers;

/// <summary>
/// GPT-2's split pattern <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c> as a scanner
/// over code points, so that letters and numbers beyond the BMP (surrogate pairs in a .NET string) are one letter or
/// number each, as in the Rust library's regex, rather than two units of no class.
/// </summary>
public static class Gpt2Pattern
{
    private enum CharacterClass { Letter, Number, Space, Other }

    /// <summary>
    /// The end of the match that starts at start (the first alternative that matches, as a regex takes it); the matches
    /// from 0, each starting where the one before ends, cover the text.
    /// </summary>
    public static int MatchEnd(ReadOnlySpan<char> text, int start)
    {
        if (text[start] == '\'' && ContractionLength(text[(start + 1)..]) is > 0 and var suffix) return start + 1 + suffix;

        // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": an optional ASCII space, then a run of one class.
        int runStart = text[start] == ' ' && start + 1 < text.Length ? start + 1 : start;
        var first = ClassAt(text, runStart, out int length);
        if (first != CharacterClass.Space)
        {
            int end = runStart + length;
            while (end < text.Length && ClassAt(text, end, out length) == first) end += length;
            return end;
        }

        // "\s+(?!\S)|\s+": a whitespace run; when a non-space follows, its last character is left to prefix that.
        int spaceEnd = start, lastLength = 0;
        while (spaceEnd < text.Length && ClassAt(text, spaceEnd, out length) == CharacterClass.Space)
        {
            spaceEnd += length;
            lastLength = length;
        }
        if (spaceEnd == text.Length || spaceEnd - lastLength == start) return spaceEnd;
        return spaceEnd - lastLength;
    }

    /// <summary>The length of s, t, m, d, re, ve or ll at the start of rest (after an apostrophe), or 0.</summary>
    private static int ContractionLength(ReadOnlySpan<char> rest)
    {
        if (rest.IsEmpty) return 0;
        if (rest[0] is 's' or 't' or 'm' or 'd') return 1;
        if (rest.Length >= 2 && (rest[..2] is "re" || rest[..2] is "ve" || rest[..2] is "ll")) return 2;
        return 0;
    }

    /// <summary>Classes of the ASCII characters, looked up rather than computed.</summary>
    private static readonly CharacterClass[] AsciiClasses = Enumerable.Range(0, 128)
        .Select(c => Classify(new System.Text.Rune(c))).ToArray();

    private static CharacterClass ClassAt(ReadOnlySpan<char> text, int index, out int length)
    {
        if (text[index] < 0x80)
        {
            length = 1;
            return AsciiClasses[text[index]];
        }
        return Classify(UnicodeProperties.At(text, index, out length));
    }

    private static CharacterClass Classify(System.Text.Rune rune) =>
        UnicodeProperties.IsLetter(rune) ? CharacterClass.Letter
        : UnicodeProperties.IsNumber(rune) ? CharacterClass.Number
        : UnicodeProperties.IsWhiteSpace(rune) ? CharacterClass.Space
        : CharacterClass.Other;
}
