using System.CommandLine;
using Eval.Engine;
using Eval.Engine.Cpu;

namespace Eval.Cli;

/// <summary>The options every command that runs a model shares: --device, --threads, --gemm.</summary>
public sealed class BackendOptions
{
    public Option<string> Device { get; } = new("--device")
    {
        Description = "cpu, or auto (the CPU until a GPU backend is built in)",
        DefaultValueFactory = _ => "auto",
    };

    public Option<int> Threads { get; } = new("--threads")
    {
        Description = "CPU threads (default: all cores)",
        DefaultValueFactory = _ => 0,
    };

    public Option<GemmPath> Gemm { get; } = new("--gemm")
    {
        Description = "CPU matrix multiply: Auto (BLAS when found), Blas, Managed",
        DefaultValueFactory = _ => GemmPath.Auto,
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Device);
        command.Options.Add(Threads);
        command.Options.Add(Gemm);
    }

    public IBackend Create(ParseResult result)
    {
        var device = result.GetValue(Device) ?? "auto";
        return device switch
        {
            "cpu" or "auto" => new CpuBackend(result.GetValue(Threads), result.GetValue(Gemm)),
            "cuda" => throw new NotSupportedException("--device cuda: this build has no CUDA backend yet; use --device cpu"),
            _ => throw new ArgumentException($"--device '{device}' is not one of cpu, cuda, auto"),
        };
    }
}
