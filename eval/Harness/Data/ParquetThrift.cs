namespace Eval.Harness.Data;

/// <summary>How Parquet.Net reads a field of a known id: by this kind, whatever type the field's header gives.</summary>
internal enum ThriftKind : byte { Bool, Byte, I16, I32, I64, Double, Binary, Struct, List }

internal sealed record ThriftField(short Id, ThriftKind Kind, ThriftStruct? Struct = null, ThriftKind Element = ThriftKind.Binary);

internal sealed class ThriftStruct(string name, params ThriftField[] fields)
{
    public string Name { get; } = name;

    public ThriftField? Field(short id)
    {
        foreach (var f in fields)
            if (f.Id == id) return f;
        return null;
    }
}

/// <summary>
/// The Thrift structs that Parquet.Net 6.1.0 reads for a file's footer (FileMetaData) and for every page (PageHeader),
/// with the kind each known field id is read as: a transcription of the generated readers in Parquet.Net's
/// src/Parquet/Meta/Parquet.cs (from parquet.thrift) at that version. A Parquet.Net upgrade must re-check it
/// (ParquetThriftWalkTests pins the version).
/// </summary>
internal static class ParquetThriftSchema
{
    private static ThriftField Bool(short id) => new(id, ThriftKind.Bool);
    private static ThriftField Byte(short id) => new(id, ThriftKind.Byte);
    private static ThriftField I16(short id) => new(id, ThriftKind.I16);
    private static ThriftField I32(short id) => new(id, ThriftKind.I32);
    private static ThriftField I64(short id) => new(id, ThriftKind.I64);
    private static ThriftField Double(short id) => new(id, ThriftKind.Double);
    private static ThriftField Binary(short id) => new(id, ThriftKind.Binary);
    private static ThriftField Struct(short id, ThriftStruct s) => new(id, ThriftKind.Struct, s);
    private static ThriftField ListOf(short id, ThriftKind element, ThriftStruct? s = null) => new(id, ThriftKind.List, s, element);

    /// <summary>StringType, MapType, ListType, EnumType, DateType, NullType, JsonType, BsonType, UUIDType, Float16Type, the time units, IndexPageHeader, TypeDefinedOrder, EncryptionWithFooterKey: no fields.</summary>
    private static readonly ThriftStruct Empty = new("empty");

    private static readonly ThriftStruct Statistics = new("Statistics",
        Binary(1), Binary(2), I64(3), I64(4), Binary(5), Binary(6), Bool(7), Bool(8));

    private static readonly ThriftStruct TimeUnit = new("TimeUnit", Struct(1, Empty), Struct(2, Empty), Struct(3, Empty));

    private static readonly ThriftStruct LogicalType = new("LogicalType",
        Struct(1, Empty), Struct(2, Empty), Struct(3, Empty), Struct(4, Empty),
        Struct(5, new("DecimalType", I32(1), I32(2))),
        Struct(6, Empty),
        Struct(7, new("TimeType", Bool(1), Struct(2, TimeUnit))),
        Struct(8, new("TimestampType", Bool(1), Struct(2, TimeUnit))),
        Struct(10, new("IntType", Byte(1), Bool(2))),
        Struct(11, Empty), Struct(12, Empty), Struct(13, Empty), Struct(14, Empty), Struct(15, Empty),
        Struct(16, new("VariantType", Byte(1))),
        Struct(17, new("GeometryType", Binary(1))),
        Struct(18, new("GeographyType", Binary(1), I32(2))));

    private static readonly ThriftStruct SchemaElement = new("SchemaElement",
        I32(1), I32(2), I32(3), Binary(4), I32(5), I32(6), I32(7), I32(8), I32(9), Struct(10, LogicalType));

    private static readonly ThriftStruct KeyValue = new("KeyValue", Binary(1), Binary(2));

