using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Eval.Harness.Tasks;

/// <summary>An error in a task file, naming the file and line.</summary>
public sealed class TaskFileException(string path, long line, string message) : Exception($"{path}:{line}: {message}")
{
    public string FilePath { get; } = path;
    public long Line { get; } = line;

    /// <summary>What is wrong, without the file and line.</summary>
    public string Reason { get; } = message;
}

/// <summary>Reads the fields of one YAML mapping, with errors that name the file and line.</summary>
internal sealed class YamlFields(string path, YamlMappingNode node)
{
    public string FilePath => path;
    public long Line => node.Start.Line;

    /// <summary>
    /// Task files nest a few levels. YamlDotNet's loader recurses once per level, so a deeper file would overflow the
    /// stack: the loader reads the events through a counter (the event parser does not recurse) that refuses this depth.
    /// </summary>
    public const int MaxNesting = 64;

    public static YamlFields Load(string path)
    {
        var stream = new YamlStream();
        try
        {
            using var reader = new StreamReader(path);
            stream.Load(new DepthLimitedParser(path, new Parser(reader)));
        }
        catch (YamlException e)
        {
            throw new TaskFileException(path, e.Start.Line, $"invalid YAML: {e.Message}");
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet's scanner and node loader fail this way on some malformed input instead of a YamlException.
            throw new TaskFileException(path, 1, $"invalid YAML (the reader gave up: {e.Message})");
        }
        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new TaskFileException(path, 1, "expected one YAML document holding a mapping");
        return new YamlFields(path, root);
    }

    /// <summary>YamlDotNet's event parser, refusing nesting past <see cref="MaxNesting"/> as the loader takes the events.</summary>
    private sealed class DepthLimitedParser(string path, IParser events) : IParser
    {
        private int depth;

        public ParsingEvent? Current => events.Current;

        public bool MoveNext()
        {
            if (!events.MoveNext()) return false;
            if (events.Current is MappingStart or SequenceStart && ++depth > MaxNesting)
                throw new TaskFileException(path, events.Current.Start.Line, $"YAML nested more than {MaxNesting} levels deep");
            if (events.Current is MappingEnd or SequenceEnd) depth--;
            return true;
        }
    }

    public IEnumerable<string> Keys => node.Children.Keys.Select(KeyText);

    public void RejectUnknown(params string[] known)
    {
        foreach (var (key, _) in node.Children)
        {
            var name = KeyText(key);
            if (!known.Contains(name))
                throw Error(key, $"unknown field '{name}' (expected one of: {string.Join(", ", known)})");
        }
    }

    public bool Has(string key) => node.Children.ContainsKey(new YamlScalarNode(key));

    public bool IsText(string key) => node.Children.TryGetValue(new YamlScalarNode(key), out var v) && v is YamlScalarNode;

    public string Text(string key) => OptionalText(key) ?? throw Error(node, $"missing field '{key}'");

    public string? OptionalText(string key)
    {
        if (!node.Children.TryGetValue(new YamlScalarNode(key), out var value)) return null;
        return value is YamlScalarNode s ? s.Value ?? "" : throw Error(value, $"'{key}' must be text");
    }

    public IReadOnlyList<string> TextList(string key, bool required = true)
    {
        if (!node.Children.TryGetValue(new YamlScalarNode(key), out var value))
            return required ? throw Error(node, $"missing field '{key}'") : [];
        if (value is not YamlSequenceNode seq) throw Error(value, $"'{key}' must be a list");
        return seq.Children.Select(c => c is YamlScalarNode s ? s.Value ?? "" : throw Error(c, $"items of '{key}' must be text")).ToList();
    }

    public IReadOnlyDictionary<string, string> TextMap(string key)
    {
        if (!node.Children.TryGetValue(new YamlScalarNode(key), out var value)) return new Dictionary<string, string>();
        if (value is not YamlMappingNode map) throw Error(value, $"'{key}' must be a mapping");
        return Entries(map, key, v => v is YamlScalarNode s ? s.Value ?? "" : throw Error(v, $"values of '{key}' must be text"));
    }

    public IReadOnlyDictionary<string, IReadOnlyList<string>> ListMap(string key)
    {
        if (!node.Children.TryGetValue(new YamlScalarNode(key), out var value)) return new Dictionary<string, IReadOnlyList<string>>();
        if (value is not YamlMappingNode map) throw Error(value, $"'{key}' must be a mapping");
        return Entries(map, key, v => (IReadOnlyList<string>)(v is YamlSequenceNode s
            ? s.Children.Select(c => c is YamlScalarNode t ? t.Value ?? "" : throw Error(c, $"items of the lists of '{key}' must be text")).ToList()
            : throw Error(v, $"values of '{key}' must be lists")));
    }

    public YamlFields? OptionalMapping(string key)
    {
        if (!node.Children.TryGetValue(new YamlScalarNode(key), out var value)) return null;
        return value is YamlMappingNode m ? new YamlFields(path, m) : throw Error(value, $"'{key}' must be a mapping");
    }

    public IReadOnlyList<YamlFields> Mappings(string key)
    {
        if (!node.Children.TryGetValue(new YamlScalarNode(key), out var value)) throw Error(node, $"missing field '{key}'");
        if (value is not YamlSequenceNode seq) throw Error(value, $"'{key}' must be a list");
        return seq.Children.Select(c => c is YamlMappingNode m ? new YamlFields(path, m) : throw Error(c, $"items of '{key}' must be mappings")).ToList();
    }

    /// <summary>A mapping's entries by key text; a key that is not text, or the same key twice, is an error.</summary>
    private Dictionary<string, T> Entries<T>(YamlMappingNode map, string key, Func<YamlNode, T> value)
    {
        var result = new Dictionary<string, T>(StringComparer.Ordinal);
        foreach (var (k, v) in map.Children)
            if (!result.TryAdd(KeyText(k), value(v))) throw Error(k, $"'{key}' has the key '{KeyText(k)}' twice");
        return result;
    }

    private string KeyText(YamlNode key) => key is YamlScalarNode s ? s.Value ?? "" : throw Error(key, "a key must be text, not a list or mapping");

    public TaskFileException Error(string message) => Error(node, message);

    public TaskFileException Error(YamlNode at, string message) => new(path, at.Start.Line, message);
}
