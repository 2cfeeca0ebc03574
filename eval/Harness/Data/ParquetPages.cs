namespace Eval.Harness.Data;

/// <summary>A column chunk as Parquet.Net reads it: its first page, its bytes, its values, codec and levels.</summary>
internal sealed record ParquetChunk(long Start, long Size, long Values, int Codec, int MaxDefinitionLevel, int MaxRepetitionLevel);

/// <summary>
/// Walks a parquet file's footer and page headers (Thrift compact) as Parquet.Net 6.1.0 will read them
/// (<see cref="ParquetThriftWalk"/>) before it decodes anything, and adds up what each page makes it allocate: the
/// decompressed page (the header's uncompressed size, or what the snappy or zstd data itself claims), its values, and
/// the temporary arrays some encodings take. All of it, over the whole file, must stay within a budget proportional to
/// the file's size, each page must lie inside its column chunk, and a chunk's pages must hold the values its metadata
/// claims (which size the reader's buffers). A damaged or hostile file (a 1 KB file could ask for gigabytes) is refused
/// here with an error naming the file, the column and the page, before anything is allocated for it.
/// </summary>
internal sealed class ParquetPages(Stream stream, string path, long length)
{
    /// <summary>Bytes the pages may unpack to, over the whole file (text compresses 2–5×; dictionary pages unpack more).</summary>
    private readonly long byteBudget = 64 * length + (1 << 20);

    /// <summary>Values the pages may hold, over the whole file (RLE and dictionary pages pack many values in few bytes).</summary>
    private readonly long valueBudget = ValuesPerFileByte * length + 1024;

    public const long ValuesPerFileByte = 8;

    private long bytes, values;

