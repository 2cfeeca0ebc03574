using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using Eval.Engine.Cpu;

namespace Eval.Engine.Gpu;

/// <summary>
/// How kernels are launched: threads per group, and the most groups an element-wise launch uses (grid-stride loops cover
/// the rest). GPU-shaped launches on ILGPU's CPU accelerator take seconds, CPU-shaped ones milliseconds.
/// </summary>
public sealed record IlgpuLaunch(int GroupSize, int MaxGroups)
{
    public static IlgpuLaunch Cuda(Accelerator accelerator) => new(256, Math.Max(1, accelerator.NumMultiprocessors) * 16);

    /// <summary>One-thread groups on the CPU accelerator: each group is a plain loop on one of its threads.</summary>
    public static IlgpuLaunch Cpu(int groupSize = 1) => new(groupSize, 64);
}

/// <summary>
/// The GPU backend: the same ops as <see cref="CpuBackend"/>, as ILGPU kernels (<see cref="IlgpuKernels"/>,
/// <see cref="IlgpuAttention"/>, <see cref="IlgpuGemm"/>) on a CUDA device, or on ILGPU's CPU accelerator for tests.
/// Tensors live in device memory; weights are uploaded once (matrices as bfloat16 under <see cref="Precision.Bf16"/>);
/// small host inputs (ids, masks, positions) are uploaded per call, reusing the last upload when it repeats
/// (every layer of a forward passes the same mask and positions). Everything runs in order on the accelerator's
/// default stream; copies to the host wait for it.
/// </summary>
public sealed partial class IlgpuBackend : IBackend
{
    private readonly Accelerator accelerator;
    private readonly bool ownsAccelerator;
    private readonly Context? ownedContext;
    private readonly IlgpuMemoryPool pool;
    private readonly IlgpuLaunch launch;
    private readonly IlgpuAttention attention;
    private readonly IlgpuGemm gemm;
    private readonly CublasGemm? cublas;
    private readonly HostUploads uploads;
    private MemoryBuffer1D<ushort, Stride1D.Dense>? bfloat16Activations;

    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int> gather;
    private readonly Action<KernelConfig, ArrayView<ushort>, ArrayView<int>, ArrayView<float>, int, int> gatherBFloat16;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RowShape, int, int, float> layerNorm;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, RowShape, float> rmsNorm;
    private readonly Action<KernelConfig, ArrayView<float>, RowShape> softmax;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int> activation;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int> gatedActivation;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> add;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, RowShape, int, int> rope;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, RowShape, RowShape, int, int> copyRows;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int> meanPool;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int> addBias;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<ushort>, int> toBFloat16;

    /// <param name="accelerator">The device.</param>
    /// <param name="launch">Threads per group and the grid cap.</param>
    /// <param name="precision">Fp32 and Tf32 keep weights as float32 (the ILGPU GEMM computes in float32 either way); Bf16 stores weight matrices as bfloat16.</param>
    /// <param name="cublas">cuBLAS on this accelerator's stream for every Linear (CUDA only); without it the ILGPU GEMM runs.</param>
    /// <param name="ownsAccelerator">Dispose the accelerator with the backend.</param>
    /// <param name="ownedContext">A context this backend created and disposes with itself.</param>
    public IlgpuBackend(Accelerator accelerator, IlgpuLaunch launch, Precision precision = Precision.Fp32, CublasGemm? cublas = null,
        bool ownsAccelerator = false, Context? ownedContext = null)
    {
        this.cublas = cublas;
        this.accelerator = accelerator;
        this.ownsAccelerator = ownsAccelerator;
        this.launch = launch;
        this.ownedContext = ownedContext;
        Precision = precision;
        DeviceName = accelerator.AcceleratorType == AcceleratorType.Cuda ? $"cuda ({accelerator.Name})" : "ilgpu-cpu";
        pool = new IlgpuMemoryPool(accelerator, DeviceName);
        uploads = new HostUploads(accelerator);
        attention = new IlgpuAttention(accelerator, launch.GroupSize);
        gemm = new IlgpuGemm(accelerator, launch.GroupSize);
        gather = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int>(IlgpuKernels.Gather);
        gatherBFloat16 = accelerator.LoadStreamKernel<ArrayView<ushort>, ArrayView<int>, ArrayView<float>, int, int>(IlgpuKernels.GatherBFloat16);
        layerNorm = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RowShape, int, int, float>(IlgpuKernels.LayerNorm);
        rmsNorm = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, RowShape, float>(IlgpuKernels.RmsNorm);
        softmax = accelerator.LoadStreamKernel<ArrayView<float>, RowShape>(IlgpuKernels.Softmax);
        activation = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(IlgpuKernels.Activation);
        gatedActivation = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int>(IlgpuKernels.GatedActivation);
        add = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(IlgpuKernels.Add);
        rope = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, RowShape, int, int>(IlgpuKernels.Rope);
        copyRows = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, RowShape, RowShape, int, int>(IlgpuKernels.CopyRows);
        meanPool = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int>(IlgpuKernels.MeanPool);
        addBias = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(IlgpuKernels.AddBias);
        toBFloat16 = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<ushort>, int>(IlgpuKernels.ConvertToBFloat16);
    }

