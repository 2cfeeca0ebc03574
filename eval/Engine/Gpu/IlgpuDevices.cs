using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Eval.Engine.Gpu;

/// <summary>Creates the GPU backend on a CUDA device, or on ILGPU's CPU accelerator.</summary>
public static class IlgpuDevices
{
    /// <summary>The GPU backend's kernels on ILGPU's CPU accelerator, with its own context (--device ilgpu-cpu).</summary>
    public static IlgpuBackend CreateOnCpuAccelerator(Precision precision, int groupSize = 1)
    {
        var context = Context.Create(b => b.CPU().Optimize(OptimizationLevel.O1));
        return new IlgpuBackend(context.CreateCPUAccelerator(0), IlgpuLaunch.Cpu(groupSize), precision, ownsAccelerator: true, ownedContext: context);
    }

    /// <summary>The first CUDA device, or an error saying why there is none (--device cuda).</summary>
    public static IBackend CreateCuda(Precision precision, IReadOnlyDictionary<string, string?> environment, Action<string>? log) =>
        TryCreateCuda(precision, environment, log, out var backend, out var why)
            ? backend!
            : throw new InvalidOperationException($"--device cuda: {why}; use --device cpu");

    /// <summary>The variable that sets the tensor-core attention's score budget in MiB (0: the flash kernel always).</summary>
    public const string AttentionBudgetVariable = "EVAL_ATTENTION_SCORE_MIB";

    /// <summary>
    /// <see cref="AttentionBudgetVariable"/> in bytes, or <see cref="IlgpuBackend.DefaultAttentionScoreBudget"/> when unset;
    /// anything but a whole number ≥ 0 is a one-line error naming the variable.
    /// </summary>
    public static long AttentionScoreBudget(IReadOnlyDictionary<string, string?> environment)
    {
        if (!environment.TryGetValue(AttentionBudgetVariable, out var text) || string.IsNullOrWhiteSpace(text))
            return IlgpuBackend.DefaultAttentionScoreBudget;
        if (!long.TryParse(text.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long mib)
            || mib > long.MaxValue >> 20)
            throw new ArgumentException($"{AttentionBudgetVariable}={text}: not a whole number of MiB (0 runs the flash attention kernel always)");
        return mib << 20;
    }

    /// <summary>
    /// How many CUDA devices this process sees (CUDA_VISIBLE_DEVICES applies), without creating a context on any; 0 with
    /// the reason when there is none (--device cuda:all).
    /// </summary>
    public static (int Count, string Why) CountCuda()
    {
        CudaDriverResolver.Install();
        try
        {
            using var context = Context.Create(b => b.Cuda());
            int count = context.GetCudaDevices().Count;
            return (count, count == 0 ? $"no CUDA device found ({CudaDriverNativeMethods.Describe().Description})" : "");
        }
        catch (Exception e)
        {
            return (0, $"ILGPU could not start CUDA ({e.Message.Trim()})");
        }
    }

    /// <summary>
    /// The first CUDA device ILGPU finds (the driver is loaded as libcuda.so.1), with cuBLAS when one loads (else the
    /// ILGPU GEMM, and log says why). False, with the reason, when there is no usable device.
    /// </summary>
    public static bool TryCreateCuda(Precision precision, IReadOnlyDictionary<string, string?> environment, Action<string>? log,
        out IBackend? backend, out string why)
    {
        backend = null;
        long attentionBudget = AttentionScoreBudget(environment);
        CudaDriverResolver.Install();
        Context context;
        try
        {
            context = Context.Create(b => b.Cuda().Optimize(OptimizationLevel.O1));
        }
        catch (Exception e)
        {
            why = $"ILGPU could not start CUDA ({e.Message.Trim()})";
            return false;
        }
        var devices = context.GetCudaDevices();
        if (devices.Count == 0)
        {
            context.Dispose();
            why = $"no CUDA device found ({CudaDriverNativeMethods.Describe().Description})";
            return false;
        }
        Accelerator? accelerator = null;
        CublasGemm? cublas = null;
        try
        {
            accelerator = devices[0].CreateCudaAccelerator(context);
            var methods = CudaLibraries.TryLoadCublas(environment, out var report);
            if (methods is not null)
            {
                accelerator.Bind();
                cublas = new CublasGemm(methods, ((CudaStream)accelerator.DefaultStream).StreamPtr, precision);
                log?.Invoke(report);
            }
            else
            {
                log?.Invoke($"{report}; using the ILGPU GEMM");
            }
            backend = new IlgpuBackend(accelerator, IlgpuLaunch.Cuda(accelerator), precision, cublas, ownsAccelerator: true, ownedContext: context,
                attentionScoreBudget: attentionBudget);
            why = "";
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            cublas?.Dispose();
            accelerator?.Dispose();
            context.Dispose();
            why = $"the CUDA device could not be used ({e.Message.Trim()})";
            return false;
        }
    }
}
