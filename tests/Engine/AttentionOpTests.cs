using Eval.Engine;
using Eval.Engine.Cpu;

namespace Eval.Tests.Engine;

/// <summary>
/// IBackend.Attention's mask and bias options crossed, like ggml's test-backend-ops: every combination of bias (none,
/// ALiBi, relative position buckets both ways, a given tensor) × padding × causal × window (none, two-sided, one-sided, one-sided over valid keys)
/// × layout (square, or a KV cache chunk: QueryStart &gt; 0 and more key rows than keys) × grouped query heads × source
/// lengths × scale (default, 1), against <see cref="Reference.Attention"/> (double precision), on every backend
/// configuration. Then the bucket function, the ALiBi slopes and the argument checks.
/// </summary>
[TestClass]
public sealed class AttentionOpTests
{
    public static IEnumerable<object[]> Backends() => TestBackends.All();

    private enum Padding { None, Mixed }
    private enum Window { None, TwoSided, OneSided, OneSidedOverValidKeys }
    private enum Layout { Square, KvCache }

    private sealed record Case(AttentionBiasKind Bias, bool BidirectionalBuckets, Padding Padding, bool Causal, Window Window,
        Layout Layout, bool GroupedHeads, bool SourceLengths, bool UnitScale)
    {
        public override string ToString() =>
            $"bias {Bias}{(Bias == AttentionBiasKind.RelativePositionBuckets ? BidirectionalBuckets ? " (bidirectional)" : " (causal)" : "")}, " +
            $"padding {Padding}, causal {Causal}, window {Window}, {Layout}, {(GroupedHeads ? "GQA" : "MHA")}, " +
            $"sources {SourceLengths}, scale {(UnitScale ? "1" : "1/√d")}";
    }

    private static IEnumerable<Case> Cases() =>
        from bias in new[] { (AttentionBiasKind.None, false), (AttentionBiasKind.Alibi, false), (AttentionBiasKind.RelativePositionBuckets, true),
            (AttentionBiasKind.RelativePositionBuckets, false), (AttentionBiasKind.Given, false) }
        from padding in Enum.GetValues<Padding>()
        from causal in new[] { false, true }
        from window in Enum.GetValues<Window>()
        from layout in Enum.GetValues<Layout>()
        from grouped in new[] { false, true }
        from sources in new[] { false, true }
        from unitScale in new[] { false, true }
        // A window over valid keys reads ALiBi's key positions; with another bias it is refused (ArgumentsAreChecked).
        where window != Window.OneSidedOverValidKeys || bias.Item1 is AttentionBiasKind.None or AttentionBiasKind.Alibi
        select new Case(bias.Item1, bias.Item2, padding, causal, window, layout, grouped, sources, unitScale);

    private const int Batch = 2, HeadDim = 8, Buckets = 8, MaxDistance = 12;

    [TestMethod]
    [DynamicData(nameof(Backends), DynamicDataSourceType.Method)]
    public void EveryMaskAndBiasCombinationMatchesTheReference(string name, Func<IBackend> create)
    {
        using var be = create();
        var failures = new List<string>();
        int count = 0;
        foreach (var c in Cases())
        {
            count++;
            var (shape, mask, biasData, owned) = Build(be, c);
            try
            {
                int qCols = shape.QueryHeads * HeadDim + 3, kvCols = 2 * shape.KeyValueHeads * HeadDim + 1, vOffset = shape.KeyValueHeads * HeadDim + 1;
                var q = Reference.Random(Batch * shape.QueryLength * qCols, 1);
                var kv = Reference.Random(Batch * shape.KeyRowsPerBatch * kvCols, 2);
                using var tq = be.Upload(q, Batch * shape.QueryLength, qCols);
                using var tkv = be.Upload(kv, Batch * shape.KeyRowsPerBatch, kvCols);
                using var output = be.Allocate(Batch * shape.QueryLength, shape.QueryHeads * HeadDim);
                be.Attention(new ColumnSlice(tq, 3), new ColumnSlice(tkv, 0), new ColumnSlice(tkv, vOffset), shape, mask, output);
                var expected = Reference.Attention(q, qCols, 3, kv, kvCols, 0, kv, kvCols, vOffset, shape, mask, biasData);
                double diff = Reference.MaxAbsDiff(expected, be.Read(output));
                if (!(diff < 1e-4)) failures.Add($"{c}: max diff {diff}");
            }
            finally
            {
                owned?.Dispose();
            }
        }
        Assert.AreEqual(960 + 128, count, "the table of cases");
        Assert.AreEqual(0, failures.Count, $"{name}: {failures.Count} of {count} cases differ, e.g.\n" + string.Join("\n", failures.Take(12)));
    }

