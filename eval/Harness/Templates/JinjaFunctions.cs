using System.Globalization;

namespace Eval.Harness.Templates;

/// <summary>The filters, tests, string/dict methods and global functions the template subset supports.</summary>
internal static class JinjaFunctions
{
    public static readonly IReadOnlyList<string> Filters =
    [
        "abs", "capitalize", "default", "first", "float", "int", "join", "last", "length", "count", "list", "lower",
        "replace", "reverse", "round", "string", "title", "trim", "upper", "wordcount",
    ];

    public static object? ApplyFilter(string name, object? value, IReadOnlyList<object?> args, Func<string, TemplateException> error)
    {
        string Text() => JinjaValues.ToText(value, error);
        string Arg(int i, string fallback) => args.Count > i ? JinjaValues.ToText(args[i], error) : fallback;
        switch (name)
        {
            case "int":
                return value switch
                {
                    long l => l,
                    bool b => b ? 1L : 0L,
                    double d => (long)Math.Truncate(d),
                    string s when long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) => l,
                    string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => (long)Math.Truncate(d),
                    _ => args.Count > 0 ? args[0] : 0L,
                };
            case "float":
                return value switch
                {
                    long or double or bool => JinjaValues.ToDouble(value),
                    string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
                    _ => args.Count > 0 ? args[0] : 0.0,
                };
            case "string": return Text();
            case "lower": return Text().ToLowerInvariant();
            case "upper": return Text().ToUpperInvariant();
            case "capitalize": return Capitalize(Text());
            case "title": return Title(Text());
            case "trim": return args.Count > 0 ? Text().Trim(Arg(0, " ").ToCharArray()) : Text().Trim();
            case "replace":
                if (args.Count < 2) throw error("replace needs two arguments");
                return Replace(Text(), Arg(0, ""), Arg(1, ""), error);
            case "join":
                return string.Join(Arg(0, ""), JinjaValues.Iterate(value, error).Select(x => JinjaValues.ToText(x, error)));
            case "length" or "count":
                return (long)JinjaValues.Iterate(value, error).Count();
            case "wordcount":
                return (long)Text().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
            case "first": return JinjaValues.Iterate(value, error).FirstOrDefault();
            case "last": return JinjaValues.Iterate(value, error).LastOrDefault();
            case "list": return JinjaValues.Iterate(value, error).ToList();
            case "reverse":
                return value is string rs ? string.Concat(JinjaValues.Runes(rs).AsEnumerable().Reverse()) : JinjaValues.Iterate(value, error).Reverse().ToList();
            case "abs": return value is long al ? Math.Abs(al) : Math.Abs(JinjaValues.ToDouble(value));
            case "round":
                int digits = args.Count > 0 ? (int)JinjaValues.ToDouble(args[0]) : 0;
                return Math.Round(JinjaValues.ToDouble(value), digits, MidpointRounding.ToEven);
            default:
                throw error($"unsupported filter '{name}' (supported: {string.Join(", ", Filters)})");
        }
    }

    public static bool ApplyTest(string name, object? value, Func<string, TemplateException> error) => name switch
    {
        "none" => value is null,
        "number" => value is long or double,
        "integer" => value is long,
        "string" => value is string,
        "even" => value is long e && e % 2 == 0,
        "odd" => value is long o && o % 2 != 0,
        _ => throw error($"unsupported test '{name}' (supported: defined, undefined, none, number, integer, string, even, odd)"),
    };

    public static object? CallMethod(object? target, string name, IReadOnlyList<object?> args, Func<string, TemplateException> error)
    {
        string Arg(int i) => args.Count > i ? JinjaValues.ToText(args[i], error) : throw error($"{name}() needs {i + 1} argument(s)");
        char[]? Chars() => args.Count > 0 && args[0] is string c ? c.ToCharArray() : null;
        switch (target)
        {
            case string s:
                return name switch
                {
                    "strip" => Chars() is { } c1 ? s.Trim(c1) : s.Trim(),
                    "lstrip" => Chars() is { } c2 ? s.TrimStart(c2) : s.TrimStart(),
                    "rstrip" => Chars() is { } c3 ? s.TrimEnd(c3) : s.TrimEnd(),
                    "lower" => s.ToLowerInvariant(),
                    "upper" => s.ToUpperInvariant(),
                    "capitalize" => Capitalize(s),
                    "title" => Title(s),
                    "replace" => Replace(s, Arg(0), Arg(1), error),
                    "startswith" => s.StartsWith(Arg(0), StringComparison.Ordinal),
                    "endswith" => s.EndsWith(Arg(0), StringComparison.Ordinal),
                    "find" => (long)s.IndexOf(Arg(0), StringComparison.Ordinal),
                    "count" => (long)CountOccurrences(s, Arg(0)),
                    "split" => (args.Count == 0 ? s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries) : s.Split(Arg(0)))
                        .Cast<object?>().ToList(),
                    "join" => string.Join(s, JinjaValues.Iterate(args.Count > 0 ? args[0] : null, error).Select(x => JinjaValues.ToText(x, error))),
                    _ => throw error($"str has no method '{name}'"),
                };
            case IReadOnlyDictionary<string, object?> d:
                return name switch
                {
                    "get" => d.TryGetValue(Arg(0), out var v) ? v : args.Count > 1 ? args[1] : null,
                    "keys" => d.Keys.Cast<object?>().ToList(),
                    "values" => d.Values.ToList(),
                    "items" => d.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList(),
                    _ => throw error($"dict has no method '{name}'"),
                };
            case IReadOnlyList<object?> l:
                return name switch
                {
                    "index" => (long)l.ToList().FindIndex(x => JinjaValues.AreEqual(x, args.Count > 0 ? args[0] : null)),
                    "count" => (long)l.Count(x => JinjaValues.AreEqual(x, args.Count > 0 ? args[0] : null)),
                    _ => throw error($"list has no method '{name}'"),
                };
            default:
                throw error($"{JinjaValues.TypeName(target)} has no method '{name}'");
        }
    }

    public static object? Range(IReadOnlyList<object?> args, Func<string, TemplateException> error)
    {
        if (args.Count is 0 or > 3 || args.Any(a => a is not long)) throw error("range() takes 1 to 3 integers");
        long start = args.Count > 1 ? (long)args[0]! : 0, stop = (long)args[args.Count > 1 ? 1 : 0]!, step = args.Count > 2 ? (long)args[2]! : 1;
        if (step == 0) throw error("range() step cannot be zero");
        Int128 count = step > 0 ? (stop > start ? ((Int128)stop - start + step - 1) / step : 0)
                                : (stop < start ? ((Int128)start - stop - step - 1) / -(Int128)step : 0);
        if (count > JinjaValues.MaxItems) throw error($"range() of {count} items is more than a template may build ({JinjaValues.MaxItems})");
        var result = new List<object?>((int)count);
        for (long i = start; step > 0 ? i < stop : i > stop; i += step) result.Add(i);
        return result;
    }

    /// <summary>
    /// Python's str.replace: an empty old string matches before every character and at the end ("ab" → "-a-b-");
    /// a result longer than a template may build is an error (a replace multiplies a string's length).
    /// </summary>
    private static string Replace(string s, string old, string replacement, Func<string, TemplateException> error)
    {
        long length = s.Length + (long)CountOccurrences(s, old) * (replacement.Length - old.Length);
        if (length > JinjaValues.MaxTextLength) throw error($"replace would make a string of {length} characters, more than a template may build ({JinjaValues.MaxTextLength})");
        return old.Length == 0
            ? replacement + string.Join(replacement, s.Select(c => c.ToString())) + (s.Length > 0 ? replacement : "")
            : s.Replace(old, replacement, StringComparison.Ordinal);
    }

    private static int CountOccurrences(string s, string sub)
    {
        if (sub.Length == 0) return s.Length + 1;
        int count = 0;
        for (int i = s.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = s.IndexOf(sub, i + sub.Length, StringComparison.Ordinal)) count++;
        return count;
    }

    private static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    private static string Title(string s)
    {
        var chars = s.ToCharArray();
        bool start = true;
        for (int i = 0; i < chars.Length; i++)
        {
            chars[i] = start ? char.ToUpperInvariant(chars[i]) : char.ToLowerInvariant(chars[i]);
            start = !char.IsLetterOrDigit(chars[i]) && chars[i] != '\'';
        }
        return new string(chars);
    }
}
