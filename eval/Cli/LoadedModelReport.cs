using Eval.Engine.Cpu;
using Eval.Harness.Benchmarks;
using Eval.Models;

namespace Eval.Cli;

/// <summary>
/// One line after a model has loaded: its architecture and size, and where the CPU backend holds the float32 weights, the
/// process's peak resident memory against their bytes (the loader converts each tensor out of the memory-mapped files
/// and releases the mapped pages, so this stays near 1×).
/// </summary>
public static class LoadedModelReport
{
    public static string Describe(ILanguageModel model)
    {
        var architecture = ModelLoader.ResolveArchitecture(model.Config);
        long peak = Measurement.PeakResidentBytes();
        if (model.Backend is not CpuBackend)
            return $"{architecture}: {model.ParameterCount / 1e6:0.#}M parameters on {model.Backend.Name}; peak RSS {peak / 1e9:0.00} GB";
        long weightBytes = model.ParameterCount * sizeof(float);
        return $"{architecture}: {model.ParameterCount / 1e6:0.#}M parameters, {weightBytes / 1e9:0.00} GB of float32 weights; " +
               $"peak RSS {peak / 1e9:0.00} GB = {peak / (double)Math.Max(1, weightBytes):0.00}x the weight bytes";
    }
}
