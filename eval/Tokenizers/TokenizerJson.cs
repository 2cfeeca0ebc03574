using System.Buffers;
using System.Text.Json;
using Eval.Engine.IO;

namespace Eval.Tokenizers;

/// <summary>
/// Reads the JSON files of a tokenizer (tokenizer.json, tokenizer_config.json) at a cost bounded by what is used: a
/// <see cref="Utf8JsonReader"/> steps over every root member the tokenizer does not read (<c>version</c>,
/// <c>truncation</c>, <c>padding</c>, a chat template, or a 50 MB list a file adds) without materialising it, and only
/// the members kept are parsed into a <see cref="JsonDocument"/>. The whole file must still be valid UTF-8 and valid
/// JSON, as the Rust library requires, and at most <see cref="MaxBytes"/>. Files are opened through links
/// (<see cref="LinkedFile"/>).
/// </summary>
internal static class TokenizerJson
{
    /// <summary>128 MiB: the largest tokenizer.json published (Gemma 3's) is about 33 MB.</summary>
    public const long MaxBytes = 128L << 20;

    /// <summary>The root members of tokenizer.json that <see cref="Tokenizer"/> is built from.</summary>
    private static readonly byte[][] PipelineMembers =
        ["added_tokens"u8.ToArray(), "normalizer"u8.ToArray(), "pre_tokenizer"u8.ToArray(), "model"u8.ToArray(),
         "post_processor"u8.ToArray(), "decoder"u8.ToArray()];

    public delegate bool MemberFilter(ReadOnlySpan<byte> utf8Name);

    /// <summary>tokenizer.json: its pipeline's members.</summary>
    public static JsonDocument ReadPipeline(string path) => Read(path, IsPipelineMember);

    private static bool IsPipelineMember(ReadOnlySpan<byte> name)
    {
        foreach (var member in PipelineMembers)
            if (name.SequenceEqual(member)) return true;
        return false;
    }

    /// <summary>A JSON file whose root must be an object, as a document of the root members <paramref name="keep"/> accepts (in their order, repeats included).</summary>
    public static JsonDocument Read(string path, MemberFilter keep)
    {
        byte[] bytes;
        try { bytes = LinkedFile.ReadAllBytes(path, MaxBytes, "tokenizer file"); }
        catch (InvalidDataException e) { throw new TokenizerFormatException(e.Message); }
        // JsonDocument reads strings lazily: bad UTF-8 would surface later as InvalidOperationException.
        if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new TokenizerFormatException($"{path}: not valid UTF-8");
        try
        {
            return JsonDocument.Parse(KeptMembers(bytes, path, keep));
        }
        catch (JsonException e)
        {
            throw new TokenizerFormatException($"{path}: not valid JSON: {e.Message}");
        }
    }

    /// <summary>"{" + the kept members' bytes as written, comma-separated + "}"; the rest is checked by the reader and dropped.</summary>
    private static byte[] KeptMembers(byte[] json, string path, MemberFilter keep)
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
        var kept = new ArrayBufferWriter<byte>();
        kept.Write("{"u8);
        bool first = true;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            long start = reader.TokenStartIndex;
            ReadOnlySpan<byte> name = reader.ValueSpan;
            if (reader.ValueIsEscaped)
            {
                var unescaped = new byte[reader.ValueSpan.Length];
                name = unescaped.AsSpan(0, reader.CopyString(unescaped));
            }
            bool take = keep(name);
            reader.Read();
            reader.Skip();
            if (!take) continue;
            if (!first) kept.Write(","u8);
            kept.Write(json.AsSpan((int)start, (int)(reader.BytesConsumed - start)));
            first = false;
        }
        // Past the root object only whitespace may follow (the reader throws on anything else).
        while (reader.Read()) { }
        kept.Write("}"u8);
        return kept.WrittenSpan.ToArray();
    }
}
