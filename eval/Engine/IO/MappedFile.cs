using System.IO.MemoryMappedFiles;

namespace Eval.Engine.IO;

/// <summary>
/// A whole file mapped read-only into memory; spans of it are handed out without copying. The file is opened through
/// <see cref="LinkedFile"/> and measured by its handle, so a hub-cache link maps its blob.
/// </summary>
public sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile? map;
    private readonly MemoryMappedViewAccessor? view;
    private readonly byte* basePointer;

    public MappedFile(string path)
    {
        Path = path;
        var stream = LinkedFile.OpenRead(path, bufferSize: 0);
        try
        {
            Length = stream.Length;
            if (Length == 0)
            {
                stream.Dispose();
                return;
            }
            map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, Length, MemoryMappedFileAccess.Read);
        }
        catch
        {
            map?.Dispose();
            stream.Dispose();
            throw;
        }
        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        basePointer = pointer + view.PointerOffset;
    }

    public string Path { get; }
    public long Length { get; }

    /// <summary>Bytes [offset, offset + length) of the file; the range must lie inside it.</summary>
    public ReadOnlySpan<byte> Span(long offset, int length)
    {
        if (offset < 0 || length < 0 || offset > Length - length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"{Path}: bytes [{offset}, {offset + length}) are outside the file of {Length} bytes");
        return length == 0 ? [] : new ReadOnlySpan<byte>(basePointer + offset, length);
    }

    public void Dispose()
    {
        if (view is not null)
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
            view.Dispose();
        }
        map?.Dispose();
    }
}
