using Parquet;
using Parquet.Schema;

namespace Eval.Fuzz;

/// <summary>
/// Parquet seeds written with Parquet.Net: MMLU-Pro-shaped rows (ids, text, a list of options, a nullable integer), in
/// a given codec, the category column dictionary-encoded or not (pyarrow, which writes the hub's files, dictionary-encodes
/// every column).
/// </summary>
internal static class SyntheticParquet
{
    public static byte[] MmluPro(int rowGroups = 1, CompressionMethod compression = CompressionMethod.Snappy, bool dictionary = false) =>
        WriteAsync(rowGroups, compression, dictionary).GetAwaiter().GetResult();

    private static async Task<byte[]> WriteAsync(int rowGroups, CompressionMethod compression, bool dictionary)
    {
        var id = new DataField<long>("question_id");
        var question = new DataField<string>("question");
        var option = new DataField<string>("element");
        var answer = new DataField<string>("answer");
        var index = new DataField<long?>("answer_index");
        var category = new DataField<string>("category");
        var schema = new ParquetSchema(id, question, new ListField("options", option), answer, index, category);
        using var stream = new MemoryStream();
        var options = new ParquetOptions { CompressionMethod = compression };
        if (dictionary)
        {
            options.ColumnEncodingHints["category"] = EncodingHint.Dictionary;
            options.DictionaryEncodingThreshold = 1;            // two distinct categories in two rows
        }
        var writer = await ParquetWriter.CreateAsync(schema, stream, options);
        for (int g = 0; g < rowGroups; g++)
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync<long>(id, new long[] { 2 * g, 2 * g + 1 }.AsMemory());
            await group.WriteAsync(question, ["What is 2+2?", "One?"], null);
            await group.WriteAsync(option, ["3", "4", "5", "only"], new[] { 0, 1, 1, 0 });
            await group.WriteAsync(answer, ["B", "A"], null);
            await group.WriteAsync<long>(index, new long?[] { 1, null }.AsMemory());
            await group.WriteAsync(category, ["math", "computer science"], null);
        }
        await writer.DisposeAsync();
        return stream.ToArray();
    }
}
