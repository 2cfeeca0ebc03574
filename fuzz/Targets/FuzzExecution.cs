namespace Eval.Fuzz.Targets;

/// <summary>How one input fared: the parser accepted it, or refused it with one of its documented errors.</summary>
public sealed record FuzzResult(bool Accepted, Exception? DocumentedError, long AllocatedBytes);

/// <summary>Thrown (a crash) when a target allocated more than the input can justify.</summary>
public sealed class AllocationBoundExceededException(string target, long allocated, long bound, int inputLength)
    : Exception($"{target}: allocated {allocated:N0} bytes for an input of {inputLength:N0} bytes (bound {bound:N0})");

/// <summary>Thrown (a crash) when a documented error does not say which file (or template, or pickle) it is about.</summary>
public sealed class UnnamedInputException(FuzzTarget target, Exception error)
    : Exception($"{target.Name}: the {error.GetType().Name} does not name the input '{target.InputName}': {error.Message}", error);

/// <summary>Runs one input through a target; the fuzz driver and the findings' regression tests share it.</summary>
public static class FuzzExecution
{
    public const long AllocationBaseBytes = 64L << 20;
    public const long AllocationBytesPerInputByte = 1000;

    /// <summary>The most a target may allocate (on its thread) for an input: 64 MiB + 1000 bytes per input byte.</summary>
    public static long AllocationBound(int inputLength) => AllocationBaseBytes + AllocationBytesPerInputByte * inputLength;

    /// <summary>
    /// Runs the target on the input. A documented error that names the input is a result; any other exception propagates
    /// (a crash), and so do <see cref="UnnamedInputException"/> and <see cref="AllocationBoundExceededException"/>.
    /// </summary>
    public static FuzzResult Execute(FuzzTarget target, byte[] input, FuzzWorkspace workspace)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        Exception? documented = null;
        try
        {
            target.Run(input, workspace);
        }
        catch (Exception e) when (target.IsDocumentedError(e))
        {
            if (!e.Message.Contains(target.InputName, StringComparison.Ordinal)) throw new UnnamedInputException(target, e);
            documented = e;
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long bound = AllocationBound(input.Length);
        if (allocated > bound) throw new AllocationBoundExceededException(target.Name, allocated, bound, input.Length);
        return new FuzzResult(documented is null, documented, allocated);
    }
}
