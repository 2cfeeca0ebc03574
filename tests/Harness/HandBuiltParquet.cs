using System.Text;

namespace Eval.Tests.Harness;

/// <summary>
/// Parquet files built byte by byte from the format's spec (parquet.thrift, Thrift compact protocol), for what no
/// writer produces: pages whose codec data, values or Thrift fields claim more than they hold. One required or optional
/// UTF-8 text column named "text" in one row group; its pages are given whole (header and body).
/// </summary>
internal static class HandBuiltParquet
{
    public const int Uncompressed = 0, Snappy = 1, Zstd = 6;
    public const int Plain = 0, Rle = 3, DeltaLengthByteArray = 6, RleDictionary = 8;

    /// <summary>A Thrift compact writer: fields by id (delta headers), varints, zigzag, lists, binaries.</summary>
    public sealed class Thrift
    {
        private readonly MemoryStream bytes = new();
        private readonly Stack<short> last = new();
        private short lastId;

        public byte[] ToArray() => bytes.ToArray();

        public Thrift Raw(params byte[] data) { bytes.Write(data); return this; }

        private void Header(short id, int type)
        {
            int delta = id - lastId;
            if (delta is > 0 and <= 15) bytes.WriteByte((byte)(delta << 4 | type));
            else { bytes.WriteByte((byte)type); VarInt((ulong)((id << 1) ^ (id >> 15))); }
            lastId = id;
        }

        public void VarInt(ulong v)
        {
            for (; v >= 0x80; v >>= 7) bytes.WriteByte((byte)(v | 0x80));
            bytes.WriteByte((byte)v);
        }

        public Thrift I32(short id, int v) { Header(id, 5); VarInt((uint)((v << 1) ^ (v >> 31))); return this; }

        public Thrift I64(short id, long v) { Header(id, 6); VarInt((ulong)((v << 1) ^ (v >> 63))); return this; }

        public Thrift Bool(short id, bool v) { Header(id, v ? 1 : 2); return this; }

        public Thrift Binary(short id, byte[] v) { Header(id, 8); VarInt((ulong)v.Length); bytes.Write(v); return this; }

        public Thrift String(short id, string v) => Binary(id, Encoding.UTF8.GetBytes(v));

        /// <summary>A field header of the given wire type and raw bytes after it (a field Parquet.Net reads by its id, not its type).</summary>
        public Thrift Field(short id, int type, params byte[] data) { Header(id, type); bytes.Write(data); return this; }

        public Thrift Struct(short id, Action<Thrift> body) { Header(id, 12); Begin(); body(this); return End(); }

        public Thrift Structs(short id, int count, Action<Thrift, int> body)
        {
            Header(id, 9);
            ListHeader(count, 12);
            for (int i = 0; i < count; i++) { Begin(); body(this, i); End(); }
            return this;
        }

        public Thrift I32s(short id, params int[] values)
        {
            Header(id, 9);
            ListHeader(values.Length, 5);
            foreach (int v in values) VarInt((uint)((v << 1) ^ (v >> 31)));
            return this;
        }

        public Thrift Strings(short id, params string[] values)
        {
            Header(id, 9);
            ListHeader(values.Length, 8);
            foreach (var v in values) { var b = Encoding.UTF8.GetBytes(v); VarInt((ulong)b.Length); bytes.Write(b); }
            return this;
        }

        private void ListHeader(int count, int type)
        {
            if (count < 15) bytes.WriteByte((byte)(count << 4 | type));
            else { bytes.WriteByte((byte)(0xF0 | type)); VarInt((ulong)count); }
        }

        private void Begin() { last.Push(lastId); lastId = 0; }

        private Thrift End() { bytes.WriteByte(0); lastId = last.Pop(); return this; }
    }

    /// <summary>A data page (v1): its header and body. <paramref name="uncompressed"/> defaults to the body's length.</summary>
    public static byte[] DataPage(byte[] body, int values, int encoding = Plain, int? uncompressed = null, Action<Thrift>? extra = null)
    {
        var header = new Thrift()
            .I32(1, 0).I32(2, uncompressed ?? body.Length).I32(3, body.Length)
            .Struct(5, h => h.I32(1, values).I32(2, encoding).I32(3, Rle).I32(4, Rle));
        extra?.Invoke(header);
        return [.. header.Raw(0).ToArray(), .. body];
    }

    /// <summary>A dictionary page: its header (<paramref name="values"/> entries, PLAIN) and body.</summary>
    public static byte[] DictionaryPage(byte[] body, int values) =>
        [.. new Thrift().I32(1, 2).I32(2, body.Length).I32(3, body.Length).Struct(7, h => h.I32(1, values).I32(2, Plain)).Raw(0).ToArray(), .. body];

    /// <summary>PLAIN byte arrays: each a 4-byte little-endian length and its bytes.</summary>
    public static byte[] PlainTexts(params byte[][] values) =>
        [.. values.SelectMany(v => (byte[])[.. BitConverter.GetBytes(v.Length), .. v])];

    public static byte[] PlainTexts(params string[] values) => PlainTexts(values.Select(Encoding.UTF8.GetBytes).ToArray());

    /// <summary>
    /// The file: PAR1, the pages (the column chunk), <paramref name="afterChunk"/> (bytes no metadata points at), the
    /// footer. The chunk claims <paramref name="chunkValues"/> values (default: the rows).
    /// </summary>
    public static byte[] ParquetFile(IReadOnlyList<byte[]> pages, int rows, int codec = Uncompressed, long? chunkValues = null, bool optional = false,
                              Action<Thrift>? footerExtra = null, byte[]? afterChunk = null)
    {
        byte[] data = [.. pages.SelectMany(p => p)];
        var footer = new Thrift()
            .I32(1, 1)
            .Structs(2, 2, (s, i) =>
            {
                if (i == 0) s.String(4, "schema").I32(5, 1);
                else s.I32(1, 6).I32(3, optional ? 1 : 0).String(4, "text").I32(6, 0);
            })
            .I64(3, rows)
            .Structs(4, 1, (g, _) => g
                .Structs(1, 1, (c, _) => c
                    .I64(2, 4)
                    .Struct(3, m => m.I32(1, 6).I32s(2, Plain, Rle).Strings(3, "text").I32(4, codec)
                        .I64(5, chunkValues ?? rows).I64(6, data.Length).I64(7, data.Length).I64(9, 4)))
                .I64(2, data.Length).I64(3, rows));
        footerExtra?.Invoke(footer);
        byte[] meta = footer.Raw(0).ToArray();
        return [.. "PAR1"u8, .. data, .. afterChunk ?? [], .. meta, .. BitConverter.GetBytes(meta.Length), .. "PAR1"u8];
    }
}
