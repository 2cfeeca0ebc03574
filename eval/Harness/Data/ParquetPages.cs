namespace Eval.Harness.Data;

/// <summary>
/// Walks a parquet file's page headers (Thrift compact protocol) before Parquet.Net decodes them: each page must lie
/// inside its column chunk, and the bytes and values the pages claim, summed over the whole file, must stay within a
/// budget proportional to the file's size. Parquet.Net allocates what a page header claims (a 1 KB file could ask for
/// gigabytes), so a damaged or hostile file is refused here, naming the file, with nothing allocated for it.
/// </summary>
internal sealed class ParquetPages(Stream stream, string path, long length)
{
    private const int MaxDepth = 16;

    /// <summary>Bytes the pages may unpack to, over the whole file (text compresses 2–5×; dictionary pages unpack more).</summary>
    private readonly long byteBudget = 64 * length + (1 << 20);

    /// <summary>Values the pages may hold, over the whole file.</summary>
    private readonly long valueBudget = 8 * length + 1024;

    private long bytes, values;

    /// <summary>
    /// Walks the footer (FileMetaData) before Parquet.Net reads it: its length must fit the file, and no list in it may
    /// claim more elements than bytes remain (Parquet.Net sizes its lists by the claim).
    /// </summary>
    public void CheckFooter()
    {
        stream.Position = length - 8;
        Span<byte> size = stackalloc byte[4];
        stream.ReadExactly(size);
        long footer = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(size);
        if (footer <= 0 || footer > length - 12)
            throw new DatasetFormatException(path, $"footer of {footer} bytes does not fit the file's {length} bytes");
        stream.Position = length - 8 - footer;
        Skip(12, length - 8, "footer", 0);
    }

    /// <summary>Checks the pages of one column chunk: [start, start + size).</summary>
    public void CheckChunk(long start, long size, string where)
    {
        long end = start + size;
        if (start < 4 || size < 0 || end > length - 8)
            throw new DatasetFormatException(path, $"{where}: column chunk at byte {start} of {size} bytes is outside the file's {length} bytes");
        for (long at = start; at < end;)
        {
            stream.Position = at;
            var (uncompressed, compressed, count) = PageHeader(end, where);
            long next = stream.Position + compressed;
            if (compressed < 0 || next > end)
                throw new DatasetFormatException(path, $"{where}: the page at byte {at} claims {compressed} bytes, past its column chunk's end at byte {end}");
            bytes += Math.Max(0, uncompressed);
            values += Math.Max(0, count);
            if (uncompressed < 0 || count < 0 || bytes > byteBudget || values > valueBudget)
                throw new DatasetFormatException(path, $"{where}: the page at byte {at} claims {uncompressed} bytes and {count} values, more than a {length}-byte file can hold");
            at = next;
        }
    }

    /// <summary>uncompressed_page_size (2), compressed_page_size (3), and num_values of the data (5, 8) or dictionary (7) page header.</summary>
    private (long Uncompressed, long Compressed, long Values) PageHeader(long end, string where)
    {
        long uncompressed = -1, compressed = -1, count = 0;
        short id = 0;
        while (NextField(ref id, end, where) is var type && type != 0)
        {
            if (id is 2 or 3 && type == 5)
            {
                long v = ZigZag(Varint(end, where));
                if (id == 2) uncompressed = v; else compressed = v;
            }
            else if (id is 5 or 7 or 8 && type == 12) count = Math.Max(count, NumValues(end, where));
            else Skip(type, end, where, 0);
        }
        if (uncompressed < 0 || compressed < 0) throw Bad(where, "a page header without its sizes");
        return (uncompressed, compressed, count);
    }

    /// <summary>The num_values field (1) of a data or dictionary page header struct; the rest skipped.</summary>
    private long NumValues(long end, string where)
    {
        long count = 0;
        short id = 0;
        while (NextField(ref id, end, where) is var type && type != 0)
            if (id == 1 && type == 5) count = ZigZag(Varint(end, where));
            else Skip(type, end, where, 1);
        return count;
    }

    /// <summary>The next field's type (0 at the struct's end) and id (a delta on the last, or given in full).</summary>
    private int NextField(ref short id, long end, string where)
    {
        int header = Byte(end, where);
        int type = header & 0x0F;
        if (type == 0) return 0;
        int delta = header >> 4;
        id = delta != 0 ? (short)(id + delta) : (short)ZigZag(Varint(end, where));
        return type;
    }

    private void Skip(int type, long end, string where, int depth)
    {
        if (depth > MaxDepth) throw Bad(where, $"Thrift structs nested more than {MaxDepth} deep");
        switch (type)
        {
            case 1 or 2: return;                                    // booleans live in the field header
            case 3: Byte(end, where); return;
            case 4 or 5 or 6: Varint(end, where); return;
            case 7: Advance(8, end, where); return;
            case 8: Advance(Varint(end, where), end, where); return;
            case 9 or 10:
            {
                int header = Byte(end, where);
                long size = header >> 4 == 15 ? Varint(end, where) : header >> 4;
                if (size > end - stream.Position) throw Bad(where, $"a list claims {size} elements in {end - stream.Position} bytes");
                for (long i = 0; i < size; i++) Skip(ElementType(header & 0x0F), end, where, depth + 1);
                return;
            }
            case 11:
            {
                long size = Varint(end, where);
                if (size == 0) return;
                if (size > end - stream.Position) throw Bad(where, $"a map claims {size} entries in {end - stream.Position} bytes");
                int kinds = Byte(end, where);
                for (long i = 0; i < size; i++)
                {
                    Skip(ElementType(kinds >> 4), end, where, depth + 1);
                    Skip(ElementType(kinds & 0x0F), end, where, depth + 1);
                }
                return;
            }
            case 12:
            {
                short id = 0;
                while (NextField(ref id, end, where) is var inner && inner != 0) Skip(inner, end, where, depth + 1);
                return;
            }
            default: throw Bad(where, $"a field of unknown Thrift type {type}");
        }
    }

    /// <summary>In lists a boolean is a byte of its own (type 1), unlike in a field header.</summary>
    private static int ElementType(int type) => type == 1 ? 3 : type;

    private void Advance(long count, long end, string where)
    {
        if (count < 0 || stream.Position + count > end) throw Bad(where, "its Thrift data runs past its end");
        stream.Position += count;
    }

    private int Byte(long end, string where)
    {
        if (stream.Position >= end) throw Bad(where, "its Thrift data runs past its end");
        int b = stream.ReadByte();
        return b >= 0 ? b : throw Bad(where, "its Thrift data runs past the file's end");
    }

    private long Varint(long end, string where)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            int b = Byte(end, where);
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return (long)value;
        }
        throw Bad(where, "a Thrift varint longer than 64 bits");
    }

    private static long ZigZag(long v) => (long)((ulong)v >> 1) ^ -(v & 1);

    private DatasetFormatException Bad(string where, string message) => new(path, $"{where}: {message}");
}
