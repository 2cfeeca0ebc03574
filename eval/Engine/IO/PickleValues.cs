using System.Numerics;
using System.Text;

namespace Eval.Engine.IO;

// The inert object model the safe unpickler produces. Python values map to: None → null, bool → bool,
// int → long (BigInteger when it does not fit), float → double, str → string, bytes/bytearray → byte[], and the
// types below. Nothing here can run code: a class the pickle names is only a name (PickleGlobal), and an instance
// of it only its arguments and state (PickleObject).

/// <summary>A module-level name the pickle refers to (GLOBAL, STACK_GLOBAL, INST): a class or function, never imported.</summary>
public sealed record PickleGlobal(string Module, string Name)
{
    public string FullName => $"{Module}.{Name}";
    public override string ToString() => FullName;
}

/// <summary>A tuple. Its nesting depth (tuples within tuples) is fixed when it is made and bounded by the reader.</summary>
public sealed class PickleTuple
{
    public PickleTuple(IReadOnlyList<object?> items)
    {
        Items = items;
        Depth = 1 + items.Select(i => i is PickleTuple t ? t.Depth : 0).DefaultIfEmpty(0).Max();
    }

    public static PickleTuple Empty { get; } = new([]);

    public IReadOnlyList<object?> Items { get; }
    public int Count => Items.Count;
    public int Depth { get; }
    public object? this[int index] => Items[index];
}

/// <summary>A list (mutable while the pickle is read: APPEND, APPENDS).</summary>
public sealed class PickleList
{
    public List<object?> Items { get; } = [];
    public int Count => Items.Count;
    public object? this[int index] => Items[index];
}

/// <summary>A set or frozenset.</summary>
public sealed class PickleSet(bool frozen)
{
    public bool Frozen { get; } = frozen;
    public List<object?> Items { get; } = [];
}

/// <summary>
/// A dict or OrderedDict, in insertion order. Keys are compared as Python would for the hashable values a
/// checkpoint uses (None, bool, int, float, str, bytes, tuples of those, globals); an unhashable key is refused.
/// </summary>
public sealed class PickleDict
{
    private readonly List<KeyValuePair<object?, object?>> entries = [];
    private readonly Dictionary<object, int> index = new(PickleKeyComparer.Instance);

    public int Count => entries.Count;
    public IReadOnlyList<KeyValuePair<object?, object?>> Entries => entries;
    public IEnumerable<object?> Keys => entries.Select(e => e.Key);

    /// <summary>Attributes set by BUILD (an OrderedDict's <c>_metadata</c>, for instance).</summary>
    public object? State { get; set; }

    public void Set(object? key, object? value)
    {
        var k = PickleKeyComparer.Wrap(key);
        if (index.TryGetValue(k, out int i)) entries[i] = new(key, value);
        else
        {
            index[k] = entries.Count;
            entries.Add(new(key, value));
        }
    }

    public bool TryGet(object? key, out object? value)
    {
        if (index.TryGetValue(PickleKeyComparer.Wrap(key), out int i))
        {
            value = entries[i].Value;
            return true;
        }
        value = null;
        return false;
    }

    public object? GetValueOrDefault(string key) => TryGet(key, out var v) ? v : null;
}

/// <summary>
/// An instance of a class outside the interpreted allowlist (argparse.Namespace, an omegaconf DictConfig, a numpy
/// scalar …): its class name, the arguments it was created with and the state BUILD gave it. Items and entries
/// receive APPEND and SETITEM for list and dict subclasses.
/// </summary>
public sealed class PickleObject(PickleGlobal type, PickleTuple arguments, PickleDict? keywordArguments = null)
{
    public PickleGlobal Type { get; } = type;
    public PickleTuple Arguments { get; } = arguments;
    public PickleDict? KeywordArguments { get; } = keywordArguments;
    public object? State { get; set; }
    public List<object?> Items { get; } = [];
    public PickleDict Entries { get; } = new();

    /// <summary>An attribute from the state BUILD set: a dict, or the dict half of a (dict, slots) pair.</summary>
    public bool TryGetField(string name, out object? value)
    {
        foreach (var candidate in StateDicts())
            if (candidate.TryGet(name, out value)) return true;
        value = null;
        return false;
    }

    public object? Field(string name) => TryGetField(name, out var v) ? v : null;

    private IEnumerable<PickleDict> StateDicts()
    {
        if (State is PickleDict d) yield return d;
        if (State is PickleTuple { Count: 2 } pair)
        {
            if (pair[0] is PickleDict first) yield return first;
            if (pair[1] is PickleDict slots) yield return slots;
        }
    }
}

