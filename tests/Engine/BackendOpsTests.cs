using Eval.Engine;
using Eval.Engine.Cpu;

namespace Eval.Tests.Engine;

/// <summary>
/// Every backend op against the naive double-precision reference, over a table of shapes, for each backend
/// configuration (single- and multi-threaded managed GEMM, BLAS GEMM, and the GPU backend's kernels on ILGPU's CPU
/// accelerator with 1-, 4- and 8-thread groups). Inputs go in and results come out through the backend's own copies.
/// </summary>
[TestClass]
public sealed class BackendOpsTests
{
    public static IEnumerable<object[]> Backends() => TestBackends.All();

    private static readonly (int N, int M, int K)[] LinearShapes =
        [(1, 1, 1), (1, 7, 3), (7, 13, 5), (6, 16, 256), (65, 96, 130), (300, 17, 257), (97, 203, 600), (2, 5000, 64)];

    [TestMethod]
    [DynamicData(nameof(Backends), DynamicDataSourceType.Method)]
    public void LinearMatchesReference(string name, Func<IBackend> create)
    {
        using var be = create();
        foreach (var (n, m, k) in LinearShapes)
            foreach (bool withBias in new[] { false, true })
            {
                var x = Reference.Random(n * k, n + m + k);
                var w = Reference.Random(m * k, 7 * m + k);
                var bias = Reference.Random(m, 3);
                using var tx = be.Upload(x, n, k);
                using var tw = be.Upload(w, m, k);
                using var tb = be.Upload(bias, m);
                using var ty = be.Allocate(n, m);
                be.Linear(tx, tw, withBias ? tb : null, ty);
                var expected = Reference.Gemm(false, true, n, m, k, 1f, x, k, w, k, withBias ? 1f : 0f,
                    Enumerable.Range(0, n * m).Select(i => bias[i % m]).ToArray(), m);
                double diff = Reference.MaxAbsDiff(expected, be.Read(ty));
                Assert.IsTrue(diff < 1e-4 * Math.Sqrt(k), $"{name} linear {n}x{m}x{k} bias={withBias}: max diff {diff}");
            }
    }

    [TestMethod]
    [DataRow(false, false)]
    [DataRow(false, true)]
    [DataRow(true, false)]
    [DataRow(true, true)]
    public unsafe void GemmTransposesAlphaBetaAndStrides(bool ta, bool tb)
    {
        foreach (var gemm in new IMatrixMultiply[] { new ManagedGemm(1), new ManagedGemm(2), new CpuBackend(2, GemmPath.Blas).Gemm })
            foreach (var (m, n, k) in new[] { (5, 3, 2), (37, 41, 300), (130, 20, 9) })
            {
                // Leading dimensions wider than needed, to exercise strides.
                int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 5;
                var a = Reference.Random((ta ? k : m) * lda, 11);
                var b = Reference.Random((tb ? n : k) * ldb, 12);
                var c = Reference.Random(m * ldc, 13);
                var expected = Reference.Gemm(ta, tb, m, n, k, 0.75f, a, lda, b, ldb, 0.5f, c, ldc);
                var actual = (float[])c.Clone();
                fixed (float* pa = a, pb = b, pc = actual)
                    gemm.Multiply(ta, tb, m, n, k, 0.75f, pa, lda, pb, ldb, 0.5f, pc, ldc);
                Assert.IsTrue(Reference.MaxAbsDiff(expected, actual) < 1e-3, $"{gemm.Name} ta={ta} tb={tb} {m}x{n}x{k}");
                for (int i = 0; i < m; i++)
                    for (int j = n; j < ldc; j++)
                        Assert.AreEqual(c[i * ldc + j], actual[i * ldc + j], $"{gemm.Name} wrote outside C at ({i}, {j})");
            }
    }

