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
/// <see cref="IlgpuAttention"/>, <see cref="IlgpuMaskedSoftmax"/>, <see cref="IlgpuGemm"/>) and cuBLAS calls on a CUDA
/// device, or on ILGPU's CPU accelerator for tests — there with the tiled GEMM, or with a cuBLAS stand-in that computes
/// on host memory (the CPU accelerator's buffers are host memory), so CI runs the very cuBLAS calls a GPU gets.
/// Tensors live in device memory; weights are uploaded once (matrices as bfloat16 under <see cref="Precision.Bf16"/>);
/// small host inputs (ids, masks, positions) are uploaded per call, reusing the last upload when it repeats
/// (every layer of a forward passes the same mask and positions). Everything runs in order on the accelerator's
/// default stream; copies to the host wait for it. <see cref="Launches"/> counts what was enqueued.
/// </summary>
public sealed partial class IlgpuBackend : IBackend
{
    /// <summary>The default most bytes of attention scores (and bfloat16 probabilities) one tensor-core attention step may use.</summary>
    public const long DefaultAttentionScoreBudget = 2L << 30;

    private readonly Accelerator accelerator;
    private readonly bool ownsAccelerator;
    private readonly Context? ownedContext;
    private readonly IlgpuMemoryPool pool;
    private readonly IlgpuLaunch launch;
    private readonly IlgpuAttention attention;
    private readonly IlgpuMaskedSoftmax maskedSoftmax;
    private readonly IlgpuGemm gemm;
    private readonly CublasGemm? cublas;
    private readonly HostUploads uploads;
    private readonly IlgpuScratch scratch;
    private readonly long attentionScoreBudget;
    /// <summary>On the CPU accelerator a native call must wait for the kernels before it: they may still be running.</summary>
    private readonly bool synchronizeBeforeNativeCalls;

    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int> gather;
    private readonly Action<KernelConfig, ArrayView<ushort>, ArrayView<int>, ArrayView<float>, int, int> gatherBFloat16;
    private readonly Action<KernelConfig, ArrayView<float>, RowShape> softmax;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> add;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, RowShape, int, int, int, int, int> rope;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, RowShape, RowShape, int, int> copyRows;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int> meanPool;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int> addBias;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<ushort>, int> toBFloat16;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<int>, int, int, int> summarizeLogits;

    /// <param name="accelerator">The device.</param>
    /// <param name="launch">Threads per group and the grid cap.</param>
    /// <param name="precision">Fp32 and Tf32 keep weights as float32 (the ILGPU GEMM computes in float32 either way); Bf16 stores weight matrices as bfloat16.</param>
    /// <param name="cublas">cuBLAS on this accelerator's stream for every Linear and the tensor-core attention; without it the ILGPU GEMM and the flash attention kernel run.</param>
    /// <param name="ownsAccelerator">Dispose the accelerator with the backend.</param>
    /// <param name="ownedContext">A context this backend created and disposes with itself.</param>
    /// <param name="attentionScoreBudget">The most bytes of scores the tensor-core attention holds at once: a batch is split
    /// into runs of sequences that fit, and a sequence whose scores alone exceed it goes to the flash kernel.</param>
    public IlgpuBackend(Accelerator accelerator, IlgpuLaunch launch, Precision precision = Precision.Fp32, CublasGemm? cublas = null,
        bool ownsAccelerator = false, Context? ownedContext = null, long attentionScoreBudget = DefaultAttentionScoreBudget)
    {
        this.cublas = cublas;
        this.accelerator = accelerator;
        this.ownsAccelerator = ownsAccelerator;
        this.launch = launch;
        this.ownedContext = ownedContext;
        this.attentionScoreBudget = attentionScoreBudget;
        Precision = precision;
        bool cuda = accelerator.AcceleratorType == AcceleratorType.Cuda;
        synchronizeBeforeNativeCalls = !cuda;
        DeviceName = cuda ? $"cuda ({accelerator.Name})" : "ilgpu-cpu";
        pool = new IlgpuMemoryPool(accelerator, DeviceName);
        uploads = new HostUploads(accelerator, Launches);
        scratch = new IlgpuScratch(accelerator);
        attention = new IlgpuAttention(accelerator, launch.GroupSize);
        maskedSoftmax = new IlgpuMaskedSoftmax(accelerator, launch);
        gemm = new IlgpuGemm(accelerator, launch.GroupSize);
        gather = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int>(IlgpuKernels.Gather);
        gatherBFloat16 = accelerator.LoadStreamKernel<ArrayView<ushort>, ArrayView<int>, ArrayView<float>, int, int>(IlgpuKernels.GatherBFloat16);
        softmax = accelerator.LoadStreamKernel<ArrayView<float>, RowShape>(IlgpuKernels.Softmax);
        add = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(IlgpuKernels.Add);
        rope = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, RowShape, int, int, int, int, int>(IlgpuKernels.Rope);
        copyRows = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, RowShape, RowShape, int, int>(IlgpuKernels.CopyRows);
        meanPool = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int>(IlgpuKernels.MeanPool);
        addBias = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(IlgpuKernels.AddBias);
        toBFloat16 = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<ushort>, int>(IlgpuKernels.ConvertToBFloat16);
        summarizeLogits = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<int>, int, int, int>(IlgpuKernels.SummarizeLogits);
        outputs = new OutputKernels(accelerator);
    }

