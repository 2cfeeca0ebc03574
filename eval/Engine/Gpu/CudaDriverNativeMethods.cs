using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace Eval.Engine.Gpu;

/// <summary>What we know about the NVIDIA driver: its CUDA version (null when no driver loaded) and how we found out.</summary>
/// <param name="Version">cuDriverGetVersion's value, 1000·major + 10·minor (13000, 12080), or null.</param>
/// <param name="Description">"CUDA 12.8 driver (libcuda.so.1)" or "no CUDA driver (libcuda.so.1: ...)".</param>
public sealed record CudaDriverInfo(int? Version, string Description)
{
    /// <summary>"12.8" for 12080.</summary>
    public static string FormatVersion(int version) => $"{version / 1000}.{version % 1000 / 10}";
}

/// <summary>
/// The one driver-API entry point we call before ILGPU is up, cuDriverGetVersion, from the driver library that the
/// NVIDIA driver installs: libcuda.so.1 (libcuda.so is only a development symlink, often absent).
/// </summary>
public sealed unsafe class CudaDriverNativeMethods
{
    /// <summary>The names tried in order.</summary>
    public static IReadOnlyList<string> Candidates { get; } =
        OperatingSystem.IsWindows() ? ["nvcuda.dll"] : ["libcuda.so.1", "libcuda.so"];

    private readonly delegate* unmanaged<int*, int> driverGetVersion;

    private CudaDriverNativeMethods(string library, nint driverGetVersionExport)
    {
        Library = library;
        driverGetVersion = (delegate* unmanaged<int*, int>)driverGetVersionExport;
    }

    /// <summary>The name the driver was loaded by.</summary>
    public string Library { get; }

    /// <summary>Loads the first driver library that exports cuDriverGetVersion, or returns null with each name tried and why it failed.</summary>
    public static CudaDriverNativeMethods? TryLoad(out string tried)
    {
        var failures = new List<string>();
        foreach (var name in Candidates)
        {
            if (!NativeLibraryLoading.TryLoad(name, out var handle, out var reason))
            {
                failures.Add($"{name}: {reason}");
                continue;
            }
            if (NativeLibrary.TryGetExport(handle, "cuDriverGetVersion", out var export))
            {
                tried = string.Join("; ", failures.Append($"{name}: loaded"));
                return new CudaDriverNativeMethods(name, export);
            }
            failures.Add($"{name}: missing symbol cuDriverGetVersion");
        }
        tried = string.Join("; ", failures);
        return null;
    }

    /// <summary>The driver's CUDA version (12080 for 12.8), or null with the CUresult when the call fails.</summary>
    public int? GetVersion(out int result)
    {
        int version = 0;
        result = driverGetVersion(&version);
        return result == 0 ? version : null;
    }

    /// <summary>Loads the driver and asks its CUDA version; false with the reason in <paramref name="tried"/> otherwise.</summary>
    public static bool TryGetDriverVersion(out int version, out string tried)
    {
        version = 0;
        if (TryLoad(out tried) is not { } driver) return false;
        if (driver.GetVersion(out int result) is not { } found)
        {
            tried += $"; cuDriverGetVersion returned CUresult {result}";
            return false;
        }
        version = found;
        return true;
    }

    /// <summary>The driver's version and a one-line description of it, for reports.</summary>
    public static CudaDriverInfo Describe() =>
        TryLoad(out var tried) is not { } driver
            ? new CudaDriverInfo(null, $"no CUDA driver ({tried})")
            : driver.GetVersion(out int result) is { } version
                ? new CudaDriverInfo(version, $"CUDA {CudaDriverInfo.FormatVersion(version)} driver ({driver.Library})")
                : new CudaDriverInfo(null, $"CUDA driver {driver.Library} loaded but cuDriverGetVersion returned CUresult {result}");
}

/// <summary>
/// Lets ILGPU find the driver on machines without the CUDA development package. ILGPU's CUDA bindings import "cuda"
/// (Linux) or "nvcuda" (Windows); on Linux .NET turns that into libcuda.so, which only the dev package provides, while
/// the driver itself installs libcuda.so.1. When .NET's own probing fails it raises
/// <see cref="AssemblyLoadContext.ResolvingUnmanagedDll"/>, and this handler answers with libcuda.so.1.
/// </summary>
public static class CudaDriverResolver
{
    private static readonly string[] DriverRequestNames = ["cuda", "libcuda", "libcuda.so", "nvcuda", "nvcuda.dll"];

    private static readonly Lazy<bool> Registration = new(() =>
    {
        AssemblyLoadContext.Default.ResolvingUnmanagedDll += Resolve;
        return true;
    }, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Registers the handler once per process; later calls do nothing. Call it before creating an ILGPU CUDA context.</summary>
    public static void Install() => _ = Registration.Value;

    /// <summary>
    /// The libraries to load for an unmanaged library request <paramref name="requestedName"/>: libcuda.so.1 then
    /// libcuda.so when it names the CUDA driver, else none (the request is not ours).
    /// </summary>
    public static IReadOnlyList<string> DriverLibrariesFor(string requestedName) =>
        DriverRequestNames.Contains(requestedName, StringComparer.OrdinalIgnoreCase) ? ["libcuda.so.1", "libcuda.so"] : [];

    private static nint Resolve(Assembly assembly, string requestedName)
    {
        foreach (var library in DriverLibrariesFor(requestedName))
            if (NativeLibrary.TryLoad(library, out var handle))
                return handle;
        return 0;
    }
}