    [TestMethod]
    [DynamicData(nameof(Backends), DynamicDataSourceType.Method)]
    public void NormsMatchReference(string name, Func<IBackend> create)
    {
        using var be = create();
        foreach (var (rows, cols) in new[] { (1, 1), (3, 64), (130, 257), (600, 96) })
        {
            var x = Reference.Random(rows * cols, rows, 3f).Select((v, i) => v + i % 5).ToArray();
            var w = Reference.Random(cols, 1);
            var b = Reference.Random(cols, 2);
            using var tx = be.Upload(x, rows, cols);
            using var tw = be.Upload(w, cols);
            using var tb = be.Upload(b, cols);
            using var ty = be.Allocate(rows, cols);

            be.LayerNorm(tx, tw, tb, 1e-5f, ty);
            Assert.IsTrue(Reference.MaxAbsDiff(Reference.LayerNorm(x, cols, w, b, 1e-5), be.Read(ty)) < 1e-4, $"{name} layernorm {rows}x{cols}");
            be.LayerNorm(tx, null, null, 1e-5f, ty);
            Assert.IsTrue(Reference.MaxAbsDiff(Reference.LayerNorm(x, cols, null, null, 1e-5), be.Read(ty)) < 1e-4, $"{name} bias-free layernorm");
            be.RmsNorm(tx, tw, 1e-6f, ty);
            Assert.IsTrue(Reference.MaxAbsDiff(Reference.RmsNorm(x, cols, w, 1e-6), be.Read(ty)) < 1e-4, $"{name} rmsnorm {rows}x{cols}");
            using var inPlace = be.Upload(x, rows, cols);
            be.RmsNorm(inPlace, tw, 1e-6f, inPlace);
            Assert.IsTrue(Reference.MaxAbsDiff(Reference.RmsNorm(x, cols, w, 1e-6), be.Read(inPlace)) < 1e-4, $"{name} rmsnorm in place");
            using var layerInPlace = be.Upload(x, rows, cols);
            be.LayerNorm(layerInPlace, tw, tb, 1e-5f, layerInPlace);
            Assert.IsTrue(Reference.MaxAbsDiff(Reference.LayerNorm(x, cols, w, b, 1e-5), be.Read(layerInPlace)) < 1e-4, $"{name} layernorm in place");
        }
    }

    [TestMethod]
    [DynamicData(nameof(Backends), DynamicDataSourceType.Method)]
    public void ActivationsMatchReference(string name, Func<IBackend> create)
    {
        using var be = create();
        // Dense grid over the interesting range plus large magnitudes, odd length for the scalar tail.
        var x = Enumerable.Range(0, 4001).Select(i => (i - 2000) / 200f).Concat([-30f, -9f, 9f, 30f, 0f]).ToArray();
        using var tx = be.Upload(x, 1, x.Length);
        using var ty = be.Allocate(1, x.Length);
        // Every kind, against the double reference: GELU's two forms differ by up to ~5e-4 here, far beyond the tolerance.
        foreach (var kind in Enum.GetValues<ActivationKind>())
        {
            be.Activation(kind, tx, ty);
            var y = be.Read(ty);
            for (int i = 0; i < x.Length; i++)
                Assert.AreEqual(Reference.Activation(kind, x[i]), y[i], 2e-6 * Math.Max(1, Math.Abs(x[i])), $"{name} {kind}({x[i]})");
        }
        // In place (y aliases x), as the models call it.
        using var inPlace = be.Upload(x, 1, x.Length);
        be.Activation(ActivationKind.GeluTanh, inPlace, inPlace);
        var aliased = be.Read(inPlace);
        for (int i = 0; i < x.Length; i++)
            Assert.AreEqual(Reference.GeluTanh(x[i]), aliased[i], 2e-6 * Math.Max(1, Math.Abs(x[i])), $"{name} in-place GeluTanh({x[i]})");

        foreach (var kind in Enum.GetValues<ActivationKind>())
        {
            int rows = 37, inner = 45;
            var fused = Reference.Random(rows * 2 * inner, 5, 4f);
            using var tf = be.Upload(fused, rows, 2 * inner);
            using var tg = be.Allocate(rows, inner);
            be.GatedActivation(kind, tf, tg);
            var gated = be.Read(tg);
            for (int r = 0; r < rows; r++)
                for (int i = 0; i < inner; i++)
                {
                    double a = fused[r * 2 * inner + i], g = fused[r * 2 * inner + inner + i];
                    double expected = Reference.Activation(kind, a) * g;
                    Assert.AreEqual(expected, gated[r * inner + i], 1e-5, $"{name} gated {kind} ({r}, {i})");
                }
        }
    }

