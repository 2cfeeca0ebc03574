using Eval.Engine;
using Eval.Engine.Gpu;

namespace Eval.Tests.Engine;

/// <summary>
/// How the GPU backend's attention chooses its path (the stand-in cuBLAS on the CPU accelerator): the tensor-core path in
/// as many steps as the score budget asks, the same numbers whatever the steps, and the flash kernel when one sequence's
/// scores exceed the budget; the grouping of the batched products. AttentionOpTests checks the numbers of every mask.
/// </summary>
[TestClass]
public sealed class TensorCoreAttentionTests
{
    private static readonly AttentionShape Shape = new(Batch: 5, QueryLength: 7, KeyLength: 7, KeyRowsPerBatch: 7, QueryHeads: 4, KeyValueHeads: 2, HeadDim: 8);

    /// <summary>Bytes of one sequence's float32 scores for <see cref="Shape"/>.</summary>
    private const long SequenceScores = 4 * 7 * 7 * sizeof(float);

    private static (float[] Output, IReadOnlyList<string> Launches) Run(long budget)
    {
        using var be = TestBackends.IlgpuCpuCublas(4, Precision.Fp32, budget);
        var s = Shape;
        int cols = (s.QueryHeads + 2 * s.KeyValueHeads) * s.HeadDim;
        var qkv = Reference.Random(s.Batch * s.QueryLength * cols, 17);
        var valid = Reference.KeyValid(s.Batch, s.KeyRowsPerBatch, s.KeyLength, 2);
        using var t = be.Upload(qkv, s.Batch * s.QueryLength, cols);
        using var output = be.Allocate(s.Batch * s.QueryLength, s.QueryHeads * s.HeadDim);
        be.Launches.Recording = true;
        var mask = new AttentionMask(valid) { Causal = true, Bias = AttentionBias.Alibi(AttentionBias.AlibiSlopes(s.QueryHeads)) };
        be.Attention(new ColumnSlice(t, 0), new ColumnSlice(t, s.QueryHeads * s.HeadDim), new ColumnSlice(t, (s.QueryHeads + s.KeyValueHeads) * s.HeadDim),
            s, mask, output);
        var result = be.Read(output);
        var expected = Reference.Attention(qkv, cols, 0, qkv, cols, s.QueryHeads * s.HeadDim, qkv, cols, (s.QueryHeads + s.KeyValueHeads) * s.HeadDim, s, mask);
        Assert.IsTrue(Reference.MaxAbsDiff(expected, result) < 1e-4, $"budget {budget}: max diff {Reference.MaxAbsDiff(expected, result)}");
        return (result, be.Launches.Entries.ToList());
    }

    [TestMethod]
    public void TheBudgetSplitsTheBatchIntoStepsWithTheSameNumbers()
    {
        var (whole, oneStep) = Run(IlgpuBackend.DefaultAttentionScoreBudget);
        Assert.AreEqual(1, oneStep.Count(e => e == nameof(IlgpuMaskedSoftmax)), "one step");
        Assert.AreEqual(4, oneStep.Count(e => e == "cublas:attention scores"), "4 query heads ≤ 5 sequences × 2 key/value heads: a call per query head");
        Assert.IsFalse(oneStep.Contains(nameof(IlgpuAttention)));

        var (split, steps) = Run(2 * SequenceScores);
        Assert.AreEqual(3, steps.Count(e => e == nameof(IlgpuMaskedSoftmax)), "5 sequences, 2 per step");
        // 2 sequences × 2 key/value heads = 4 calls either way; the last step's 1 × 2 = 2 calls per group < 4 per head.
        Assert.AreEqual(4 + 4 + 2, steps.Count(e => e == "cublas:attention scores"), string.Join(", ", steps));
        Assert.AreEqual(4 + 4 + 2, steps.Count(e => e == "cublas:attention values"));
        CollectionAssert.AreEqual(whole, split, "the same products per element whatever the steps");
    }

    [TestMethod]
    public void ASequenceOverTheBudgetGoesToTheFlashKernel()
    {
        var (_, launches) = Run(SequenceScores - 1);
        CollectionAssert.AreEqual(new[] { nameof(IlgpuAttention) }, launches.Where(e => e != IlgpuLaunchLog.CopyToHost).ToArray());
    }

    [TestMethod]
    public void TheGroupingWithFewerCallsIsChosen()
    {
        // 16 heads over 400 sequences: 16 calls per query head, not 6400 per (sequence, head).
        Assert.AreEqual(AttentionGemmGrouping.PerQueryHead, AttentionGemmPlan.Choose(AttentionShape.Square(400, 158, 16, 64), 400));
        // A decoding step of one sequence, 32 query heads over 8 key/value heads: 8 calls of 4, not 32 of 1.
        Assert.AreEqual(AttentionGemmGrouping.PerKeyValueGroup, AttentionGemmPlan.Choose(new AttentionShape(1, 1, 40, 64, 32, 8, 64), 1));
        var s = new AttentionShape(1, 1, 40, 64, 32, 8, 64);
        var operands = new AttentionOperands(0x1000, 2048, 0x10000, 512, 0x20000, 512, 0x30000, 0x30000, 0x40000, 2048);
        Assert.AreEqual(8, AttentionGemmPlan.Scores(operands, s, 1, CudaDataType.BFloat16, CublasComputeType.Float32, AttentionGemmGrouping.PerKeyValueGroup).Count);
        Assert.AreEqual(32, AttentionGemmPlan.Values(operands, s, 1, CudaDataType.BFloat16, CublasComputeType.Float32, AttentionGemmGrouping.PerQueryHead).Count);
    }

    /// <summary>EVAL_ATTENTION_SCORE_MIB: unset the default budget, a whole number of MiB (0: the flash kernel always),
    /// anything else a one-line error naming the variable.</summary>
    [TestMethod]
    public void TheScoreBudgetVariableIsReadOrRefused()
    {
        static long Budget(string? value) => IlgpuDevices.AttentionScoreBudget(
            value is null ? new Dictionary<string, string?>() : new Dictionary<string, string?> { [IlgpuDevices.AttentionBudgetVariable] = value });
        Assert.AreEqual(IlgpuBackend.DefaultAttentionScoreBudget, Budget(null));
        Assert.AreEqual(IlgpuBackend.DefaultAttentionScoreBudget, Budget(" "));
        Assert.AreEqual(0, Budget("0"));
        Assert.AreEqual(64L << 20, Budget(" 64 "));
        foreach (var bad in new[] { "-1", "1.5", "2GiB", "99999999999999999" })
        {
            var error = Assert.ThrowsExactly<ArgumentException>(() => Budget(bad), bad);
            StringAssert.StartsWith(error.Message, $"EVAL_ATTENTION_SCORE_MIB={bad}: ");
            Assert.IsFalse(error.Message.Contains('\n'), error.Message);
        }
    }
}