    /// <summary>
    /// The GPU backend's kernels on ILGPU's CPU accelerator (tests, debugging), over a shared context: each backend gets
    /// its own accelerator, so backends used from parallel tests do not share a stream.
    /// </summary>
    public static IlgpuBackend CreateOnCpu(Context context, int groupSize = 1, Precision precision = Precision.Fp32) =>
        new(context.CreateCPUAccelerator(0), IlgpuLaunch.Cpu(groupSize), precision, ownsAccelerator: true);

    /// <summary>All the kernels of this backend, for PTX compilation checks without a GPU.</summary>
    public static IReadOnlyList<System.Reflection.MethodInfo> ElementKernelMethods { get; } =
    [
        ((Delegate)IlgpuKernels.Gather).Method, ((Delegate)IlgpuKernels.GatherBFloat16).Method, ((Delegate)IlgpuKernels.LayerNorm).Method,
        ((Delegate)IlgpuKernels.RmsNorm).Method, ((Delegate)IlgpuKernels.Softmax).Method, ((Delegate)IlgpuKernels.Activation).Method,
        ((Delegate)IlgpuKernels.GatedActivation).Method, ((Delegate)IlgpuKernels.Add).Method, ((Delegate)IlgpuKernels.AddBias).Method,
        ((Delegate)IlgpuKernels.Rope).Method, ((Delegate)IlgpuKernels.CopyRows).Method, ((Delegate)IlgpuKernels.MeanPool).Method,
        ((Delegate)IlgpuKernels.ConvertToBFloat16).Method,
    ];

    public Precision Precision { get; }
    public string DeviceName { get; }
    public string GemmName => cublas?.Name ?? "ILGPU tiled SGEMM";
    public string Name => $"{DeviceName} ({Precision.ToString().ToLowerInvariant()}, {GemmName}, {launch.GroupSize}-thread groups)";

    public Tensor Allocate(params int[] shape) => NewTensor(shape, bfloat16: false, "an activation");

    public Tensor Zeros(params int[] shape)
    {
        var t = Allocate(shape);
        Floats(t).MemSetToZero();
        return t;
    }

    public Tensor TakeWeight(Tensor host)
    {
        using (host)
        {
            RequireHost(host, nameof(TakeWeight));
            if (Precision != Precision.Bf16 || host.Rank != 2)
                return Upload(host, $"a weight of shape {Tensor.FormatShape(host.Shape)}");
            var bits = new ushort[host.Length];
            var values = host.Span;
            for (int i = 0; i < bits.Length; i++) bits[i] = IlgpuKernels.ToBFloat16(values[i]);
            var t = NewTensor(host.Shape.ToArray(), bfloat16: true, $"a weight of shape {Tensor.FormatShape(host.Shape)}");
            BFloat16(t).CopyFromCPU(bits);
            return t;
        }
    }

    public Tensor CopyFromHost(Tensor host) => Upload(RequireHost(host, nameof(CopyFromHost)), "an input");