    /// <summary>
    /// The GPU backend's kernels on ILGPU's CPU accelerator (tests, debugging), over a shared context: each backend gets
    /// its own accelerator, so backends used from parallel tests do not share a stream. With <paramref name="cublasStandIn"/>
    /// (a library that computes cuBLAS's GEMMs on host memory — the tests build one) Linear and attention go through the
    /// cuBLAS calls a GPU gets, exactly as on CUDA; without, through the ILGPU GEMM and the flash attention kernel.
    /// </summary>
    public static IlgpuBackend CreateOnCpu(Context context, int groupSize = 1, Precision precision = Precision.Fp32,
        CublasNativeMethods? cublasStandIn = null, long attentionScoreBudget = DefaultAttentionScoreBudget)
    {
        var accelerator = context.CreateCPUAccelerator(0);
        CublasGemm? cublas = null;
        try
        {
            if (cublasStandIn is not null) cublas = new CublasGemm(cublasStandIn, stream: 0, precision);
            return new IlgpuBackend(accelerator, IlgpuLaunch.Cpu(groupSize), precision, cublas, ownsAccelerator: true,
                attentionScoreBudget: attentionScoreBudget);
        }
        catch
        {
            cublas?.Dispose();
            accelerator.Dispose();
            throw;
        }
    }

    /// <summary>All the element and row kernels of this backend, for PTX compilation checks without a GPU.</summary>
    public static IReadOnlyList<System.Reflection.MethodInfo> ElementKernelMethods { get; } =
    [
        ((Delegate)IlgpuKernels.Gather).Method, ((Delegate)IlgpuKernels.GatherBFloat16).Method,
        ((Delegate)IlgpuKernels.Softmax).Method, ((Delegate)IlgpuKernels.Add).Method, ((Delegate)IlgpuKernels.AddBias).Method,
        ((Delegate)IlgpuKernels.Rope).Method, ((Delegate)IlgpuKernels.CopyRows).Method, ((Delegate)IlgpuKernels.MeanPool).Method,
        ((Delegate)IlgpuKernels.ConvertToBFloat16).Method, ((Delegate)IlgpuKernels.SummarizeLogits).Method,
        .. OutputKernels.Methods,
    ];

    public Precision Precision { get; }
    public string DeviceName { get; }
    public string GemmName => cublas?.Name ?? "ILGPU tiled SGEMM";
    public string Name => $"{DeviceName} ({Precision.ToString().ToLowerInvariant()}, {GemmName}, {AttentionName}, {launch.GroupSize}-thread groups)";

    /// <summary>Which attention runs: "tensor-core attention (scores ≤ N MiB)" or "flash attention".</summary>
    public string AttentionName => HasTensorCoreAttention
        ? $"tensor-core attention (scores ≤ {attentionScoreBudget / (1024.0 * 1024):0.#} MiB, flash beyond)"
        : "flash attention";

    /// <summary>Whether attention runs as cuBLAS batched GEMMs around a masked softmax (when the scores fit the budget).</summary>
    public bool HasTensorCoreAttention => cublas is not null && attentionScoreBudget > 0;

    /// <summary>
    /// The counts so far of what this backend did (<see cref="DeviceWork"/>); its device allocations are the memory
    /// pool's driver allocations, reused buffers not counted.
    /// </summary>
    public DeviceWork Work => new(Launches.Kernels, Launches.CublasCalls, Launches.Uploads, Launches.SentAhead, Launches.TookSentAhead, pool.Allocations);

    /// <summary>What this backend has enqueued: kernel launches and cuBLAS calls.</summary>
    public IlgpuLaunchLog Launches { get; } = new();

