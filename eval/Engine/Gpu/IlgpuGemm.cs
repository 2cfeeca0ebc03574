using System.Reflection;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

// ILGPU builds its kernel launchers in a dynamic assembly of this name; they must see the kernels' internal argument types.
[assembly: InternalsVisibleTo("ILGPURuntime")]

namespace Eval.Engine.Gpu;

/// <summary>
/// The fallback SGEMM for the layout of torch.nn.Linear, y[r, c] = Σ_k x[r, k]·w[c, k] (+ bias[c]), used where cuBLAS
/// is absent and on ILGPU's CPU accelerator. Weights are float32 or bfloat16 bits; accumulation is in float. Against
/// bfloat16 weights x is rounded to bfloat16 as it is read, as the cuBLAS path converts it before its GEMM, so
/// <see cref="Precision.Bf16"/> rounds at the same places on every path (and ILGPU's CPU accelerator reproduces CUDA's).
/// Two kernels, chosen by group size:
/// <list type="bullet">
/// <item>a multiple of 16 threads (CUDA's 128/256): a shared-memory tiled kernel, the group laid out as 16 columns ×
/// groupSize/16 rows of threads, each thread owning a 4×4 block of outputs, so a 256-thread group computes a 64×64
/// tile and a 128-thread group a 32×64 tile, reading each x and w element of a 16-wide k step once per tile;</item>
/// <item>any other size (the 1- to 8-thread groups of the CPU accelerator): each thread computes 4×4 output blocks
/// straight from global memory with plain loops, grid-strided, with no shared memory or barriers to pay for.</item>
/// </list>
/// </summary>
public sealed class IlgpuGemm
{
    private const int ThreadColumns = 16;
    private const int Block = 4;
    private const int TileColumns = ThreadColumns * Block;
    private const int KStep = 16;

    private readonly Action<AcceleratorStream, KernelConfig, ArrayView<float>, int, Float32Weights, int,
        ArrayView<float>, int, ArrayView<float>, int, int, int, int> float32Kernel;
    private readonly Action<AcceleratorStream, KernelConfig, ArrayView<float>, int, BFloat16Weights, int,
        ArrayView<float>, int, ArrayView<float>, int, int, int, int> bfloat16Kernel;
    private readonly int groupSize;
    private readonly bool tiled;
    private readonly int maxStridedGroups;

    public IlgpuGemm(Accelerator accelerator, int groupSize)
    {
        if (groupSize < 1 || groupSize > accelerator.MaxNumThreadsPerGroup)
            throw new ArgumentOutOfRangeException(nameof(groupSize),
                $"group size {groupSize} is outside 1..{accelerator.MaxNumThreadsPerGroup} for {accelerator.Name}");
        this.groupSize = groupSize;
        tiled = IsTiled(groupSize);
        // Enough grid-strided groups to keep every hardware thread busy a few times over, few enough that each thread
        // loops over several blocks (on the CPU accelerator every group has a scheduling cost).
        maxStridedGroups = Math.Max(1, accelerator.MaxNumThreads / groupSize) * 4;
        if (tiled)
        {
            float32Kernel = accelerator.LoadKernel<ArrayView<float>, int, Float32Weights, int,
                ArrayView<float>, int, ArrayView<float>, int, int, int, int>(TiledKernel);
            bfloat16Kernel = accelerator.LoadKernel<ArrayView<float>, int, BFloat16Weights, int,
                ArrayView<float>, int, ArrayView<float>, int, int, int, int>(TiledKernel);
        }
        else
        {
            float32Kernel = accelerator.LoadKernel<ArrayView<float>, int, Float32Weights, int,
                ArrayView<float>, int, ArrayView<float>, int, int, int, int>(StridedKernel);
            bfloat16Kernel = accelerator.LoadKernel<ArrayView<float>, int, BFloat16Weights, int,
                ArrayView<float>, int, ArrayView<float>, int, int, int, int>(StridedKernel);
        }
    }

    /// <summary>Whether a group of this size runs the shared-memory tiled kernel (else the strided one).</summary>
    public static bool IsTiled(int groupSize) => groupSize % ThreadColumns == 0;

    /// <summary>The kernel methods this class may load, for compiling them ahead of time (the PTX check in the tests).</summary>
    public static IReadOnlyList<MethodInfo> KernelMethods =>
    [
        ((Delegate)TiledKernel<Float32Weights>).Method, ((Delegate)TiledKernel<BFloat16Weights>).Method,
        ((Delegate)StridedKernel<Float32Weights>).Method, ((Delegate)StridedKernel<BFloat16Weights>).Method,
    ];