    /// <summary>
    /// One case's shape and mask; the bias tensor (if any) is uploaded to <paramref name="be"/> and returned as owned,
    /// with its host values for the reference.
    /// </summary>
    private static (AttentionShape Shape, AttentionMask Mask, float[]? BiasData, Tensor? Owned) Build(IBackend be, Case c)
    {
        int heads = c.GroupedHeads ? 4 : 2, kvHeads = 2;
        // Square: 11 queries over their own 11 keys. KV cache: 3 new queries at positions 10…12 over 13 keys in blocks
        // of 16 rows per batch element (the rows past the keys are marked real, and must still be ignored).
        var shape = c.Layout == Layout.Square
            ? new AttentionShape(Batch, 11, 11, 11, heads, kvHeads, HeadDim)
            : new AttentionShape(Batch, 3, 13, 16, heads, kvHeads, HeadDim);
        int queryStart = c.Layout == Layout.Square ? 0 : 10;
        var valid = new int[Batch * shape.KeyRowsPerBatch];
        for (int b = 0; b < Batch; b++)
            for (int j = 0; j < shape.KeyRowsPerBatch; j++)
                valid[b * shape.KeyRowsPerBatch + j] = c.Padding == Padding.None || j >= shape.KeyLength ? 1
                    // Element 0 is left-padded by two; element 1 has a hole at key 4 and its last key is padding.
                    : b == 0 ? (j < 2 ? 0 : 1) : (j == 4 || j == shape.KeyLength - 1 ? 0 : 1);
        int[]? sources = !c.SourceLengths ? null : c.Layout == Layout.Square ? [7, 4] : [11, 13];
        var window = c.Window switch
        {
            Window.TwoSided => new AttentionWindow(3, 2),
            Window.OneSided => new AttentionWindow(4, 0),
            Window.OneSidedOverValidKeys => new AttentionWindow(4, 0) { CountsValidKeys = true },
            _ => (AttentionWindow?)null,
        };
        float[]? biasData = null;
        Tensor? owned = null;
        var bias = AttentionBias.None;
        switch (c.Bias)
        {
            case AttentionBiasKind.Alibi:
                bias = AttentionBias.Alibi(Reference.Random(heads, 5));
                break;
            case AttentionBiasKind.RelativePositionBuckets:
                biasData = Reference.Random(Buckets * heads, 6, 2f);
                owned = be.Upload(biasData, Buckets, heads);
                bias = AttentionBias.RelativePositionBuckets(owned, c.BidirectionalBuckets, Buckets, MaxDistance);
                break;
            case AttentionBiasKind.Given:
                biasData = Reference.Random(heads * shape.QueryLength * shape.KeyLength, 7, 2f);
                owned = be.Upload(biasData, heads, shape.QueryLength, shape.KeyLength);
                bias = AttentionBias.Given(owned);
                break;
        }
        var mask = new AttentionMask(valid)
        {
            Causal = c.Causal, Window = window, QueryStart = queryStart, SourceLengths = sources,
            Scale = c.UnitScale ? 1f : null, Bias = bias,
        };
        return (shape, mask, biasData, owned);
    }

