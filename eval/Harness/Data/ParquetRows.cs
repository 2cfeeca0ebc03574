using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Unicode;
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
/// Text is read as bytes and decoded here: invalid UTF-8 is refused naming the row and column (Parquet.Net would replace
/// it without a word).
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
                    pages.CheckChunk(Chunk(path, group, column.Data, g), $"row group {g} column '{column.Data.Path}'");
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
                var values = await ReadColumnAsync(path, group, column, g, docs.Count, (int)rows, maxValues, length);
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
    private static async Task<object?[]> ReadColumnAsync(string path, ParquetRowGroupReader group, Column column, int g, int firstRow, int rows, long maxValues, long length)
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
        var values = await PackedValuesAsync(group, column, (int)count, definitions, repetitions);
        object? Checked(object? value, int row, int? item) => value is InvalidUtf8 bad
            ? throw new DatasetFormatException($"{path} row {firstRow + row + 1}",
                $"column '{column.Name}'{(item is { } i ? $" item {i + 1}" : "")} is not valid UTF-8 (byte {bad.Offset} of its {bad.Length})")
            : value;

        var result = new object?[rows];
        int next = 0;
        if (column.List is null)
        {
            for (int r = 0; r < rows; r++) result[r] = definitions[r] == data.MaxDefinitionLevel ? Checked(values[next++], r, null) : null;
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
                list.Add(definitions[i] == data.MaxDefinitionLevel ? Checked(values[next++], row, list.Count) : null);
            }
        }
        if (row != rows - 1) throw new DatasetFormatException(path, $"row group {g} column '{data.Path}' has lists for {row + 1} of its {rows} rows");
        return result;
    }

    /// <summary>Text that is not valid UTF-8: where its first bad byte is (the row is named where the value is placed).</summary>
    private sealed record InvalidUtf8(int Offset, int Length);

    /// <summary>The column's non-null values in order (as .NET values), its definition levels and, for a list, its repetition levels.</summary>
    private static async Task<object?[]> PackedValuesAsync(ParquetRowGroupReader group, Column column, int count, int[] definitions, int[]? repetitions)
    {
        async Task<object?[]> Read<T>(DataField field, Func<T, object?> box) where T : struct
        {
            var buffer = new T[count];
            await group.ReadRawAsync<T>(field, buffer.AsMemory(), definitions.AsMemory(), repetitions?.AsMemory());
            int present = field.MaxDefinitionLevel == 0 ? count : definitions.Count(d => d == field.MaxDefinitionLevel);
            var boxed = new object?[present];
            for (int i = 0; i < present; i++) boxed[i] = box(buffer[i]);
            return boxed;
        }
        var data = column.Data;
        var type = data.ClrType;
        if (type == typeof(ReadOnlyMemory<char>) || type == typeof(string))
        {
            // A dictionary-encoded column hands every row its entry's array: one string per entry, not per row (a 1 MB
            // entry in a million rows would otherwise be a million strings).
            if (RawTextField(column) is { } raw)
            {
                var texts = new Dictionary<(byte[] Array, int Offset, int Count), object>();
                return await Read<ReadOnlyMemory<byte>>(raw, v =>
                    v.Length == 0 ? ""
                    : !MemoryMarshal.TryGetArray(v, out var segment) ? Text(v.Span)
                    : texts.TryGetValue((segment.Array!, segment.Offset, segment.Count), out var known) ? known
                    : texts[(segment.Array!, segment.Offset, segment.Count)] = Text(v.Span));
            }
            var strings = new Dictionary<(char[] Array, int Offset, int Count), string>();
            return await Read<ReadOnlyMemory<char>>(data, v =>
                !MemoryMarshal.TryGetArray(v, out var segment) ? v.ToString()
                : strings.TryGetValue((segment.Array!, segment.Offset, segment.Count), out var known) ? known
                : strings[(segment.Array!, segment.Offset, segment.Count)] = v.ToString());
        }
        if (type == typeof(long)) return await Read<long>(data, v => v);
        if (type == typeof(int)) return await Read<int>(data, v => (long)v);
        if (type == typeof(short)) return await Read<short>(data, v => (long)v);
        if (type == typeof(sbyte)) return await Read<sbyte>(data, v => (long)v);
        if (type == typeof(byte)) return await Read<byte>(data, v => (long)v);
        if (type == typeof(ushort)) return await Read<ushort>(data, v => (long)v);
        if (type == typeof(uint)) return await Read<uint>(data, v => (long)v);
        if (type == typeof(bool)) return await Read<bool>(data, v => v);
        if (type == typeof(double)) return await Read<double>(data, v => v);
        return await Read<float>(data, v => (double)v);
    }

    private static object Text(ReadOnlySpan<byte> bytes)
    {
        if (Utf8.IsValid(bytes)) return Encoding.UTF8.GetString(bytes);
        int at = 0;
        while (Rune.DecodeFromUtf8(bytes[at..], out _, out int used) == OperationStatus.Done) at += used;
        return new InvalidUtf8(at, bytes.Length);
    }

    /// <summary>
    /// A field of the text column's path and levels that Parquet.Net reads as bytes (it decodes text itself, replacing
    /// invalid UTF-8). Null where the schema's layout cannot be rebuilt with Parquet.Net's public fields (a required or
    /// two-level list): that column's text is decoded by Parquet.Net, unchecked.
    /// </summary>
    private static DataField? RawTextField(Column column)
    {
        var data = column.Data;
        var raw = new DataField<byte[]>(data.Name, data.IsNullable);
        if (column.List is null) _ = new ParquetSchema(raw);
        else if (data.Path.Length == 3) _ = new ParquetSchema(new ListField(column.List.Name, raw, data.Path[1]));
        else return null;
        return raw.Path.Equals(data.Path) && raw.MaxDefinitionLevel == data.MaxDefinitionLevel && raw.MaxRepetitionLevel == data.MaxRepetitionLevel
            ? raw : null;
    }
}