/// <summary>Python-like equality for dict keys; a tuple's depth is bounded when it is made, so the recursion is too.</summary>
internal sealed class PickleKeyComparer : IEqualityComparer<object>
{
    public static readonly PickleKeyComparer Instance = new();
    private static readonly object None = new();

    public static object Wrap(object? key) => key switch
    {
        null => None,
        PickleList or PickleDict or PickleSet { Frozen: false } => throw new InvalidDataException($"unhashable dict key: {PickleText.Describe(key)}"),
        PickleTuple t => Check(t),
        _ => key,
    };

    private static PickleTuple Check(PickleTuple t)
    {
        foreach (var item in t.Items) Wrap(item);
        return t;
    }

    public new bool Equals(object? x, object? y)
    {
        if (ReferenceEquals(x, y)) return true;
        if (x is null || y is null) return false;
        if (Numeric(x) is { } a && Numeric(y) is { } b) return a == b;
        return (x, y) switch
        {
            (string s, string t) => s == t,
            (byte[] s, byte[] t) => s.AsSpan().SequenceEqual(t),
            (PickleTuple s, PickleTuple t) => s.Count == t.Count && s.Items.Zip(t.Items).All(p => Equals(p.First ?? None, p.Second ?? None)),
            (PickleGlobal s, PickleGlobal t) => s == t,
            _ => false,
        };
    }

    public int GetHashCode(object obj) => obj switch
    {
        _ when Numeric(obj) is { } n => n.GetHashCode(),
        string s => s.GetHashCode(StringComparison.Ordinal),
        byte[] b => b.Length,
        PickleTuple t => t.Items.Aggregate(t.Count, (h, i) => HashCode.Combine(h, GetHashCode(i ?? None))),
        _ => obj.GetHashCode(),
    };

    private static double? Numeric(object value) => value switch
    {
        bool b => b ? 1 : 0,
        long l => l,
        double d => d,
        BigInteger i => (double)i,
        _ => null,
    };
}

/// <summary>Short, bounded descriptions of unpickled values for error messages; cycles and deep nesting end in "…".</summary>
public static class PickleText
{
    public static string Describe(object? value, int depth = 3)
    {
        var text = new StringBuilder();
        Append(text, value, depth);
        return text.ToString();
    }

    public static string TypeName(object? value) => value switch
    {
        null => "None",
        bool => "bool",
        long or BigInteger => "int",
        double => "float",
        string => "str",
        byte[] => "bytes",
        PickleTuple => "tuple",
        PickleList => "list",
        PickleDict => "dict",
        PickleSet s => s.Frozen ? "frozenset" : "set",
        PickleGlobal g => $"global {g.FullName}",
        PickleObject o => o.Type.FullName,
        TorchTensor => "tensor",
        TorchStorage => "storage",
        _ => value.GetType().Name,
    };

    private static void Append(StringBuilder text, object? value, int depth)
    {
        const int MaxItems = 6;
        if (text.Length > 400) { text.Append('…'); return; }
        switch (value)
        {
            case null: text.Append("None"); return;
            case bool b: text.Append(b ? "True" : "False"); return;
            case string s: text.Append('\'').Append(s.Length > 60 ? s[..60] + "…" : s).Append('\''); return;
            case byte[] bytes: text.Append($"b<{bytes.Length} bytes>"); return;
            case PickleGlobal g: text.Append(g.FullName); return;
            case TorchTensor t: text.Append($"tensor({t.Storage.DType}, {Tensor.FormatShape(t.Shape)})"); return;
            case long or double or BigInteger: text.Append(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)); return;
        }
        if (depth <= 0) { text.Append('…'); return; }
        void Items(string open, string close, IEnumerable<object?> items)
        {
            text.Append(open);
            int n = 0;
            foreach (var item in items)
            {
                if (n > 0) text.Append(", ");
                if (n++ == MaxItems) { text.Append('…'); break; }
                Append(text, item, depth - 1);
            }
            text.Append(close);
        }
        switch (value)
        {
            case PickleTuple t: Items("(", ")", t.Items); break;
            case PickleList l: Items("[", "]", l.Items); break;
            case PickleSet s: Items("{", "}", s.Items); break;
            case PickleDict d:
                text.Append('{');
                int n = 0;
                foreach (var (k, v) in d.Entries)
                {
                    if (n > 0) text.Append(", ");
                    if (n++ == MaxItems) { text.Append('…'); break; }
                    Append(text, k, depth - 1);
                    text.Append(": ");
                    Append(text, v, depth - 1);
                }
                text.Append('}');
                break;
            case PickleObject o:
                text.Append(o.Type.FullName);
                Items("(", ")", o.Arguments.Items);
                break;
            default: text.Append(TypeName(value)); break;
        }
    }
}
