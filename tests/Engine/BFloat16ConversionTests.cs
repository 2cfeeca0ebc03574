using Eval.Engine.Gpu;

namespace Eval.Tests.Engine;

/// <summary>
/// The host's parallel, vectorised float32 ↔ bfloat16 conversion of weight uploads and read-backs
/// (<see cref="BFloat16Conversion"/>) against the scalar rounding the kernels use (<see cref="IlgpuKernels.ToBFloat16"/>:
/// to nearest even, NaN kept quiet), element by element, over more than one parallel chunk with a tail that is not a
/// whole vector, and with the values where rounding is decided: ties both ways, the largest finite floats, infinities,
/// NaNs, subnormals and signed zeros.
/// </summary>
[TestClass]
public sealed class BFloat16ConversionTests
{
    private static float[] Values()
    {
        var rng = new Random(7);
        var values = new float[(3 << 20) + 13];
        for (int i = 0; i < values.Length; i++)
            values[i] = i % 3 == 0 ? BitConverter.UInt32BitsToSingle((uint)rng.NextInt64(0, 1L << 32)) : (float)(rng.NextDouble() * 8 - 4);
        float[] special =
        [
            0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, float.MaxValue, -float.MaxValue, float.Epsilon,
            BitConverter.UInt32BitsToSingle(0x3F808000u), BitConverter.UInt32BitsToSingle(0x3F818000u), // ties: to even down, up
            BitConverter.UInt32BitsToSingle(0x7F7F8000u), // a tie that rounds to infinity
            BitConverter.UInt32BitsToSingle(0x7F800001u), BitConverter.UInt32BitsToSingle(0xFFC00001u), // signalling and negative NaN
            BitConverter.UInt32BitsToSingle(0x00008000u), BitConverter.UInt32BitsToSingle(0x80018000u),
        ];
        // In the vector body, in the last chunk and in the scalar tail.
        special.CopyTo(values, 5);
        special.CopyTo(values, (2 << 20) + 7);
        special.CopyTo(values, values.Length - special.Length);
        return values;
    }

    [TestMethod]
    public void ToBFloat16IsTheKernelsRoundingOnEveryElement()
    {
        var values = Values();
        var bits = new ushort[values.Length];
        BFloat16Conversion.ToBFloat16(values, bits);
        for (int i = 0; i < values.Length; i++)
            if (bits[i] != IlgpuKernels.ToBFloat16(values[i]))
                Assert.Fail($"element {i} ({BitConverter.SingleToUInt32Bits(values[i]):X8}): 0x{bits[i]:X4}, the kernels' 0x{IlgpuKernels.ToBFloat16(values[i]):X4}");
    }

    [TestMethod]
    public void FromBFloat16WidensEveryElementExactly()
    {
        var rng = new Random(3);
        var bits = new ushort[(2 << 20) + 9];
        for (int i = 0; i < bits.Length; i++) bits[i] = (ushort)rng.Next(0, 1 << 16);
        var values = new float[bits.Length];
        BFloat16Conversion.FromBFloat16(bits, values);
        for (int i = 0; i < bits.Length; i++)
            if (BitConverter.SingleToUInt32Bits(values[i]) != (uint)bits[i] << 16)
                Assert.Fail($"element {i}: 0x{bits[i]:X4} widened to {BitConverter.SingleToUInt32Bits(values[i]):X8}");
    }

    [TestMethod]
    public void ADestinationTooShortIsRefused()
    {
        var error = Assert.ThrowsExactly<ArgumentException>(() => BFloat16Conversion.ToBFloat16(new float[10], new ushort[9]));
        StringAssert.Contains(error.Message, "9 elements cannot hold 10");
    }
}