    /// <summary>
    /// Shared memory of the tiled kernel, in floats: a 16-deep k step of the x tile (groupSize/4 rows) and of the w tile
    /// (64 rows), both stored k-major with rows padded by one float so the transposing stores do not hit one bank.
    /// 256 threads: 16·65 + 16·65 = 2080 floats (8.1 KiB).
    /// </summary>
    public static int TiledSharedFloats(int groupSize) => KStep * (groupSize / ThreadColumns * Block + 1) + KStep * (TileColumns + 1);

    /// <summary>
    /// Enqueues y[r, c] = Σ_k x[r, k]·w[c, k] (+ bias[c] when <paramref name="hasBias"/>) for r &lt; n, c &lt; m; x, w and y
    /// are row-major with leading dimensions ldx, ldw, ldy. Without bias pass any small dummy view: it is never read.
    /// </summary>
    public void Linear(AcceleratorStream stream, ArrayView<float> x, int ldx, ArrayView<float> w, int ldw,
        ArrayView<float> bias, bool hasBias, ArrayView<float> y, int ldy, int n, int m, int k)
    {
        Validate(x.Length, ldx, w.Length, ldw, bias.Length, hasBias, y.Length, ldy, n, m, k);
        if (n == 0 || m == 0) return;
        float32Kernel(stream, Config(n, m), x, ldx, new Float32Weights(w), ldw, bias, hasBias ? 1 : 0, y, ldy, n, m, k);
    }

    /// <summary>
    /// <see cref="Linear"/> with the weight stored as bfloat16: each ushort is the high half of a float32, widened on load;
    /// x is rounded to bfloat16 (nearest, ties to even) on load, so the products are those of cuBLAS's bfloat16 GEMM.
    /// </summary>
    public void LinearBf16Weight(AcceleratorStream stream, ArrayView<float> x, int ldx, ArrayView<ushort> w, int ldw,
        ArrayView<float> bias, bool hasBias, ArrayView<float> y, int ldy, int n, int m, int k)
    {
        Validate(x.Length, ldx, w.Length, ldw, bias.Length, hasBias, y.Length, ldy, n, m, k);
        if (n == 0 || m == 0) return;
        bfloat16Kernel(stream, Config(n, m), x, ldx, new BFloat16Weights(w), ldw, bias, hasBias ? 1 : 0, y, ldy, n, m, k);
    }

    private KernelConfig Config(int n, int m)
    {
        if (tiled)
        {
            int tileRows = groupSize / ThreadColumns * Block;
            long tiles = (long)CeilDiv(n, tileRows) * CeilDiv(m, TileColumns);
            if (tiles > int.MaxValue) throw new ArgumentException($"Linear: {n}×{m} needs {tiles} tiles, more than a grid holds");
            return new KernelConfig((int)tiles, groupSize, SharedMemoryConfig.RequestDynamic<float>(TiledSharedFloats(groupSize)));
        }
        long blocks = (long)CeilDiv(n, Block) * CeilDiv(m, Block);
        return new KernelConfig((int)Math.Min(CeilDiv(blocks, groupSize), maxStridedGroups), groupSize);
    }

    private static int CeilDiv(int a, int b) => (a + b - 1) / b;
    private static long CeilDiv(long a, long b) => (a + b - 1) / b;

    private static void Validate(long xLength, int ldx, long wLength, int ldw, long biasLength, bool hasBias,
        long yLength, int ldy, int n, int m, int k)
    {
        if (n < 0 || m < 0 || k < 0) throw new ArgumentException($"Linear: negative shape {n}×{m}×{k}");
        if (n == 0 || m == 0) return;
        static void Fits(string name, long length, int rows, int ld, int width)
        {
            if (ld < width || (long)(rows - 1) * ld + width > length)
                throw new ArgumentException($"Linear: {name} ({length} elements, leading dimension {ld}) does not hold {rows} rows of {width}");
        }
        Fits("x", xLength, n, ldx, k);
        Fits("weight", wLength, m, ldw, k);
        Fits("y", yLength, n, ldy, m);
        if (hasBias && biasLength < m) throw new ArgumentException($"Linear: bias has {biasLength} elements for {m} outputs");
    }

