using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Eval.Engine.Gpu;

/// <summary>
/// float32 ↔ bfloat16 on the host for weight uploads and read-backs: the same rounding as
/// <see cref="IlgpuKernels.ToBFloat16"/> (to nearest even, NaN kept quiet), eight elements per step with 256-bit vectors
/// and the array cut into chunks converted in parallel (a 395M-parameter model's weights in well under a second instead
/// of several seconds on one core).
/// </summary>
public static class BFloat16Conversion
{
    private const int Chunk = 1 << 20;

    public static void ToBFloat16(ReadOnlySpan<float> source, Span<ushort> destination) =>
        Parallelise(source.Length, destination.Length, source, destination, static (from, to) => ConvertDown(from, to));

    public static void FromBFloat16(ReadOnlySpan<ushort> source, Span<float> destination) =>
        Parallelise(source.Length, destination.Length, source, destination, static (from, to) => ConvertUp(from, to));

    private delegate void Converter<TFrom, TTo>(ReadOnlySpan<TFrom> from, Span<TTo> to);

    private static unsafe void Parallelise<TFrom, TTo>(int length, int destinationLength, ReadOnlySpan<TFrom> source, Span<TTo> destination,
        Converter<TFrom, TTo> convert) where TFrom : unmanaged where TTo : unmanaged
    {
        if (destinationLength < length)
            throw new ArgumentException($"bfloat16 conversion: {destinationLength} elements cannot hold {length}");
        if (length <= Chunk)
        {
            convert(source, destination);
            return;
        }
        fixed (TFrom* from = source)
        fixed (TTo* to = destination)
        {
            nint fromAddress = (nint)from, toAddress = (nint)to;
            Parallel.For(0, (length + Chunk - 1) / Chunk, chunk =>
            {
                int start = chunk * Chunk, count = Math.Min(Chunk, length - start);
                convert(new ReadOnlySpan<TFrom>((TFrom*)fromAddress + start, count), new Span<TTo>((TTo*)toAddress + start, count));
            });
        }
    }

    private static void ConvertDown(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        var bits = MemoryMarshal.Cast<float, uint>(source);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var magnitude = Vector256.Create(0x7FFFFFFFu);
            var infinity = Vector256.Create(0x7F800000u);
            var half = Vector256.Create(0x7FFFu);
            var quiet = Vector256.Create(0x0040u);
            for (; i + 16 <= bits.Length; i += 16)
            {
                var low = Round(Vector256.Create(bits.Slice(i, 8)), magnitude, infinity, half, quiet);
                var high = Round(Vector256.Create(bits.Slice(i + 8, 8)), magnitude, infinity, half, quiet);
                Vector256.Narrow(low, high).CopyTo(destination.Slice(i, 16));
            }
        }
        for (; i < bits.Length; i++) destination[i] = IlgpuKernels.ToBFloat16(source[i]);
    }

    /// <summary>The bfloat16 bits of eight floats, in the low halves of the lanes.</summary>
    private static Vector256<uint> Round(Vector256<uint> x, Vector256<uint> magnitude, Vector256<uint> infinity, Vector256<uint> half,
        Vector256<uint> quiet)
    {
        var rounded = (x + half + ((x >> 16) & Vector256<uint>.One)) >> 16;
        var nan = Vector256.GreaterThan(x & magnitude, infinity);
        return Vector256.ConditionalSelect(nan, (x >> 16) | quiet, rounded);
    }

    private static void ConvertUp(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        var bits = MemoryMarshal.Cast<float, uint>(destination);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 16 <= source.Length; i += 16)
            {
                var (low, high) = Vector256.Widen(Vector256.Create(source.Slice(i, 16)));
                (low << 16).CopyTo(bits.Slice(i, 8));
                (high << 16).CopyTo(bits.Slice(i + 8, 8));
            }
        for (; i < source.Length; i++) bits[i] = (uint)source[i] << 16;
    }
}
