using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Eval.Cli;

/// <summary>
/// Numeric options checked while the command line is parsed, so a value out of range (--limit 0, --threads -1,
/// --batch-size 0) fails with one line before any command resolves, downloads or loads anything.
/// </summary>
public static class NumberOptions
{
    /// <summary>An integer option that refuses text that is not an integer and values below <paramref name="minimum"/>.</summary>
    public static Option<int> AtLeast(this Option<int> option, int minimum)
    {
        option.CustomParser = result => Parse(result, option.Name, minimum) ?? default;
        return option;
    }

    /// <summary>An optional integer option (null when not given) that refuses values below <paramref name="minimum"/>.</summary>
    public static Option<int?> AtLeast(this Option<int?> option, int minimum)
    {
        option.CustomParser = result => Parse(result, option.Name, minimum);
        return option;
    }

    /// <summary>A number option that refuses NaN, infinities and values below <paramref name="minimum"/>.</summary>
    public static Option<double> AtLeast(this Option<double> option, double minimum)
    {
        option.CustomParser = result =>
        {
            if (Token(result) is not { } text) return default;
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
                result.AddError($"{option.Name} '{text}' is not a number");
            else if (value < minimum)
                result.AddError($"{option.Name} must be at least {minimum.ToString(CultureInfo.InvariantCulture)}, got {text}");
            return value;
        };
        return option;
    }

    private static int? Parse(ArgumentResult result, string name, int minimum)
    {
        if (Token(result) is not { } text) return null;
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            result.AddError($"{name} '{text}' is not an integer");
            return null;
        }
        if (value < minimum) result.AddError($"{name} must be at least {minimum.ToString(CultureInfo.InvariantCulture)}, got {value.ToString(CultureInfo.InvariantCulture)}");
        return value;
    }

    /// <summary>The option's text; the last one when the option is repeated (as the built-in parser takes it).</summary>
    private static string? Token(ArgumentResult result) => result.Tokens.Count > 0 ? result.Tokens[^1].Value.Trim() : null;
}
