using ILGPU;
using ILGPU.Runtime;

namespace Eval.Engine.Gpu;

/// <summary>
/// The ops whose output may be a GEMM input (<see cref="IBackend.AllocateGemmInput"/>): the norms, the activations and a
/// Linear's bias-and-activation epilogue. Each writes float32, or — into a bfloat16 GEMM input under bf16 — bfloat16
/// rounded as <see cref="IlgpuKernels.ConvertToBFloat16"/> rounds, which the next Linear hands to cuBLAS as it is: one
/// launch and one pass over the activation fewer per GEMM input, and the same bits.
/// </summary>
public sealed partial class IlgpuBackend
{
    private readonly OutputKernels outputs;

    /// <summary>Whether <see cref="AllocateGemmInput"/> stores bfloat16 under <see cref="Precision.Bf16"/> (the default; off, to compare against the conversion path).</summary>
    public bool GemmInputsInBFloat16 { get; set; } = true;

    public Tensor AllocateGemmInput(params int[] shape) => Precision == Precision.Bf16 && GemmInputsInBFloat16
        ? NewTensor(shape, bfloat16: true, "a GEMM input", sizeClass: true)
        : Allocate(shape);

    public void LayerNorm(Tensor x, Tensor? weight, Tensor? bias, float epsilon, Tensor y)
    {
        OpChecks.SameShape(x, y, nameof(LayerNorm));
        Launches.Kernel(nameof(IlgpuKernels.LayerNorm));
        var shape = new RowShape(x.Rows, x.Columns, x.Columns);
        int hasWeight = weight is null ? 0 : 1, hasBias = bias is null ? 0 : 1;
        if (IsBFloat16(y))
            outputs.LayerNormBf16(RowLaunch(x.Rows), Floats(x), Optional(weight), Optional(bias), new BFloat16Output(BFloat16(y)), shape, hasWeight, hasBias, epsilon);
        else
            outputs.LayerNorm(RowLaunch(x.Rows), Floats(x), Optional(weight), Optional(bias), new Float32Output(Floats(y)), shape, hasWeight, hasBias, epsilon);
    }

    public void RmsNorm(Tensor x, Tensor weight, float epsilon, Tensor y)
    {
        OpChecks.SameShape(x, y, nameof(RmsNorm));
        Launches.Kernel(nameof(IlgpuKernels.RmsNorm));
        var shape = new RowShape(x.Rows, x.Columns, x.Columns);
        if (IsBFloat16(y)) outputs.RmsNormBf16(RowLaunch(x.Rows), Floats(x), Floats(weight), new BFloat16Output(BFloat16(y)), shape, epsilon);
        else outputs.RmsNorm(RowLaunch(x.Rows), Floats(x), Floats(weight), new Float32Output(Floats(y)), shape, epsilon);
    }

    public void AddLayerNorm(Tensor residual, Tensor x, Tensor? xBias, Tensor? weight, Tensor? bias, float epsilon, Tensor y)
    {
        OpChecks.AddNorm(residual, x, y, nameof(AddLayerNorm), ("x bias", xBias), ("weight", weight), ("bias", bias));
        int flags = (xBias is null ? 0 : IlgpuKernels.HasXBias) | (weight is null ? 0 : IlgpuKernels.HasWeight) | (bias is null ? 0 : IlgpuKernels.HasBias);
        Launches.Kernel(nameof(IlgpuKernels.AddLayerNorm));
        var shape = new RowShape(residual.Rows, residual.Columns, residual.Columns);
        if (IsBFloat16(y))
            outputs.AddLayerNormBf16(RowLaunch(residual.Rows), Floats(residual), Floats(x), Optional(xBias), Optional(weight), Optional(bias),
                new BFloat16Output(BFloat16(y)), shape, flags, epsilon);
        else
            outputs.AddLayerNorm(RowLaunch(residual.Rows), Floats(residual), Floats(x), Optional(xBias), Optional(weight), Optional(bias),
                new Float32Output(Floats(y)), shape, flags, epsilon);
    }

