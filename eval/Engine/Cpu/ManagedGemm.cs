using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Eval.Engine.Cpu;

/// <summary>
/// Managed SGEMM in the BLIS style: B is packed into k×16 panels, A into 6×k panels, and a 6×16 register-blocked
/// fused-multiply-add kernel (twelve 256-bit accumulators) runs over them. Work is split over row blocks of C
/// (and column ranges when there are too few row blocks to occupy every thread).
/// </summary>
public sealed unsafe class ManagedGemm(int threads) : IMatrixMultiply
{
    private const int MR = 6, NR = 16;
    private const int KC = 256, MC = 96, NC = 4096;

    public string Name => "managed";
    public int Threads { get; } = Math.Max(1, threads);

    public void Multiply(bool transposeA, bool transposeB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc)
    {
        if (m <= 0 || n <= 0) return;
        if (k <= 0 || alpha == 0f)
        {
            ScaleC(m, n, beta, c, ldc);
            return;
        }
        // Element (i, p) of op(A) is a[i·rsA + p·csA]; element (p, j) of op(B) is b[p·rsB + j·csB].
        long rsA = transposeA ? 1 : lda, csA = transposeA ? lda : 1;
        long rsB = transposeB ? 1 : ldb, csB = transposeB ? ldb : 1;

        int ncMax = Math.Min(NC, RoundUp(n, NR));
        var packedB = (float*)NativeMemory.AlignedAlloc((nuint)(KC * ncMax) * sizeof(float), 64);
        try
        {
            for (int jc = 0; jc < n; jc += NC)
            {
                int nc = Math.Min(NC, n - jc);
                for (int pc = 0; pc < k; pc += KC)
                {
                    int kc = Math.Min(KC, k - pc);
                    float betaBlock = pc == 0 ? beta : 1f;
                    PackB(b + pc * rsB + jc * csB, rsB, csB, kc, nc, packedB);
                    RunBlocks(a + pc * csA, rsA, csA, packedB, m, nc, kc, alpha, betaBlock, c + jc, ldc);
                }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(packedB);
        }
    }

    private void RunBlocks(float* a, long rsA, long csA, float* packedB, int m, int nc, int kc,
        float alpha, float beta, float* c, int ldc)
    {
        int rowBlocks = (m + MC - 1) / MC;
        int panels = (nc + NR - 1) / NR;
        int columnChunks = Math.Clamp(Threads / rowBlocks, 1, panels);
        int panelsPerChunk = (panels + columnChunks - 1) / columnChunks;
        int tasks = rowBlocks * columnChunks;

        void RunTask(int task, float* packedA)
        {
            int rb = task / columnChunks, cb = task % columnChunks;
            int ic = rb * MC, mc = Math.Min(MC, m - ic);
            int firstPanel = cb * panelsPerChunk, lastPanel = Math.Min(panels, firstPanel + panelsPerChunk);
            if (firstPanel >= lastPanel) return;
            PackA(a + ic * rsA, rsA, csA, mc, kc, packedA);
            float* tile = stackalloc float[MR * NR];
            for (int jp = firstPanel; jp < lastPanel; jp++)
            {
                int jr = jp * NR, nr = Math.Min(NR, nc - jr);
                float* pb = packedB + (long)jp * NR * kc;
                for (int ir = 0; ir < mc; ir += MR)
                {
                    int mr = Math.Min(MR, mc - ir);
                    float* pa = packedA + (long)ir * kc;
                    float* cTile = c + (long)(ic + ir) * ldc + jr;
                    if (mr == MR && nr == NR)
                        Kernel6x16(kc, pa, pb, alpha, beta, cTile, ldc);
                    else
                    {
                        for (int r = 0; r < mr; r++)
                            for (int j = 0; j < nr; j++)
                                tile[r * NR + j] = cTile[(long)r * ldc + j];
                        Kernel6x16(kc, pa, pb, alpha, beta, tile, NR);
                        for (int r = 0; r < mr; r++)
                            for (int j = 0; j < nr; j++)
                                cTile[(long)r * ldc + j] = tile[r * NR + j];
                    }
                }
            }
        }

        nuint packedASize = (nuint)(MC * kc) * sizeof(float);
        if (tasks == 1 || Threads == 1)
        {
            var packedA = (float*)NativeMemory.AlignedAlloc(packedASize, 64);
            try { for (int t = 0; t < tasks; t++) RunTask(t, packedA); }
            finally { NativeMemory.AlignedFree(packedA); }
            return;
        }
        Parallel.For(0, tasks, new ParallelOptions { MaxDegreeOfParallelism = Threads },
            () => (nint)NativeMemory.AlignedAlloc(packedASize, 64),
            (t, _, buffer) => { RunTask(t, (float*)buffer); return buffer; },
            buffer => NativeMemory.AlignedFree((void*)buffer));
    }

    /// <summary>Packs op(B)[0..kc, 0..nc] into panels of NR columns, k-major, zero-padded to a multiple of NR.</summary>
    private static void PackB(float* b, long rs, long cs, int kc, int nc, float* packed)
    {
        for (int jr = 0; jr < nc; jr += NR)
        {
            int nr = Math.Min(NR, nc - jr);
            float* dst = packed + (long)jr * kc;
            float* src = b + jr * cs;
            if (cs == 1 && nr == NR)
            {
                for (int p = 0; p < kc; p++)
                {
                    float* row = src + p * rs;
                    Vector256.Store(Vector256.Load(row), dst + p * NR);
                    Vector256.Store(Vector256.Load(row + 8), dst + p * NR + 8);
                }
                continue;
            }
            for (int p = 0; p < kc; p++)
            {
                float* d = dst + p * NR;
                int j = 0;
                for (; j < nr; j++) d[j] = src[p * rs + j * cs];
                for (; j < NR; j++) d[j] = 0f;
            }
        }
    }

    /// <summary>Packs op(A)[0..mc, 0..kc] into panels of MR rows, k-major, zero-padded to a multiple of MR.</summary>
    private static void PackA(float* a, long rs, long cs, int mc, int kc, float* packed)
    {
        for (int ir = 0; ir < mc; ir += MR)
        {
            int mr = Math.Min(MR, mc - ir);
            float* dst = packed + (long)ir * kc;
            for (int r = 0; r < MR; r++)
            {
                if (r < mr)
                {
                    float* src = a + (ir + r) * rs;
                    for (int p = 0; p < kc; p++) dst[p * MR + r] = src[p * cs];
                }
                else
                {
                    for (int p = 0; p < kc; p++) dst[p * MR + r] = 0f;
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16(int kc, float* pa, float* pb, float alpha, float beta, float* c, long ldc)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(pb);
            var b1 = Vector256.Load(pb + 8);
            var a0 = Vector256.Create(pa[0]);
            c00 = Vector256.FusedMultiplyAdd(a0, b0, c00); c01 = Vector256.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector256.Create(pa[1]);
            c10 = Vector256.FusedMultiplyAdd(a1, b0, c10); c11 = Vector256.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector256.Create(pa[2]);
            c20 = Vector256.FusedMultiplyAdd(a2, b0, c20); c21 = Vector256.FusedMultiplyAdd(a2, b1, c21);
            var a3 = Vector256.Create(pa[3]);
            c30 = Vector256.FusedMultiplyAdd(a3, b0, c30); c31 = Vector256.FusedMultiplyAdd(a3, b1, c31);
            var a4 = Vector256.Create(pa[4]);
            c40 = Vector256.FusedMultiplyAdd(a4, b0, c40); c41 = Vector256.FusedMultiplyAdd(a4, b1, c41);
            var a5 = Vector256.Create(pa[5]);
            c50 = Vector256.FusedMultiplyAdd(a5, b0, c50); c51 = Vector256.FusedMultiplyAdd(a5, b1, c51);
            pa += MR;
            pb += NR;
        }
        Store(c, alpha, beta, c00, c01);
        Store(c + ldc, alpha, beta, c10, c11);
        Store(c + 2 * ldc, alpha, beta, c20, c21);
        Store(c + 3 * ldc, alpha, beta, c30, c31);
        Store(c + 4 * ldc, alpha, beta, c40, c41);
        Store(c + 5 * ldc, alpha, beta, c50, c51);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, float alpha, float beta, Vector256<float> lo, Vector256<float> hi)
    {
        var va = Vector256.Create(alpha);
        if (beta == 0f)
        {
            Vector256.Store(lo * va, c);
            Vector256.Store(hi * va, c + 8);
        }
        else
        {
            var vb = Vector256.Create(beta);
            Vector256.Store(Vector256.FusedMultiplyAdd(lo, va, Vector256.Load(c) * vb), c);
            Vector256.Store(Vector256.FusedMultiplyAdd(hi, va, Vector256.Load(c + 8) * vb), c + 8);
        }
    }

    private static void ScaleC(int m, int n, float beta, float* c, int ldc)
    {
        for (int i = 0; i < m; i++)
        {
            var row = new Span<float>(c + (long)i * ldc, n);
            if (beta == 0f) row.Clear();
            else System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
        }
    }

    private static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;
}
