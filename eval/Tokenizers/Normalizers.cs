using System.Text;

namespace Eval.Tokenizers;

/// <summary>Rewrites text before pre-tokenization (tokenizer.json "normalizer").</summary>
public interface INormalizer
{
    string Normalize(string text);
}

public sealed record UnicodeNormalizer(NormalizationForm Form) : INormalizer
{
    public string Normalize(string text) => Apply(text, Form);

    /// <summary>
    /// The Unicode normalization form of text as the Rust library computes it, with its (older) Unicode data rather than
    /// the machine's ICU (<see cref="RustUnicodeNormalization"/>); the text itself when the form changes nothing.
    /// </summary>
    internal static string Apply(string text, NormalizationForm form) => RustUnicodeNormalization.Normalize(text, form);
}

public sealed record LowercaseNormalizer : INormalizer
{
    public string Normalize(string text) => Lower(text);

    /// <summary>
    /// Rust's <c>char::to_lowercase</c> code point by code point, from the Rust library's own mapping (not the
    /// machine's ICU, whose Unicode version varies): the simple mappings and the one full mapping, İ → i̇.
    /// </summary>
    public static string Lower(string text)
    {
        var builder = new StringBuilder(text.Length);
        foreach (var rune in text.EnumerateRunes())
        {
            if (rune.Value == 0x130) builder.Append("i\u0307");
            else builder.AppendRune(new Rune(RustUnicodeTables.ToLower(rune.Value)));
        }
        return builder.ToString();
    }
}

public sealed record StripNormalizer(bool Left, bool Right) : INormalizer
{
    public string Normalize(string text) => Left && Right ? text.Trim() : Left ? text.TrimStart() : Right ? text.TrimEnd() : text;
}

public sealed record StripAccentsNormalizer : INormalizer
{
    /// <summary>The Rust library drops every combining mark (Mn, Mc, Me of its table) by code point, without decomposing.</summary>
    public string Normalize(string text) => Strip(text, RustUnicodeTables.CombiningMarks);

    /// <summary>Drops the code points in the (first, last) ranges.</summary>
    internal static string Strip(string text, ReadOnlySpan<int> marks)
    {
        var builder = new StringBuilder(text.Length);
        foreach (var rune in text.EnumerateRunes())
            if (!RustUnicodeTables.Contains(marks, rune.Value))
                builder.AppendRune(rune);
        return builder.ToString();
    }
}

public sealed record PrependNormalizer(string Prefix) : INormalizer
{
    public string Normalize(string text) => text.Length == 0 ? text : Prefix + text;
}

/// <summary>Replace with a literal string pattern or a regex (compiled once).</summary>
public sealed class ReplaceNormalizer(string? literal, OnigurumaPattern? regex, string content) : INormalizer
{
    public string Normalize(string text) => regex is null ? text.Replace(literal!, content, StringComparison.Ordinal) : regex.Replace(text, content);
}

public sealed class SequenceNormalizer(IReadOnlyList<INormalizer> normalizers) : INormalizer
{
    public string Normalize(string text)
    {
        foreach (var n in normalizers) text = n.Normalize(text);
        return text;
    }
}

internal static class NormalizerFactory
{
    public static INormalizer? Create(JsonConfig c)
    {
        return c.Type switch
        {
            "NFC" => new UnicodeNormalizer(NormalizationForm.FormC),
            "NFD" => new UnicodeNormalizer(NormalizationForm.FormD),
            "NFKC" => new UnicodeNormalizer(NormalizationForm.FormKC),
            "NFKD" => new UnicodeNormalizer(NormalizationForm.FormKD),
            "Lowercase" => new LowercaseNormalizer(),
            "Strip" => new StripNormalizer(c.Bool("strip_left", true), c.Bool("strip_right", true)),
            "StripAccents" => new StripAccentsNormalizer(),
            "BertNormalizer" => new BertNormalizer(c.Bool("clean_text", true), c.Bool("handle_chinese_chars", true),
                c.Has("strip_accents") ? c.Bool("strip_accents", false) : null,
                c.Bool("lowercase", true)),
            "Prepend" => new PrependNormalizer(c.String("prepend") ?? throw c.Error("has no \"prepend\"")),
            "Replace" => CreateReplace(c),
            "Precompiled" => PrecompiledNormalizer.FromBase64(c.String("precompiled_charsmap") ?? "", c.Where),
            "Sequence" => new SequenceNormalizer(c.Array("normalizers").Select(Create).OfType<INormalizer>().ToArray()),
            _ => throw c.Unsupported("normalizer", "NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, BertNormalizer, Prepend, Replace, Precompiled, Sequence"),
        };
    }

    private static ReplaceNormalizer CreateReplace(JsonConfig c)
    {
        var (literal, regex) = Patterns.Read(c.Child("pattern"));
        return new ReplaceNormalizer(literal, regex, c.String("content") ?? "");
    }
}

/// <summary>The "pattern" objects of Replace and Split: {"String": "..."} or {"Regex": "..."}.</summary>
internal static class Patterns
{
    /// <summary>A regex is Oniguruma's, as the Rust library compiles it (<see cref="OnigurumaPattern"/>).</summary>
    public static (string? Literal, OnigurumaPattern? Regex) Read(JsonConfig pattern)
    {
        // The library escapes a String into a regex: an empty one matches the empty string at every code point boundary.
        if (pattern.String("String") is { } literal) return literal.Length > 0 ? (literal, null) : (null, OnigurumaPattern.Compile(""));
        if (pattern.String("Regex") is { } regex)
        {
            try { return (null, OnigurumaPattern.Compile(regex)); }
            catch (TokenizerFormatException e) { throw pattern.Error(e.Message); }
        }
        throw pattern.Error("must be {\"String\": ...} or {\"Regex\": ...}");
    }
}

/// <summary>Appending a code point to a StringBuilder without a string per code point.</summary>
internal static class StringBuilderRunes
{
    public static StringBuilder AppendRune(this StringBuilder builder, Rune rune)
    {
        Span<char> units = stackalloc char[2];
        return builder.Append(units[..rune.EncodeToUtf16(units)]);
    }
}
