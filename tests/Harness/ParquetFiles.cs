using Parquet;
using Parquet.Schema;

namespace Eval.Tests.Harness;

/// <summary>
/// Parquet files the tests write themselves (Parquet.Net's low-level writer), shaped as the hub's datasets are: MMLU-Pro's
/// rows, and columns of any kind for the reader's own tests. Lists are written with their Dremel levels.
/// </summary>
internal static class ParquetFiles
{
    /// <summary>A column: plain values (string, long, int, bool, double, DateTime; long may hold nulls) or, with IsList, one non-empty list of strings per row.</summary>
    public sealed record Column(string Name, Type Type, IReadOnlyList<object?> Values, bool IsList = false);

    public sealed record MmluProRow(long Id, string Question, IReadOnlyList<string> Options, string Answer, long AnswerIndex, string Category, string Src = "synthetic");

    public static byte[] MmluPro(IReadOnlyList<MmluProRow> rows, CompressionMethod compression = CompressionMethod.Snappy) => Write(
        [
            new("question_id", typeof(long), rows.Select(r => (object?)r.Id).ToList()),
            new("question", typeof(string), rows.Select(r => (object?)r.Question).ToList()),
            new("options", typeof(string), rows.Select(r => (object?)r.Options).ToList(), IsList: true),
            new("answer", typeof(string), rows.Select(r => (object?)r.Answer).ToList()),
            new("answer_index", typeof(long), rows.Select(r => (object?)r.AnswerIndex).ToList()),
            new("cot_content", typeof(string), rows.Select(_ => (object?)"").ToList()),
            new("category", typeof(string), rows.Select(r => (object?)r.Category).ToList()),
            new("src", typeof(string), rows.Select(r => (object?)r.Src).ToList()),
        ], compression: compression, dictionary: ["category", "src"]);

    /// <summary>The same rows as JSON lines, as ../shared/datasets/mmlu-pro holds them.</summary>
    public static string MmluProJsonLines(IReadOnlyList<MmluProRow> rows) => string.Concat(rows.Select(r => System.Text.Json.JsonSerializer.Serialize(new
    {
        question_id = r.Id, question = r.Question, options = r.Options, answer = r.Answer, answer_index = r.AnswerIndex, category = r.Category, src = r.Src,
    }) + "\n"));

    /// <summary>A file of these columns; the <paramref name="dictionary"/> columns dictionary-encoded (as pyarrow writes every column).</summary>
    public static byte[] Write(IReadOnlyList<Column> columns, int rowGroups = 1, CompressionMethod compression = CompressionMethod.Snappy,
                               IReadOnlyList<string>? dictionary = null)
    {
        var fields = columns.Select(c => c.IsList ? (Field)new ListField(c.Name, new DataField<string>("element")) : Data(c)).ToList();
        var schema = new ParquetSchema(fields);
        int rows = columns[0].Values.Count;
        using var stream = new MemoryStream();
        var options = new ParquetOptions { CompressionMethod = compression };
        foreach (var name in dictionary ?? []) options.ColumnEncodingHints[name] = EncodingHint.Dictionary;
        var writer = ParquetWriter.CreateAsync(schema, stream, options).GetAwaiter().GetResult();
        {
            // Consecutive row groups of nearly equal size.
            for (int g = 0; g < rowGroups; g++)
            {
                int from = rows * g / rowGroups, to = rows * (g + 1) / rowGroups;
                using var group = writer.CreateRowGroup();
                for (int c = 0; c < columns.Count; c++)
                    WriteColumn(group, schema.GetDataFields()[c], columns[c], from, to).GetAwaiter().GetResult();
            }
            writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        return stream.ToArray();
    }

    private static DataField Data(Column c)
    {
        bool nullable = c.Values.Any(v => v is null);
        return c.Type == typeof(string) ? new DataField<string>(c.Name)
            : c.Type == typeof(long) ? (nullable ? new DataField<long?>(c.Name) : new DataField<long>(c.Name))
            : c.Type == typeof(int) ? new DataField<int>(c.Name)
            : c.Type == typeof(bool) ? new DataField<bool>(c.Name)
            : c.Type == typeof(double) ? new DataField<double>(c.Name)
            : c.Type == typeof(DateTime) ? new DataField<DateTime>(c.Name)
            : throw new ArgumentException($"no test column of {c.Type}");
    }

    private static async Task WriteColumn(ParquetRowGroupWriter group, DataField field, Column c, int from, int to)
    {
        var values = c.Values.Skip(from).Take(to - from).ToList();
        if (c.IsList)
        {
            // Each element after a list's first repeats at level 1. (This writer cannot express an empty list: a list
            // given as [null] is written as one null element.)
            var flat = new List<string?>();
            var repetitions = new List<int>();
            foreach (var list in values.Cast<IReadOnlyList<string?>>())
            {
                if (list.Count == 0) throw new ArgumentException("the test writer cannot write an empty list");
                for (int i = 0; i < list.Count; i++) { flat.Add(list[i]); repetitions.Add(i == 0 ? 0 : 1); }
            }
            await group.WriteAsync(field, flat, repetitions.ToArray());
            return;
        }
        if (c.Type == typeof(string)) await group.WriteAsync(field, values.Select(v => (string?)v).ToList(), null);
        else if (c.Type == typeof(long) && field.ClrType == typeof(long) && field.IsNullable) await group.WriteAsync<long>(field, values.Select(v => (long?)v).ToArray().AsMemory());
        else if (c.Type == typeof(long)) await group.WriteAsync<long>(field, values.Select(v => (long)v!).ToArray().AsMemory());
        else if (c.Type == typeof(int)) await group.WriteAsync<int>(field, values.Select(v => (int)v!).ToArray().AsMemory());
        else if (c.Type == typeof(bool)) await group.WriteAsync<bool>(field, values.Select(v => (bool)v!).ToArray().AsMemory());
        else if (c.Type == typeof(double)) await group.WriteAsync<double>(field, values.Select(v => (double)v!).ToArray().AsMemory());
        else await group.WriteAsync<DateTime>(field, values.Select(v => (DateTime)v!).ToArray().AsMemory());
    }
}
