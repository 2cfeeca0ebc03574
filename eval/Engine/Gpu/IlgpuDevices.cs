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
            backend = new IlgpuBackend(accelerator, IlgpuLaunch.Cuda(accelerator), precision, cublas, ownsAccelerator: true, ownedContext: context);
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
