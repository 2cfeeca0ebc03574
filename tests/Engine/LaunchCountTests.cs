using Eval.Engine;
using Eval.Engine.Gpu;
using Eval.Models;

namespace Eval.Tests.Engine;

/// <summary>
/// Kernel launches and cuBLAS calls per transformer layer on the GPU backend (the stand-in cuBLAS on ILGPU's CPU
/// accelerator, which takes the calls a GPU takes), counted by the backend's own <see cref="IlgpuLaunchLog"/> over a forward
/// of each fixture model's golden batch. A forward that keeps its hidden states reads each layer's output back, which
/// marks the log; the launches between two marks are one layer's. The README's table is these numbers.
/// </summary>
[TestClass]
public sealed class LaunchCountTests
{
    /// <summary>
    /// Our kernel launches per layer under fp32 and bf16 (bf16 adds the conversions of q/k/v for the attention and of the
    /// GEMM inputs that are not written as bfloat16 where they are made — the attention's output, a post-LN residual),
    /// and cuBLAS calls:
    /// 4 Linear GEMMs and 2 × 4 heads for the tensor-core attention. Before the fused ops and the tensor-core attention
    /// (main at c6ff975, same counter) they were, bf16/fp32: ModernBERT 12/8, XLM-R 14/10, XLM-R XL 14/10, Llama 12/8,
    /// Qwen2 13/9 kernels + 4 cuBLAS calls; BLOOM (main at ca42658, counted from its BloomModel: LayerNorm, four Linear
    /// biases, flash attention, GELU, two Adds, LayerNorm) 14/10; mT5 (main at 89eceb5, tensor-core attention already)
    /// fp32 6: RmsNorm, masked softmax, Add, RmsNorm, GatedActivation, Add. Before the norms and activations wrote
    /// bfloat16 GEMM inputs (main at 89ad548) bf16 was: ModernBERT, XLM-R, XLM-R XL, Llama 10, Qwen2 and BLOOM 11, mT5 10.
    /// </summary>
    [TestMethod]
    [DataRow("modernbert-tiny", 5, 7)]
    [DataRow("xlmr-tiny", 5, 9)]
    [DataRow("xlmr-xl-tiny", 5, 7)]
    [DataRow("llama-tiny", 5, 7)]
    [DataRow("qwen2-tiny", 6, 8)]
    // bloom-tiny has two layers, each the first or the last: the counted one is the last, whose residual add stays apart
    // from the final norm (+ the down projection's AddBias and an Add); a middle layer of a deeper BLOOM fuses it (5/10).
    [DataRow("bloom-tiny", 6, 10)]
    // mT5's encoder (T5's RMSNorm without mean, gated GELU); the decoder fuses its cross-attention's norm the same way.
    [DataRow("mt5-tiny", 4, 7)]
    public void KernelLaunchesPerLayer(string fixture, int fp32Kernels, int bf16Kernels)
    {
        foreach (var (precision, expected) in new[] { (Precision.Fp32, fp32Kernels), (Precision.Bf16, bf16Kernels) })
        {
            var perLayer = CountLayer(fixture, precision);
            var names = string.Join(", ", perLayer.Names);
            Console.WriteLine($"{fixture} ({precision}): {perLayer.Kernels} kernels + {perLayer.Cublas} cuBLAS calls per layer: {names}");
            Assert.AreEqual(expected, perLayer.Kernels, $"{fixture} {precision}: {names}");
            Assert.AreEqual(4 + 2 * 4, perLayer.Cublas, $"{fixture} {precision}: {names}");
        }
    }

    /// <summary>
    /// RoPE's cos/sin tables are built on the host once per frequency set (ModernBERT: the global and the local θ; Llama:
    /// one), not per layer or per batch: a second forward over batches of other sizes and lengths builds none.
    /// </summary>
    [TestMethod]
    [DataRow("modernbert-tiny", 2)]
    [DataRow("llama-tiny", 1)]
    public void RotaryTablesAreBuiltOncePerFrequencySet(string fixture, int frequencySets)
    {
        var dir = SharedFixtures.Model(fixture);
        using var backend = TestBackends.IlgpuCpu(4);
        using var model = ModelLoader.Load(dir, backend);
        var golden = SharedFixtures.GoldenBatch(fixture);
        var ids = golden.Ids;
        using (model.Forward(golden)) { }
        Assert.AreEqual(frequencySets, backend.Launches.RotaryTables, $"{fixture}: tables after the first forward");
        foreach (var (batch, length) in new[] { (1, 3), (3, 9), (2, golden.Length) })
        {
            var batchIds = Enumerable.Range(0, batch * length).Select(i => ids[i % ids.Length]).ToArray();
            using (model.Forward(new TokenBatch(batchIds, Enumerable.Repeat(1, batch * length).ToArray(), batch, length))) { }
        }
        Assert.AreEqual(frequencySets, backend.Launches.RotaryTables, $"{fixture}: tables after forwards of other shapes");
    }

    /// <summary>One layer's launches (a middle layer: each layer after the first looks the same).</summary>
    internal static (int Kernels, int Cublas, IReadOnlyList<string> Names) CountLayer(string fixture, Precision precision)
    {
        var dir = SharedFixtures.Model(fixture);
        using var backend = TestBackends.IlgpuCpuCublas(4, precision);
        using var model = ModelLoader.Load(dir, backend);
        var batch = SharedFixtures.GoldenBatch(fixture);
        backend.Launches.Recording = true;
        using (model.Forward(batch, keepHiddenStates: true)) { }
        var segments = new List<List<string>> { new() };
        foreach (var entry in backend.Launches.Entries)
            if (entry == IlgpuLaunchLog.CopyToHost) segments.Add([]);
            else segments[^1].Add(entry);
        // segments[0]: the embeddings; segments[l + 1]: what ran between the read-backs of layers l − 1 and l.
        int layers = model.Config.NumHiddenLayers;
        Assert.AreEqual(layers + 2, segments.Count, $"{fixture}: one read-back after the embeddings and after each layer");
        var middle = segments[1 + layers / 2];
        return (middle.Count(n => !n.StartsWith("cublas:")), middle.Count(n => n.StartsWith("cublas:")), middle);
    }
}