    public Tensor CopyToHost(Tensor tensor)
    {
        var host = Tensor.Allocate(tensor.Shape.ToArray());
        if (tensor.ElementType == TensorElementType.BFloat16)
        {
            var bits = new ushort[tensor.Length];
            BFloat16(tensor).CopyToCPU(bits);
            var values = host.Span;
            for (int i = 0; i < bits.Length; i++) values[i] = IlgpuKernels.FromBFloat16(bits[i]);
        }
        else
        {
            Floats(tensor).CopyToCPU(accelerator.DefaultStream, host.Span);
        }
        accelerator.Synchronize();
        return host;
    }

    public Tensor TakeToHost(Tensor tensor)
    {
        using (tensor) return CopyToHost(tensor);
    }

    public void Linear(Tensor x, Tensor weight, Tensor? bias, Tensor y)
    {
        var (n, k, m) = OpChecks.Linear(x, weight, bias, y);
        if (n == 0 || m == 0) return;
        if (cublas is not null)
        {
            CublasLinear(x, weight, y, n, m, k);
            if (bias is not null) addBias(ElementLaunch(y.Length), Floats(y), Floats(bias), n, m);
            return;
        }
        var biasView = bias is null ? uploads.NoFloats : Floats(bias);
        if (weight.ElementType == TensorElementType.BFloat16)
            gemm.LinearBf16Weight(accelerator.DefaultStream, Floats(x), k, BFloat16(weight), k, biasView, bias is not null, Floats(y), m, n, m, k);
        else
            gemm.Linear(accelerator.DefaultStream, Floats(x), k, Floats(weight), k, biasView, bias is not null, Floats(y), m, n, m, k);
    }

    public void Gather(Tensor table, ReadOnlySpan<int> ids, Tensor y)
    {
        OpChecks.Gather(table, ids, y);
        if (ids.Length == 0) return;
        var idView = uploads.Ids(ids);
        var config = ElementLaunch((long)ids.Length * table.Columns);
        if (table.ElementType == TensorElementType.BFloat16)
            gatherBFloat16(config, BFloat16(table), idView, Floats(y), ids.Length, table.Columns);
        else
            gather(config, Floats(table), idView, Floats(y), ids.Length, table.Columns);
    }

    public void LayerNorm(Tensor x, Tensor? weight, Tensor? bias, float epsilon, Tensor y)
    {
        OpChecks.SameShape(x, y, nameof(LayerNorm));
        layerNorm(RowLaunch(x.Rows), Floats(x), weight is null ? uploads.NoFloats : Floats(weight), bias is null ? uploads.NoFloats : Floats(bias),
            Floats(y), new RowShape(x.Rows, x.Columns, x.Columns), weight is null ? 0 : 1, bias is null ? 0 : 1, epsilon);
    }

    public void RmsNorm(Tensor x, Tensor weight, float epsilon, Tensor y)
    {
        OpChecks.SameShape(x, y, nameof(RmsNorm));
        rmsNorm(RowLaunch(x.Rows), Floats(x), Floats(weight), Floats(y), new RowShape(x.Rows, x.Columns, x.Columns), epsilon);
    }

    public void Activation(ActivationKind kind, Tensor x, Tensor y)
    {
        OpChecks.SameShape(x, y, nameof(Activation));
        activation(ElementLaunch(x.Length), Floats(x), Floats(y), (int)x.Length, KindCode(kind));
    }

    public void GatedActivation(ActivationKind kind, Tensor x, Tensor y)
    {
        OpChecks.GatedActivation(x, y);
        int inner = y.Columns;
        gatedActivation(ElementLaunch(y.Length), Floats(x), Floats(y), y.Rows, inner, KindCode(kind));
    }

    public void Add(Tensor a, Tensor b, Tensor y)
    {
        OpChecks.SameShape(a, b, nameof(Add));
        OpChecks.SameShape(a, y, nameof(Add));
        add(ElementLaunch(a.Length), Floats(a), Floats(b), Floats(y), (int)a.Length);
    }

    public void Softmax(Tensor x) => softmax(RowLaunch(x.Rows), Floats(x), new RowShape(x.Rows, x.Columns, x.Columns));

