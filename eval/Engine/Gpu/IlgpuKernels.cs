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
/// Where a kernel writes its results: float32, or bfloat16 rounded to nearest even — a GEMM's input stored as cuBLAS
/// reads it under bf16 (<see cref="IBackend.AllocateGemmInput"/>), so no conversion launch stands between the op that
/// produces it and the GEMM. The kernels that write outputs are generic over it, one compiled kernel per format.
/// </summary>
public interface IKernelOutput
{
    void Store(int index, float value);
}

public readonly struct Float32Output(ArrayView<float> values) : IKernelOutput
{
    private readonly ArrayView<float> values = values;
    public void Store(int index, float value) => values[index] = value;
}

/// <summary>Stores <see cref="IlgpuKernels.ToBFloat16"/> of the value: the rounding <see cref="IlgpuKernels.ConvertToBFloat16"/> applies.</summary>
public readonly struct BFloat16Output(ArrayView<ushort> bits) : IKernelOutput
{
    private readonly ArrayView<ushort> bits = bits;
    public void Store(int index, float value) => bits[index] = IlgpuKernels.ToBFloat16(value);
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
    public static void LayerNorm<TOutput>(ArrayView<float> x, ArrayView<float> weight, ArrayView<float> bias, TOutput y,
        RowShape shape, int hasWeight, int hasBias, float epsilon) where TOutput : struct, IKernelOutput
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
                y.Store(row + c, v);
            }
        }
    }

    /// <summary>Per-row RMSNorm: x / sqrt(mean(x²) + ε) · weight; y may alias x.</summary>
    public static void RmsNorm<TOutput>(ArrayView<float> x, ArrayView<float> weight, TOutput y, RowShape shape, float epsilon)
        where TOutput : struct, IKernelOutput
    {
        var shared = SharedMemory.GetDynamic<float>();
        for (int r = Grid.IdxX; r < shape.Rows; r += Grid.DimX)
        {
            int row = r * shape.Stride;
            float squares = 0;
            for (int c = Group.IdxX; c < shape.Columns; c += Group.DimX) squares += x[row + c] * x[row + c];
            float scale = 1f / MathF.Sqrt(GroupSum(squares, shared) / shape.Columns + epsilon);
            for (int c = Group.IdxX; c < shape.Columns; c += Group.DimX) y.Store(row + c, x[row + c] * scale * weight[c]);
        }
    }

    /// <summary>
    /// Flags of <see cref="AddLayerNorm"/>: which optional vectors it reads.
    /// </summary>
    public const int HasXBias = 1, HasWeight = 2, HasBias = 4;

    /// <summary>
    /// Per row: residual += x (+ xBias), then y = LayerNorm(residual) (two passes: mean, then the variance of the sum
    /// − mean) times weight plus bias, as flagged. Each thread reads back only the columns it wrote, so y may alias residual.
    /// </summary>
    public static void AddLayerNorm<TOutput>(ArrayView<float> residual, ArrayView<float> x, ArrayView<float> xBias, ArrayView<float> weight,
        ArrayView<float> bias, TOutput y, RowShape shape, int flags, float epsilon) where TOutput : struct, IKernelOutput
    {
        var shared = SharedMemory.GetDynamic<float>();
        for (int r = Grid.IdxX; r < shape.Rows; r += Grid.DimX)
        {
            int row = r * shape.Stride;
            float sum = 0;
            for (int c = Group.IdxX; c < shape.Columns; c += Group.DimX)
            {
                float v = residual[row + c] + x[row + c];
                if ((flags & HasXBias) != 0) v += xBias[c];
                residual[row + c] = v;
                sum += v;
            }
            float mean = GroupSum(sum, shared) / shape.Columns;
            float squares = 0;
            for (int c = Group.IdxX; c < shape.Columns; c += Group.DimX)
            {
                float d = residual[row + c] - mean;
                squares += d * d;
            }
            float scale = 1f / MathF.Sqrt(GroupSum(squares, shared) / shape.Columns + epsilon);
            for (int c = Group.IdxX; c < shape.Columns; c += Group.DimX)
            {
                float v = (residual[row + c] - mean) * scale;
                if ((flags & HasWeight) != 0) v *= weight[c];
                if ((flags & HasBias) != 0) v += bias[c];
                y.Store(row + c, v);
            }
        }
    }

    /// <summary>Per row: residual += x, then y = residual / sqrt(mean(residual²) + ε) · weight; y may alias residual.</summary>
    public static void AddRmsNorm<TOutput>(ArrayView<float> residual, ArrayView<float> x, ArrayView<float> weight, TOutput y,
        RowShape shape, float epsilon) where TOutput : struct, IKernelOutput
    {
        var shared = SharedMemory.GetDynamic<float>();
        for (int r = Grid.IdxX; r < shape.Rows; r += Grid.DimX)
        {
            int row = r * shape.Stride;
            float squares = 0;
            for (int c = Group.IdxX; c < shape.Columns; c += Group.DimX)
            {
                float v = residual[row + c] + x[row + c];
                residual[row + c] = v;
                squares += v * v;
            }
            float scale = 1f / MathF.Sqrt(GroupSum(squares, shared) / shape.Columns + epsilon);
            for (int c = Group.IdxX; c < shape.Columns; c += Group.DimX) y.Store(row + c, residual[row + c] * scale * weight[c]);
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

    public static void Activation<TOutput>(ArrayView<float> x, TOutput y, int count, int kind) where TOutput : struct, IKernelOutput
    {
        for (int e = FirstElement; e < count; e += ElementStride) y.Store(e, Activate(kind, x[e]));
    }

    /// <summary>x is [rows, 2·inner]: y[r, i] = act(x[r, i]) · x[r, inner + i].</summary>
    public static void GatedActivation<TOutput>(ArrayView<float> x, TOutput y, int rows, int inner, int kind) where TOutput : struct, IKernelOutput
    {
        for (int e = FirstElement; e < rows * inner; e += ElementStride)
        {
            int r = e / inner, i = e - r * inner;
            y.Store(e, Activate(kind, x[r * 2 * inner + i]) * x[r * 2 * inner + inner + i]);
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
    /// y[r, c] = act(source[r, c] + bias[c]) over rows × columns (the bias only when hasBias): a GEMM's epilogue, in place
    /// (y over source's own elements) or into a GEMM input of the next product.
    /// </summary>
    public static void BiasActivation<TOutput>(ArrayView<float> source, ArrayView<float> bias, TOutput y, int rows, int columns, int hasBias, int kind)
        where TOutput : struct, IKernelOutput
    {
        for (int e = FirstElement; e < rows * columns; e += ElementStride)
            y.Store(e, Activate(kind, hasBias != 0 ? source[e] + bias[e % columns] : source[e]));
    }

    /// <summary>
    /// Rotate-half RoPE in place on rows of x (row r at r·Stride): the queryHeads heads of headDim columns from column
    /// queryOffset and the keyHeads heads from keyOffset, all at position positions[r]; cosSin holds, per position p,
    /// headDim/2 cosines then headDim/2 sines of p·invFrequency.
    /// </summary>
    public static void Rope(ArrayView<float> x, ArrayView<float> cosSin, ArrayView<int> positions, RowShape shape,
        int queryOffset, int queryHeads, int keyOffset, int keyHeads, int headDim)
    {
        int half = headDim / 2, heads = queryHeads + keyHeads, perRow = heads * half;
        for (int e = FirstElement; e < shape.Rows * perRow; e += ElementStride)
        {
            int r = e / perRow, rest = e - r * perRow, h = rest / half, i = rest - h * half;
            int at = r * shape.Stride + (h < queryHeads ? queryOffset + h * headDim : keyOffset + (h - queryHeads) * headDim) + i;
            int table = positions[r] * headDim;
            float cos = cosSin[table + i], sin = cosSin[table + half + i];
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

    /// <summary>
    /// Per row of logits [rows, vocabulary] (a group per row, grid-strided): floats[r] = the maximum, argMax[r] its first
    /// index, floats[rows + r] = Σ exp(logit − maximum) summed in float32 (each thread's strided share with Kahan
    /// compensation, then a tree over the group), and floats[2·rows + r·idsPerRow + i] = the logit of ids[r·idsPerRow + i]. Shared memory: two floats
    /// per thread.
    /// </summary>
    public static void SummarizeLogits(ArrayView<float> logits, ArrayView<int> ids, ArrayView<float> floats, ArrayView<int> argMax,
        int rows, int vocabulary, int idsPerRow)
    {
        var shared = SharedMemory.GetDynamic<float>();
        int t = Group.IdxX, threads = Group.DimX;
        for (int r = Grid.IdxX; r < rows; r += Grid.DimX)
        {
            long row = (long)r * vocabulary;
            // Each thread's first element seeds its maximum, so a row of −∞ still reports index 0 as the host does.
            float best = t < vocabulary ? logits[row + t] : float.NegativeInfinity;
            int bestIndex = t < vocabulary ? t : int.MaxValue;
            for (int c = t + threads; c < vocabulary; c += threads)
            {
                float v = logits[row + c];
                if (v > best)
                {
                    best = v;
                    bestIndex = c;
                }
            }
            shared[t] = best;
            shared[threads + t] = Interop.IntAsFloat((uint)bestIndex);
            Group.Barrier();
            for (int step = 1; step < threads; step <<= 1)
            {
                if (t % (2 * step) == 0 && t + step < threads)
                {
                    float other = shared[t + step];
                    int otherIndex = (int)Interop.FloatAsInt(shared[threads + t + step]);
                    int index = (int)Interop.FloatAsInt(shared[threads + t]);
                    if (other > shared[t] || (other == shared[t] && otherIndex < index))
                    {
                        shared[t] = other;
                        shared[threads + t] = Interop.IntAsFloat((uint)otherIndex);
                    }
                }
                Group.Barrier();
            }
            float max = shared[0];
            int maxIndex = (int)Interop.FloatAsInt(shared[threads]);
            Group.Barrier();
            // Each thread's share summed with Kahan's compensation (a 256-thread group still adds ~200 terms per thread;
            // a one-thread group on the CPU accelerator the whole row), then the tree over the group.
            float sum = 0, compensation = 0;
            for (int c = t; c < vocabulary; c += threads)
            {
                float term = Exp(logits[row + c] - max) - compensation;
                float next = sum + term;
                compensation = (next - sum) - term;
                sum = next;
            }
            sum = GroupSum(sum, shared);
            if (t == 0)
            {
                floats[r] = max;
                floats[rows + r] = sum;
                argMax[r] = maxIndex;
            }
            for (int i = t; i < idsPerRow; i += threads)
                floats[2 * rows + r * idsPerRow + i] = logits[row + ids[r * idsPerRow + i]];
        }
    }
}