    /// <summary>
    /// Walks the footer (FileMetaData) as Parquet.Net reads it: its length must fit the file, and nothing in it may
    /// claim more bytes or elements than remain (Parquet.Net allocates the claim before reading it).
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
        new ParquetThriftWalk(stream, length - 8, path, "footer").Read(ParquetThriftSchema.FileMetaData);
    }

    /// <summary>Checks every page of one column chunk, [start, start + size), as Parquet.Net's DataColumnReader reads them.</summary>
    public void CheckChunk(ParquetChunk chunk, string where)
    {
        long end = chunk.Start + chunk.Size;
        if (chunk.Start < 4 || chunk.Size < 0 || end > length - 8)
            throw new DatasetFormatException(path, $"{where}: column chunk at byte {chunk.Start} of {chunk.Size} bytes is outside the file's {length} bytes");
        long chunkValues = 0;
        for (long at = chunk.Start; at < end;)
        {
            stream.Position = at;
            string page = $"{where}, page at byte {at}";
            var header = new Dictionary<int, long>();
            new ParquetThriftWalk(stream, end, path, page).Read(ParquetThriftSchema.PageHeader, header);
            long body = stream.Position;
            long uncompressed = header.GetValueOrDefault(2), compressed = header.GetValueOrDefault(3);
            if (compressed < 0 || compressed > end - body)
                throw Bad(page, $"its {compressed} bytes run past the column chunk's end at byte {end}");
            if (uncompressed < 0) throw Bad(page, $"it claims {uncompressed} bytes unpacked");
            long count;
            switch (header.GetValueOrDefault(1))
            {
                case 2:     // DICTIONARY_PAGE: decoded whole, plain, into a dictionary of its num_values entries
                    count = header.TryGetValue(701, out var n) ? n : throw Bad(page, "a dictionary page without its header");
                    Claim(page, Unpacked(page, chunk.Codec, body, compressed, uncompressed), count);
                    break;
                case 0:     // DATA_PAGE
                    count = header.TryGetValue(501, out n) ? n : throw Bad(page, "a data page without its header");
                    Claim(page, Unpacked(page, chunk.Codec, body, compressed, uncompressed) + Decoding(page, header.GetValueOrDefault(502), chunk), count);
                    chunkValues += count;
                    break;
                case 3:     // DATA_PAGE_V2: levels stored plain, then the values, compressed when is_compressed (default true)
                {
                    count = header.TryGetValue(801, out n) ? n : throw Bad(page, "a data page (v2) without its header");
                    if (chunk.MaxRepetitionLevel > 0) throw Bad(page, "a data page (v2) in a list column, which Parquet.Net does not read");
                    long levels = chunk.MaxDefinitionLevel > 0 ? header.GetValueOrDefault(805) : 0;
                    if (levels < 0 || levels > compressed) throw Bad(page, $"its definition levels claim {levels} of its {compressed} bytes");
                    bool packed = header.GetValueOrDefault(807, 1) != 0 && chunk.Codec != 0;
                    long unpacked = packed ? Unpacked(page, chunk.Codec, body + levels, compressed - levels, uncompressed) : 0;
                    Claim(page, unpacked + Decoding(page, header.GetValueOrDefault(804), chunk), count);
                    chunkValues += count;
                    break;
                }
                case var type: throw Bad(page, $"a page of type {type}, which Parquet.Net does not read");
            }
            at = body + compressed;
        }
        if (chunkValues != chunk.Values)
            throw new DatasetFormatException(path, $"{where}: its pages hold {chunkValues} values, its metadata claims {chunk.Values}");
    }

    private void Claim(string page, long unpacked, long count)
    {
        if (count < 0) throw Bad(page, $"it claims {count} values");
        bytes = unpacked > long.MaxValue - bytes ? long.MaxValue : bytes + unpacked;
        values += count;
        if (bytes > byteBudget || values > valueBudget)
            throw Bad(page, $"it claims {unpacked} bytes unpacked and {count} values, more than a {length}-byte file can hold");
    }

    /// <summary>What the decompressor allocates for a page's data, [at, at + size).</summary>
    private long Unpacked(string page, int codec, long at, long size, long uncompressed)
    {
        switch (codec)
        {
            case 0 or 2 or 4 or 5 or 7: return uncompressed;    // none, gzip, brotli, lz4, lz4_raw: the header's size
            case 1:
            {
                long claimed = ParquetCodecClaims.SnappyLength(Bytes(at, Math.Min(size, 5)));
                return claimed >= 0 ? claimed : throw Bad(page, "its snappy data has no readable length");
            }
            case 6:
            {
                long claimed = ParquetCodecClaims.ZstdBound(Bytes(at, size));
                return claimed >= 0 ? claimed : throw Bad(page, "its zstd data has no readable frames");
            }
            default: throw Bad(page, $"compression codec {codec}, which Parquet.Net does not read");
        }
    }

    /// <summary>What decoding the page's values takes beyond the values themselves; the encodings Parquet.Net sizes by unchecked data are refused.</summary>
    private long Decoding(string page, long encoding, ParquetChunk chunk) => encoding switch
    {
        0 or 2 or 8 or 9 => 0,                      // PLAIN, PLAIN_DICTIONARY, RLE_DICTIONARY, BYTE_STREAM_SPLIT
        3 => 4 * chunk.Values,                      // RLE (booleans): a temporary int per value left in the chunk
        5 or 6 or 7 => throw Bad(page, $"{(encoding == 5 ? "DELTA_BINARY_PACKED" : encoding == 6 ? "DELTA_LENGTH_BYTE_ARRAY" : "DELTA_BYTE_ARRAY")} encoding, " +
                                        "which Parquet.Net decodes into buffers its data sizes unchecked; not read"),
        _ => throw Bad(page, $"encoding {encoding}, which Parquet.Net does not read"),
    };

    private byte[] Bytes(long at, long count)
    {
        var buffer = new byte[count];
        stream.Position = at;
        stream.ReadExactly(buffer);
        return buffer;
    }

    private DatasetFormatException Bad(string page, string message) => new(path, $"{page}: {message}");
}