    public void Rope(ColumnSlice x, int heads, int headDim, ReadOnlySpan<int> positions, ReadOnlySpan<float> invFrequencies)
    {
        OpChecks.Rope(x, heads, headDim, positions, invFrequencies);
        var t = x.Tensor;
        var table = uploads.RotaryTable(positions, invFrequencies);
        rope(ElementLaunch((long)t.Rows * heads * headDim / 2), Floats(t).SubView(x.Offset), table,
            new RowShape(t.Rows, t.Columns, t.Columns), heads, headDim);
    }

    public void Attention(ColumnSlice q, ColumnSlice k, ColumnSlice v, AttentionShape s, AttentionMask mask, Tensor output)
    {
        OpChecks.Attention(q, k, v, s, mask, output);
        var rule = AttentionRule.Create(s, mask);
        var bias = mask.Bias;
        // A bfloat16 bias tensor (a [buckets, heads] table taken as a weight under Bf16) is widened for the call.
        using var widened = bias.Kind switch
        {
            AttentionBiasKind.RelativePositionBuckets => WidenedIfBFloat16(bias.Table!),
            AttentionBiasKind.Given => WidenedIfBFloat16(bias.Values!),
            _ => null,
        };
        var biasValues = bias.Kind switch
        {
            AttentionBiasKind.Alibi => uploads.AlibiSlopes(bias.Slopes.Span),
            AttentionBiasKind.RelativePositionBuckets => Floats(widened ?? bias.Table!),
            AttentionBiasKind.Given => Floats(widened ?? bias.Values!),
            _ => uploads.NoFloats,
        };
        var biasIndices = AttentionRule.ReadsBiasIndices(mask)
            ? uploads.BiasIndices(AttentionRule.BiasIndices(s, mask))
            : uploads.NoInts;
        attention.Run(accelerator.DefaultStream,
            Floats(q.Tensor).SubView(q.Offset), Floats(k.Tensor).SubView(k.Offset), Floats(v.Tensor).SubView(v.Offset),
            uploads.KeyValid(mask.KeyValid.Span[..(s.Batch * s.KeyRowsPerBatch)]),
            mask.SourceLengths.IsEmpty ? uploads.NoInts : uploads.SourceLengths(mask.SourceLengths.Span),
            biasValues, biasIndices, Floats(output), rule,
            new AttentionStrides(q.Tensor.Columns, k.Tensor.Columns, v.Tensor.Columns, output.Columns));
    }

    /// <summary>A float32 copy of a bfloat16 tensor of this backend (null for a float32 one), through the bfloat16 gather.</summary>
    private Tensor? WidenedIfBFloat16(Tensor t)
    {
        Buffer(t);
        if (t.ElementType != TensorElementType.BFloat16) return null;
        var wide = Allocate(t.Shape.ToArray());
        var rows = new int[t.Rows];
        for (int r = 0; r < rows.Length; r++) rows[r] = r;
        gatherBFloat16(ElementLaunch(t.Length), BFloat16(t), uploads.Ids(rows), Floats(wide), t.Rows, t.Columns);
        return wide;
    }

    public void CopyRows(RowBlocks source, RowBlocks destination, int batches, int rows, int columns)
    {
        OpChecks.CopyRows(source, destination, batches, rows, columns);
        if (batches == 0 || rows == 0 || columns == 0) return;
        var from = Floats(source.Tensor).SubView((long)source.FirstRow * source.Tensor.Columns + source.Column);
        var to = Floats(destination.Tensor).SubView((long)destination.FirstRow * destination.Tensor.Columns + destination.Column);
        copyRows(ElementLaunch((long)batches * rows * columns), from, to,
            new RowShape(rows, source.BatchStride, source.Tensor.Columns), new RowShape(rows, destination.BatchStride, destination.Tensor.Columns),
            batches, columns);
    }

    public void MeanPool(Tensor x, int length, ReadOnlySpan<int> include, Tensor y)
    {
        OpChecks.MeanPool(x, length, include, y);
        meanPool(ElementLaunch(y.Length), Floats(x), uploads.Ids(include), Floats(y), y.Rows, length, y.Columns);
    }