    private static readonly ThriftStruct ColumnMetaData = new("ColumnMetaData",
        I32(1), ListOf(2, ThriftKind.I32), ListOf(3, ThriftKind.Binary), I32(4), I64(5), I64(6), I64(7),
        ListOf(8, ThriftKind.Struct, KeyValue), I64(9), I64(10), I64(11), Struct(12, Statistics),
        ListOf(13, ThriftKind.Struct, new("PageEncodingStats", I32(1), I32(2), I32(3))), I64(14), I32(15),
        Struct(16, new("SizeStatistics", I64(1), ListOf(2, ThriftKind.I64), ListOf(3, ThriftKind.I64))),
        Struct(17, new("GeospatialStatistics",
            Struct(1, new("BoundingBox", Double(1), Double(2), Double(3), Double(4), Double(5), Double(6), Double(7), Double(8))),
            ListOf(2, ThriftKind.I32))));

    private static readonly ThriftStruct ColumnChunk = new("ColumnChunk",
        Binary(1), I64(2), Struct(3, ColumnMetaData), I64(4), I32(5), I64(6), I32(7),
        Struct(8, new("ColumnCryptoMetaData", Struct(1, Empty), Struct(2, new("EncryptionWithColumnKey", ListOf(1, ThriftKind.Binary), Binary(2))))),
        Binary(9));

    private static readonly ThriftStruct RowGroup = new("RowGroup",
        ListOf(1, ThriftKind.Struct, ColumnChunk), I64(2), I64(3),
        ListOf(4, ThriftKind.Struct, new("SortingColumn", I32(1), Bool(2), Bool(3))), I64(5), I64(6), I16(7));

    private static readonly ThriftStruct AesGcm = new("AesGcmV1", Binary(1), Binary(2), Bool(3));

    public static readonly ThriftStruct FileMetaData = new("FileMetaData",
        I32(1), ListOf(2, ThriftKind.Struct, SchemaElement), I64(3), ListOf(4, ThriftKind.Struct, RowGroup),
        ListOf(5, ThriftKind.Struct, KeyValue), Binary(6), ListOf(7, ThriftKind.Struct, new("ColumnOrder", Struct(1, Empty))),
        Struct(8, new("EncryptionAlgorithm", Struct(1, AesGcm), Struct(2, AesGcm))), Binary(9));

    public static readonly ThriftStruct PageHeader = new("PageHeader",
        I32(1), I32(2), I32(3), I32(4),
        Struct(5, new("DataPageHeader", I32(1), I32(2), I32(3), I32(4), Struct(5, Statistics))),
        Struct(6, Empty),
        Struct(7, new("DictionaryPageHeader", I32(1), I32(2), Bool(3))),
        Struct(8, new("DataPageHeaderV2", I32(1), I32(2), I32(3), I32(4), I32(5), I32(6), Bool(7), Struct(8, Statistics))));
}

/// <summary>
/// Reads Thrift compact data the way Parquet.Net 6.1.0 does (its ThriftCompactProtocolReader and generated readers)
/// without allocating anything it claims: a field of a known id is read as the schema's kind whatever its header says;
/// an unknown field is skipped as Parquet.Net skips it (a struct by its field headers alone, a list element by element);
/// varints are decoded with its 32- and 64-bit wrap-around. Every byte must lie before <paramref name="end"/> (past it
/// Parquet.Net reads 0xFF forever or unchecked bytes), and every string, binary and list must claim no more than the
/// bytes left, since Parquet.Net allocates the claim before reading it. Values read at depth one and two can be kept
/// (key: id, or outer id × 100 + inner id), last one wins as in Parquet.Net; a struct read again starts afresh.
/// </summary>
internal sealed class ParquetThriftWalk(Stream stream, long end, string path, string where)
{
    /// <summary>Parquet.Net recurses once per nested struct or list; the schema nests six deep.</summary>
    private const int MaxDepth = 32;

    public void Read(ThriftStruct s, Dictionary<int, long>? values = null) => ReadStruct(s, 1, 0, values);

    private void ReadStruct(ThriftStruct s, int depth, int key, Dictionary<int, long>? values)
    {
        if (depth > MaxDepth) throw Bad($"Thrift structs nested more than {MaxDepth} deep");
        short last = 0;
        while (true)
        {
            int header = Byte();
            if (header == 0) return;
            int type = header & 0x0F;
            short id = header >> 4 is var delta && delta != 0 ? (short)(last + delta) : (short)ZigZag(VarInt32());
            last = id;
            if (s.Field(id) is { } field)
            {
                int inner = values is not null && depth <= 2 ? key * 100 + id : -1;
                ReadValue(field.Kind, field.Struct, field.Element, type, depth, inner, values);
            }
            else Skip(type, depth);
        }
    }

