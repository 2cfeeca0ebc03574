using System.Runtime.InteropServices;
using Eval.Engine.IO;
using Parquet;
using Parquet.Schema;

namespace Eval.Harness.Data;

/// <summary>
/// A parquet file's rows as documents (Parquet.Net): every column becomes a field, as JSON lines do — text as
/// strings, integers as long, floats as double, booleans, nulls, and a list of such values (the datasets library's
/// Sequence / list columns: MMLU's choices, MMLU-Pro's options) as a list. Other column kinds (structs, maps,
/// nested lists, binary, dates, decimals) are refused naming the column. Every row group is read; a document's
/// origin is "FILE row N" (1-based over the file). Counts the file's metadata claims are checked against the file's
/// size, and every page header walked (<see cref="ParquetPages"/>), before Parquet.Net allocates anything for them.
/// Text is decoded by Parquet.Net, which does not report invalid UTF-8.
/// </summary>
public static class ParquetRows
{
    public static List<Document> Read(string path)
    {
        using var stream = LinkedFile.OpenRead(path);
        long length = stream.Length;   // the file's, also through a hub cache link (FileInfo.Length would be the link's)
        if (length < 12 || !HasMagic(stream, 0) || !HasMagic(stream, length - 4))
            throw new DatasetFormatException(path, "not a parquet file (it must start and end with PAR1)");
        stream.Position = 0;
        try
        {
            new ParquetPages(stream, path, length).CheckFooter();
            stream.Position = 0;
            return ReadAsync(path, new WindowedReadStream(stream), length).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not DatasetFormatException and not OutOfMemoryException and not OperationCanceledException)
        {
            // Parquet.Net reports damaged files with whatever exception its decoder meets (IOException, InvalidDataException,
            // IndexOutOfRangeException, ArgumentException, Thrift errors...): all are this file's fault.
            throw new DatasetFormatException(path, $"not a readable parquet file: {e.GetType().Name}: {e.Message}");
        }
    }

    private static bool HasMagic(Stream stream, long at)
    {
        Span<byte> magic = stackalloc byte[4];
        stream.Position = at;
        return stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic.SequenceEqual("PAR1"u8);
    }

    private sealed record Column(string Name, DataField Data, ListField? List);