    /// <summary>
    /// Under Bf16 the GPU backend stores a [buckets, heads] table taken as a weight in bfloat16; attention widens it and
    /// matches the reference over the rounded table.
    /// </summary>
    [TestMethod]
    public void ABFloat16BucketTableIsWidened()
    {
        using var be = TestBackends.IlgpuCpu(4, Precision.Bf16);
        var shape = new AttentionShape(1, 5, 5, 5, 2, 2, HeadDim);
        var table = Reference.Random(Buckets * 2, 8, 2f);
        var rounded = table.Select(x => BitConverter.Int32BitsToSingle((BitConverter.SingleToInt32Bits(x) + 0x7FFF
            + ((BitConverter.SingleToInt32Bits(x) >> 16) & 1)) & unchecked((int)0xFFFF0000))).ToArray();
        using var weight = be.TakeWeight(Tensor.FromArray(table, Buckets, 2));
        Assert.AreEqual(TensorElementType.BFloat16, weight.ElementType, "the table is stored as bfloat16");
        var mask = new AttentionMask(new[] { 1, 1, 1, 1, 1 }) { Bias = AttentionBias.RelativePositionBuckets(weight, true, Buckets, MaxDistance) };
        var q = Reference.Random(5 * 16, 9);
        var kv = Reference.Random(5 * 32, 10);
        using var tq = be.Upload(q, 5, 16);
        using var tkv = be.Upload(kv, 5, 32);
        using var output = be.Allocate(5, 16);
        be.Attention(new ColumnSlice(tq, 0), new ColumnSlice(tkv, 0), new ColumnSlice(tkv, 16), shape, mask, output);
        var expected = Reference.Attention(q, 16, 0, kv, 32, 0, kv, 32, 16, shape, mask, rounded);
        double diff = Reference.MaxAbsDiff(expected, be.Read(output));
        Assert.IsTrue(diff < 1e-4, $"max diff {diff}");
    }

    [TestMethod]
    public void BucketsMatchTheFixtureReadmeAndAFloat32Restatement()
    {
        // ../shared/fixtures/README.md, mt5-tiny: 32 buckets, max distance 128.
        Assert.AreEqual(12, AttentionBias.RelativePositionBucket(-40, true, 32, 128), "encoder −40");
        Assert.AreEqual(26, AttentionBias.RelativePositionBucket(20, true, 32, 128), "encoder +20");
        Assert.AreEqual(14, AttentionBias.RelativePositionBucket(-70, true, 32, 128), "encoder −70");
        Assert.AreEqual(23, AttentionBias.RelativePositionBucket(-40, false, 32, 128), "decoder −40");
        Assert.AreEqual(0, AttentionBias.RelativePositionBucket(5, false, 32, 128), "decoder: later keys are bucket 0");
        foreach (var (buckets, maxDistance) in new[] { (32, 128), (64, 256), (8, 12), (16, 40), (33, 100), (2, 7) })
            foreach (bool bidirectional in new[] { true, false })
            {
                if (bidirectional && buckets < 4) continue;
                for (int offset = -3000; offset <= 3000; offset++)
                {
                    int expected = Reference.T5Bucket(offset, bidirectional, buckets, maxDistance);
                    int actual = AttentionBias.RelativePositionBucket(offset, bidirectional, buckets, maxDistance);
                    if (actual != expected)
                        Assert.Fail($"{buckets} buckets, max distance {maxDistance}, bidirectional {bidirectional}, offset {offset}: {actual}, expected {expected}");
                }
            }
        var e = Assert.ThrowsException<ArgumentOutOfRangeException>(() => AttentionBias.RelativePositionBucket(3, true, 2, 128));
        StringAssert.Contains(e.Message, "fewer than 2 per direction");
    }

    [TestMethod]
    public void AlibiSlopesAreBlooms()
    {
        static float[] Powers(params double[] exponents) => exponents.Select(x => (float)Math.Pow(2, x)).ToArray();
        CollectionAssert.AreEqual(Powers(-2, -4, -6, -8), AttentionBias.AlibiSlopes(4), "4 heads");
        CollectionAssert.AreEqual(Powers(-2, -4, -6, -8, -1, -3), AttentionBias.AlibiSlopes(6), "6 heads");
        CollectionAssert.AreEqual(Powers(-1, -2, -3, -4, -5, -6, -7, -8), AttentionBias.AlibiSlopes(8), "8 heads");
        // 12 heads: 2^(−i) for i = 1…8, then 2^(−(2j−1)/2) for j = 1…4, powers of a float32 base as torch takes them.
        var twelve = AttentionBias.AlibiSlopes(12);
        var expected = Powers(-1, -2, -3, -4, -5, -6, -7, -8, -0.5, -1.5, -2.5, -3.5);
        for (int h = 0; h < 12; h++)
            Assert.AreEqual(expected[h], twelve[h], 2e-7 * expected[h], $"12 heads, head {h}");
        CollectionAssert.AreEqual(Powers(-8), AttentionBias.AlibiSlopes(1), "1 head: c = 1");
    }

