using System.Buffers;
using System.Globalization;
using System.Text;

namespace Eval.Tokenizers;

/// <summary>
/// Character classes by code point, as Hugging Face's Rust tokenizers define them (Rust's <c>char</c> methods and its
/// regex engines' Unicode classes), not by UTF-16 unit and not as ECMAScript does: a letter beyond the BMP is one
/// letter; \s is Unicode White_Space (U+0085 is a space, U+FEFF is not); numeric is every Nd, Nl and No.
/// </summary>
public static class UnicodeProperties
{
    /// <summary>Unicode White_Space: Rust's <c>char::is_whitespace</c> and the regex class \s (the same set as .NET's).</summary>
    public static bool IsWhiteSpace(Rune r) => Rune.IsWhiteSpace(r);

    /// <summary>\p{L}.</summary>
    public static bool IsLetter(Rune r) => Rune.IsLetter(r);

    /// <summary>The regex class \p{N}: decimal digits, letter numbers (Ⅷ) and other numbers (², ½, ①).</summary>
    public static bool IsNumber(Rune r) => Rune.IsNumber(r);

    /// <summary>
    /// Rust's <c>char::is_numeric</c> (the Digits pre-tokenizer's class): \p{N} as Rust's standard library has it,
    /// which may know digits newer than the machine's ICU. ASCII and Latin-1 answer without the table.
    /// </summary>
    public static bool IsNumeric(Rune r) => r.Value < 0x100
        ? r.Value is >= '0' and <= '9' or 0xB2 or 0xB3 or 0xB9 or >= 0xBC and <= 0xBE
        : RustUnicodeTables.Contains(RustUnicodeTables.Numeric, r.Value);

    /// <summary>
    /// Rust's <c>char::is_ascii_punctuation() || is_punctuation()</c> as the library has it (the unicode_categories
    /// crate's older table, not today's \p{P}): the Punctuation and BERT pre-tokenizers' class.
    /// </summary>
    public static bool IsPunctuation(Rune r) => RustUnicodeTables.Contains(RustUnicodeTables.Punctuation, r.Value);

    /// <summary>
    /// The regex class \w: Alphabetic, marks, decimal digits, connector punctuation and the joiners. Alphabetic is
    /// letters, letter numbers and the Other_Alphabetic marks (covered by M) and symbols (the circled and squared letters).
    /// </summary>
    public static bool IsWordCharacter(Rune r) => Rune.GetUnicodeCategory(r) switch
    {
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.LetterNumber
            or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark
            or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.ConnectorPunctuation => true,
        _ => r.Value is 0x200C or 0x200D || r.Value is >= 0x24B6 and <= 0x24E9
             || r.Value is >= 0x1F130 and <= 0x1F149 || r.Value is >= 0x1F150 and <= 0x1F169 || r.Value is >= 0x1F170 and <= 0x1F189,
    };

    /// <summary>The code point at index (a lone surrogate counts as U+FFFD, one unit long, as Rust never sees one).</summary>
    public static Rune At(ReadOnlySpan<char> text, int index, out int length)
    {
        if (Rune.DecodeFromUtf16(text[index..], out var rune, out length) != OperationStatus.Done) rune = Rune.ReplacementChar;
        return rune;
    }
}
