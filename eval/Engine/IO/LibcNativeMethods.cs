using System.Runtime.InteropServices;

namespace Eval.Engine.IO;

/// <summary>The C library calls the weight loader makes on Linux: advice to the kernel about mapped file pages.</summary>
internal static partial class LibcNativeMethods
{
    /// <summary>MADV_DONTNEED: the process is done with the pages; a file mapping's pages leave its resident set (the page cache keeps them).</summary>
    public const int MadviseDontNeed = 4;

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    public static partial int Madvise(nint address, nuint length, int advice);
}