    /// <summary>
    /// One group per output tile. Threads are 16 columns × (groupSize/16) rows; thread (tx, ty) owns rows
    /// ty + i·threadRows and columns tx + 16·j (i, j &lt; 4), interleaved so that a warp's shared reads and global writes
    /// are consecutive. Rows and columns past n, m are clamped on load and skipped on store; the k tail is zero-filled.
    /// </summary>
    private static void TiledKernel<TWeights>(ArrayView<float> x, int ldx, TWeights w, int ldw,
        ArrayView<float> bias, int hasBias, ArrayView<float> y, int ldy, int n, int m, int k)
        where TWeights : struct, IWeightMatrix
    {
        int thread = Group.IdxX, threads = Group.DimX;
        int threadRows = threads / ThreadColumns, tileRows = threadRows * Block;
        int xStride = tileRows + 1, wStride = TileColumns + 1;
        int columnTiles = (m + TileColumns - 1) / TileColumns;
        int rowBase = Grid.IdxX / columnTiles * tileRows, columnBase = Grid.IdxX % columnTiles * TileColumns;
        int tx = thread % ThreadColumns, ty = thread / ThreadColumns;

        var shared = SharedMemory.GetDynamic<float>();
        var xTile = shared.SubView(0, KStep * xStride);
        var wTile = shared.SubView(KStep * xStride, KStep * wStride);
        var sums = new OutputBlock();
        for (int k0 = 0; k0 < k; k0 += KStep)
        {
            for (int e = thread; e < tileRows * KStep; e += threads)
            {
                int r = e / KStep, kk = e % KStep;
                long row = Math.Min(rowBase + r, n - 1);
                xTile[kk * xStride + r] = k0 + kk < k ? w.Operand(x[row * ldx + k0 + kk]) : 0f;
            }
            for (int e = thread; e < TileColumns * KStep; e += threads)
            {
                int c = e / KStep, kk = e % KStep;
                long column = Math.Min(columnBase + c, m - 1);
                wTile[kk * wStride + c] = k0 + kk < k ? w.Load(column * ldw + k0 + kk) : 0f;
            }
            Group.Barrier();
            for (int kk = 0; kk < KStep; kk++)
            {
                int xAt = kk * xStride + ty, wAt = kk * wStride + tx;
                sums.Add(xTile[xAt], xTile[xAt + threadRows], xTile[xAt + 2 * threadRows], xTile[xAt + 3 * threadRows],
                    wTile[wAt], wTile[wAt + ThreadColumns], wTile[wAt + 2 * ThreadColumns], wTile[wAt + 3 * ThreadColumns]);
            }
            Group.Barrier(); // everyone is done with this k step before the next overwrites the tiles
        }
        sums.Store(y, ldy, bias, hasBias, rowBase + ty, threadRows, columnBase + tx, ThreadColumns, n, m);
    }

    /// <summary>
    /// Grid-strided over 4×4 output blocks, each read straight from global memory: 8 loads per 16 multiply-adds, and
    /// no barriers, which on the CPU accelerator cost more than the arithmetic of a small group.
    /// </summary>
    private static void StridedKernel<TWeights>(ArrayView<float> x, int ldx, TWeights w, int ldw,
        ArrayView<float> bias, int hasBias, ArrayView<float> y, int ldy, int n, int m, int k)
        where TWeights : struct, IWeightMatrix
    {
        int columnBlocks = (m + Block - 1) / Block;
        long blocks = (long)(n + Block - 1) / Block * columnBlocks;
        for (long index = (long)Grid.IdxX * Group.DimX + Group.IdxX; index < blocks; index += (long)Grid.DimX * Group.DimX)
        {
            int row0 = (int)(index / columnBlocks) * Block, column0 = (int)(index % columnBlocks) * Block;
            // Clamped rows and columns read valid memory; their sums are dropped on store.
            long x0 = (long)Math.Min(row0, n - 1) * ldx, x1 = (long)Math.Min(row0 + 1, n - 1) * ldx;
            long x2 = (long)Math.Min(row0 + 2, n - 1) * ldx, x3 = (long)Math.Min(row0 + 3, n - 1) * ldx;
            long w0 = (long)Math.Min(column0, m - 1) * ldw, w1 = (long)Math.Min(column0 + 1, m - 1) * ldw;
            long w2 = (long)Math.Min(column0 + 2, m - 1) * ldw, w3 = (long)Math.Min(column0 + 3, m - 1) * ldw;
            var sums = new OutputBlock();
            for (int kk = 0; kk < k; kk++)
                sums.Add(w.Operand(x[x0 + kk]), w.Operand(x[x1 + kk]), w.Operand(x[x2 + kk]), w.Operand(x[x3 + kk]),
                    w.Load(w0 + kk), w.Load(w1 + kk), w.Load(w2 + kk), w.Load(w3 + kk));
            sums.Store(y, ldy, bias, hasBias, row0, 1, column0, 1, n, m);
        }
    }

