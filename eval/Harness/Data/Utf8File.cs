using System.Buffers;
using System.Text.Unicode;
using Eval.Engine.IO;

namespace Eval.Harness.Data;

/// <summary>Checks that a file is UTF-8 from end to end, streaming (data files can be large).</summary>
public static class Utf8File
{
    private const int ChunkBytes = 1 << 16;

    /// <summary>
    /// Throws a <see cref="DatasetFormatException"/> naming the line and byte offset of the first byte sequence that is
    /// not UTF-8 (a truncated sequence at the end included). A UTF-8 byte-order mark is allowed; a UTF-16 one is named.
    /// </summary>
    public static void Check(string path)
    {
        // Through LinkedFile: a data file may be a hub-cache link, and a broken one is named as such.
        using var file = LinkedFile.OpenRead(path, bufferSize: 1, FileOptions.SequentialScan);
        var bytes = new byte[ChunkBytes];
        var chars = new char[ChunkBytes];
        long offset = 0, line = 1;   // the file offset of bytes[0], and the line it is on
        int carried = 0;             // an incomplete sequence from the end of the previous chunk, moved to the front
        while (true)
        {
            int read = file.Read(bytes, carried, bytes.Length - carried);
            int length = carried + read;
            bool final = read == 0;
            if (offset == 0 && length >= 2 && (bytes[0], bytes[1]) is (0xFF, 0xFE) or (0xFE, 0xFF))
                throw new DatasetFormatException(path, 1, "invalid UTF-8 at byte offset 0: the file starts with a UTF-16 byte-order mark; save it as UTF-8");
            var chunk = bytes.AsSpan(0, length);
            var status = Utf8.ToUtf16(chunk, chars, out int valid, out _, replaceInvalidSequences: false, isFinalBlock: final);
            line += chunk[..valid].Count((byte)'\n');
            if (status == OperationStatus.InvalidData)
            {
                var at = offset + valid;
                var shown = Convert.ToHexString(chunk.Slice(valid, Math.Min(4, length - valid)));
                throw new DatasetFormatException(path, line, $"invalid UTF-8 at byte offset {at} (bytes {shown}); the file must be UTF-8 throughout");
            }
            if (final) return;
            // Done, or NeedMoreData with the incomplete tail after the valid prefix (chars has room for every byte).
            carried = length - valid;
            chunk[valid..].CopyTo(bytes);
            offset += valid;
        }
    }
}
