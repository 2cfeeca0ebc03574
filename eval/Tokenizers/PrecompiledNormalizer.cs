using System.Globalization;
using System.Text;

namespace Eval.Tokenizers;

/// <summary>
/// SentencePiece's precompiled character map: a darts-clone double-array trie over UTF-8 bytes whose values index
/// NUL-terminated replacement strings. Each grapheme (shorter than 6 UTF-8 bytes) is replaced by the mapping of its
/// first matching prefix when there is one, else each character is mapped on its own — the rule of Hugging Face's
/// spm_precompiled crate. The mapping of every BMP character on its own is looked up once, when loading, and a
/// character is its own grapheme when it and the next are of the kinds no grapheme rule joins (letters, digits,
/// punctuation, symbols, spaces; not marks, controls, joiners, Hangul jamo, and the few such letters that join);
/// only other graphemes are found with <see cref="StringInfo"/>.
/// </summary>
public sealed class PrecompiledNormalizer : INormalizer
{
    private readonly uint[] units;
    private readonly byte[] normalized;
    /// <summary>The replacement of each BMP character on its own (null: none, it stays).</summary>
    private readonly string?[] characterMap = new string?[char.MaxValue + 1];
    /// <summary>Characters that form a grapheme of their own when the next one is also such a character.</summary>
    private readonly bool[] standsAlone = new bool[char.MaxValue + 1];
    /// <summary>Replacement strings by their offset in <see cref="normalized"/>, decoded on first use.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, string> replacements = new();

    private PrecompiledNormalizer(uint[] units, byte[] normalized)
    {
        this.units = units;
        this.normalized = normalized;
        Span<char> one = stackalloc char[1];
        for (int c = 0; c <= char.MaxValue; c++)
        {
            if (char.IsSurrogate((char)c)) continue;
            one[0] = (char)c;
            characterMap[c] = Transform(one);
            standsAlone[c] = StandsAlone((char)c);
        }
    }

    private static bool StandsAlone(char c)
    {
        if (c < 0x80) return c != '\r';
        // Hangul jamo and syllables (grapheme rules L, V, T, LV, LVT); the Lo / Lm characters that extend or are
        // spacing marks or prepended (Thai and Lao AM, halfwidth katakana sound marks, Malayalam dot reph).
        if (c is >= '\u1100' and <= '\u11FF' or >= '\uA960' and <= '\uA97F' or >= '\uAC00' and <= '\uD7FF'
            or '\u0E33' or '\u0EB3' or '\uFF9E' or '\uFF9F' or '\u0D4E') return false;
        return CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter
            or UnicodeCategory.TitlecaseLetter or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter
            or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber
            or UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
            or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation or UnicodeCategory.FinalQuotePunctuation
            or UnicodeCategory.OtherPunctuation or UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol
            or UnicodeCategory.ModifierSymbol or UnicodeCategory.OtherSymbol or UnicodeCategory.SpaceSeparator;
    }

    public static PrecompiledNormalizer FromBase64(string base64, string where)
    {
        byte[] data;
        try { data = Convert.FromBase64String(base64); }
        catch (FormatException) { throw new TokenizerFormatException($"{where}: precompiled_charsmap is not valid base64"); }
        if (data.Length < 4) throw new TokenizerFormatException($"{where}: precompiled_charsmap is empty");
        uint trieBytes = BitConverter.ToUInt32(data, 0);
        if (trieBytes % 4 != 0 || trieBytes > data.Length - 4)
            throw new TokenizerFormatException($"{where}: precompiled_charsmap trie size {trieBytes} does not fit its {data.Length} bytes");
        var units = new uint[trieBytes / 4];
        Buffer.BlockCopy(data, 4, units, 0, (int)trieBytes);
        return new PrecompiledNormalizer(units, data[(4 + (int)trieBytes)..]);
    }

    public string Normalize(string text)
    {
        // Built only from the first character that changes; until then the text is its own normalisation.
        StringBuilder? result = null;
        for (int i = 0; i < text.Length;)
        {
            char c = text[i];
            if (standsAlone[c] && (i + 1 == text.Length || standsAlone[text[i + 1]]))
            {
                if (characterMap[c] is { } replacement)
                {
                    result ??= new StringBuilder(text.Length + 16).Append(text, 0, i);
                    result.Append(replacement);
                }
                else result?.Append(c);
                i++;
                continue;
            }
            int length = StringInfo.GetNextTextElementLength(text.AsSpan(i));
            var grapheme = text.AsSpan(i, length);
            if (NormalizeGrapheme(grapheme) is { } changed)
            {
                result ??= new StringBuilder(text.Length + 16).Append(text, 0, i);
                result.Append(changed);
            }
            else result?.Append(grapheme);
            i += length;
        }
        return result?.ToString() ?? text;
    }

    /// <summary>The grapheme's normalisation, or null when it is unchanged.</summary>
    private string? NormalizeGrapheme(ReadOnlySpan<char> grapheme)
    {
        if (Encoding.UTF8.GetByteCount(grapheme) < 6 && Transform(grapheme) is { } whole) return whole;
        StringBuilder? result = null;
        for (int i = 0; i < grapheme.Length;)
        {
            int length = char.IsSurrogatePair(grapheme[i], i + 1 < grapheme.Length ? grapheme[i + 1] : '\0') ? 2 : 1;
            var ch = grapheme.Slice(i, length);
            var mapped = length == 1 ? characterMap[ch[0]] : Transform(ch);
            if (mapped is not null) (result ??= new StringBuilder().Append(grapheme[..i])).Append(mapped);
            else result?.Append(ch);
            i += length;
        }
        return result?.ToString();
    }

    /// <summary>The replacement for the first (shortest) trie prefix of chunk, or null.</summary>
    private string? Transform(ReadOnlySpan<char> chunk)
    {
        Span<byte> buffer = stackalloc byte[64];
        int length = chunk.Length <= 16 ? Encoding.UTF8.GetBytes(chunk, buffer) : -1;
        if (length < 0) buffer = Encoding.UTF8.GetBytes(chunk.ToString());
        else buffer = buffer[..length];
        int? value = FirstPrefixValue(buffer);
        if (value is not { } start || start >= normalized.Length) return null;
        return replacements.GetOrAdd(start, at =>
        {
            int end = Array.IndexOf(normalized, (byte)0, at);
            if (end < 0) end = normalized.Length;
            return Encoding.UTF8.GetString(normalized, at, end - at);
        });
    }

    private int? FirstPrefixValue(ReadOnlySpan<byte> key)
    {
        if (units.Length == 0) return null;
        uint nodePosition = Offset(units[0]);
        foreach (var b in key)
        {
            nodePosition ^= b;
            if (nodePosition >= units.Length) return null;
            uint unit = units[nodePosition];
            if (Label(unit) != b) return null;
            nodePosition ^= Offset(unit);
            if (HasLeaf(unit))
                return nodePosition < units.Length ? (int)(units[nodePosition] & 0x7FFFFFFF) : null;
        }
        return null;
    }

    private static bool HasLeaf(uint unit) => ((unit >> 8) & 1) == 1;
    private static uint Label(uint unit) => unit & (0x80000000u | 0xFF);
    private static uint Offset(uint unit) => (unit >> 10) << (int)((unit & (1u << 9)) >> 6);
}
