namespace Eval.Harness.Data;

/// <summary>
/// A seekable read-only view of a stream that reads nothing outside [Start, End): positions keep their meaning, but a
/// read there ends the data. ParquetRows sets it to the column chunk Parquet.Net decodes, whose pages ParquetPages has
/// checked: Parquet.Net reads pages until it has as many values as the chunk's metadata claims, so a chunk whose pages
/// decode to fewer would otherwise have it read the bytes after the chunk as unchecked page headers. Here they read as
/// the end of data (0xFF to its Thrift reader, which then refuses the header at once).
/// </summary>
internal sealed class WindowedReadStream(Stream inner) : Stream
{
    public long Start { get; private set; }

    public long End { get; private set; } = inner.Length;

    public void Window(long start, long end) => (Start, End) = (start, end);

    public void Unwindow() => (Start, End) = (0, inner.Length);

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => inner.Length;

    public override long Position
    {
        get => inner.Position;
        set => inner.Position = value;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        long at = inner.Position;
        if (at < Start || at >= End) return 0;
        return inner.Read(buffer[..(int)Math.Min(buffer.Length, End - at)]);
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer.AsSpan(offset, count)));

    public override int ReadByte()
    {
        Span<byte> one = stackalloc byte[1];
        return Read(one) == 1 ? one[0] : -1;
    }

    public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