    public void AddRmsNorm(Tensor residual, Tensor x, Tensor weight, float epsilon, Tensor y)
    {
        OpChecks.AddNorm(residual, x, y, nameof(AddRmsNorm), ("weight", weight));
        Launches.Kernel(nameof(IlgpuKernels.AddRmsNorm));
        var shape = new RowShape(residual.Rows, residual.Columns, residual.Columns);
        if (IsBFloat16(y))
            outputs.AddRmsNormBf16(RowLaunch(residual.Rows), Floats(residual), Floats(x), Floats(weight), new BFloat16Output(BFloat16(y)), shape, epsilon);
        else
            outputs.AddRmsNorm(RowLaunch(residual.Rows), Floats(residual), Floats(x), Floats(weight), new Float32Output(Floats(y)), shape, epsilon);
    }

    public void Activation(ActivationKind kind, Tensor x, Tensor y)
    {
        OpChecks.SameShape(x, y, nameof(Activation));
        Launches.Kernel(nameof(IlgpuKernels.Activation));
        if (IsBFloat16(y)) outputs.ActivationBf16(ElementLaunch(x.Length), Floats(x), new BFloat16Output(BFloat16(y)), (int)x.Length, KindCode(kind));
        else outputs.Activation(ElementLaunch(x.Length), Floats(x), new Float32Output(Floats(y)), (int)x.Length, KindCode(kind));
    }

    public void GatedActivation(ActivationKind kind, Tensor x, Tensor y)
    {
        OpChecks.GatedActivation(x, y);
        int inner = y.Columns;
        Launches.Kernel(nameof(IlgpuKernels.GatedActivation));
        if (IsBFloat16(y)) outputs.GatedActivationBf16(ElementLaunch(y.Length), Floats(x), new BFloat16Output(BFloat16(y)), y.Rows, inner, KindCode(kind));
        else outputs.GatedActivation(ElementLaunch(y.Length), Floats(x), new Float32Output(Floats(y)), y.Rows, inner, KindCode(kind));
    }

    /// <summary>
    /// With cuBLAS: the GEMM, then bias and activation in one epilogue launch (into a bfloat16 GEMM input y, the GEMM writes
    /// float32 scratch first). With the tiled GEMM: its bias in the GEMM, then the activation.
    /// </summary>
    public void LinearActivation(ActivationKind kind, Tensor x, Tensor weight, Tensor? bias, Tensor y)
    {
        var (n, k, m) = OpChecks.Linear(x, weight, bias, y);
        if (n == 0 || m == 0) return;
        using var product = IsBFloat16(y) ? Allocate(n, m) : null;
        var target = product ?? y;
        bool biasInEpilogue = cublas is not null && bias is not null;
        if (cublas is not null) CublasLinear(x, weight, target, n, m, k);
        else TiledLinear(x, weight, bias, target, n, m, k);
        Launches.Kernel(nameof(IlgpuKernels.BiasActivation));
        var biasView = biasInEpilogue ? Floats(bias!) : uploads.NoFloats;
        if (product is not null)
            outputs.BiasActivationBf16(ElementLaunch(y.Length), Floats(product), biasView, new BFloat16Output(BFloat16(y)), n, m, biasInEpilogue ? 1 : 0, KindCode(kind));
        else
            outputs.BiasActivation(ElementLaunch(y.Length), Floats(y), biasView, new Float32Output(Floats(y)), n, m, biasInEpilogue ? 1 : 0, KindCode(kind));
    }

    private bool IsBFloat16(Tensor t) => Buffer(t).BFloat16 is not null;