    [TestMethod]
    public void BadMasksAreRejectedInOneLine()
    {
        using var be = new CpuBackend(1, GemmPath.Managed);
        var shape = new AttentionShape(1, 2, 3, 3, 2, 2, 4);
        using var q = Tensor.Zeros(2, 8);
        using var kv = Tensor.Zeros(3, 8);
        using var output = Tensor.Zeros(2, 8);
        using var table = Tensor.Zeros(8, 3);
        using var given = Tensor.Zeros(2, 2, 4);
        var valid = new[] { 1, 1, 1 };
        foreach (var (mask, message) in new (AttentionMask, string)[]
        {
            (new AttentionMask(valid) { Bias = AttentionBias.Alibi(new[] { 1f, 2f, 3f }) }, "3 ALiBi slopes for 2 query heads"),
            (new AttentionMask(valid) { Bias = AttentionBias.Alibi(new[] { 1f, float.NaN }) }, "ALiBi slope NaN is not finite"),
            (new AttentionMask(valid) { Bias = AttentionBias.RelativePositionBuckets(table, true, 8, 20) }, "should be [8 buckets, 2 query heads]"),
            (new AttentionMask(valid) { Bias = AttentionBias.RelativePositionBuckets(table, true, 16, 20) }, "[8, 3]"),
            (new AttentionMask(valid) { Bias = AttentionBias.Given(given) }, "should be [2 query heads, 2 queries, 3 keys]"),
            (new AttentionMask(valid) { Window = new AttentionWindow(-1, 2) }, "window sides must be ≥ 0, got -1 before and 2 after"),
            (new AttentionMask(valid) { Scale = float.PositiveInfinity }, "Attention: scale "),
            (new AttentionMask(valid) { QueryStart = -1 }, "query start -1 is negative"),
            (new AttentionMask(valid) { Window = new AttentionWindow(2, 0) { CountsValidKeys = true }, Bias = AttentionBias.Given(given) },
                "a window over valid keys cannot be combined with a Given bias"),
            (new AttentionMask(valid) { Window = new AttentionWindow(2, 0) { CountsValidKeys = true }, QueryStart = 2 },
                "a window over valid keys needs the queries among the keys, but queries 2…3 pass the 3 keys"),
        })
        {
            var e = Assert.ThrowsException<ArgumentException>(
                () => be.Attention(new ColumnSlice(q, 0), new ColumnSlice(kv, 0), new ColumnSlice(kv, 0), shape, mask, output));
            StringAssert.Contains(e.Message, message);
            Assert.IsFalse(e.Message.Contains('\n'), e.Message);
        }
    }

    /// <summary>
    /// A given bias may hide a visible key with −∞ (an additive mask): a query all of whose keys are hidden that way gets
    /// zeros like one that sees no key, on every backend.
    /// </summary>
    [TestMethod]
    [DynamicData(nameof(Backends), DynamicDataSourceType.Method)]
    public void AGivenMinusInfinityHidesKeys(string name, Func<IBackend> create)
    {
        using var be = create();
        var shape = new AttentionShape(1, 2, 3, 3, 1, 1, 4);
        float inf = float.NegativeInfinity;
        var biasData = new[] { 0f, inf, 0f, /* query 1: */ inf, inf, inf };
        using var bias = be.Upload(biasData, 1, 2, 3);
        var q = Reference.Random(2 * 4, 11);
        var kv = Reference.Random(3 * 8, 12);
        using var tq = be.Upload(q, 2, 4);
        using var tkv = be.Upload(kv, 3, 8);
        using var output = be.Allocate(2, 4);
        var mask = new AttentionMask(new[] { 1, 1, 1 }) { Bias = AttentionBias.Given(bias) };
        be.Attention(new ColumnSlice(tq, 0), new ColumnSlice(tkv, 0), new ColumnSlice(tkv, 4), shape, mask, output);
        var actual = be.Read(output);
        var expected = Reference.Attention(q, 4, 0, kv, 8, 0, kv, 8, 4, shape, mask, biasData);
        Assert.IsTrue(Reference.MaxAbsDiff(expected, actual) < 1e-5, $"{name}: {string.Join(", ", actual)}");
        CollectionAssert.AreEqual(new float[4], actual[4..], $"{name}: the query whose keys are all hidden");
    }
}