    [TestMethod]
    [DynamicData(nameof(Backends), DynamicDataSourceType.Method)]
    public void GatherAddSoftmaxMatchReference(string name, Func<IBackend> create)
    {
        using var be = create();
        var table = Reference.Random(50 * 8, 1);
        int[] ids = [3, 0, 49, 3, 17];
        using var tt = be.Upload(table, 50, 8);
        using var tg = be.Allocate(ids.Length, 8);
        be.Gather(tt, ids, tg);
        var gathered = be.Read(tg);
        for (int i = 0; i < ids.Length; i++)
            CollectionAssert.AreEqual(table.Skip(ids[i] * 8).Take(8).ToArray(), gathered.Skip(i * 8).Take(8).ToArray(), $"{name} gather row {i}");
        using var wrong = be.Allocate(2, 8);
        var error = Assert.ThrowsException<ArgumentOutOfRangeException>(() => be.Gather(tt, [1, 50], wrong));
        StringAssert.Contains(error.Message, "id 50");

        var a = Reference.Random(1000, 2);
        var b = Reference.Random(1000, 3);
        using var ta = be.Upload(a, 10, 100);
        using var tb = be.Upload(b, 10, 100);
        be.Add(ta, tb, ta);
        var sums = be.Read(ta);
        for (int i = 0; i < a.Length; i++) Assert.AreEqual(a[i] + b[i], sums[i], 1e-6);

        var logits = Reference.Random(3 * 70, 4, 20f);
        using var ts = be.Upload(logits, 3, 70);
        be.Softmax(ts);
        var probabilities = be.Read(ts);
        for (int r = 0; r < 3; r++)
        {
            var row = logits.Skip(r * 70).Take(70).Select(v => (double)v).ToArray();
            double max = row.Max(), sum = row.Sum(v => Math.Exp(v - max));
            for (int j = 0; j < 70; j++)
                Assert.AreEqual(Math.Exp(row[j] - max) / sum, probabilities[r * 70 + j], 1e-6, $"{name} softmax ({r}, {j})");
        }
    }

    [TestMethod]
    [DynamicData(nameof(Backends), DynamicDataSourceType.Method)]
    public void RopeMatchesReference(string name, Func<IBackend> create)
    {
        using var be = create();
        int rows = 40, heads = 3, d = 16, offset = 8, cols = offset + heads * d + 5;
        var x = Reference.Random(rows * cols, 9);
        var positions = Enumerable.Range(0, rows).Select(i => i * 37 % 500).ToArray();
        var inv = Enumerable.Range(0, d / 2).Select(i => 1f / MathF.Pow(10000f, 2f * i / d)).ToArray();
        using var tx = be.Upload(x, rows, cols);
        be.Rope(new ColumnSlice(tx, offset), heads, d, positions, inv);
        var expected = Reference.Rope(x, cols, offset, heads, d, positions, inv);
        Assert.IsTrue(Reference.MaxAbsDiff(expected, be.Read(tx)) < 2e-4, $"{name} rope");
        // The same positions again (the GPU backend reuses its uploaded cos/sin table), then other positions.
        be.Rope(new ColumnSlice(tx, offset), heads, d, positions, inv);
        Assert.IsTrue(Reference.MaxAbsDiff(Reference.Rope(expected, cols, offset, heads, d, positions, inv), be.Read(tx)) < 4e-4, $"{name} rope twice");
        var shifted = positions.Select(p => p + 3).ToArray();
        using var ty = be.Upload(x, rows, cols);
        be.Rope(new ColumnSlice(ty, offset), heads, d, shifted, inv);
        Assert.IsTrue(Reference.MaxAbsDiff(Reference.Rope(x, cols, offset, heads, d, shifted, inv), be.Read(ty)) < 2e-4, $"{name} rope at new positions");
    }

    public static IEnumerable<object[]> AttentionCases()
    {
        // name, batch, qLen, kLen, kvRows, heads, kvHeads, d, causal, window (symmetric; -1: none), queryStart, padTail,
        // sourceLength (0: none). AttentionOpTests crosses the mask and bias options; these are the shapes.
        yield return ["square padded", 2, 9, 9, 9, 2, 2, 8, false, -1, 0, 3, 0];
        yield return ["sliding window", 2, 150, 150, 150, 2, 2, 16, false, 16, 0, 20, 0];
        yield return ["causal gqa", 3, 70, 70, 70, 4, 2, 16, true, -1, 0, 5, 0];
        yield return ["kv cache step", 2, 1, 33, 48, 4, 1, 8, true, -1, 32, 0, 0];
        yield return ["kv cache chunk", 1, 5, 25, 40, 6, 3, 8, true, -1, 20, 0, 0];
        yield return ["fully masked row", 1, 4, 4, 4, 1, 1, 8, false, -1, 0, 4, 0];
        yield return ["source then target", 2, 90, 90, 90, 2, 2, 8, false, -1, 0, 6, 70];
        yield return ["target chunk after cached source", 2, 12, 40, 48, 2, 1, 8, false, -1, 28, 0, 28];
    }