    public Tensor Allocate(params int[] shape) => NewTensor(shape, bfloat16: false, "an activation", sizeClass: true);

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
            BFloat16Conversion.ToBFloat16(host.Span, bits);
            var t = NewTensor(host.Shape.ToArray(), bfloat16: true, $"a weight of shape {Tensor.FormatShape(host.Shape)}", sizeClass: false);
            BFloat16(t).CopyFromCPU(bits);
            return t;
        }
    }

    public Tensor CopyFromHost(Tensor host) => Upload(RequireHost(host, nameof(CopyFromHost)), "an input");

    /// <summary>The most int arrays sent ahead (<see cref="SendAhead"/>) that wait to be taken; the oldest is dropped first.</summary>
    public const int MostSentAhead = 8;

    public void SendAhead(ReadOnlySpan<int> values) => uploads.SendAhead(values);

    public Tensor CopyToHost(Tensor tensor)
    {
        Launches.Mark(IlgpuLaunchLog.CopyToHost);
        var host = Tensor.Allocate(tensor.Shape.ToArray());
        if (tensor.ElementType == TensorElementType.BFloat16)
        {
            var bits = new ushort[tensor.Length];
            BFloat16(tensor).CopyToCPU(bits);
            BFloat16Conversion.FromBFloat16(bits, host.Span);
        }
        else
        {
            Floats(tensor).CopyToCPU(accelerator.DefaultStream, host.Span);
        }
        SynchronizeDevice();
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
            if (bias is not null)
            {
                Launches.Kernel(nameof(IlgpuKernels.AddBias));
                addBias(ElementLaunch(y.Length), Floats(y), Floats(bias), n, m);
            }
            return;
        }
        TiledLinear(x, weight, bias, y, n, m, k);
    }

    private void TiledLinear(Tensor x, Tensor weight, Tensor? bias, Tensor y, int n, int m, int k)
    {
        // The tiled GEMM reads float32 x: a bfloat16 GEMM input is widened first (exactly: it rounds x to bfloat16 anyway).
        using var widened = WidenedIfBFloat16(x);
        var input = widened ?? x;
        Launches.Kernel("IlgpuGemm");
        var biasView = bias is null ? uploads.NoFloats : Floats(bias);
        if (weight.ElementType == TensorElementType.BFloat16)
            gemm.LinearBf16Weight(accelerator.DefaultStream, Floats(input), k, BFloat16(weight), k, biasView, bias is not null, Floats(y), m, n, m, k);
        else
            gemm.Linear(accelerator.DefaultStream, Floats(input), k, Floats(weight), k, biasView, bias is not null, Floats(y), m, n, m, k);
    }

    public void Dispose()
    {
        cublas?.Dispose();
        scratch.Dispose();
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
        if (x.ElementType == TensorElementType.BFloat16 && !bf16)
            throw new ArgumentException($"{x} is a bfloat16 GEMM input, but the weight {weight} is float32");
        // A bfloat16 GEMM input (AllocateGemmInput) is already what cuBLAS reads; a float32 one is converted first.
        nint converted = x.ElementType == TensorElementType.BFloat16 ? BFloat16(x).LoadEffectiveAddressAsPtr()
            : bf16 ? ToBFloat16Scratch(Floats(x), IlgpuScratch.LinearInput) : 0;
        nint input = x.ElementType == TensorElementType.BFloat16 ? converted : Floats(x).LoadEffectiveAddressAsPtr();
        nint w = bf16 ? BFloat16(weight).LoadEffectiveAddressAsPtr() : Floats(weight).LoadEffectiveAddressAsPtr();
        BeforeNativeCall();
        Launches.Cublas("linear");
        cublas!.Linear(input, w, Floats(y).LoadEffectiveAddressAsPtr(), n, m, k, Precision, bf16, converted);
    }

    /// <summary>A bfloat16 copy of <paramref name="values"/> in scratch slot <paramref name="slot"/>; returns its device address.</summary>
    private nint ToBFloat16Scratch(ArrayView<float> values, int slot)
    {
        var converted = scratch.BFloat16(slot, values.Length);
        Launches.Kernel(nameof(IlgpuKernels.ConvertToBFloat16));
        toBFloat16(ElementLaunch(values.Length), values, converted, (int)values.Length);
        return converted.LoadEffectiveAddressAsPtr();
    }

    /// <summary>Waits for all the device's work; the buffers uploads gave up may then take new values (<see cref="HostUploads.DeviceIdle"/>).</summary>
    private void SynchronizeDevice()
    {
        accelerator.Synchronize();
        uploads.DeviceIdle();
    }

    /// <summary>Before a cuBLAS call: on the CPU accelerator, wait for the kernels enqueued so far (on CUDA the stream orders them).</summary>
    private void BeforeNativeCall()
    {
        if (synchronizeBeforeNativeCalls) SynchronizeDevice();
    }

    /// <summary>
    /// A tensor in a pooled buffer: activations in size classes (<see cref="DeviceSizeClass"/>: batches of other shapes
    /// reuse them), weights and inputs of their exact size (no memory spent on rounding what stays for the whole run).
    /// The tensor is the buffer's first elements: every op takes its view by the tensor's offset and length.
    /// </summary>
    private Tensor NewTensor(int[] shape, bool bfloat16, string what, bool sizeClass)
    {
        long count = Tensor.ElementCount(shape);
        var buffer = pool.Rent(count, bfloat16, $"{what} of shape {Tensor.FormatShape(shape)}", sizeClass);
        return Tensor.OnDevice(buffer, 0, shape, ownsBuffer: true);
    }

    private Tensor Upload(Tensor host, string what)
    {
        var t = NewTensor(host.Shape.ToArray(), bfloat16: false, what, sizeClass: false);
        Floats(t).CopyFromCPU(accelerator.DefaultStream, (ReadOnlySpan<float>)host.Span);
        SynchronizeDevice();
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

    private KernelConfig RowLaunch(int rows, int sharedFloatsPerThread = 1) =>
        new(Math.Clamp(rows, 1, launch.MaxGroups), launch.GroupSize, SharedMemoryConfig.RequestDynamic<float>(launch.GroupSize * sharedFloatsPerThread));

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
