using System.CommandLine;
using Eval.Engine;
using Eval.Engine.Cpu;
using Eval.Engine.Gpu;

namespace Eval.Cli;

/// <summary>The options every command that runs a model shares: --device, --precision, --threads, --gemm.</summary>
public sealed class BackendOptions
{
    public static readonly IReadOnlyList<string> Devices = ["auto", "cpu", "cuda", "ilgpu-cpu"];

    public Option<string> Device { get; } = new("--device")
    {
        Description = "auto (CUDA when a GPU is found, else the CPU), cpu, cuda, or ilgpu-cpu (the GPU backend's kernels on ILGPU's CPU accelerator: tests, debugging); " +
                      "eval also takes a device list: cuda:all or cuda:0,1,3 runs one shard per GPU in child processes and merges them (ilgpu-cpu:0,1: the same on the CPU stand-in)",
        DefaultValueFactory = _ => "auto",
    };

    public Option<string?> Precision { get; } = new("--precision")
    {
        Description = "GPU backend: fp32 (pedantic float32, for parity), tf32 (TF32 tensor cores), bf16 (weights kept as bfloat16; default on CUDA). The CPU computes in fp32",
    };

    public Option<int> Threads { get; } = new Option<int>("--threads")
    {
        Description = "CPU threads (0, the default: all cores); eval also renders and tokenizes prompts on them",
        DefaultValueFactory = _ => 0,
    }.AtLeast(0);

    public Option<GemmPath> Gemm { get; } = new("--gemm")
    {
        Description = "CPU matrix multiply: Auto (an optimised BLAS, or one a timed probe finds faster than the managed GEMM), Blas (the first BLAS found), Managed",
        DefaultValueFactory = _ => GemmPath.Auto,
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Device);
        command.Options.Add(Precision);
        command.Options.Add(Threads);
        command.Options.Add(Gemm);
    }

    /// <summary>Checks --device and --precision without creating anything (before a model is resolved or downloaded).</summary>
    public void Validate(ParseResult result)
    {
        var device = result.GetValue(Device) ?? "auto";
        if (!Devices.Contains(device))
            throw new ArgumentException($"--device '{device}' is not one of {string.Join(", ", Devices)}");
        var precision = ParsePrecision(result.GetValue(Precision));
        if (device == "cpu" && precision is { } p && p != Engine.Precision.Fp32)
            throw new ArgumentException($"--precision {p.ToString().ToLowerInvariant()}: the CPU backend computes in fp32; use --device cuda or ilgpu-cpu");
    }

    /// <summary>The backend the options name; the console line says which device, GEMM and precision were chosen and why.</summary>
    public IBackend Create(ParseResult result, Action<string>? log = null)
    {
        Validate(result);
        var device = result.GetValue(Device) ?? "auto";
        var precision = ParsePrecision(result.GetValue(Precision));
        IBackend Cpu() => new CpuBackend(result.GetValue(Threads), result.GetValue(Gemm));
        switch (device)
        {
            case "cpu":
                return Cpu();
            case "ilgpu-cpu":
                return IlgpuDevices.CreateOnCpuAccelerator(precision ?? Engine.Precision.Fp32);
            case "cuda":
                return IlgpuDevices.CreateCuda(precision ?? Engine.Precision.Bf16, CudaLibraryProbe.ProcessEnvironment(), log);
            default:
                if (IlgpuDevices.TryCreateCuda(precision ?? Engine.Precision.Bf16, CudaLibraryProbe.ProcessEnvironment(), log, out var cuda, out var why))
                    return cuda!;
                log?.Invoke($"--device auto: {why}; using the CPU");
                return precision is { } p && p != Engine.Precision.Fp32
                    ? throw new ArgumentException($"--precision {p.ToString().ToLowerInvariant()} needs a GPU, and none was found ({why})")
                    : Cpu();
        }
    }

    public static Precision? ParsePrecision(string? text) => text?.ToLowerInvariant() switch
    {
        null => null,
        "fp32" => Engine.Precision.Fp32,
        "tf32" => Engine.Precision.Tf32,
        "bf16" => Engine.Precision.Bf16,
        _ => throw new ArgumentException($"--precision '{text}' is not one of fp32, tf32, bf16"),
    };
}