    [TestMethod]
    [DynamicData(nameof(AttentionCases), DynamicDataSourceType.Method)]
    public void AttentionMatchesReference(string caseName, int batch, int qLen, int kLen, int kvRows, int heads, int kvHeads,
        int d, bool causal, int window, int queryStart, int padTail, int sourceLength)
    {
        foreach (var (name, create) in Backends().Select(o => ((string)o[0], (Func<IBackend>)o[1])))
        {
            using var be = create();
            var s = new AttentionShape(batch, qLen, kLen, kvRows, heads, kvHeads, d);
            int qCols = heads * d + 2 * kvHeads * d + 3;
            int kvCols = 2 * kvHeads * d + 1;
            var q = Reference.Random(batch * qLen * qCols, 1, 2f);
            var kv = Reference.Random(batch * kvRows * kvCols, 2, 2f);
            var valid = Reference.KeyValid(batch, kvRows, kLen, padTail);
            // The second batch element's source is shorter, so the boundary falls inside a query chunk there.
            var sources = Reference.SourceLengths(batch, sourceLength);
            var mask = new AttentionMask(valid)
            {
                Causal = causal, Window = window >= 0 ? AttentionWindow.Symmetric(window) : null, QueryStart = queryStart, SourceLengths = sources,
            };
            using var tq = be.Upload(q, batch * qLen, qCols);
            using var tkv = be.Upload(kv, batch * kvRows, kvCols);
            using var output = be.Allocate(batch * qLen, heads * d);
            be.Attention(new ColumnSlice(tq, 1), new ColumnSlice(tkv, 0), new ColumnSlice(tkv, kvHeads * d + 1), s, mask, output);
            var expected = Reference.Attention(q, qCols, 1, kv, kvCols, 0, kv, kvCols, kvHeads * d + 1, s, mask);
            double diff = Reference.MaxAbsDiff(expected, be.Read(output));
            Assert.IsTrue(diff < 1e-4, $"{caseName} on {name}: max diff {diff}");
        }
    }

    [TestMethod]
    [DynamicData(nameof(Backends), DynamicDataSourceType.Method)]
    public void CopyRowsMovesStridedBlocks(string name, Func<IBackend> create)
    {
        using var be = create();
        // Three batch elements of 4 new rows (stride 4) at column 5 of a [12, 11] tensor → rows 2.. of 7-row blocks, column 1.
        var source = Reference.Random(12 * 11, 21);
        var target = Reference.Random(21 * 9, 22);
        using var ts = be.Upload(source, 12, 11);
        using var tt = be.Upload(target, 21, 9);
        be.CopyRows(new RowBlocks(ts, 0, 4, 5), new RowBlocks(tt, 2, 7, 1), 3, 4, 6);
        var expected = (float[])target.Clone();
        for (int b = 0; b < 3; b++)
            for (int i = 0; i < 4; i++)
                for (int c = 0; c < 6; c++)
                    expected[(2 + b * 7 + i) * 9 + 1 + c] = source[(b * 4 + i) * 11 + 5 + c];
        CollectionAssert.AreEqual(expected, be.Read(tt), $"{name}: copied blocks, and nothing else touched");
        var e = Assert.ThrowsException<ArgumentException>(() => be.CopyRows(new RowBlocks(ts, 0, 4, 5), new RowBlocks(tt, 2, 7, 4), 3, 4, 6));
        StringAssert.Contains(e.Message, "do not fit");
    }

    [TestMethod]
    [DynamicData(nameof(Backends), DynamicDataSourceType.Method)]
    public void MeanPoolAveragesTheIncludedRows(string name, Func<IBackend> create)
    {
        using var be = create();
        int batch = 3, length = 5, cols = 7;
        var x = Reference.Random(batch * length * cols, 31);
        int[] include = [1, 1, 0, 1, 0, /**/ 0, 0, 0, 0, 0, /**/ 1, 1, 1, 1, 1];
        using var tx = be.Upload(x, batch * length, cols);
        using var ty = be.Allocate(batch, cols);
        be.MeanPool(tx, length, include, ty);
        var pooled = be.Read(ty);
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < cols; c++)
            {
                var rows = Enumerable.Range(0, length).Where(i => include[b * length + i] != 0).ToList();
                double expected = rows.Count == 0 ? 0 : rows.Average(i => (double)x[(b * length + i) * cols + c]);
                Assert.AreEqual(expected, pooled[b * cols + c], 1e-6, $"{name} pooled ({b}, {c})");
            }
    }

    [TestMethod]
    public void MismatchedShapesAreRejectedWithTheShapes()
    {
        using var be = new CpuBackend(1, GemmPath.Managed);
        using var x = Tensor.Zeros(4, 8);
        using var w = Tensor.Zeros(3, 7);
        using var y = Tensor.Zeros(4, 3);
        var e = Assert.ThrowsException<ArgumentException>(() => be.Linear(x, w, null, y));
        StringAssert.Contains(e.Message, "8 features");
        StringAssert.Contains(e.Message, "[3, 7]");
    }
}
