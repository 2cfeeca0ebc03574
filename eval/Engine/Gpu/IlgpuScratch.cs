using ILGPU;
using ILGPU.Runtime;

namespace Eval.Engine.Gpu;

/// <summary>
/// Device buffers the GPU backend reuses from call to call, one per purpose (slot), each grown to the size class
/// (<see cref="DeviceSizeClass"/>) of the largest request and never shrunk: the bfloat16 copy of a Linear's input, the attention's scores and bfloat16 operands, the logit summary's
/// results. A slot's contents are only valid until the next request for that slot.
/// </summary>
internal sealed class IlgpuScratch(Accelerator accelerator) : IDisposable
{
    /// <summary>bfloat16 slots.</summary>
    public const int LinearInput = 0, AttentionInputs = 1, AttentionProbabilities = 2;

    /// <summary>float32 slots.</summary>
    public const int AttentionScores = 0, LogitSummary = 1;

    /// <summary>int slots.</summary>
    public const int LogitArgMax = 0;

    private readonly MemoryBuffer1D<ushort, Stride1D.Dense>?[] bfloat16 = new MemoryBuffer1D<ushort, Stride1D.Dense>?[3];
    private readonly MemoryBuffer1D<float, Stride1D.Dense>?[] floats = new MemoryBuffer1D<float, Stride1D.Dense>?[2];
    private readonly MemoryBuffer1D<int, Stride1D.Dense>?[] ints = new MemoryBuffer1D<int, Stride1D.Dense>?[1];

    public ArrayView<ushort> BFloat16(int slot, long length) => Grown(bfloat16, slot, length);
    public ArrayView<float> Floats(int slot, long length) => Grown(floats, slot, length);
    public ArrayView<int> Ints(int slot, long length) => Grown(ints, slot, length);

    private ArrayView<T> Grown<T>(MemoryBuffer1D<T, Stride1D.Dense>?[] slots, int slot, long length) where T : unmanaged
    {
        length = Math.Max(length, 1);
        if (slots[slot] is not { } buffer || buffer.Length < length)
        {
            slots[slot]?.Dispose();
            slots[slot] = buffer = accelerator.Allocate1D<T>(DeviceSizeClass.Of(length));
        }
        return buffer.View.SubView(0, length);
    }

    public void Dispose()
    {
        foreach (var b in bfloat16) b?.Dispose();
        foreach (var b in floats) b?.Dispose();
        foreach (var b in ints) b?.Dispose();
    }
}