    /// <summary>
    /// A weight matrix as the kernels read it, element by flat index, and the activation as it meets that weight in a
    /// product; generic so each format gets its own kernel.
    /// </summary>
    internal interface IWeightMatrix
    {
        float Load(long index);

        /// <summary>An element of x as the GEMM multiplies it with this weight.</summary>
        float Operand(float x);
    }

    internal readonly struct Float32Weights(ArrayView<float> values) : IWeightMatrix
    {
        private readonly ArrayView<float> values = values;
        public float Load(long index) => values[index];
        public float Operand(float x) => x;
    }

    /// <summary>
    /// bfloat16 is the top half of a float32, so widening is a shift (<see cref="IlgpuKernels.FromBFloat16"/>). x meets
    /// it rounded to bfloat16, as cuBLAS gets it (<see cref="IlgpuKernels.ConvertToBFloat16"/> before cublasGemmEx).
    /// </summary>
    internal readonly struct BFloat16Weights(ArrayView<ushort> bits) : IWeightMatrix
    {
        private readonly ArrayView<ushort> bits = bits;
        public float Load(long index) => IlgpuKernels.FromBFloat16(bits[index]);
        public float Operand(float x) => IlgpuKernels.FromBFloat16(IlgpuKernels.ToBFloat16(x));
    }

    /// <summary>The 4×4 sums one thread owns, as sixteen fields so they live in registers.</summary>
    internal struct OutputBlock
    {
        private float s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33;

        public void Add(float a0, float a1, float a2, float a3, float b0, float b1, float b2, float b3)
        {
            s00 += a0 * b0; s01 += a0 * b1; s02 += a0 * b2; s03 += a0 * b3;
            s10 += a1 * b0; s11 += a1 * b1; s12 += a1 * b2; s13 += a1 * b3;
            s20 += a2 * b0; s21 += a2 * b1; s22 += a2 * b2; s23 += a2 * b3;
            s30 += a3 * b0; s31 += a3 * b1; s32 += a3 * b2; s33 += a3 * b3;
        }

        /// <summary>Writes sum (i, j) to y[row0 + i·rowStep, column0 + j·columnStep], inside n × m only.</summary>
        public readonly void Store(ArrayView<float> y, int ldy, ArrayView<float> bias, int hasBias,
            int row0, int rowStep, int column0, int columnStep, int n, int m)
        {
            StoreRow(y, ldy, bias, hasBias, row0, column0, columnStep, n, m, s00, s01, s02, s03);
            StoreRow(y, ldy, bias, hasBias, row0 + rowStep, column0, columnStep, n, m, s10, s11, s12, s13);
            StoreRow(y, ldy, bias, hasBias, row0 + 2 * rowStep, column0, columnStep, n, m, s20, s21, s22, s23);
            StoreRow(y, ldy, bias, hasBias, row0 + 3 * rowStep, column0, columnStep, n, m, s30, s31, s32, s33);
        }

        private static void StoreRow(ArrayView<float> y, int ldy, ArrayView<float> bias, int hasBias,
            int row, int column0, int columnStep, int n, int m, float v0, float v1, float v2, float v3)
        {
            if (row >= n) return;
            long at = (long)row * ldy;
            StoreOne(y, at, bias, hasBias, column0, m, v0);
            StoreOne(y, at, bias, hasBias, column0 + columnStep, m, v1);
            StoreOne(y, at, bias, hasBias, column0 + 2 * columnStep, m, v2);
            StoreOne(y, at, bias, hasBias, column0 + 3 * columnStep, m, v3);
        }

        private static void StoreOne(ArrayView<float> y, long rowAt, ArrayView<float> bias, int hasBias, int column, int m, float value)
        {
            if (column < m) y[rowAt + column] = hasBias != 0 ? value + bias[column] : value;
        }
    }
}
