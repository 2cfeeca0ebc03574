using System.Globalization;
using System.Text;

namespace Eval.Tokenizers;

/// <summary>
/// SentencePiece's precompiled character map: a darts-clone double-array trie over UTF-8 bytes whose values index
/// NUL-terminated replacement strings. Each grapheme (shorter than 6 UTF-8 bytes) is replaced by the mapping of its
/// first matching prefix when there is one, else each character is mapped on its own — the rule of Hugging Face's
/// spm_precompiled crate.
/// </summary>
public sealed class PrecompiledNormalizer : INormalizer
{
    private readonly uint[] units;
    private readonly byte[] normalized;

    private PrecompiledNormalizer(uint[] units, byte[] normalized)
    {
        this.units = units;
        this.normalized = normalized;
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
        if (text.Length == 0) return text;
        var result = new StringBuilder(text.Length);
        var enumerator = StringInfo.GetTextElementEnumerator(text);
        Span<byte> buffer = stackalloc byte[64];
        while (enumerator.MoveNext())
        {
            var grapheme = (string)enumerator.Current;
            int byteCount = Encoding.UTF8.GetByteCount(grapheme);
            if (byteCount < 6 && Transform(grapheme, buffer) is { } whole)
            {
                result.Append(whole);
                continue;
            }
            for (int i = 0; i < grapheme.Length; i += char.IsSurrogatePair(grapheme, i) ? 2 : 1)
            {
                var ch = grapheme.Substring(i, char.IsSurrogatePair(grapheme, i) ? 2 : 1);
                result.Append(Transform(ch, buffer) ?? ch);
            }
        }
        return result.ToString();
    }

    /// <summary>The replacement for the first (shortest) trie prefix of chunk, or null.</summary>
    private string? Transform(string chunk, Span<byte> buffer)
    {
        int length = Encoding.UTF8.GetBytes(chunk, buffer);
        int? value = FirstPrefixValue(buffer[..length]);
        if (value is not { } start || start >= normalized.Length) return null;
        int end = Array.IndexOf(normalized, (byte)0, start);
        if (end < 0) end = normalized.Length;
        return Encoding.UTF8.GetString(normalized, start, end - start);
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
