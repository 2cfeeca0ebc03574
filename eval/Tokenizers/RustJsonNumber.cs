using System.Globalization;

namespace Eval.Tokenizers;

/// <summary>
/// A JSON number read as the Rust library reads tokenizer.json: serde_json without its float_roundtrip feature takes
/// the decimal digits as an integer significand (digits past u64 dropped) and multiplies or divides it by a power of
/// ten, which is up to an ulp off the correctly rounded value for about a quarter of a Unigram vocabulary's scores.
/// Those ulps decide ties between segmentations of equal real score ("▁as" then 12 underscores in t5-small), so the
/// Unigram model must see the same doubles.
/// </summary>
public static class RustJsonNumber
{
    private static readonly double[] PowersOfTen = Enumerable.Range(0, 309).Select(i => double.Parse($"1e{i}", CultureInfo.InvariantCulture)).ToArray();

    /// <summary>The double serde_json makes of a JSON number's text.</summary>
    public static double Parse(ReadOnlySpan<char> text)
    {
        int i = 0;
        bool positive = true;
        if (i < text.Length && text[i] == '-')
        {
            positive = false;
            i++;
        }
        ulong significand = 0;
        int exponent = 0;
        bool overflowed = false;
        // Integer digits: past u64 they only scale the exponent; fraction digits past u64 are dropped.
        for (; i < text.Length && char.IsAsciiDigit(text[i]); i++)
        {
            if (overflowed || WouldOverflow(significand, (uint)(text[i] - '0')))
            {
                overflowed = true;
                exponent++;
            }
            else significand = significand * 10 + (uint)(text[i] - '0');
        }
        if (i < text.Length && text[i] == '.')
            for (i++; i < text.Length && char.IsAsciiDigit(text[i]); i++)
            {
                if (overflowed || WouldOverflow(significand, (uint)(text[i] - '0'))) overflowed = true;
                else
                {
                    significand = significand * 10 + (uint)(text[i] - '0');
                    exponent--;
                }
            }
        if (i < text.Length && text[i] is 'e' or 'E')
        {
            i++;
            bool positiveExponent = true;
            if (i < text.Length && text[i] is '+' or '-') positiveExponent = text[i++] == '+';
            // Saturated: past a million the value is 0 or out of range whatever the digits (serde_json: the same).
            int written = 0;
            int digits = i;
            for (; i < text.Length && char.IsAsciiDigit(text[i]); i++) written = Math.Min(written * 10 + (text[i] - '0'), 1_000_000);
            if (i == digits || i != text.Length) throw new FormatException($"'{text}' is not a JSON number");
            exponent = positiveExponent ? exponent + written : exponent - written;
        }
        else if (i != text.Length) throw new FormatException($"'{text}' is not a JSON number");

        double value = significand;
        while (true)
        {
            int magnitude = Math.Abs(exponent);
            if (magnitude < PowersOfTen.Length)
            {
                value = exponent >= 0 ? value * PowersOfTen[magnitude] : value / PowersOfTen[magnitude];
                break;
            }
            if (value == 0) break;
            if (exponent >= 0) throw new FormatException($"JSON number '{text}' is out of range");
            value /= 1e308;
            exponent += 308;
        }
        return positive ? value : -value;
    }

    private static bool WouldOverflow(ulong significand, uint digit) =>
        significand >= ulong.MaxValue / 10 && (significand > ulong.MaxValue / 10 || digit > ulong.MaxValue % 10);
}
