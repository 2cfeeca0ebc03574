using ILGPU;
using ILGPU.Runtime;
using Eval.Engine.Cpu;

namespace Eval.Engine.Gpu;

/// <summary>Row geometry shared by the row kernels: Rows rows of Columns elements, row r at r·Stride.</summary>
public readonly struct RowShape(int rows, int columns, int stride)
{
    public readonly int Rows = rows, Columns = columns, Stride = stride;
}

/// <summary>
/// The GPU backend's element-wise and per-row kernels, written once in C# and compiled by ILGPU for CUDA (PTX) or run on
/// its CPU accelerator. Every kernel is explicitly grouped and correct for any group size (1 on the CPU accelerator,
/// 4–8 in tests, 256 on CUDA): element kernels walk a grid-stride loop, row kernels give each group whole rows and
/// reduce through dynamic shared memory of one float per thread.
/// </summary>
public static class IlgpuKernels
{
    private static int FirstElement => Grid.IdxX * Group.DimX + Group.IdxX;
    private static int ElementStride => Grid.DimX * Group.DimX;

    /// <summary>Sum of value over the group, returned to every thread (any group size, shared has Group.DimX floats).</summary>
    private static float GroupSum(float value, ArrayView<float> shared)
    {
        int t = Group.IdxX;
        shared[t] = value;
        Group.Barrier();
        for (int step = 1; step < Group.DimX; step <<= 1)
        {
            if (t % (2 * step) == 0 && t + step < Group.DimX) shared[t] += shared[t + step];
            Group.Barrier();
        }
        float total = shared[0];
        Group.Barrier();
        return total;
    }

    /// <summary>Maximum of value over the group, returned to every thread.</summary>
    private static float GroupMax(float value, ArrayView<float> shared)
    {
        int t = Group.IdxX;
        shared[t] = value;
        Group.Barrier();
        for (int step = 1; step < Group.DimX; step <<= 1)
        {
            if (t % (2 * step) == 0 && t + step < Group.DimX) shared[t] = IntrinsicMath.Max(shared[t], shared[t + step]);
            Group.Barrier();
        }
        float total = shared[0];
        Group.Barrier();
        return total;
    }

    /// <summary>The CPU backend's rational erf (the constants of <see cref="VectorMath"/>), in plain multiply-adds.</summary>
    public static float Erf(float x)
    {
        x = IntrinsicMath.Clamp(x, -4f, 4f);
        float x2 = x * x;
        float p = x2 * VectorMath.A13 + VectorMath.A11;
        p = x2 * p + VectorMath.A9;
        p = x2 * p + VectorMath.A7;
        p = x2 * p + VectorMath.A5;
        p = x2 * p + VectorMath.A3;
        p = (x2 * p + VectorMath.A1) * x;
        float q = x2 * VectorMath.B8 + VectorMath.B6;
        q = x2 * q + VectorMath.B4;
        q = x2 * q + VectorMath.B2;
        q = x2 * q + VectorMath.B0;
        return p / q;
    }

    /// <summary>
    /// e^x in plain float arithmetic (Cephes' expf: x = n·ln2 + r with ln2 split in two, a degree-6 polynomial for e^r,
    /// 2^n through the exponent bits; about 1 ulp). ILGPU's PTX backend has no exp of its own, and calling libdevice's
    /// would need the CUDA toolkit on the machine; this compiles to PTX arithmetic and runs the same on the CPU accelerator.
    /// </summary>
    public static float Exp(float x)
    {
        if (x > 88.72283f) return float.PositiveInfinity;
        if (x < -87.33654f) return 0f;
        float n = MathF.Floor(x * 1.44269504088896341f + 0.5f);
        float r = x - n * 0.693359375f + n * 2.12194440e-4f;
        float r2 = r * r;
        float p = 1.9875691500e-4f;
        p = p * r + 1.3981999507e-3f;
        p = p * r + 8.3334519073e-3f;
        p = p * r + 4.1665795894e-2f;
        p = p * r + 1.6666665459e-1f;
        p = p * r + 5.0000001201e-1f;
        p = p * r2 + r + 1f;
        // n ≤ 127 here; at n = 128 (x just below ln(2^128)) scale in two steps so 2^n stays a normal float.
        int e = (int)n;
        return e > 127 ? p * 2f * Interop.IntAsFloat((uint)(e - 1 + 127) << 23) : p * Interop.IntAsFloat((uint)(e + 127) << 23);
    }

