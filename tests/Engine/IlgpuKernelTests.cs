using Eval.Engine;
using Eval.Engine.Gpu;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Eval.Tests.Engine;

/// <summary>
/// The GPU backend's ILGPU kernels on ILGPU's CPU accelerator, against the double-precision references, for small
/// group sizes (1, 4, 8 exercise the strided loops and barriers; 16 also takes the GEMM's shared-memory tiled path).
/// Their PTX is checked with every other kernel's in <see cref="PtxGenerationTests"/>.
/// </summary>
[TestClass]
public sealed class IlgpuKernelTests
{
    // 1, 4 and 8 run the strided loops and barriers with idle, partial and full threads; 16 is the smallest group that
    // takes the GEMM's shared-memory tiled path (the attention kernel has a single path, covered by 4 and 8).
    private static readonly int[] AttentionGroupSizes = [1, 4, 8];
    private static readonly int[] LinearGroupSizes = [1, 4, 8, 16];

    // One context and accelerator for the class: creating them and compiling kernels is most of the cost.
    private static Context? context;
    private static CPUAccelerator? accelerator;

    private static Accelerator Accelerator => accelerator ?? throw new InvalidOperationException("class not initialised");

    [ClassInitialize]
    public static void StartAccelerator(TestContext _)
    {
        // Assertions make the CPU accelerator check every view access, so an out-of-range index fails the test.
        context = Context.Create(b => b.CPU().Assertions());
        accelerator = context.CreateCPUAccelerator(0);
    }

    [ClassCleanup]
    public static void StopAccelerator()
    {
        accelerator?.Dispose();
        context?.Dispose();
    }

    public static IEnumerable<object[]> AttentionCases() =>
        BackendOpsTests.AttentionCases().Concat(
        [
            // name, batch, qLen, kLen, kvRows, heads, kvHeads, d, causal, window, queryStart, padTail, sourceLength (0: none)
            ["long keys, several blocks", 2, 3, 700, 704, 2, 1, 16, false, -1, 0, 37, 0],
            ["head size 128 causal gqa", 1, 20, 20, 20, 4, 2, 128, true, -1, 0, 3, 0],
            ["head size 256 window after cache", 1, 6, 90, 96, 2, 2, 256, false, 30, 84, 0, 0],
        ]);

    [TestMethod]
    [DynamicData(nameof(AttentionCases), DynamicDataSourceType.Method)]
    public void AttentionMatchesReference(string caseName, int batch, int qLen, int kLen, int kvRows, int heads, int kvHeads,
        int d, bool causal, int window, int queryStart, int padTail, int sourceLength)
    {
        var shape = new AttentionShape(batch, qLen, kLen, kvRows, heads, kvHeads, d);
        var mask = new AttentionMask(Reference.KeyValid(batch, kvRows, kLen, padTail))
        {
            Causal = causal, Window = window >= 0 ? AttentionWindow.Symmetric(window) : null, QueryStart = queryStart,
            // The second batch element's source is shorter, so the boundary falls inside a group's rows there.
            SourceLengths = Reference.SourceLengths(batch, sourceLength),
        };
        CheckAttention(Accelerator, AttentionGroupSizes, caseName, shape, mask);
    }

    private static readonly (int N, int M, int K)[] LinearShapes =
        [(1, 1, 1), (1, 7, 3), (7, 13, 5), (6, 16, 256), (65, 96, 130), (97, 203, 600), (2, 500, 64)];

    public static IEnumerable<object[]> LinearCases() =>
        LinearGroupSizes.SelectMany(g => new[] { false, true }.Select(bf16 => new object[] { g, bf16 }));

    [TestMethod]
    [DynamicData(nameof(LinearCases), DynamicDataSourceType.Method)]
    public void LinearMatchesReference(int groupSize, bool bf16Weights)
    {
        // The tiled path pays two barriers per 16-deep k step and tile, and a barrier of 16 OS threads costs ~0.3 ms on
        // the CPU accelerator: 97×203×600 alone would take seconds. The smaller shapes cover its row, column and k tails.
        var shapes = IlgpuGemm.IsTiled(groupSize) ? LinearShapes.Where(s => (long)s.N * s.M * s.K < 2_000_000) : LinearShapes;
        CheckLinear(Accelerator, groupSize, bf16Weights, shapes);
    }

