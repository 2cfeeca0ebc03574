namespace Eval.Fuzz.Targets;

/// <summary>Every fuzz target by name, in the order `fuzz/run all` runs them.</summary>
public static class FuzzTargets
{
    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        CheckpointTargets.Safetensors, CheckpointTargets.SafetensorsIndex, CheckpointTargets.Pickle,
        CheckpointTargets.TorchCheckpointFile, CheckpointTargets.Fairseq,
        ConfigTargets.ModelConfigJson, ConfigTargets.TokenizerJson,
        TaskTargets.TaskYaml, TaskTargets.Jinja,
        DatasetTargets.XnliTsv, DatasetTargets.XnliOriginal, DatasetTargets.JsonLines, DatasetTargets.XWinogradTsv,
        DatasetTargets.MmluCsv, DatasetTargets.MmluOriginal, DatasetTargets.MmluProJsonl, DatasetTargets.Parquet, DatasetTargets.MmluProParquet,
        ReportTargets.RunJson, ReportTargets.SamplesJsonl, ReportTargets.DecodeCsv,
    ];

    public static FuzzTarget Get(string name) =>
        All.FirstOrDefault(t => t.Name == name)
        ?? throw new ArgumentException($"unknown fuzz target '{name}' (targets: {string.Join(", ", All.Select(t => t.Name))})");
}