    /// <summary>The output-writing kernels, each compiled for a float32 and a bfloat16 output.</summary>
    private sealed class OutputKernels(Accelerator a)
    {
        public readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, Float32Output, RowShape, int, int, float> LayerNorm =
            a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, Float32Output, RowShape, int, int, float>(IlgpuKernels.LayerNorm);
        public readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, BFloat16Output, RowShape, int, int, float> LayerNormBf16 =
            a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, BFloat16Output, RowShape, int, int, float>(IlgpuKernels.LayerNorm);
        public readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, Float32Output, RowShape, float> RmsNorm =
            a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, Float32Output, RowShape, float>(IlgpuKernels.RmsNorm);
        public readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, BFloat16Output, RowShape, float> RmsNormBf16 =
            a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, BFloat16Output, RowShape, float>(IlgpuKernels.RmsNorm);
        public readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Float32Output, RowShape, int, float> AddLayerNorm =
            a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Float32Output, RowShape, int, float>(IlgpuKernels.AddLayerNorm);
        public readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, BFloat16Output, RowShape, int, float> AddLayerNormBf16 =
            a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, BFloat16Output, RowShape, int, float>(IlgpuKernels.AddLayerNorm);
        public readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, Float32Output, RowShape, float> AddRmsNorm =
            a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, Float32Output, RowShape, float>(IlgpuKernels.AddRmsNorm);
        public readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, BFloat16Output, RowShape, float> AddRmsNormBf16 =
            a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, BFloat16Output, RowShape, float>(IlgpuKernels.AddRmsNorm);
        public readonly Action<KernelConfig, ArrayView<float>, Float32Output, int, int> Activation =
            a.LoadStreamKernel<ArrayView<float>, Float32Output, int, int>(IlgpuKernels.Activation);
        public readonly Action<KernelConfig, ArrayView<float>, BFloat16Output, int, int> ActivationBf16 =
            a.LoadStreamKernel<ArrayView<float>, BFloat16Output, int, int>(IlgpuKernels.Activation);
        public readonly Action<KernelConfig, ArrayView<float>, Float32Output, int, int, int> GatedActivation =
            a.LoadStreamKernel<ArrayView<float>, Float32Output, int, int, int>(IlgpuKernels.GatedActivation);
        public readonly Action<KernelConfig, ArrayView<float>, BFloat16Output, int, int, int> GatedActivationBf16 =
            a.LoadStreamKernel<ArrayView<float>, BFloat16Output, int, int, int>(IlgpuKernels.GatedActivation);
        public readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, Float32Output, int, int, int, int> BiasActivation =
            a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, Float32Output, int, int, int, int>(IlgpuKernels.BiasActivation);
        public readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, BFloat16Output, int, int, int, int> BiasActivationBf16 =
            a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, BFloat16Output, int, int, int, int>(IlgpuKernels.BiasActivation);

        /// <summary>Every instantiation, for the PTX compilation checks.</summary>
        public static IReadOnlyList<System.Reflection.MethodInfo> Methods { get; } =
        [
            ((Delegate)IlgpuKernels.LayerNorm<Float32Output>).Method, ((Delegate)IlgpuKernels.LayerNorm<BFloat16Output>).Method,
            ((Delegate)IlgpuKernels.RmsNorm<Float32Output>).Method, ((Delegate)IlgpuKernels.RmsNorm<BFloat16Output>).Method,
            ((Delegate)IlgpuKernels.AddLayerNorm<Float32Output>).Method, ((Delegate)IlgpuKernels.AddLayerNorm<BFloat16Output>).Method,
            ((Delegate)IlgpuKernels.AddRmsNorm<Float32Output>).Method, ((Delegate)IlgpuKernels.AddRmsNorm<BFloat16Output>).Method,
            ((Delegate)IlgpuKernels.Activation<Float32Output>).Method, ((Delegate)IlgpuKernels.Activation<BFloat16Output>).Method,
            ((Delegate)IlgpuKernels.GatedActivation<Float32Output>).Method, ((Delegate)IlgpuKernels.GatedActivation<BFloat16Output>).Method,
            ((Delegate)IlgpuKernels.BiasActivation<Float32Output>).Method, ((Delegate)IlgpuKernels.BiasActivation<BFloat16Output>).Method,
        ];
    }
}
