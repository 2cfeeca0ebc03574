using System.Buffers;
using System.Text;
using System.Text.Json;
using Eval.Engine.IO;

namespace Eval.Tokenizers;

/// <summary>
/// Reads the JSON files of a tokenizer (tokenizer.json, tokenizer_config.json) at a cost bounded by what is used: a
/// <see cref="Utf8JsonReader"/> steps over every member the tokenizer does not read — at the root (<c>version</c>,
/// <c>truncation</c>, <c>padding</c>) and inside the components (a field a newer library writes, or a 50 MB list) —
/// without materialising it, and only what is kept is parsed into a <see cref="JsonDocument"/>. Kept values are copied
/// as written (numbers keep their text: <see cref="RustJsonNumber"/> reads it). The whole file must still be valid UTF-8
/// and valid JSON, as the Rust library requires, and at most <see cref="MaxBytes"/>. Files are opened through links
/// (<see cref="LinkedFile"/>).
/// </summary>
public static class TokenizerJson
{
    /// <summary>128 MiB: the largest tokenizer.json published (Gemma 3's) is about 33 MB.</summary>
    public const long MaxBytes = 128L << 20;

    /// <summary>The root members of tokenizer.json that <see cref="Tokenizer"/> is built from.</summary>
    public static readonly IReadOnlySet<string> PipelineMembers = new HashSet<string>(StringComparer.Ordinal)
        { "added_tokens", "normalizer", "pre_tokenizer", "model", "post_processor", "decoder" };

    /// <summary>
    /// Every member name a component reads (through <see cref="JsonConfig"/>, GetProperty or TryGetProperty); members of
    /// other names inside the pipeline are dropped. TokenizerJsonCostTests checks the list against the readers' sources.
    /// </summary>
    public static readonly IReadOnlySet<string> ComponentMembers = new HashSet<string>(StringComparer.Ordinal)
    {
        "type", "content", "id", "ids", "tokens", "special", "single_word", "lstrip", "rstrip", "normalized",
        "normalizers", "pretokenizers", "processors", "decoders",
        "vocab", "merges", "unk_token", "unk_id", "dropout", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk",
        "byte_fallback", "ignore_merges", "max_input_chars_per_word",
        "pattern", "String", "Regex", "behavior", "invert", "prepend", "prefix", "replacement", "prepend_scheme",
        "split", "add_prefix_space", "use_regex", "individual_digits", "clean_text", "handle_chinese_chars", "strip_accents",
        "lowercase", "strip_left", "strip_right", "start", "stop", "cleanup", "precompiled_charsmap",
        "single", "pair", "special_tokens", "SpecialToken", "Sequence", "type_id", "sep", "cls",
    };

    /// <summary>Members whose value is data kept whole: a vocabulary (token → id, or [piece, score] pairs), a template's special tokens (name → ids and tokens).</summary>
    private static readonly IReadOnlySet<string> DataMembers = new HashSet<string>(StringComparer.Ordinal) { "vocab", "special_tokens" };

    /// <summary>Names longer than this are never kept (they are not decoded): every name above is shorter.</summary>
    private const int LongestName = 64;

    /// <summary>Whether a member (by its unescaped name) is kept.</summary>
    public delegate bool MemberFilter(ReadOnlySpan<char> name);

    /// <summary>tokenizer.json: its pipeline's members, each without the members its components do not read.</summary>
    public static JsonDocument ReadPipeline(string path) => Read(path, IsPipelineMember, filterComponents: true);

    /// <summary>A JSON file whose root must be an object, as a document of the root members <paramref name="keep"/> accepts (in their order, repeats included).</summary>
    public static JsonDocument Read(string path, MemberFilter keep) => Read(path, keep, filterComponents: false);

    private static JsonDocument Read(string path, MemberFilter keep, bool filterComponents)
    {
        byte[] bytes;
        try { bytes = LinkedFile.ReadAllBytes(path, MaxBytes, "tokenizer file"); }
        catch (InvalidDataException e) { throw new TokenizerFormatException(e.Message); }
        // JsonDocument reads strings lazily: bad UTF-8 would surface later as InvalidOperationException.
        if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new TokenizerFormatException($"{path}: not valid UTF-8");
        try
        {
            return JsonDocument.Parse(Kept(bytes, path, keep, filterComponents));
        }
        catch (JsonException e)
        {
            throw new TokenizerFormatException($"{path}: not valid JSON: {e.Message}");
        }
    }

