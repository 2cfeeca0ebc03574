using Eval.Engine;
using Eval.Engine.Gpu;
using Eval.Models;

namespace Eval.Tests.Engine;

/// <summary>
/// GEMM inputs in bfloat16 (<see cref="IBackend.AllocateGemmInput"/>): under bf16 the norms, activations and Linear
/// epilogues write a Linear's input as bfloat16, rounded as the conversion kernel rounds, so the GEMM gets the very bits it
/// got from the float32 tensor and its conversion — on every fixture model, through cuBLAS and through the tiled GEMM.
/// </summary>
[TestClass]
public sealed class GemmInputTests
{
    [TestMethod]
    [DataRow("modernbert-tiny")]
    [DataRow("modernbert-decoder-tiny")]
    [DataRow("xlmr-tiny")]
    [DataRow("xlmr-xl-tiny")]
    [DataRow("bert-tiny")]
    [DataRow("llama-tiny")]
    [DataRow("qwen2-tiny")]
    [DataRow("bloom-tiny")]
    [DataRow("mt5-tiny")]
    public void BFloat16GemmInputsGiveTheBitsOfTheConversion(string fixture)
    {
        var dir = SharedFixtures.Model(fixture);
        var batch = SharedFixtures.GoldenBatch(fixture);
        foreach (var (name, create) in new (string, Func<IlgpuBackend>)[]
                 {
                     ("cublas", () => TestBackends.IlgpuCpuCublas(4, Precision.Bf16)), ("tiled", () => TestBackends.IlgpuCpu(4, Precision.Bf16)),
                 })
        {
            float[] LastHidden(bool gemmInputsInBFloat16)
            {
                using var backend = create();
                backend.GemmInputsInBFloat16 = gemmInputsInBFloat16;
                using var model = ModelLoader.Load(dir, backend);
                using var output = model.Forward(batch);
                using var host = backend.CopyToHost(output.LastHidden);
                return host.Span.ToArray();
            }
            CollectionAssert.AreEqual(LastHidden(false), LastHidden(true), $"{fixture} ({name}): the same bits");
        }
    }

    /// <summary>Only the GPU backend under bf16 stores them as bfloat16; a float32 op refuses one in a line naming it.</summary>
    [TestMethod]
    public void OnlyBf16StoresThemAsBFloat16AndFloat32OpsRefuseThem()
    {
        using (var fp32 = TestBackends.IlgpuCpu(1))
        using (var t = fp32.AllocateGemmInput(2, 3)) Assert.AreEqual(TensorElementType.Float32, t.ElementType);
        using (var cpu = TestBackends.Cpu())
        using (var t = cpu.AllocateGemmInput(2, 3)) Assert.AreEqual(TensorElementType.Float32, t.ElementType);
        using var bf16 = TestBackends.IlgpuCpu(1, Precision.Bf16);
        using var input = bf16.AllocateGemmInput(2, 3);
        Assert.AreEqual(TensorElementType.BFloat16, input.ElementType);
        using var y = bf16.Allocate(2, 3);
        var error = Assert.ThrowsException<ArgumentException>(() => bf16.Add(input, input, y));
        StringAssert.Contains(error.Message, "is stored as bfloat16; this operation needs float32");
    }
}
