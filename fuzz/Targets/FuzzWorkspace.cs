namespace Eval.Fuzz.Targets;

/// <summary>
/// A private temporary folder for one process: targets whose parser takes a path write each input to the same file in
/// it (one file per target, overwritten per input), plus any fixed companion files they need. Deleted on dispose.
/// </summary>
public sealed class FuzzWorkspace : IDisposable
{
    public FuzzWorkspace()
    {
        Root = Path.Combine(Path.GetTempPath(), $"eval-fuzz-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    /// <summary>The folder of one target, created on first use.</summary>
    public string Folder(string name)
    {
        var folder = Path.Combine(Root, name);
        Directory.CreateDirectory(folder);
        return folder;
    }

    /// <summary>Writes content to folder/fileName (replacing what the previous input left) and returns its path.</summary>
    public string WriteFile(string folder, string fileName, byte[] content)
    {
        var path = Path.Combine(Folder(folder), fileName);
        File.WriteAllBytes(path, content);
        return path;
    }

    /// <summary>Writes a companion file once (left alone when it is already there) and returns its path.</summary>
    public string EnsureFile(string folder, string fileName, Action<string> write)
    {
        var path = Path.Combine(Folder(folder), fileName);
        if (!File.Exists(path)) write(path);
        return path;
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
