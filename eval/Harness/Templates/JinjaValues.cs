using System.Globalization;

namespace Eval.Harness.Templates;

/// <summary>Python semantics for template values: truth, text, equality, ordering, arithmetic, indexing, slicing.</summary>
internal static class JinjaValues
{
    /// <summary>The most items one list (a range(), a concatenation) may have.</summary>
    public const int MaxItems = 1 << 18;

    /// <summary>The most characters one string (a concatenation, a repetition, the output) may have.</summary>
    public const int MaxTextLength = 1 << 22;

    /// <summary>Python's modulo: the result takes the divisor's sign (and nothing overflows).</summary>
    private static long FloorModulo(long x, long y)
    {
        long r = x % y;
        return r != 0 && (r < 0) != (y < 0) ? r + y : r;
    }

    /// <summary>a + b, unless that is longer than a template may build (a loop that doubles a string would exhaust memory).</summary>
    private static string Joined(string a, string b, Func<string, TemplateException> error) =>
        (long)a.Length + b.Length <= MaxTextLength ? a + b : throw error($"a string of {(long)a.Length + b.Length} characters is more than a template may build ({MaxTextLength})");

    private static string Shorten(string text) => text.Length <= 20 ? text : text[..20] + "…";

    public static string TypeName(object? v) => v switch
    {
        null => "None",
        string => "str",
        bool => "bool",
        long => "int",
        double => "float",
        IReadOnlyList<object?> => "list",
        IReadOnlyDictionary<string, object?> => "dict",
        _ => v.GetType().Name,
    };

    public static bool IsTrue(object? v, Func<string, TemplateException> error) => v switch
    {
        null => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        IReadOnlyList<object?> l => l.Count > 0,
        IReadOnlyDictionary<string, object?> d => d.Count > 0,
        _ => throw error($"cannot use {TypeName(v)} as a condition"),
    };

    public static string ToText(object? v, Func<string, TemplateException> error) => v switch
    {
        null => "None",
        string s => s,
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => FormatFloat(d),
        IReadOnlyList<object?> l => "[" + string.Join(", ", l.Select(x => Repr(x, error))) + "]",
        IReadOnlyDictionary<string, object?> d => "{" + string.Join(", ", d.Select(kv => $"'{kv.Key}': {Repr(kv.Value, error)}")) + "}",
        _ => throw error($"cannot render a {TypeName(v)}"),
    };

    private static string Repr(object? v, Func<string, TemplateException> error) =>
        v is string s ? "'" + s.Replace("\\", "\\\\").Replace("'", "\\'") + "'" : ToText(v, error);

    private static string FormatFloat(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        var r = d.ToString("R", CultureInfo.InvariantCulture);
        return r.Contains('.') || r.Contains('E') ? r : r + ".0";
    }

    public static bool AreEqual(object? a, object? b)
    {
        if (IsNumber(a) && IsNumber(b)) return ToDouble(a) == ToDouble(b);
        return (a, b) switch
        {
            (null, null) => true,
            (string x, string y) => string.Equals(x, y, StringComparison.Ordinal),
            (IReadOnlyList<object?> x, IReadOnlyList<object?> y) => x.Count == y.Count && x.Zip(y).All(p => AreEqual(p.First, p.Second)),
            _ => false,
        };
    }

    public static int Compare(object? a, object? b, Func<string, TemplateException> error)
    {
        if (IsNumber(a) && IsNumber(b)) return ToDouble(a).CompareTo(ToDouble(b));
        if (a is string x && b is string y) return string.CompareOrdinal(x, y);
        throw error($"cannot compare {TypeName(a)} with {TypeName(b)}");
    }

    public static bool IsNumber(object? v) => v is long or double or bool;

    public static double ToDouble(object? v) => v switch
    {
        long l => l,
        double d => d,
        bool b => b ? 1 : 0,
        _ => double.NaN,
    };

    public static object? Binary(string op, object? a, object? b, Func<string, TemplateException> error) => op switch
    {
        "==" => AreEqual(a, b),
        "!=" => !AreEqual(a, b),
        "<" => Compare(a, b, error) < 0,
        ">" => Compare(a, b, error) > 0,
        "<=" => Compare(a, b, error) <= 0,
        ">=" => Compare(a, b, error) >= 0,
        "in" => Contains(b, a, error),
        "not in" => !Contains(b, a, error),
        "~" => Joined(ToText(a, error), ToText(b, error), error),
        _ => Arithmetic(op, a, b, error),
    };

    private static bool Contains(object? container, object? item, Func<string, TemplateException> error) => container switch
    {
        string s when item is string sub => s.Contains(sub, StringComparison.Ordinal),
        IReadOnlyList<object?> l => l.Any(x => AreEqual(x, item)),
        IReadOnlyDictionary<string, object?> d => item is string k && d.ContainsKey(k),
        _ => throw error($"'in' needs a string, list or dict on the right, not {TypeName(container)}"),
    };

