using Eval.Engine;
using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>Opens a model folder (Hugging Face, or fairseq) and builds the architecture its config names.</summary>
public static class ModelLoader
{
    public static readonly IReadOnlyList<string> SupportedArchitectures =
    [
        "ModernBertForMaskedLM", "XLMRobertaForMaskedLM", "RobertaForMaskedLM", "XLMRobertaXLForMaskedLM",
        "LlamaForCausalLM", "Qwen2ForCausalLM",
    ];

    private static readonly IReadOnlyDictionary<string, string> ArchitectureByModelType = new Dictionary<string, string>
    {
        ["modernbert"] = "ModernBertForMaskedLM",
        ["xlm-roberta"] = "XLMRobertaForMaskedLM",
        ["roberta"] = "RobertaForMaskedLM",
        ["xlm-roberta-xl"] = "XLMRobertaXLForMaskedLM",
        ["llama"] = "LlamaForCausalLM",
        ["qwen2"] = "Qwen2ForCausalLM",
    };

    /// <summary>The supported architecture named by architectures (first match) or model_type.</summary>
    public static string ResolveArchitecture(ModelConfig config)
    {
        foreach (var a in config.Architectures)
            if (SupportedArchitectures.Contains(a)) return a;
        if (ArchitectureByModelType.TryGetValue(config.ModelType, out var byType)) return byType;
        var named = config.Architectures.Count > 0 ? string.Join(", ", config.Architectures) : $"model_type '{config.ModelType}'";
        throw new NotSupportedException(
            $"{config.Path}: {named} is not supported; supported architectures: {string.Join(", ", SupportedArchitectures)}");
    }

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
        ResolveArchitecture(config);
        using var checkpoint = Checkpoint.Open(directory);
        // Weights are converted into engine tensors; the mapped files are closed when loading ends.
        return Create(config, checkpoint, backend);
    }

    /// <summary>Builds the architecture config names from any weight source (a checkpoint, or random weights).</summary>
    public static ILanguageModel Create(ModelConfig config, IWeightSource source, IBackend backend)
    {
        var architecture = ResolveArchitecture(config);
        return architecture switch
        {
            "ModernBertForMaskedLM" => new ModernBertModel(config, source, backend),
            "XLMRobertaForMaskedLM" or "RobertaForMaskedLM" => new XlmRobertaModel(config, source, backend, architecture),
            "XLMRobertaXLForMaskedLM" => new XlmRobertaXlModel(config, source, backend),
            _ => new LlamaModel(config, source, backend, architecture),
        };
    }
}
