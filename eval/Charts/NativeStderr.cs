using System.Runtime.InteropServices;

namespace Eval.Charts;

/// <summary>
/// Skia's SVG backend writes "Unsupported path effect in addPaint." to the process's stderr (file descriptor 2, from
/// native code) for every dashed line — it then draws the dashes as outlines, which is what we want. This runs an
/// action with descriptor 2 pointed at /dev/null, so that noise never reaches a terminal or a CI log. Linux only
/// (elsewhere the action just runs); the descriptor is restored even when the action throws.
/// </summary>
internal static partial class NativeStderr
{
    private const int StandardError = 2;
    private const int WriteOnly = 1;

    public static T Silenced<T>(Func<T> action)
    {
        if (!OperatingSystem.IsLinux()) return action();
        Console.Error.Flush();
        int saved = Dup(StandardError);
        int devNull = saved < 0 ? -1 : Open("/dev/null", WriteOnly);
        if (devNull < 0 || Dup2(devNull, StandardError) < 0)
        {
            if (devNull >= 0) Close(devNull);
            if (saved >= 0) Close(saved);
            return action();
        }
        try
        {
            return action();
        }
        finally
        {
            Dup2(saved, StandardError);
            Close(saved);
            Close(devNull);
        }
    }

    [LibraryImport("libc", EntryPoint = "dup")]
    private static partial int Dup(int fd);

    [LibraryImport("libc", EntryPoint = "dup2")]
    private static partial int Dup2(int from, int to);

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