    public static object? Arithmetic(string op, object? a, object? b, Func<string, TemplateException> error)
    {
        if (op == "+" && a is string sa && b is string sb) return Joined(sa, sb, error);
        if (op == "+" && a is IReadOnlyList<object?> la && b is IReadOnlyList<object?> lb)
            return la.Count + lb.Count <= MaxItems ? la.Concat(lb).ToList() : throw error($"a list of {la.Count + lb.Count} items is more than a template may build ({MaxItems})");
        if (op == "*" && a is string rs && b is long times)
        {
            if (times > 0 && (Int128)rs.Length * times > MaxTextLength) throw error($"'{Shorten(rs)}' * {times} is more than a template may build ({MaxTextLength} characters)");
            return string.Concat(Enumerable.Repeat(rs, (int)Math.Max(0, times)));
        }
        if (!IsNumber(a) || !IsNumber(b)) throw error($"unsupported operand types for {op}: {TypeName(a)} and {TypeName(b)}");
        if (a is not double && b is not double)
        {
            long x = (long)ToDouble(a), y = (long)ToDouble(b);
            switch (op)
            {
                case "+": return x + y;
                case "-": return x - y;
                case "*": return x * y;
                case "/": return y == 0 ? throw error("division by zero") : (double)x / y;
                case "//": return y == 0 ? throw error("division by zero") : (long)Math.Floor((double)x / y);
                case "%": return y == 0 ? throw error("modulo by zero") : y == -1 ? 0L : FloorModulo(x, y);
                case "**": return (long)Math.Pow(x, y);
            }
        }
        double p = ToDouble(a), q = ToDouble(b);
        return op switch
        {
            "+" => p + q,
            "-" => p - q,
            "*" => p * q,
            "/" => q == 0 ? throw error("division by zero") : p / q,
            "//" => q == 0 ? throw error("division by zero") : Math.Floor(p / q),
            "%" => q == 0 ? throw error("modulo by zero") : p - q * Math.Floor(p / q),
            "**" => Math.Pow(p, q),
            _ => throw error($"unsupported operator {op}"),
        };
    }

    public static object? Index(object? target, object? index, Func<string, TemplateException> error)
    {
        switch (target)
        {
            case IReadOnlyDictionary<string, object?> d:
                var key = index as string ?? ToText(index, error);
                return d.TryGetValue(key, out var v) ? v : throw error($"dict has no key '{key}'");
            case IReadOnlyList<object?> l:
                return l[Position(l.Count, index, error)];
            case string s:
                var runes = Runes(s);
                return runes[Position(runes.Count, index, error)];
            default:
                throw error($"{TypeName(target)} cannot be indexed");
        }
    }

    private static int Position(int count, object? index, Func<string, TemplateException> error)
    {
        if (index is not (long or bool)) throw error($"indices must be integers, not {TypeName(index)}");
        long i = (long)ToDouble(index);
        long p = i < 0 ? count + i : i;
        if (p < 0 || p >= count) throw error($"index {i} is out of range for length {count}");
        return (int)p;
    }

    public static object? Slice(object? target, object? start, object? stop, object? step, Func<string, TemplateException> error)
    {
        IReadOnlyList<object?> items = target switch
        {
            IReadOnlyList<object?> l => l,
            string s => Runes(s).Cast<object?>().ToList(),
            _ => throw error($"{TypeName(target)} cannot be sliced"),
        };
        long st = step is null ? 1 : (long)ToDouble(step);
        if (st == 0) throw error("slice step cannot be zero");
        int n = items.Count;
        long Clamp(object? v, long fallback)
        {
            if (v is null) return fallback;
            long i = (long)ToDouble(v);
            if (i < 0) i += n;
            return st > 0 ? Math.Clamp(i, 0, n) : Math.Clamp(i, -1, n - 1);
        }
        long from = Clamp(start, st > 0 ? 0 : n - 1), to = Clamp(stop, st > 0 ? n : -1);
        var result = new List<object?>();
        for (long i = from; st > 0 ? i < to : i > to; i += st) result.Add(items[(int)i]);
        return target is string ? string.Concat(result.Cast<string>()) : result;
    }

    /// <summary>Python indexes strings by code point, not UTF-16 unit.</summary>
    public static List<string> Runes(string s) => s.EnumerateRunes().Select(r => r.ToString()).ToList();

    public static IEnumerable<object?> Iterate(object? v, Func<string, TemplateException> error) => v switch
    {
        IReadOnlyList<object?> l => l,
        string s => Runes(s),
        IReadOnlyDictionary<string, object?> d => d.Keys,
        _ => throw error($"{TypeName(v)} is not iterable"),
    };
}
