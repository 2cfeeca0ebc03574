using ILGPU;
using ILGPU.Runtime;

namespace Eval.Engine.Gpu;

/// <summary>One allocation of the GPU backend: float32 or bfloat16 elements. Disposing it hands it back to its pool.</summary>
internal sealed class IlgpuDeviceBuffer : DeviceBuffer
{
    private readonly IlgpuMemoryPool pool;

    public IlgpuDeviceBuffer(IlgpuMemoryPool pool, MemoryBuffer1D<float, Stride1D.Dense>? floats, MemoryBuffer1D<ushort, Stride1D.Dense>? bfloat16)
    {
        this.pool = pool;
        Floats = floats;
        BFloat16 = bfloat16;
    }

    public MemoryBuffer1D<float, Stride1D.Dense>? Floats { get; }
    public MemoryBuffer1D<ushort, Stride1D.Dense>? BFloat16 { get; }
    public override string DeviceName => pool.DeviceName;
    public override TensorElementType ElementType => Floats is null ? TensorElementType.BFloat16 : TensorElementType.Float32;
    public override long Length => Floats?.Length ?? BFloat16!.Length;
    public long Bytes => Floats?.LengthInBytes ?? BFloat16!.LengthInBytes;
    public bool Owns(IlgpuMemoryPool candidate) => ReferenceEquals(pool, candidate);

    public override void Dispose() => pool.Return(this);

    /// <summary>Frees the device memory (the pool's decision).</summary>
    public void Free()
    {
        Floats?.Dispose();
        BFloat16?.Dispose();
    }
}

/// <summary>
/// The sizes the GPU backend allocates device memory in: eight classes per power of two (a length is rounded up to the
/// next multiple of an eighth of the largest power of two not above it; at most 1,024 elements, one class), so at most
/// an eighth more than asked. Batches of a run differ in shape — the layout cuts length-sorted prompts to a token budget,
/// so one batch is 8 × 250 tokens and the next 7 × 281 — and their activations fall into the same few classes instead of
/// each asking the driver for memory of its own exact size.
/// </summary>
public static class DeviceSizeClass
{
    /// <summary>The size class of a length: the least class size not below it.</summary>
    public static long Of(long length)
    {
        if (length <= 1024) return 1024;
        long power = 1L << (63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)length));
        long step = power / 8;
        return (length + step - 1) / step * step;
    }
}

/// <summary>
/// Reuses device allocations of the same size class (<see cref="DeviceSizeClass"/>): a forward allocates the same
/// activation shapes layer after layer, and batch after batch shapes of the same few classes, while on CUDA each fresh
/// allocation and free costs a driver call (a free also synchronises the device). Keeps at most a quarter of the
/// device's memory idle; when an allocation fails, frees what it keeps and tries once more, then reports what did not fit.
/// </summary>
internal sealed class IlgpuMemoryPool(Accelerator accelerator, string deviceName) : IDisposable
{
    private readonly Dictionary<(long, bool), Stack<IlgpuDeviceBuffer>> idle = [];
    private readonly long idleLimit = Math.Min(accelerator.MemorySize / 4, 8L << 30);
    private long idleBytes;
    private bool disposed;

    public string DeviceName => deviceName;

    /// <summary>Bytes handed out and not yet returned (weights, caches, live activations).</summary>
    public long LiveBytes { get; private set; }

    /// <summary>Device allocations made (each a driver call on CUDA), whether or not freed since.</summary>
    public long Allocations { get; private set; }

    /// <summary>A buffer of at least length elements (with sizeClass, its size class's; else exactly), reused when one is idle.</summary>
    public IlgpuDeviceBuffer Rent(long length, bool bfloat16, string what, bool sizeClass)
    {
        length = sizeClass ? DeviceSizeClass.Of(length) : Math.Max(length, 1);
        if (idle.TryGetValue((length, bfloat16), out var stack) && stack.Count > 0)
        {
            var reused = stack.Pop();
            idleBytes -= reused.Bytes;
            LiveBytes += reused.Bytes;
            return reused;
        }
        IlgpuDeviceBuffer buffer;
        try
        {
            buffer = Allocate(length, bfloat16);
        }
        catch (Exception first) when (first is not ArgumentException)
        {
            ReleaseIdle();
            try
            {
                buffer = Allocate(length, bfloat16);
            }
            catch (Exception e) when (e is not ArgumentException)
            {
                long bytes = length * (bfloat16 ? 2 : 4);
                throw new InsufficientMemoryException(
                    $"{deviceName}: cannot allocate {Megabytes(bytes)} for {what}: {Megabytes(LiveBytes)} are in use of " +
                    $"{Megabytes(accelerator.MemorySize)} ({e.Message.Trim()}). The model or batch does not fit: use --precision bf16, " +
                    "a smaller --max-batch-tokens or --batch-size, or a device with more memory", e);
            }
        }
        LiveBytes += buffer.Bytes;
        return buffer;
    }

    public void Return(IlgpuDeviceBuffer buffer)
    {
        LiveBytes -= buffer.Bytes;
        if (disposed || idleBytes + buffer.Bytes > idleLimit)
        {
            buffer.Free();
            return;
        }
        var key = (buffer.Length, buffer.BFloat16 is not null);
        if (!idle.TryGetValue(key, out var stack)) idle[key] = stack = new Stack<IlgpuDeviceBuffer>();
        stack.Push(buffer);
        idleBytes += buffer.Bytes;
    }

    public void Dispose()
    {
        ReleaseIdle();
        disposed = true;
    }

    private IlgpuDeviceBuffer Allocate(long length, bool bfloat16)
    {
        var buffer = bfloat16
            ? new IlgpuDeviceBuffer(this, null, accelerator.Allocate1D<ushort>(length))
            : new IlgpuDeviceBuffer(this, accelerator.Allocate1D<float>(length), null);
        Allocations++;
        return buffer;
    }

    private void ReleaseIdle()
    {
        foreach (var stack in idle.Values)
            while (stack.Count > 0) stack.Pop().Free();
        idle.Clear();
        idleBytes = 0;
    }

    private static string Megabytes(long bytes) => $"{bytes / (1024.0 * 1024):F0} MiB";
}