    /// <summary>kind 0 = GELU (exact erf), 1 = SiLU, 2 = GELU's tanh approximation, 3 = ReLU, as <see cref="ActivationKind"/>.</summary>
    public static float Activate(int kind, float x)
    {
        if (kind == 0) return 0.5f * x * (1f + Erf(x * 0.70710678118654752f));
        if (kind == 1) return x / (1f + Exp(-x));
        if (kind == 2) return 0.5f * x * (1f + Tanh(VectorMath.SqrtTwoOverPi * (x + 0.044715f * x * x * x)));
        return IntrinsicMath.Max(x, 0f);
    }

    /// <summary>tanh through <see cref="Exp"/>: 1 − 2/(e^(2x) + 1), which saturates to ±1 where e^(2x) overflows or vanishes.</summary>
    public static float Tanh(float x) => 1f - 2f / (Exp(2f * x) + 1f);

    /// <summary>bfloat16 bits of x, rounded to nearest even (NaN stays a quiet NaN).</summary>
    public static ushort ToBFloat16(float x)
    {
        uint bits = (uint)Interop.FloatAsInt(x);
        if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return (ushort)((bits >> 16) | 0x0040u);
        uint rounding = 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)((bits + rounding) >> 16);
    }

    public static float FromBFloat16(ushort bits) => Interop.IntAsFloat((uint)bits << 16);

    /// <summary>y[i, :] = table[ids[i], :] for count rows of columns elements.</summary>
    public static void Gather(ArrayView<float> table, ArrayView<int> ids, ArrayView<float> y, int count, int columns)
    {
        for (int e = FirstElement; e < count * columns; e += ElementStride)
        {
            int r = e / columns, c = e - r * columns;
            y[e] = table[ids[r] * columns + c];
        }
    }

    /// <summary><see cref="Gather"/> from a bfloat16 table.</summary>
    public static void GatherBFloat16(ArrayView<ushort> table, ArrayView<int> ids, ArrayView<float> y, int count, int columns)
    {
        for (int e = FirstElement; e < count * columns; e += ElementStride)
        {
            int r = e / columns, c = e - r * columns;
            y[e] = FromBFloat16(table[ids[r] * columns + c]);
        }
    }

    /// <summary>Per-row LayerNorm (two passes: mean, then the variance of x − mean); y may alias x.</summary>
    public static void LayerNorm(ArrayView<float> x, ArrayView<float> weight, ArrayView<float> bias, ArrayView<float> y,
        RowShape shape, int hasWeight, int hasBias, float epsilon)
    {
        var shared = SharedMemory.GetDynamic<float>();
        for (int r = Grid.IdxX; r < shape.Rows; r += Grid.DimX)
        {
            int row = r * shape.Stride;
            float sum = 0;
            for (int c = Group.IdxX; c < shape.Columns; c += Group.DimX) sum += x[row + c];
            float mean = GroupSum(sum, shared) / shape.Columns;
            float squares = 0;
            for (int c = Group.IdxX; c < shape.Columns; c += Group.DimX)
            {
                float d = x[row + c] - mean;
                squares += d * d;
            }
            float scale = 1f / MathF.Sqrt(GroupSum(squares, shared) / shape.Columns + epsilon);
            for (int c = Group.IdxX; c < shape.Columns; c += Group.DimX)
            {
                float v = (x[row + c] - mean) * scale;
                if (hasWeight != 0) v *= weight[c];
                if (hasBias != 0) v += bias[c];
                y[row + c] = v;
            }
        }
    }

    /// <summary>Per-row RMSNorm: x / sqrt(mean(x²) + ε) · weight; y may alias x.</summary>
    public static void RmsNorm(ArrayView<float> x, ArrayView<float> weight, ArrayView<float> y, RowShape shape, float epsilon)
    {
        var shared = SharedMemory.GetDynamic<float>();
        for (int r = Grid.IdxX; r < shape.Rows; r += Grid.DimX)
        {
            int row = r * shape.Stride;
            float squares = 0;
            for (int c = Group.IdxX; c < shape.Columns; c += Group.DimX) squares += x[row + c] * x[row + c];
            float scale = 1f / MathF.Sqrt(GroupSum(squares, shared) / shape.Columns + epsilon);
            for (int c = Group.IdxX; c < shape.Columns; c += Group.DimX) y[row + c] = x[row + c] * scale * weight[c];
        }
    }

    /// <summary>Row-wise softmax in place.</summary>
    public static void Softmax(ArrayView<float> x, RowShape shape)
    {
        var shared = SharedMemory.GetDynamic<float>();
        for (int r = Grid.IdxX; r < shape.Rows; r += Grid.DimX)
        {
            int row = r * shape.Stride;
            float max = float.NegativeInfinity;
            for (int c = Group.IdxX; c < shape.Columns; c += Group.DimX) max = IntrinsicMath.Max(max, x[row + c]);
            max = GroupMax(max, shared);
            float sum = 0;
            for (int c = Group.IdxX; c < shape.Columns; c += Group.DimX) sum += Exp(x[row + c] - max);
            float inverse = 1f / GroupSum(sum, shared);
            for (int c = Group.IdxX; c < shape.Columns; c += Group.DimX) x[row + c] = Exp(x[row + c] - max) * inverse;
        }
    }

    public static void Activation(ArrayView<float> x, ArrayView<float> y, int count, int kind)
    {
        for (int e = FirstElement; e < count; e += ElementStride) y[e] = Activate(kind, x[e]);
    }

    /// <summary>x is [rows, 2·inner]: y[r, i] = act(x[r, i]) · x[r, inner + i].</summary>
    public static void GatedActivation(ArrayView<float> x, ArrayView<float> y, int rows, int inner, int kind)
    {
        for (int e = FirstElement; e < rows * inner; e += ElementStride)
        {
            int r = e / inner, i = e - r * inner;
            y[e] = Activate(kind, x[r * 2 * inner + i]) * x[r * 2 * inner + inner + i];
        }
    }

    public static void Add(ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, int count)
    {
        for (int e = FirstElement; e < count; e += ElementStride) y[e] = a[e] + b[e];
    }

    /// <summary>y[r, c] += bias[c] over rows × columns.</summary>
    public static void AddBias(ArrayView<float> y, ArrayView<float> bias, int rows, int columns)
    {
        for (int e = FirstElement; e < rows * columns; e += ElementStride) y[e] += bias[e % columns];
    }

    /// <summary>
    /// Rotate-half RoPE in place on heads × headDim columns of each row (x starts at the slice's first column, rows of
    /// stride elements); cosSin holds, per row, half cosines then half sines.
    /// </summary>
    public static void Rope(ArrayView<float> x, ArrayView<float> cosSin, RowShape shape, int heads, int headDim)
    {
        int half = headDim / 2, perRow = heads * half;
        for (int e = FirstElement; e < shape.Rows * perRow; e += ElementStride)
        {
            int r = e / perRow, rest = e - r * perRow, h = rest / half, i = rest - h * half;
            int at = r * shape.Stride + h * headDim + i;
            float cos = cosSin[r * headDim + i], sin = cosSin[r * headDim + half + i];
            float x1 = x[at], x2 = x[at + half];
            x[at] = x1 * cos - x2 * sin;
            x[at + half] = x2 * cos + x1 * sin;
        }
    }

    /// <summary>Block copies of <see cref="IBackend.CopyRows"/>; views start at each block set's first row and column.</summary>
    public static void CopyRows(ArrayView<float> source, ArrayView<float> destination, RowShape sourceRows, RowShape destinationRows,
        int batches, int columns)
    {
        // RowShape.Rows carries rows per block, Columns the batch stride in rows, Stride the row stride in elements.
        int rows = sourceRows.Rows;
        for (int e = FirstElement; e < batches * rows * columns; e += ElementStride)
        {
            int b = e / (rows * columns), rest = e - b * rows * columns, i = rest / columns, c = rest - i * columns;
            destination[(b * destinationRows.Columns + i) * destinationRows.Stride + c] = source[(b * sourceRows.Columns + i) * sourceRows.Stride + c];
        }
    }

    /// <summary>y[b, c] = mean over included rows of segment b of x[·, c] (zero when none).</summary>
    public static void MeanPool(ArrayView<float> x, ArrayView<int> include, ArrayView<float> y, int batch, int length, int columns)
    {
        for (int e = FirstElement; e < batch * columns; e += ElementStride)
        {
            int b = e / columns, c = e - b * columns, count = 0;
            float sum = 0;
            for (int i = 0; i < length; i++)
                if (include[b * length + i] != 0)
                {
                    sum += x[(b * length + i) * columns + c];
                    count++;
                }
            y[e] = sum / IntrinsicMath.Max(count, 1);
        }
    }

    /// <summary>bfloat16 copy of count floats (activations before a bf16 GEMM).</summary>
    public static void ConvertToBFloat16(ArrayView<float> x, ArrayView<ushort> y, int count)
    {
        for (int e = FirstElement; e < count; e += ElementStride) y[e] = ToBFloat16(x[e]);
    }
}