    private void ReadValue(ThriftKind kind, ThriftStruct? s, ThriftKind element, int wireType, int depth, int key, Dictionary<int, long>? values)
    {
        long value;
        switch (kind)
        {
            case ThriftKind.Bool: value = wireType == 1 ? 1 : 0; break;              // from the field header, nothing read
            case ThriftKind.Byte: value = Byte(); break;
            case ThriftKind.I16: value = (short)ZigZag(VarInt32()); break;
            case ThriftKind.I32: value = ZigZag(VarInt32()); break;
            case ThriftKind.I64: value = ZigZag(VarInt64()); break;
            case ThriftKind.Double: Advance(8); return;
            case ThriftKind.Binary: Binary(); return;
            case ThriftKind.Struct:
                if (key >= 0) foreach (var k in values!.Keys.Where(k => k / 100 == key).ToList()) values.Remove(k);
                ReadStruct(s!, depth + 1, key, key >= 0 ? values : null);
                return;
            default:
            {
                // Parquet.Net ignores the list's element type and sizes a List<T> by the count before reading any element.
                int count = ListHeader(out _);
                if (count < 0 || count > end - stream.Position) throw Bad($"a list claims {count} elements in {end - stream.Position} bytes");
                // (No list of the schema holds booleans or lists: each element is at least a byte.)
                for (int i = 0; i < count; i++) ReadValue(element, s, ThriftKind.Binary, 0, depth + 1, -1, null);
                return;
            }
        }
        if (key >= 0) values![key] = value;
    }

    /// <summary>Parquet.Net's SkipField: what it reads for a field it does not know.</summary>
    private void Skip(int type, int depth)
    {
        if (depth > MaxDepth) throw Bad($"Thrift lists nested more than {MaxDepth} deep");
        switch (type)
        {
            case 1 or 2: return;
            case 3: Advance(1); return;
            case 4 or 5: VarInt32(); return;
            case 6: VarInt64(); return;
            case 7: Advance(8); return;
            case 8: Binary(); return;
            case 9:
            {
                int count = ListHeader(out int elementType);
                if (count > end - stream.Position) throw Bad($"a list claims {count} elements in {end - stream.Position} bytes");
                for (int i = 0; i < count; i++) Skip(elementType, depth + 1);
                return;
            }
            case 12:
                // Parquet.Net skips a struct by reading field headers up to a stop, not the fields' values.
                while (Byte() is var header && header != 0)
                    if (header >> 4 == 0) VarInt32();
                return;
            default: throw Bad($"a field of Thrift type {type}, which Parquet.Net cannot read");
        }
    }

    private void Binary()
    {
        int length = (int)VarInt32();
        if (length < 0 || length > end - stream.Position) throw Bad($"a string or binary claims {length} bytes, {end - stream.Position} are left");
        Advance(length);
    }

    private int ListHeader(out int elementType)
    {
        int header = Byte();
        elementType = header & 0x0F;
        int size = header >> 4;
        return size == 15 ? (int)VarInt32() : size;
    }

    private void Advance(long count)
    {
        if (count > end - stream.Position) throw Bad("its Thrift data runs past its end");
        stream.Position += count;
    }

    private int Byte()
    {
        if (stream.Position >= end) throw Bad("its Thrift data runs past its end");
        int b = stream.ReadByte();
        return b >= 0 ? b : throw Bad("its Thrift data runs past the file's end");
    }

    /// <summary>As Parquet.Net: any number of bytes, each shifted in by a count that wraps at 32.</summary>
    private uint VarInt32()
    {
        uint result = 0;
        for (int shift = 0; ; shift += 7)
        {
            int b = Byte();
            result |= (uint)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
    }

    private ulong VarInt64()
    {
        ulong result = 0;
        for (int shift = 0; ; shift += 7)
        {
            int b = Byte();
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
    }

    private static int ZigZag(uint n) => (int)(n >> 1) ^ -(int)(n & 1);

    private static long ZigZag(ulong n) => (long)(n >> 1) ^ -(long)(n & 1);

    private DatasetFormatException Bad(string message) => new(path, $"{where}: {message}");
}
