using System.Text;
using System.Text.RegularExpressions;

namespace Eval.Tokenizers;

/// <summary>Rewrites text before pre-tokenization (tokenizer.json "normalizer").</summary>
public interface INormalizer
{
    string Normalize(string text);
}

public sealed record UnicodeNormalizer(NormalizationForm Form) : INormalizer
{
    /// <summary>Text below U+0300 (where the combining marks begin) is already in NFC.</summary>
    public string Normalize(string text) =>
        Form == NormalizationForm.FormC && !text.AsSpan().ContainsAnyInRange('\u0300', char.MaxValue) || text.IsNormalized(Form)
            ? text : text.Normalize(Form);
}

public sealed record LowercaseNormalizer : INormalizer
{
    public string Normalize(string text) => text.ToLowerInvariant();
}

public sealed record StripNormalizer(bool Left, bool Right) : INormalizer
{
    public string Normalize(string text) => Left && Right ? text.Trim() : Left ? text.TrimStart() : Right ? text.TrimEnd() : text;
}

public sealed record StripAccentsNormalizer : INormalizer
{
    public string Normalize(string text)
    {
        var builder = new StringBuilder(text.Length);
        foreach (var c in text)
            if (System.Globalization.CharUnicodeInfo.GetUnicodeCategory(c) != System.Globalization.UnicodeCategory.NonSpacingMark)
                builder.Append(c);
        return builder.ToString();
    }
}

public sealed record PrependNormalizer(string Prefix) : INormalizer
{
    public string Normalize(string text) => text.Length == 0 ? text : Prefix + text;
}

/// <summary>Replace with a literal string pattern or a regex (compiled once).</summary>
public sealed class ReplaceNormalizer(string? literal, Regex? regex, string content) : INormalizer
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
            "Prepend" => new PrependNormalizer(c.String("prepend") ?? throw c.Error("has no \"prepend\"")),
            "Replace" => CreateReplace(c),
            "Precompiled" => PrecompiledNormalizer.FromBase64(c.String("precompiled_charsmap") ?? "", c.Where),
            "Sequence" => new SequenceNormalizer(c.Array("normalizers").Select(Create).OfType<INormalizer>().ToArray()),
            _ => throw c.Unsupported("normalizer", "NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Prepend, Replace, Precompiled, Sequence"),
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
    public static (string? Literal, Regex? Regex) Read(JsonConfig pattern)
    {
        if (pattern.String("String") is { } literal) return (literal, null);
        if (pattern.String("Regex") is { } regex)
        {
            try { return (null, new Regex(regex, RegexOptions.Compiled | RegexOptions.CultureInvariant)); }
            catch (ArgumentException e) { throw pattern.Error($"regex '{regex}' cannot be compiled: {e.Message}"); }
        }
        throw pattern.Error("must be {\"String\": ...} or {\"Regex\": ...}");
    }
}
