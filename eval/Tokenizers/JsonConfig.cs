using System.Text;
using System.Text.Json;

namespace Eval.Tokenizers;

/// <summary>Thrown for a tokenizer.json component we cannot build; the message names the file and the component.</summary>
public sealed class TokenizerFormatException(string message) : Exception(message);

/// <summary>Typed access to one JSON object of tokenizer.json, with errors that say where the problem is.</summary>
internal readonly struct JsonConfig(string where, JsonElement element)
{
    public string Where => where;
    public JsonElement Element => element;

    public string Type => String("type") ?? throw Error("has no \"type\"");

    public bool Has(string name) => element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null;

    public JsonConfig Child(string name) =>
        Has(name) ? new JsonConfig($"{where}.{name}", element.GetProperty(name)) : throw Error($"has no \"{name}\"");

    public string? String(string name) => Has(name)
        ? element.GetProperty(name) is { ValueKind: JsonValueKind.String } v ? v.GetString() : throw Error($"has \"{name}\" that is not a string")
        : null;

    /// <summary>A string of exactly one code point (a Rust `char`), or the fallback when absent; anything else is an error.</summary>
    public string Char(string name, string fallback)
    {
        var value = String(name) ?? fallback;
        return Rune.DecodeFromUtf16(value, out _, out int length) == System.Buffers.OperationStatus.Done && length == value.Length
            ? value
            : throw Error($"has \"{name}\" '{value}' that is not one character");
    }

    /// <summary>A non-negative 32-bit integer (a Rust `usize` we can index with), or the fallback when absent.</summary>
    public int Count(string name, int fallback) => Int(name) is { } value
        ? value >= 0 ? value : throw Error($"has \"{name}\" {value} that is negative")
        : fallback;

    /// <summary>A JSON string inside this component (a list item, an element of a pair); anything else is an error naming it.</summary>
    public string StringIn(JsonElement value, string what) => value.ValueKind == JsonValueKind.String
        ? value.GetString()!
        : throw Error($"has {what} that is {value.ValueKind}, not a string");

    public bool Bool(string name, bool fallback) => Has(name)
        ? element.GetProperty(name).ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error($"has \"{name}\" that is not true or false"),
        }
        : fallback;

    public int? Int(string name) => Has(name)
        ? element.GetProperty(name) is { ValueKind: JsonValueKind.Number } v && v.TryGetInt32(out var i) ? i : throw Error($"has \"{name}\" that is not a 32-bit integer")
        : null;

    public IEnumerable<JsonConfig> Array(string name)
    {
        if (!Has(name)) return [];
        var prefix = $"{where}.{name}";
        if (element.GetProperty(name).ValueKind != JsonValueKind.Array) throw Error($"has \"{name}\" that is not a list");
        return element.GetProperty(name).EnumerateArray().Select((e, i) => new JsonConfig($"{prefix}[{i}]", e)).ToArray();
    }

    public TokenizerFormatException Error(string message) => new($"{where} {message}");

    public TokenizerFormatException Unsupported(string kind, string supported) =>
        new($"{where}: {kind} type '{String("type")}' is not supported (supported: {supported})");
}
