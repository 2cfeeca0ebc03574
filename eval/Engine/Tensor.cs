using System.Runtime.InteropServices;

namespace Eval.Engine;

/// <summary>How a tensor's elements are stored. Host tensors are always float32; a device backend may keep weight matrices as bfloat16.</summary>
public enum TensorElementType
{
    Float32,
    /// <summary>The high 16 bits of a float32 (rounded to nearest even).</summary>
    BFloat16,
}

/// <summary>
/// Memory a device backend allocated for tensors. The backend that made it is the only one that reads it; a tensor on a
/// device holds the buffer and an element offset into it.
/// </summary>
public abstract class DeviceBuffer : IDisposable
{
    /// <summary>Names the device in error messages ("cuda:0 (NVIDIA H200)", "ilgpu-cpu").</summary>
    public abstract string DeviceName { get; }
    public abstract TensorElementType ElementType { get; }

    /// <summary>Elements (not bytes).</summary>
    public abstract long Length { get; }

    public abstract void Dispose();
}

/// <summary>
/// A dense row-major tensor: float32 in host memory, or in a <see cref="DeviceBuffer"/> of the backend that allocated it.
/// Owning tensors free their memory on Dispose; views (<see cref="Reshape"/>, <see cref="SliceRows"/>) share the owner's
/// memory and must not outlive it. Host memory is read through <see cref="Span"/>; a device tensor's elements are read
/// through its backend (<see cref="IBackend.CopyToHost"/>).
/// </summary>
public sealed unsafe class Tensor : IDisposable
{
    private readonly int[] shape;
    private float* data;
    private DeviceBuffer? device;
    private readonly bool ownsMemory;

    private Tensor(float* data, DeviceBuffer? device, long deviceOffset, int[] shape, bool ownsMemory)
    {
        this.data = data;
        this.device = device;
        DeviceOffset = deviceOffset;
        this.shape = shape;
        this.ownsMemory = ownsMemory;
        Length = ElementCount(shape);
    }

    /// <summary>Allocates an uninitialised host tensor (64-byte aligned).</summary>
    public static Tensor Allocate(params int[] shape)
    {
        long count = CheckedCount(shape);
        var memory = (float*)NativeMemory.AlignedAlloc((nuint)Math.Max(count, 1) * sizeof(float), 64);
        return new Tensor(memory, null, 0, (int[])shape.Clone(), ownsMemory: true);
    }

    /// <summary>A tensor over device memory (for backends): owning tensors dispose the buffer with themselves.</summary>
    public static Tensor OnDevice(DeviceBuffer buffer, long offset, int[] shape, bool ownsBuffer)
    {
        long count = CheckedCount(shape);
        if (offset < 0 || offset + count > buffer.Length)
            throw new ArgumentException($"tensor of shape {FormatShape(shape)} at element {offset} exceeds a device buffer of {buffer.Length} elements");
        return new Tensor(null, buffer, offset, (int[])shape.Clone(), ownsBuffer);
    }

    public static Tensor Zeros(params int[] shape)
    {
        var t = Allocate(shape);
        t.Span.Clear();
        return t;
    }

    public static Tensor FromArray(float[] values, params int[] shape)
    {
        var t = Allocate(shape);
        if (values.Length != t.Length)
            throw new ArgumentException($"{values.Length} values do not fill shape {FormatShape(shape)}");
        values.CopyTo(t.Span);
        return t;
    }

    public ReadOnlySpan<int> Shape => shape;
    public int Rank => shape.Length;
    public long Length { get; }
    public int Dim(int axis) => shape[axis < 0 ? shape.Length + axis : axis];

    /// <summary>Size of the last axis.</summary>
    public int Columns => shape.Length == 0 ? 1 : shape[^1];

    /// <summary>Product of all axes but the last.</summary>
    public int Rows => shape.Length == 0 ? 1 : (int)(Length / Math.Max(Columns, 1));

