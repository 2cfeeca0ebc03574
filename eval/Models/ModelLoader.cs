using Eval.Engine;
using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>Opens a model folder (Hugging Face, or fairseq) and builds the architecture its config names (<see cref="ModelArchitectures"/>).</summary>
public static class ModelLoader
{
    /// <summary>The supported architecture config names, as <see cref="ModelArchitectures.Resolve"/> decides it.</summary>
    public static string ResolveArchitecture(ModelConfig config) => ModelArchitectures.Resolve(config).Name;

    /// <summary>
    /// Opens a Hugging Face folder (config.json + safetensors or pytorch_model.bin), or a fairseq folder without
    /// config.json (model.pt, checkpoint_last.pt: RoBERTa/XLM-R or Instruct-XLMR; overrides fill what it does not say).
    /// </summary>
    public static ILanguageModel Load(string directory, IBackend backend, FairseqOverrides? overrides = null)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"{directory}: model folder not found");
        var configPath = Path.Combine(directory, "config.json");
        if (!File.Exists(configPath) && FairseqCheckpoint.FindFile(directory) is { } fairseqPath)
        {
            using var fairseq = FairseqCheckpoint.Open(fairseqPath, overrides);
            return Create(fairseq.Config, fairseq, backend);
        }
        var config = ModelConfig.Load(configPath);
        var architecture = ModelArchitectures.Resolve(config);
        using var checkpoint = Checkpoint.Open(directory);
        // Weights are converted into engine tensors; the mapped files are closed when loading ends.
        return architecture.Create(config, checkpoint, backend);
    }

    /// <summary>Builds the architecture config names from any weight source (a checkpoint, or random weights).</summary>
    public static ILanguageModel Create(ModelConfig config, IWeightSource source, IBackend backend) =>
        ModelArchitectures.Resolve(config).Create(config, source, backend);
}
