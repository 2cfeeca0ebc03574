using System.Buffers.Binary;
using System.Text;

namespace Eval.Engine.IO;

/// <summary>One member of a zip archive: where its bytes start in the file, and how they are stored.</summary>
public sealed record ZipMember(string Name, int Method, int Flags, long CompressedSize, long Size, long DataOffset)
{
    public bool IsStored => Method == 0 && CompressedSize == Size && (Flags & 1) == 0;
}

/// <summary>
/// The central directory of a zip archive (ZIP64 included), read from a mapped file. PyTorch's torch.save writes
/// every member stored (uncompressed), so a member's data offset lets its storage be read straight from the mapping;
/// System.IO.Compression does not expose that offset. Every size and offset is checked against the file.
/// </summary>
public static class ZipDirectory
{
    private const uint EndSignature = 0x06054b50, End64Signature = 0x06064b50, End64LocatorSignature = 0x07064b50;
    private const uint CentralSignature = 0x02014b50, LocalSignature = 0x04034b50;
    private const int EndSize = 22, CentralSize = 46, LocalSize = 30;

    public static IReadOnlyDictionary<string, ZipMember> Read(MappedFile file)
    {
        long length = file.Length;
        string Where(string what) => $"{file.Path}: {what}";
        if (length < EndSize) throw new CheckpointFormatException(Where($"a zip archive needs at least {EndSize} bytes, the file has {length} (truncated?)"));

        // The end-of-central-directory record: the last 22 bytes, or earlier when a comment (≤ 65535 bytes) follows it.
        int tailLength = (int)Math.Min(length, EndSize + 0xFFFF);
        var tail = file.Span(length - tailLength, tailLength);
        int endAt = -1;
        for (int i = tailLength - EndSize; i >= 0; i--)
            if (BinaryPrimitives.ReadUInt32LittleEndian(tail[i..]) == EndSignature && i + EndSize + BinaryPrimitives.ReadUInt16LittleEndian(tail[(i + 20)..]) <= tailLength)
            {
                endAt = i;
                break;
            }
        if (endAt < 0)
            throw new CheckpointFormatException(Where("no zip end-of-central-directory record: the archive is truncated or not a zip"));
        long endOffset = length - tailLength + endAt;
        var end = tail[endAt..];
        long count = BinaryPrimitives.ReadUInt16LittleEndian(end[10..]);
        long directorySize = BinaryPrimitives.ReadUInt32LittleEndian(end[12..]);
        long directoryOffset = BinaryPrimitives.ReadUInt32LittleEndian(end[16..]);

        if ((count == 0xFFFF || directorySize == 0xFFFFFFFF || directoryOffset == 0xFFFFFFFF) && endOffset >= 20)
        {
            var locator = file.Span(endOffset - 20, 20);
            if (BinaryPrimitives.ReadUInt32LittleEndian(locator) == End64LocatorSignature)
            {
                long end64Offset = (long)BinaryPrimitives.ReadUInt64LittleEndian(locator[8..]);
                if (end64Offset < 0 || end64Offset > endOffset - 56)
                    throw new CheckpointFormatException(Where($"ZIP64 end record offset {end64Offset} is outside the file"));
                var end64 = file.Span(end64Offset, 56);
                if (BinaryPrimitives.ReadUInt32LittleEndian(end64) != End64Signature)
                    throw new CheckpointFormatException(Where($"no ZIP64 end record at offset {end64Offset}"));
                count = (long)BinaryPrimitives.ReadUInt64LittleEndian(end64[32..]);
                directorySize = (long)BinaryPrimitives.ReadUInt64LittleEndian(end64[40..]);
                directoryOffset = (long)BinaryPrimitives.ReadUInt64LittleEndian(end64[48..]);
            }
        }
        if (directoryOffset < 0 || directorySize < 0 || directoryOffset > endOffset || directorySize > endOffset - directoryOffset)
            throw new CheckpointFormatException(Where($"central directory [{directoryOffset}, +{directorySize}) lies outside the file of {length} bytes (truncated?)"));
        if (count < 0 || count > directorySize / CentralSize)
            throw new CheckpointFormatException(Where($"{count} members cannot fit a central directory of {directorySize} bytes"));

        var members = new Dictionary<string, ZipMember>(StringComparer.Ordinal);
        long at = directoryOffset, directoryEnd = directoryOffset + directorySize;
        for (long n = 0; n < count; n++)
        {
            if (directoryEnd - at < CentralSize)
                throw new CheckpointFormatException(Where($"central directory entry {n} at offset {at} is cut short"));
            var header = file.Span(at, CentralSize);
            if (BinaryPrimitives.ReadUInt32LittleEndian(header) != CentralSignature)
                throw new CheckpointFormatException(Where($"central directory entry {n} at offset {at} has a bad signature"));
            int flags = BinaryPrimitives.ReadUInt16LittleEndian(header[8..]);
            int method = BinaryPrimitives.ReadUInt16LittleEndian(header[10..]);
            long compressed = BinaryPrimitives.ReadUInt32LittleEndian(header[20..]);
            long size = BinaryPrimitives.ReadUInt32LittleEndian(header[24..]);
            int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(header[28..]);
            int extraLength = BinaryPrimitives.ReadUInt16LittleEndian(header[30..]);
            int commentLength = BinaryPrimitives.ReadUInt16LittleEndian(header[32..]);
            long localOffset = BinaryPrimitives.ReadUInt32LittleEndian(header[42..]);
            if (directoryEnd - at - CentralSize < (long)nameLength + extraLength + commentLength)
                throw new CheckpointFormatException(Where($"central directory entry {n} at offset {at} runs past the directory"));
            var name = Encoding.UTF8.GetString(file.Span(at + CentralSize, nameLength));
            ReadZip64Extra(file.Span(at + CentralSize + nameLength, extraLength), ref size, ref compressed, ref localOffset);

            long dataOffset = LocalDataOffset(file, name, localOffset, Where);
            if (compressed < 0 || dataOffset > length - compressed)
                throw new CheckpointFormatException(Where($"member '{name}' claims {compressed} bytes at offset {dataOffset}, past the end of the file ({length} bytes; truncated?)"));
            if (!members.TryAdd(name, new ZipMember(name, method, flags, compressed, size, dataOffset)))
                throw new CheckpointFormatException(Where($"member '{name}' appears twice"));
            at += CentralSize + nameLength + extraLength + commentLength;
        }
        return members;
    }