    /// <summary>
    /// CUDA's group sizes on a CPU device as wide as a CUDA block (8 warps of 32), so the tiled GEMM's multi-row thread
    /// layouts (128: 8 rows of threads, 256: 16) and the attention kernel with more threads than work per phase run
    /// somewhere without a GPU. Every barrier of 256 OS threads costs tens of milliseconds on a small machine, so the
    /// shapes are the smallest that still span two column tiles, a k tail, two key blocks and GQA.
    /// </summary>
    [TestMethod]
    public void CudaGroupSizesMatchReferenceOnAWideCpuDevice()
    {
        using var wideContext = Context.Create(b => b.CPU(new CPUDevice(numThreadsPerWarp: 32, numWarpsPerMultiprocessor: 8, numMultiprocessors: 1)).Assertions());
        using var wide = wideContext.CreateCPUAccelerator(0);
        CheckLinear(wide, 128, bf16Weights: false, [(40, 70, 20)]);
        CheckLinear(wide, 256, bf16Weights: false, [(40, 70, 20)]);
        CheckLinear(wide, 256, bf16Weights: true, [(40, 70, 20)]);
        var shape = new AttentionShape(2, 4, 100, 104, 4, 2, 64);
        var valid = Reference.KeyValid(2, 104, 100, 5);
        CheckAttention(wide, [256], "kv cache chunk, two key blocks", shape, new AttentionMask(valid) { Causal = true, QueryStart = 96 });
        // Eight rows of 32 lanes, with a one-sided window (a causal one, as the Ettin decoder's) over both blocks and ALiBi.
        CheckAttention(wide, [256], "kv cache chunk, one-sided window and ALiBi", shape, new AttentionMask(valid)
        {
            QueryStart = 96, Window = new AttentionWindow(70, 0), Bias = AttentionBias.Alibi(AttentionBias.AlibiSlopes(4)),
        });
    }

    /// <summary>
    /// Group sizes of 2 and 16 with few rows per group, so that several lanes share a row in the score and softmax
    /// phases (the 1-, 4- and 8-thread groups of the other cases mostly give each row one lane), with each bias.
    /// </summary>
    [TestMethod]
    public void LanesSharingARowMatchReference()
    {
        var valid = Reference.KeyValid(2, 140, 130, 9);
        var decode = new AttentionShape(2, 1, 130, 140, 4, 4, 8);
        var chunk = new AttentionShape(2, 3, 130, 140, 4, 2, 8);
        var table = Reference.Random(16 * 4, 41, 2f);
        foreach (var shape in new[] { decode, chunk })
        {
            var given = Reference.Random(4 * shape.QueryLength * 130, 42, 2f);
            var start = 130 - shape.QueryLength;
            CheckAttention(Accelerator, [2, 16], $"{shape.QueryLength} queries, ALiBi", shape,
                new AttentionMask(valid) { Causal = true, QueryStart = start, Bias = AttentionBias.Alibi(new[] { 0.5f, -0.25f, 0.125f, 1f }) });
            CheckAttention(Accelerator, [2, 16], $"{shape.QueryLength} queries, causal buckets", shape,
                new AttentionMask(valid) { Causal = true, QueryStart = start, Scale = 1f,
                    Bias = AttentionBias.RelativePositionBuckets(Tensor.FromArray(table, 16, 4), false, 16, 40) }, table);
            CheckAttention(Accelerator, [2, 16], $"{shape.QueryLength} queries, given bias, two-sided window", shape,
                new AttentionMask(valid) { QueryStart = start, Window = new AttentionWindow(50, 3),
                    Bias = AttentionBias.Given(Tensor.FromArray(given, 4, shape.QueryLength, 130)) }, given);
        }
    }