    private static async Task<List<Document>> ReadAsync(string path, WindowedReadStream stream, long length)
    {
        await using var reader = await ParquetReader.CreateAsync(stream);
        var columns = reader.Schema.Fields.Select(f => ColumnOf(path, f)).ToList();
        using (var check = LinkedFile.OpenRead(path))
        {
            var pages = new ParquetPages(check, path, length);
            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                foreach (var column in columns)
                {
                    pages.CheckChunk(Chunk(path, group, column.Data, g), $"row group {g} column '{column.Data.Path}'");
                }
            }
        }
        long maxValues = ParquetPages.ValuesPerFileByte * length + 1024;
        var docs = new List<Document>();
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            long rows = group.RowCount;
            if (rows < 0 || rows > maxValues || docs.Count + rows > maxValues)
                throw new DatasetFormatException(path, $"row group {g} claims {rows} rows, more than a {length}-byte file can hold");
            var fields = new Dictionary<string, object?>[rows];
            for (int r = 0; r < rows; r++) fields[r] = [];
            foreach (var column in columns)
            {
                var chunk = Chunk(path, group, column.Data, g);
                stream.Window(chunk.Start, chunk.Start + chunk.Size);
                var values = await ReadColumnAsync(path, group, column, g, (int)rows, maxValues, length);
                stream.Unwindow();
                for (int r = 0; r < rows; r++) fields[r][column.Name] = values[r];
            }
            foreach (var f in fields) docs.Add(new Document(docs.Count, f, $"{path} row {docs.Count + 1}"));
        }
        return docs;
    }

    /// <summary>A column chunk as Parquet.Net's DataColumnReader reads it: from the least of its nonzero page offsets.</summary>
    private static ParquetChunk Chunk(string path, ParquetRowGroupReader group, DataField data, int g)
    {
        var meta = group.GetMetadata(data)?.MetaData
                   ?? throw new DatasetFormatException(path, $"row group {g} has no column chunk for '{data.Path}'");
        long start = new[] { meta.DictionaryPageOffset ?? 0, meta.DataPageOffset, meta.IndexPageOffset ?? 0 }.Where(o => o != 0).DefaultIfEmpty(0).Min();
        return new ParquetChunk(start, meta.TotalCompressedSize, meta.NumValues, (int)meta.Codec, data.MaxDefinitionLevel, data.MaxRepetitionLevel);
    }

    private static Column ColumnOf(string path, Field field) => field switch
    {
        DataField d when d.MaxRepetitionLevel == 0 => new Column(d.Name, Supported(path, d), null),
        ListField { Item: DataField item } list when item.MaxRepetitionLevel == 1 => new Column(list.Name, Supported(path, item), list),
        _ => throw new DatasetFormatException(path, $"column '{field.Name}' is a {field.SchemaType} column; only plain values and lists of them are read"),
    };

    private static DataField Supported(string path, DataField d) =>
        Array.IndexOf(SupportedTypes, d.ClrType) >= 0
            ? d
            : throw new DatasetFormatException(path, $"column '{d.Path}' holds {d.ClrType.Name} values; only text, integers, floats and booleans are read");

    private static readonly Type[] SupportedTypes =
        [typeof(ReadOnlyMemory<char>), typeof(string), typeof(long), typeof(int), typeof(short), typeof(sbyte), typeof(byte), typeof(ushort), typeof(uint),
         typeof(bool), typeof(double), typeof(float)];

    /// <summary>One column of a row group as one value per row (a list for a list column).</summary>
    private static async Task<object?[]> ReadColumnAsync(string path, ParquetRowGroupReader group, Column column, int g, int rows, long maxValues, long length)
    {
        var data = column.Data;
        var meta = group.GetMetadata(data)?.MetaData
                   ?? throw new DatasetFormatException(path, $"row group {g} has no column chunk for '{data.Path}'");
        long count = meta.NumValues;
        if (count < 0 || count > maxValues || meta.TotalCompressedSize < 0 || meta.TotalCompressedSize > length
            || meta.TotalUncompressedSize < 0 || meta.TotalUncompressedSize > 1000 * length + (64 << 20))
            throw new DatasetFormatException(path, $"row group {g} column '{data.Path}' claims {count} values ({meta.TotalCompressedSize} bytes stored, " +
                                                   $"{meta.TotalUncompressedSize} unpacked), more than a {length}-byte file can hold");
        if (column.List is null && count != rows)
            throw new DatasetFormatException(path, $"row group {g} column '{data.Path}' has {count} values for {rows} rows");
        var definitions = new int[count];
        var repetitions = column.List is null ? null : new int[count];
        var values = await PackedValuesAsync(group, data, (int)count, definitions, repetitions);

        var result = new object?[rows];
        int next = 0;
        if (column.List is null)
        {
            for (int r = 0; r < rows; r++) result[r] = definitions[r] == data.MaxDefinitionLevel ? values[next++] : null;
            return result;
        }
        // Dremel levels: repetition 0 starts a row; a definition below the repeated group's level is an empty (or null) list,
        // at the element's full level a value, in between a null element.
        int row = -1;
        int listLevel = column.List.MaxDefinitionLevel;
        for (int i = 0; i < count; i++)
        {
            if (repetitions![i] == 0)
            {
                if (++row >= rows) throw new DatasetFormatException(path, $"row group {g} column '{data.Path}' has lists for more than its {rows} rows");
                result[row] = definitions[i] >= listLevel - 1 ? new List<object?>() : null;
            }
            else if (row < 0) throw new DatasetFormatException(path, $"row group {g} column '{data.Path}' continues a list before any row started");
            if (definitions[i] >= listLevel)
            {
                if (result[row] is not List<object?> list) throw new DatasetFormatException(path, $"row group {g} column '{data.Path}' adds to a null list");
                list.Add(definitions[i] == data.MaxDefinitionLevel ? values[next++] : null);
            }
        }
        if (row != rows - 1) throw new DatasetFormatException(path, $"row group {g} column '{data.Path}' has lists for {row + 1} of its {rows} rows");
        return result;
    }

    /// <summary>The column's non-null values in order (as .NET values), its definition levels and, for a list, its repetition levels.</summary>
    private static async Task<object?[]> PackedValuesAsync(ParquetRowGroupReader group, DataField data, int count, int[] definitions, int[]? repetitions)
    {
        async Task<object?[]> Read<T>(Func<T, object?> box) where T : struct
        {
            var buffer = new T[count];
            await group.ReadRawAsync<T>(data, buffer.AsMemory(), definitions.AsMemory(), repetitions?.AsMemory());
            int present = data.MaxDefinitionLevel == 0 ? count : definitions.Count(d => d == data.MaxDefinitionLevel);
            var boxed = new object?[present];
            for (int i = 0; i < present; i++) boxed[i] = box(buffer[i]);
            return boxed;
        }
        var type = data.ClrType;
        if (type == typeof(ReadOnlyMemory<char>) || type == typeof(string))
        {
            // A dictionary-encoded column hands every row its entry's characters: one string per entry, not per row (a
            // 1 MB entry in a million rows would otherwise be a million strings).
            var strings = new Dictionary<(char[] Array, int Offset, int Count), string>();
            return await Read<ReadOnlyMemory<char>>(v =>
                !MemoryMarshal.TryGetArray(v, out var segment) ? v.ToString()
                : strings.TryGetValue((segment.Array!, segment.Offset, segment.Count), out var known) ? known
                : strings[(segment.Array!, segment.Offset, segment.Count)] = v.ToString());
        }
        if (type == typeof(long)) return await Read<long>(v => v);
        if (type == typeof(int)) return await Read<int>(v => (long)v);
        if (type == typeof(short)) return await Read<short>(v => (long)v);
        if (type == typeof(sbyte)) return await Read<sbyte>(v => (long)v);
        if (type == typeof(byte)) return await Read<byte>(v => (long)v);
        if (type == typeof(ushort)) return await Read<ushort>(v => (long)v);
        if (type == typeof(uint)) return await Read<uint>(v => (long)v);
        if (type == typeof(bool)) return await Read<bool>(v => v);
        if (type == typeof(double)) return await Read<double>(v => v);
        return await Read<float>(v => (double)v);
    }
}
