using System.Text;

namespace Eval.Tokenizers;

/// <summary>
/// BERT's normalizer (tokenizer.json "BertNormalizer"), in the Rust library's order: clean the text (drop NUL, U+FFFD
/// and control/format/private-use characters as the library's table has them; every whitespace becomes a space), put spaces around CJK ideographs, strip
/// accents (NFD, then drop non-spacing marks; by default only when lowercasing), lowercase. Works by code point.
/// </summary>
public sealed record BertNormalizer(bool CleanText, bool HandleChineseChars, bool? StripAccents, bool Lowercase) : INormalizer
{
    public string Normalize(string text)
    {
        if (CleanText) text = Clean(text);
        if (HandleChineseChars) text = SpaceIdeographs(text);
        if (StripAccents ?? Lowercase) text = StripAccentsNormalizer.Strip(UnicodeNormalizer.Apply(text, NormalizationForm.FormD), RustUnicodeTables.NonspacingMarks);
        if (Lowercase) text = LowercaseNormalizer.Lower(text);
        return text;
    }

    private static string Clean(string text)
    {
        var builder = new StringBuilder(text.Length);
        foreach (var rune in text.EnumerateRunes())
        {
            if (RustUnicodeTables.Contains(RustUnicodeTables.CleanTextDropped, rune.Value)) continue;
            if (rune.Value is '\t' or '\n' or '\r' || UnicodeProperties.IsWhiteSpace(rune)) builder.Append(' ');
            else builder.AppendRune(rune);
        }
        return builder.ToString();
    }

    private static string SpaceIdeographs(string text)
    {
        StringBuilder? builder = null;
        int copied = 0, index = 0;
        foreach (var rune in text.EnumerateRunes())
        {
            if (IsCjkIdeograph(rune.Value))
            {
                builder ??= new StringBuilder(text.Length + 16);
                builder.Append(text, copied, index - copied).Append(' ').AppendRune(rune).Append(' ');
                copied = index + rune.Utf16SequenceLength;
            }
            index += rune.Utf16SequenceLength;
        }
        return builder is null ? text : builder.Append(text, copied, text.Length - copied).ToString();
    }

    /// <summary>The CJK Unified Ideographs blocks and extensions, and the compatibility ideographs, as BERT lists them.</summary>
    private static bool IsCjkIdeograph(int c) =>
        c is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B920 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;
}
