using System.Text;
using Eval.Harness.Reports;

namespace Eval.Fuzz.Targets;

/// <summary>
/// What `report` and `compare` read: a run folder's run.json and samples_&lt;task&gt;.jsonl (RunRecord.Load; the
/// regression comparison of the run against itself), and a `bench decode` CSV. Each refuses a bad file with
/// FormatException naming the file (and line).
/// </summary>
public static class ReportTargets
{
    public const string ValidRunJson =
        """{"model": {"id": "org/model", "architecture": "XLMRobertaForMaskedLM", "parameters": 1000, "fingerprint": "abc", "path": "/m"}, "options": {"scoring": "log-likelihood"}}""";

    public const string ValidSamples =
        """
        {"task": "xnli", "language": "en", "template": "t1", "doc_id": 0, "prediction": 1, "gold": 1, "choices": ["yes", "no", "maybe"], "scores": [-1.0, -0.5, -2.0]}
        {"task": "xnli", "language": "en", "template": "t1", "doc_id": 1, "prediction": 0, "gold": 2, "choice_count": 3, "choice_chars": [3, 2, 5], "scores": [-0.1, -0.5, -2.0]}
        """;

    public static FuzzTarget RunJson { get; } = new(
        "run-json",
        "run.json",
        "the input as run.json beside a valid samples file: RunRecord.Load, its rows and both metrics, then `compare` of the folder with itself",
        [typeof(FormatException)],
        (input, workspace) => LoadRun(workspace, "run-json", input, Encoding.UTF8.GetBytes(ValidSamples)));

    public static FuzzTarget SamplesJsonl { get; } = new(
        "samples-jsonl",
        "samples_xnli.jsonl",
        "the input as samples_xnli.jsonl beside a valid run.json: RunRecord.Load, its rows and both metrics, then `compare` of the folder with itself",
        [typeof(FormatException)],
        (input, workspace) => LoadRun(workspace, "samples-jsonl", Encoding.UTF8.GetBytes(ValidRunJson), input));

    public static FuzzTarget DecodeCsv { get; } = new(
        "decode-csv",
        "decode-20260101.csv",
        "the input as a `bench decode` CSV: DecodeSpeedSection.Read, then the report section built from it",
        [typeof(FormatException)],
        (input, workspace) =>
        {
            var path = workspace.WriteFile("decode-csv", "decode-20260101.csv", input);
            DecodeSpeedSection.Read(path);
            DecodeSpeedSection.Build(path);
        });

    private static void LoadRun(FuzzWorkspace workspace, string folder, byte[] runJson, byte[] samples)
    {
        workspace.WriteFile(folder, "run.json", runJson);
        var path = workspace.WriteFile(folder, "samples_xnli.jsonl", samples);
        var directory = Path.GetDirectoryName(path)!;
        var run = RunRecord.Load(directory);
        foreach (var metric in new[] { RunRecord.Acc, RunRecord.AccNorm })
        {
            var view = run.ForMetric(metric);
            _ = view.Rows().Count;
        }
        RegressionReport.Compare(directory, directory, 1.0, failOnChangedPredictions: true);
    }
}
