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

    /// <summary>
    /// Says this process is done with bytes [offset, offset + length) for now: on Linux the whole pages inside the range
    /// leave its resident set (madvise MADV_DONTNEED; the page cache keeps them, and a later read maps them again). A loader
    /// that converts a checkpoint into its own tensors calls it after each window, so the mapped file does not add up to
    /// a second copy of the weights in the process's peak RSS. Elsewhere it does nothing.
    /// </summary>
    public void Release(long offset, long length)
    {
        if (!OperatingSystem.IsLinux() || length <= 0 || offset < 0 || offset > Length - length) return;
        long page = Environment.SystemPageSize;
        long first = (long)basePointer + offset, end = first + length;
        long start = (first + page - 1) / page * page, stop = end / page * page;
        if (stop > start) LibcNativeMethods.Madvise((nint)start, (nuint)(stop - start), LibcNativeMethods.MadviseDontNeed);
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
