using System.Runtime.InteropServices;

namespace Eval.Engine;

/// <summary>
/// A dense row-major float32 tensor in host memory. Owning tensors free their memory on Dispose;
/// views (<see cref="Reshape"/>, <see cref="SliceRows"/>) share the owner's memory and must not outlive it.
/// </summary>
public sealed unsafe class Tensor : IDisposable
{
    private readonly int[] shape;
    private float* data;
    private readonly bool ownsMemory;

    private Tensor(float* data, int[] shape, bool ownsMemory)
    {
        this.data = data;
        this.shape = shape;
        this.ownsMemory = ownsMemory;
        Length = ElementCount(shape);
    }

    /// <summary>Allocates an uninitialised tensor (64-byte aligned).</summary>
    public static Tensor Allocate(params int[] shape)
    {
        long count = ElementCount(shape);
        if (count > int.MaxValue)
            throw new ArgumentException($"tensor of shape {FormatShape(shape)} has {count} elements; at most {int.MaxValue} are supported");
        var memory = (float*)NativeMemory.AlignedAlloc((nuint)Math.Max(count, 1) * sizeof(float), 64);
        return new Tensor(memory, (int[])shape.Clone(), ownsMemory: true);
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

    public float* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(data == null, this);
            return data;
        }
    }

    public Span<float> Span => new(Pointer, (int)Length);
    public Span<float> Row(int row) => new(Pointer + (long)row * Columns, Columns);

    public Tensor Reshape(params int[] newShape)
    {
        if (ElementCount(newShape) != Length)
            throw new ArgumentException($"cannot reshape {FormatShape(shape)} to {FormatShape(newShape)}");
        return new Tensor(Pointer, (int[])newShape.Clone(), ownsMemory: false);
    }

    /// <summary>A view of rows [start, start+count) of the tensor seen as [Rows, Columns].</summary>
    public Tensor SliceRows(int start, int count)
    {
        if (start < 0 || count < 0 || start + count > Rows)
            throw new ArgumentOutOfRangeException(nameof(start), $"rows [{start}, {start + count}) outside {Rows}");
        return new Tensor(Pointer + (long)start * Columns, [count, Columns], ownsMemory: false);
    }

    public Tensor Clone()
    {
        var copy = Allocate(shape);
        Span.CopyTo(copy.Span);
        return copy;
    }

    public float[] ToArray() => Span.ToArray();

    public override string ToString() => $"Tensor{FormatShape(shape)}";

    public void Dispose()
    {
        if (ownsMemory && data != null)
            NativeMemory.AlignedFree(data);
        data = null;
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

    public static string FormatShape(ReadOnlySpan<int> dims) => "[" + string.Join(", ", dims.ToArray()) + "]";
    public static string FormatShape(IEnumerable<long> dims) => "[" + string.Join(", ", dims) + "]";
}
