using System.Globalization;

namespace Eval.Harness.Runs;

/// <summary>
/// One run at a time per output folder. The lock is the operating system's: FOLDER/.mlm-eval.lock held open with
/// FileShare.None for the whole run — flock(LOCK_EX) on Linux and macOS, a sharing mode on Windows — so it dies with
/// the process and a run killed with SIGKILL leaves no stale lock. FOLDER/.mlm-eval.lock.owner says who holds it
/// (process id, host, since when), for the error a second process gives. On a shared file system the lock holds across
/// machines where the file system supports flock (NFS does; Lustre when mounted with -o flock).
/// </summary>
public sealed class RunFolderLock : IDisposable
{
    public const string LockFileName = ".mlm-eval.lock";
    public const string OwnerFileName = ".mlm-eval.lock.owner";

    private readonly FileStream held;
    private readonly string ownerPath;

    private RunFolderLock(FileStream held, string ownerPath)
    {
        this.held = held;
        this.ownerPath = ownerPath;
    }

    /// <summary>Takes the folder's lock (creating the folder), or throws an IOException naming the process that holds it.</summary>
    public static RunFolderLock Acquire(string folder)
    {
        Directory.CreateDirectory(folder);
        var lockPath = Path.Combine(folder, LockFileName);
        var ownerPath = Path.Combine(folder, OwnerFileName);
        FileStream held;
        try
        {
            held = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (IsHeldElsewhere(e))
        {
            throw new IOException($"{folder} is in use by another run ({Owner(ownerPath)}); wait for it to end or stop it, or choose another --output", e);
        }
        try
        {
            File.WriteAllText(ownerPath, string.Create(CultureInfo.InvariantCulture,
                $"process {Environment.ProcessId} on {Environment.MachineName}, since {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss} UTC\n"));
        }
        catch
        {
            held.Dispose();
            throw;
        }
        return new RunFolderLock(held, ownerPath);
    }

    /// <summary>EWOULDBLOCK from flock (11 on Linux, 35 on macOS), or a Windows sharing or lock violation.</summary>
    private static bool IsHeldElsewhere(IOException e) =>
        e.GetType() == typeof(IOException) && e.HResult is 11 or 35 or unchecked((int)0x80070020) or unchecked((int)0x80070021);

    private static string Owner(string ownerPath)
    {
        // The holder writes this just after it takes the lock: a moment's wait covers a run that has only just started.
        for (int attempt = 0; attempt < 10; attempt++)
        {
            try
            {
                if (File.Exists(ownerPath) && File.ReadAllText(ownerPath).Trim() is { Length: > 0 } owner) return owner;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                break;
            }
            Thread.Sleep(50);
        }
        return "a process that has not said which";
    }

    /// <summary>Removes the owner note while the lock is still held, then lets the lock go (the lock file stays).</summary>
    public void Dispose()
    {
        try
        {
            File.Delete(ownerPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A note left behind is harmless: it is read only while another process holds the lock, and that one rewrote it.
        }
        held.Dispose();
    }
}