    /// <summary>
    /// The kernel against the reference for one mask. A bias's tensor in the mask may be a host tensor: the kernel reads
    /// <paramref name="biasData"/> (the table or the given bias) from a buffer of its own.
    /// </summary>
    private static void CheckAttention(Accelerator accelerator, int[] groupSizes, string caseName, AttentionShape shape,
        AttentionMask mask, float[]? biasData = null)
    {
        var (batch, qLen, kLen, kvRows, heads, kvHeads, d) = shape;
        // q is the first part of a fused projection read from column 1; k and v share rows; the output is wider than the heads.
        int qOffset = 1, qCols = heads * d + 2 * kvHeads * d + 3, kvCols = 2 * kvHeads * d + 1, vOffset = kvHeads * d + 1;
        int outWidth = heads * d, ldo = outWidth + 5;
        var q = Reference.Random(batch * qLen * qCols, 1, 2f);
        var kv = Reference.Random(batch * kvRows * kvCols, 2, 2f);
        var expected = Reference.Attention(q, qCols, qOffset, kv, kvCols, 0, kv, kvCols, vOffset, shape, mask, biasData);
        var rule = AttentionRule.Create(shape, mask);
        var strides = new AttentionStrides(qCols, kvCols, kvCols, ldo);
        var biasValues = mask.Bias.Kind == AttentionBiasKind.Alibi ? mask.Bias.Slopes.ToArray() : biasData ?? [0f];
        var biasIndices = AttentionRule.BiasIndices(shape, mask);

        using var qBuffer = accelerator.Allocate1D(q);
        using var kvBuffer = accelerator.Allocate1D(kv);
        using var validBuffer = accelerator.Allocate1D(mask.KeyValid.ToArray());
        using var sourceBuffer = accelerator.Allocate1D(mask.SourceLengths.IsEmpty ? [0] : mask.SourceLengths.ToArray());
        using var biasValueBuffer = accelerator.Allocate1D(biasValues);
        using var biasIndexBuffer = accelerator.Allocate1D(biasIndices.Length == 0 ? [0] : biasIndices);
        foreach (int groupSize in groupSizes)
        {
            var attention = new IlgpuAttention(accelerator, groupSize);
            var sentinel = Enumerable.Repeat(-7f, batch * qLen * ldo).ToArray();
            using var outBuffer = accelerator.Allocate1D(sentinel);
            attention.Run(accelerator.DefaultStream,
                qBuffer.View.SubView(qOffset, q.Length - qOffset), kvBuffer.View, kvBuffer.View.SubView(vOffset, kv.Length - vOffset),
                validBuffer.View, sourceBuffer.View, biasValueBuffer.View, biasIndexBuffer.View, outBuffer.View, rule, strides);
            var output = outBuffer.GetAsArray1D();
            var actual = Columns(output, ldo, outWidth);
            string name = $"{caseName}, group size {groupSize}";
            double diff = Reference.MaxAbsDiff(expected, actual);
            Assert.IsTrue(diff < 1e-4, $"{name}: max diff {diff}");
            AssertUntouched(output, sentinel, ldo, outWidth, name);
            if (mask.Causal && mask.QueryStart < kLen - 1)
            {
                // The comparison can fail: where the causal mask hides keys, dropping it gives a clearly different answer.
                var unmasked = Reference.Attention(q, qCols, qOffset, kv, kvCols, 0, kv, kvCols, vOffset, shape, mask with { Causal = false }, biasData);
                Assert.IsTrue(Reference.MaxAbsDiff(unmasked, actual) > 1e-2, $"{name}: dropping the causal flag went unnoticed");
            }
        }
    }