    /// <summary>True when the elements are in host memory (float32), readable through <see cref="Span"/>.</summary>
    public bool IsHost => device is null;

    /// <summary>The device memory of a device tensor; throws for a host tensor.</summary>
    public DeviceBuffer Device
    {
        get
        {
            ObjectDisposedException.ThrowIf(data == null && device == null, this);
            return device ?? throw new InvalidOperationException($"{this} is in host memory, not on a device");
        }
    }

    /// <summary>Where a device tensor starts in its buffer, in elements.</summary>
    public long DeviceOffset { get; }

    public TensorElementType ElementType => device?.ElementType ?? TensorElementType.Float32;

    /// <summary>The host memory of a host tensor (a device tensor, or a disposed one, throws).</summary>
    public float* Pointer
    {
        get
        {
            // One test on the hot path (a device tensor's data is null too); the messages live out of line so this inlines.
            if (data == null) ThrowNotInHostMemory();
            return data;
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void ThrowNotInHostMemory() => throw (device is not null
        ? new InvalidOperationException($"{this} lives on {device.DeviceName}: read it through its backend (CopyToHost), not as host memory")
        : new ObjectDisposedException(nameof(Tensor)));

    public Span<float> Span => new(Pointer, (int)Length);
    public Span<float> Row(int row) => new(Pointer + (long)row * Columns, Columns);

    public Tensor Reshape(params int[] newShape)
    {
        if (ElementCount(newShape) != Length)
            throw new ArgumentException($"cannot reshape {FormatShape(shape)} to {FormatShape(newShape)}");
        return device is null
            ? new Tensor(Pointer, null, 0, (int[])newShape.Clone(), ownsMemory: false)
            : new Tensor(null, Device, DeviceOffset, (int[])newShape.Clone(), ownsMemory: false);
    }

    /// <summary>A view of rows [start, start+count) of the tensor seen as [Rows, Columns].</summary>
    public Tensor SliceRows(int start, int count)
    {
        if (start < 0 || count < 0 || start + count > Rows)
            throw new ArgumentOutOfRangeException(nameof(start), $"rows [{start}, {start + count}) outside {Rows}");
        long offset = (long)start * Columns;
        return device is null
            ? new Tensor(Pointer + offset, null, 0, [count, Columns], ownsMemory: false)
            : new Tensor(null, Device, DeviceOffset + offset, [count, Columns], ownsMemory: false);
    }

    /// <summary>A host copy of a host tensor (device tensors are copied by their backend).</summary>
    public Tensor Clone()
    {
        var copy = Allocate(shape);
        Span.CopyTo(copy.Span);
        return copy;
    }

    public float[] ToArray() => Span.ToArray();

    public override string ToString() =>
        $"Tensor{FormatShape(shape)}{(device is null ? "" : $" on {device.DeviceName}{(ElementType == TensorElementType.BFloat16 ? " (bf16)" : "")}")}";

    public void Dispose()
    {
        if (ownsMemory)
        {
            if (data != null) NativeMemory.AlignedFree(data);
            device?.Dispose();
        }
        data = null;
        device = null;
    }

    public static long ElementCount(ReadOnlySpan<int> dims)
    {
        long count = 1;
        foreach (var d in dims)
        {
            if (d < 0) throw new ArgumentException($"negative dimension in shape {FormatShape(dims)}");
            count *= d;
        }
        return count;
    }

    private static long CheckedCount(int[] shape)
    {
        long count = ElementCount(shape);
        if (count > int.MaxValue)
            throw new ArgumentException($"tensor of shape {FormatShape(shape)} has {count} elements; at most {int.MaxValue} are supported");
        return count;
    }

    public static string FormatShape(ReadOnlySpan<int> dims) => "[" + string.Join(", ", dims.ToArray()) + "]";
    public static string FormatShape(IEnumerable<long> dims) => "[" + string.Join(", ", dims) + "]";
}