    private static void ReadZip64Extra(ReadOnlySpan<byte> extra, ref long size, ref long compressed, ref long localOffset)
    {
        while (extra.Length >= 4)
        {
            int id = BinaryPrimitives.ReadUInt16LittleEndian(extra);
            int fieldLength = BinaryPrimitives.ReadUInt16LittleEndian(extra[2..]);
            if (fieldLength > extra.Length - 4) return;
            var field = extra.Slice(4, fieldLength);
            if (id == 0x0001)
            {
                // Present in this order, each only when the 32-bit field is saturated.
                if (size == 0xFFFFFFFF && field.Length >= 8) { size = (long)BinaryPrimitives.ReadUInt64LittleEndian(field); field = field[8..]; }
                if (compressed == 0xFFFFFFFF && field.Length >= 8) { compressed = (long)BinaryPrimitives.ReadUInt64LittleEndian(field); field = field[8..]; }
                if (localOffset == 0xFFFFFFFF && field.Length >= 8) localOffset = (long)BinaryPrimitives.ReadUInt64LittleEndian(field);
                return;
            }
            extra = extra[(4 + fieldLength)..];
        }
    }

    private static long LocalDataOffset(MappedFile file, string name, long localOffset, Func<string, string> where)
    {
        if (localOffset < 0 || localOffset > file.Length - LocalSize)
            throw new CheckpointFormatException(where($"member '{name}' has its local header at {localOffset}, outside the file (truncated?)"));
        var local = file.Span(localOffset, LocalSize);
        if (BinaryPrimitives.ReadUInt32LittleEndian(local) != LocalSignature)
            throw new CheckpointFormatException(where($"member '{name}' has no local header at offset {localOffset}"));
        long dataOffset = localOffset + LocalSize + BinaryPrimitives.ReadUInt16LittleEndian(local[26..]) + BinaryPrimitives.ReadUInt16LittleEndian(local[28..]);
        if (dataOffset > file.Length)
            throw new CheckpointFormatException(where($"member '{name}' starts at {dataOffset}, past the end of the file (truncated?)"));
        return dataOffset;
    }
}
