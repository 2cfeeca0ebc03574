using System.Runtime.InteropServices;

namespace Eval.Engine.Gpu;

/// <summary><see cref="NativeLibrary.Load(string)"/> that reports why a library did not load instead of throwing.</summary>
public static class NativeLibraryLoading
{
    /// <summary>
    /// Loads <paramref name="library"/> (a path, or a soname for the dynamic loader); on failure
    /// <paramref name="reason"/> is the loader's own words ("invalid ELF header", "file too short",
    /// "cannot open shared object file: No such file or directory", or a missing dependency's name).
    /// </summary>
    public static bool TryLoad(string library, out nint handle, out string reason)
    {
        try
        {
            handle = NativeLibrary.Load(library);
            reason = "";
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            handle = 0;
            reason = LoaderReason(library, e.Message);
            return false;
        }
    }

    /// <summary>
    /// The dlerror part of .NET's load-failure message: its last line, without the "path: " prefix the loader puts
    /// before its reason. .NET's message starts with a paragraph of advice that says nothing about this library.
    /// </summary>
    public static string LoaderReason(string library, string message)
    {
        var lastLine = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
        if (lastLine.Length == 0) return "could not be loaded";
        var prefix = library + ": ";
        return lastLine.StartsWith(prefix, StringComparison.Ordinal) && lastLine.Length > prefix.Length ? lastLine[prefix.Length..] : lastLine;
    }
}
