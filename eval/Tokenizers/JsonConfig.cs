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

    public string? String(string name) => Has(name) ? element.GetProperty(name).GetString() : null;
    public bool Bool(string name, bool fallback) => Has(name) ? element.GetProperty(name).GetBoolean() : fallback;
    public int? Int(string name) => Has(name) ? element.GetProperty(name).GetInt32() : null;

    public IEnumerable<JsonConfig> Array(string name)
    {
        if (!Has(name)) return [];
        var prefix = $"{where}.{name}";
        return element.GetProperty(name).EnumerateArray().Select((e, i) => new JsonConfig($"{prefix}[{i}]", e)).ToArray();
    }

    public TokenizerFormatException Error(string message) => new($"{where} {message}");

    public TokenizerFormatException Unsupported(string kind, string supported) =>
        new($"{where}: {kind} type '{String("type")}' is not supported (supported: {supported})");
}
