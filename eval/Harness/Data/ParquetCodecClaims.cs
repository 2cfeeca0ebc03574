using System.Buffers.Binary;

namespace Eval.Harness.Data;

/// <summary>
/// What a compressed page's own data tells its decompressor to allocate, where that is not the page header's
/// uncompressed size: Snappier allocates the length in the snappy preamble, ZstdSharp (Decompressor.Unwrap) the sum over
/// the frames of their content size or, without one, their block count times the largest block (ZSTD_decompressBound).
/// Each returns -1 where the decompressor would fail on the data anyway.
/// </summary>
internal static class ParquetCodecClaims
{
    /// <summary>The snappy preamble: the uncompressed length as a varint of at most five bytes (32 bits).</summary>
    public static long SnappyLength(ReadOnlySpan<byte> data)
    {
        ulong value = 0;
        for (int i = 0; i < 5 && i < data.Length; i++)
        {
            value |= (ulong)(data[i] & 0x7F) << (7 * i);
            if ((data[i] & 0x80) == 0) return value <= uint.MaxValue ? (long)value : -1;
        }
        return -1;
    }

    private const uint ZstdMagic = 0xFD2FB528, SkippableMagic = 0x184D2A50;
    private const long BlockSizeMax = 128 * 1024;

    /// <summary>ZSTD_decompressBound over every frame of <paramref name="data"/>, saturated at long.MaxValue.</summary>
    public static long ZstdBound(ReadOnlySpan<byte> data)
    {
        long bound = 0;
        while (data.Length > 0)
        {
            long frame;
            int size;
            if (data.Length >= 8 && (BinaryPrimitives.ReadUInt32LittleEndian(data) & 0xFFFFFFF0) == SkippableMagic)
            {
                uint skipped = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
                if (skipped > (uint)(data.Length - 8)) return -1;
                (frame, size) = (0, 8 + (int)skipped);
            }
            else if ((frame = ZstdFrame(data, out size)) < 0) return -1;
            bound = frame > long.MaxValue - bound ? long.MaxValue : bound + frame;
            data = data[size..];
        }
        return bound;
    }

    /// <summary>One frame's decompressed bound and its size in bytes (ZSTD_findFrameSizeInfo).</summary>
    private static long ZstdFrame(ReadOnlySpan<byte> data, out int size)
    {
        size = 0;
        if (data.Length < 5 || BinaryPrimitives.ReadUInt32LittleEndian(data) != ZstdMagic) return -1;
        int descriptor = data[4];
        int contentSizeCode = descriptor >> 6, dictionaryIdCode = descriptor & 3;
        bool singleSegment = (descriptor & 0x20) != 0, checksum = (descriptor & 0x04) != 0;
        if ((descriptor & 0x08) != 0) return -1;                                    // the reserved bit
        int at = 5;
        ulong window = 0;
        if (!singleSegment)
        {
            if (data.Length <= at) return -1;
            int windowLog = (data[at] >> 3) + 10;
            if (windowLog > 31) return -1;
            window = 1UL << windowLog;
            window += (window >> 3) * (ulong)(data[at] & 7);
            at++;
        }
        at += dictionaryIdCode switch { 0 => 0, 1 => 1, 2 => 2, _ => 4 };
        int contentSizeBytes = contentSizeCode switch { 0 => singleSegment ? 1 : 0, 1 => 2, 2 => 4, _ => 8 };
        if (data.Length < at + contentSizeBytes) return -1;
        ulong? contentSize = contentSizeBytes switch
        {
            0 => null,
            1 => data[at],
            2 => BinaryPrimitives.ReadUInt16LittleEndian(data[at..]) + 256UL,
            4 => BinaryPrimitives.ReadUInt32LittleEndian(data[at..]),
            _ => BinaryPrimitives.ReadUInt64LittleEndian(data[at..]) is var v && v != ulong.MaxValue ? v : null,
        };
        at += contentSizeBytes;
        if (singleSegment) window = contentSize ?? 0;
        long blockMax = (long)Math.Min(window, (ulong)BlockSizeMax);

        long blocks = 0;
        while (true)
        {
            if (data.Length - at < 3) return -1;
            int header = data[at] | data[at + 1] << 8 | data[at + 2] << 16;
            int type = (header >> 1) & 3;
            int stored = type == 1 ? 1 : header >> 3;                               // an RLE block stores one byte
            if (type == 3 || stored > data.Length - at - 3) return -1;
            at += 3 + stored;
            blocks++;
            if ((header & 1) != 0) break;
        }
        if (checksum)
        {
            if (data.Length - at < 4) return -1;
            at += 4;
        }
        size = at;
        if (contentSize is { } known) return known > long.MaxValue ? long.MaxValue : (long)known;
        return blocks * blockMax;
    }
}