    private static void CheckLinear(Accelerator accelerator, int groupSize, bool bf16Weights, IEnumerable<(int N, int M, int K)> shapes)
    {
        var gemm = new IlgpuGemm(accelerator, groupSize);
        foreach (var (n, m, k) in shapes)
        {
            // Leading dimensions wider than the rows, to exercise the strides.
            int ldx = k + 3, ldw = k + 2, ldy = m + 5;
            var x = Reference.Random(n * ldx, n + m + k);
            var w = Reference.Random(m * ldw, 7 * m + k);
            var bias = Reference.Random(m, 3);
            var wBits = w.Select(BFloat16Bits).ToArray();
            // bf16 weights are compared with the product of the rounded weights and the rounded x: the kernel must widen
            // the weights exactly and round x to bfloat16 as cuBLAS's bfloat16 GEMM gets it.
            var xOperand = x;
            if (bf16Weights)
            {
                w = wBits.Select(bits => BitConverter.Int32BitsToSingle(bits << 16)).ToArray();
                xOperand = x.Select(v => BitConverter.Int32BitsToSingle(BFloat16Bits(v) << 16)).ToArray();
            }
            var product = Columns(Reference.Gemm(false, true, n, m, k, 1f, xOperand, ldx, w, ldw, 0f, new float[n * ldy], ldy), ldy, m);
            var unroundedProduct = bf16Weights
                ? Columns(Reference.Gemm(false, true, n, m, k, 1f, x, ldx, w, ldw, 0f, new float[n * ldy], ldy), ldy, m)
                : product;
            using var xBuffer = accelerator.Allocate1D(x);
            using var wBuffer = accelerator.Allocate1D(w);
            using var wBitsBuffer = accelerator.Allocate1D(wBits);
            using var biasBuffer = accelerator.Allocate1D(bias);
            foreach (bool withBias in new[] { false, true })
            {
                var expected = withBias ? product.Select((value, i) => value + bias[i % m]).ToArray() : product;
                var sentinel = Enumerable.Repeat(-7f, n * ldy).ToArray();
                using var yBuffer = accelerator.Allocate1D(sentinel);
                if (bf16Weights)
                    gemm.LinearBf16Weight(accelerator.DefaultStream, xBuffer.View, ldx, wBitsBuffer.View, ldw, biasBuffer.View, withBias,
                        yBuffer.View, ldy, n, m, k);
                else
                    gemm.Linear(accelerator.DefaultStream, xBuffer.View, ldx, wBuffer.View, ldw, biasBuffer.View, withBias,
                        yBuffer.View, ldy, n, m, k);
                var y = yBuffer.GetAsArray1D();
                var actual = Columns(y, ldy, m);
                string name = $"group size {groupSize} bf16={bf16Weights} {n}x{m}x{k} bias={withBias}";
                double diff = Reference.MaxAbsDiff(expected, actual);
                Assert.IsTrue(diff < 1e-4 * Math.Sqrt(k), $"{name}: max diff {diff}");
                AssertUntouched(y, sentinel, ldy, m, name);
                // The comparison can fail: leaving the bias out is far outside the tolerance.
                if (withBias) Assert.IsTrue(Reference.MaxAbsDiff(product, actual) > 1e-2, $"{name}: a missing bias went unnoticed");
                // ... and so is a float32 x against bfloat16 weights (x's rounding moves a k-long sum by ~2⁻⁹·√k).
                if (bf16Weights && k >= 64 && !withBias)
                    Assert.IsTrue(Reference.MaxAbsDiff(unroundedProduct, actual) > 4e-4 * Math.Sqrt(k), $"{name}: x was not rounded to bfloat16");
            }
        }
    }

    /// <summary>Rounds to the nearest bfloat16, ties to even, through the bits (the values here are finite).</summary>
    private static ushort BFloat16Bits(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    /// <summary>The first <paramref name="width"/> columns of a row-major matrix with leading dimension <paramref name="ld"/>.</summary>
    private static float[] Columns(float[] matrix, int ld, int width) =>
        Enumerable.Range(0, matrix.Length / ld).SelectMany(r => matrix.Skip(r * ld).Take(width)).ToArray();

    private static void AssertUntouched(float[] actual, float[] sentinel, int ld, int width, string name)
    {
        for (int i = 0; i < actual.Length; i++)
            if (i % ld >= width && actual[i] != sentinel[i])
                Assert.Fail($"{name}: wrote outside the output at ({i / ld}, {i % ld})");
    }
}