    private static bool IsPipelineMember(ReadOnlySpan<char> name) =>
        PipelineMembers is HashSet<string> set && set.GetAlternateLookup<ReadOnlySpan<char>>().Contains(name);

    private static bool IsComponentMember(ReadOnlySpan<char> name) =>
        ComponentMembers is HashSet<string> set && set.GetAlternateLookup<ReadOnlySpan<char>>().Contains(name);

    /// <summary>The root object with the members kept, as written; the rest is checked by the reader and dropped.</summary>
    private static ReadOnlyMemory<byte> Kept(byte[] json, string path, MemberFilter keep, bool filterComponents)
    {
        // The reader's defaults are JsonDocument.Parse's: no comments, no trailing commas, depth 64, one value.
        var reader = new Utf8JsonReader(json);
        if (!reader.Read()) throw new JsonException("the file holds no JSON value");
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            while (reader.Read()) { }
            throw new TokenizerFormatException($"{path}: not a JSON object");
        }
        var kept = new ArrayBufferWriter<byte>(Math.Min(json.Length, 1 << 20));
        CopyObject(ref reader, json, kept, keep, filterComponents);
        // Past the root object only whitespace may follow (the reader throws on anything else).
        while (reader.Read()) { }
        return kept.WrittenMemory;
    }

    /// <summary>Copies the object the reader is at (StartObject) with the members <paramref name="keep"/> accepts; leaves the reader at its EndObject.</summary>
    private static void CopyObject(ref Utf8JsonReader reader, byte[] json, ArrayBufferWriter<byte> output, MemberFilter keep, bool filterComponents)
    {
        output.Write("{"u8);
        bool first = true;
        Span<char> name = stackalloc char[LongestName];
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            int nameStart = (int)reader.TokenStartIndex, nameEnd = nameStart + reader.ValueSpan.Length + 2;
            bool take = Name(ref reader, name, out int length) && keep(name[..length]);
            bool data = take && DataMembers is HashSet<string> set && set.GetAlternateLookup<ReadOnlySpan<char>>().Contains(name[..length]);
            reader.Read();
            if (!take)
            {
                reader.Skip();
                continue;
            }
            if (!first) output.Write(","u8);
            first = false;
            output.Write(json.AsSpan(nameStart, nameEnd - nameStart));
            output.Write(":"u8);
            if (filterComponents && !data) CopyValue(ref reader, json, output);
            else CopyWhole(ref reader, json, output);
        }
        output.Write("}"u8);
    }

    /// <summary>A component value: objects keep the members components read, arrays every item, the rest as written.</summary>
    private static void CopyValue(ref Utf8JsonReader reader, byte[] json, ArrayBufferWriter<byte> output)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject:
                CopyObject(ref reader, json, output, IsComponentMember, filterComponents: true);
                break;
            case JsonTokenType.StartArray:
                output.Write("["u8);
                for (bool first = true; reader.Read() && reader.TokenType != JsonTokenType.EndArray; first = false)
                {
                    if (!first) output.Write(","u8);
                    CopyValue(ref reader, json, output);
                }
                output.Write("]"u8);
                break;
            default:
                CopyWhole(ref reader, json, output);
                break;
        }
    }

    /// <summary>The value the reader is at, as written; leaves the reader at its last token.</summary>
    private static void CopyWhole(ref Utf8JsonReader reader, byte[] json, ArrayBufferWriter<byte> output)
    {
        int start = (int)reader.TokenStartIndex;
        reader.Skip();
        output.Write(json.AsSpan(start, (int)reader.BytesConsumed - start));
    }

    /// <summary>The property name the reader is at, unescaped into name; false (without decoding it) when it is longer than any name kept.</summary>
    private static bool Name(ref Utf8JsonReader reader, scoped Span<char> name, out int length)
    {
        length = 0;
        // An escape spells one character in at most 12 bytes (a surrogate pair as \uXXXX\uXXXX).
        if (reader.ValueSpan.Length > 12 * name.Length) return false;
        Span<byte> utf8 = stackalloc byte[12 * name.Length];
        int bytes = reader.ValueIsEscaped ? reader.CopyString(utf8) : reader.ValueSpan.Length;
        if (!reader.ValueIsEscaped) reader.ValueSpan.CopyTo(utf8);
        if (Encoding.UTF8.GetCharCount(utf8[..bytes]) > name.Length) return false;
        length = Encoding.UTF8.GetChars(utf8[..bytes], name);
        return true;
    }
}
