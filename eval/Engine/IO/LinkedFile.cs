namespace Eval.Engine.IO;

/// <summary>
/// Opens and measures user files (weights, indexes, configs, tokenizers, datasets) through symbolic links. The Hugging
/// Face hub cache makes every snapshot file one: <c>snapshots/&lt;commit&gt;/model.safetensors → ../../blobs/&lt;hash&gt;</c>.
/// The system follows the link when the file is opened, and the length is that of the opened file: on Unix
/// <c>FileInfo.Length</c> of a link is the link's own (a few dozen bytes), and <c>File.Exists</c> is true for a link
/// whose target is gone. A broken link is reported as one line naming the link and its target.
/// </summary>
public static class LinkedFile
{
    /// <summary>Opens a file for reading (links followed); a missing file or a broken link is a <see cref="FileNotFoundException"/> naming both.</summary>
    public static FileStream OpenRead(string path, int bufferSize = 4096, FileOptions options = FileOptions.None)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize, options);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw NotFound(path, e);
        }
    }

    /// <summary>The length of the file a path names (the link's target's, not the link's).</summary>
    public static long Length(string path)
    {
        using var stream = OpenRead(path, bufferSize: 0);
        return stream.Length;
    }

    /// <summary>Whether the path reaches a file: a file, or a link (chain) that ends at one. False for a broken link.</summary>
    public static bool Reaches(string path)
    {
        try
        {
            using var handle = File.OpenHandle(path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// The whole file; one longer than <paramref name="maxBytes"/> is refused before it is read (an
    /// <see cref="InvalidDataException"/> naming the file, its size and the limit).
    /// </summary>
    public static byte[] ReadAllBytes(string path, long maxBytes = long.MaxValue, string what = "file")
    {
        using var stream = OpenRead(path, bufferSize: 0);
        long length = stream.Length;
        long limit = Math.Min(maxBytes, Array.MaxLength);
        if (length > limit)
            throw new InvalidDataException($"{path}: the {what} is {length} bytes, more than the {limit} bytes one may have");
        var bytes = new byte[length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>The file's lines, read lazily; the file is opened (and a broken link reported) before the first line is asked for.</summary>
    public static IEnumerable<string> ReadLines(string path)
    {
        var reader = new StreamReader(OpenRead(path), detectEncodingFromByteOrderMarks: true);
        return Lines(reader);

        static IEnumerable<string> Lines(StreamReader reader)
        {
            using (reader)
                for (string? line; (line = reader.ReadLine()) is not null;)
                    yield return line;
        }
    }

    /// <summary>Copies the content of the file a path names (never the link itself) to a new file.</summary>
    public static void Copy(string source, string destination)
    {
        using var from = OpenRead(source, bufferSize: 0);
        using var to = new FileStream(destination, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);
        from.CopyTo(to, 1 << 20);
    }

    /// <summary>The name of the file at the end of a link chain (a hub blob's hash), or null when the path is no link.</summary>
    public static string? FinalTargetName(string path)
    {
        var info = new FileInfo(path);
        return info.LinkTarget is null ? null : info.ResolveLinkTarget(returnFinalTarget: true)?.Name;
    }

    /// <summary>
    /// "PATH: a link to TARGET (FULL), which does not exist…" when the path is a broken link, else null. TARGET is the link
    /// as written (../../blobs/&lt;hash&gt; in the hub cache), FULL where it points from the link's folder; a chain of links
    /// is followed to the file that is missing.
    /// </summary>
    public static string? BrokenLinkMessage(string path)
    {
        if (new FileInfo(path).LinkTarget is not { } target || Reaches(path)) return null;
        var full = Path.GetFullPath(target, Path.GetDirectoryName(Path.GetFullPath(path))!);
        var shown = full == target ? target : $"{target} ({full})";
        var missing = full;
        for (int hop = 0; hop < 40 && new FileInfo(missing).LinkTarget is { } next; hop++)
            missing = Path.GetFullPath(next, Path.GetDirectoryName(missing)!);
        var leads = missing == full ? "" : $", which leads to {missing}";
        return $"{path}: a link to {shown}{leads}, which does not exist (a blob deleted from the hub cache? download the model again)";
    }

    private static FileNotFoundException NotFound(string path, Exception inner) =>
        new(BrokenLinkMessage(path) ?? $"{path}: file not found", path, inner);
}