    public void Dispose()
    {
        cublas?.Dispose();
        bfloat16Activations?.Dispose();
        uploads.Dispose();
        pool.Dispose();
        if (ownsAccelerator || ownedContext is not null) accelerator.Dispose();
        ownedContext?.Dispose();
    }

    /// <summary>
    /// y = x·Wᵀ through cuBLAS on the accelerator's stream (its context made current on this thread first). A bfloat16
    /// weight meets x converted to bfloat16 in a scratch buffer that grows to the largest activation.
    /// </summary>
    private void CublasLinear(Tensor x, Tensor weight, Tensor y, int n, int m, int k)
    {
        accelerator.Bind();
        bool bf16 = weight.ElementType == TensorElementType.BFloat16;
        nint scratch = 0;
        if (bf16)
        {
            if (bfloat16Activations is null || bfloat16Activations.Length < x.Length)
            {
                bfloat16Activations?.Dispose();
                bfloat16Activations = accelerator.Allocate1D<ushort>(x.Length);
            }
            ArrayView<ushort> converted = bfloat16Activations.View.SubView(0, x.Length);
            toBFloat16(ElementLaunch(x.Length), Floats(x), converted, (int)x.Length);
            scratch = converted.LoadEffectiveAddressAsPtr<ushort>();
        }
        nint w = bf16 ? BFloat16(weight).LoadEffectiveAddressAsPtr() : Floats(weight).LoadEffectiveAddressAsPtr();
        cublas!.Linear(Floats(x).LoadEffectiveAddressAsPtr(), w, Floats(y).LoadEffectiveAddressAsPtr(), n, m, k, Precision, bf16, scratch);
    }

    private Tensor NewTensor(int[] shape, bool bfloat16, string what)
    {
        long count = Tensor.ElementCount(shape);
        var buffer = pool.Rent(count, bfloat16, $"{what} of shape {Tensor.FormatShape(shape)}");
        // Pooled buffers are rented by exact length, so the tensor spans the whole buffer.
        return Tensor.OnDevice(buffer, 0, shape, ownsBuffer: true);
    }

    private Tensor Upload(Tensor host, string what)
    {
        var t = NewTensor(host.Shape.ToArray(), bfloat16: false, what);
        Floats(t).CopyFromCPU(accelerator.DefaultStream, (ReadOnlySpan<float>)host.Span);
        accelerator.Synchronize();
        return t;
    }

    private IlgpuDeviceBuffer Buffer(Tensor t)
    {
        if (t.IsHost || t.Device is not IlgpuDeviceBuffer buffer || !buffer.Owns(pool))
            throw new ArgumentException($"{t} does not belong to this backend ({DeviceName}): allocate it with this backend or copy it here first");
        return buffer;
    }

    private ArrayView<float> Floats(Tensor t)
    {
        var buffer = Buffer(t);
        if (buffer.Floats is null)
            throw new ArgumentException($"{t} is stored as bfloat16; this operation needs float32");
        return buffer.Floats.View.SubView(t.DeviceOffset, t.Length);
    }

    private ArrayView<ushort> BFloat16(Tensor t)
    {
        var buffer = Buffer(t);
        return buffer.BFloat16!.View.SubView(t.DeviceOffset, t.Length);
    }

    private KernelConfig ElementLaunch(long count)
    {
        long groups = (count + launch.GroupSize - 1) / launch.GroupSize;
        return new KernelConfig((int)Math.Clamp(groups, 1, launch.MaxGroups), launch.GroupSize);
    }

    private KernelConfig RowLaunch(int rows) =>
        new(Math.Clamp(rows, 1, launch.MaxGroups), launch.GroupSize, SharedMemoryConfig.RequestDynamic<float>(launch.GroupSize));

    private static int KindCode(ActivationKind kind) => kind switch
    {
        ActivationKind.Gelu => 0,
        ActivationKind.Silu => 1,
        ActivationKind.GeluTanh => 2,
        ActivationKind.Relu => 3,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown activation"),
    };

    private static Tensor RequireHost(Tensor t, string op) =>
        t.IsHost ? t : throw new ArgumentException($"{op}: {t} is not in host memory");

}
