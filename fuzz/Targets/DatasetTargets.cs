using Eval.Harness.Data;

namespace Eval.Fuzz.Targets;

/// <summary>
/// The dataset readers, one target per format task files may name (xcopa-jsonl and json-lines share a reader and a
/// target). Each refuses a bad file with <see cref="DatasetFormatException"/> naming the file and line.
/// </summary>
public static class DatasetTargets
{
    public static FuzzTarget XnliTsv { get; } = Reader("xnli-tsv", "xnli-tsv", "data.tsv", "en");
    public static FuzzTarget XnliOriginal { get; } = Reader("xnli-1.0", "xnli-1.0", "xnli.test.tsv", "en");
    public static FuzzTarget JsonLines { get; } = Reader("json-lines", "json-lines", "data.jsonl", "en");
    public static FuzzTarget XWinogradTsv { get; } = Reader("xwinograd-tsv", "xwinograd-tsv", "data.tsv", "en");
    public static FuzzTarget MmluCsv { get; } = Reader("mmlu-csv", "mmlu-csv", "test.csv", "abstract_algebra");
    public static FuzzTarget MmluOriginal { get; } = Reader("mmlu-original", "mmlu-original", "abstract_algebra_test.csv", "abstract_algebra");
    public static FuzzTarget MmluProJsonl { get; } = Reader("mmlu-pro-jsonl", "mmlu-pro-jsonl", "test.jsonl", "computer_science");
    public static FuzzTarget Parquet { get; } = Reader("parquet", "parquet", "test-00000-of-00001.parquet", "en");
    public static FuzzTarget MmluProParquet { get; } = Reader("mmlu-pro-parquet", "mmlu-pro-parquet", "test-00000-of-00001.parquet", "computer_science");

    private static FuzzTarget Reader(string name, string format, string fileName, string subset) => new(
        name,
        fileName,
        $"the input as a {format} file: DatasetReaders.Read(\"{format}\", path, \"{subset}\"), then every field of every document read",
        [typeof(DatasetFormatException)],
        (input, workspace) =>
        {
            var path = workspace.WriteFile(name, fileName, input);
            foreach (var document in DatasetReaders.Read(format, path, subset))
                foreach (var (_, value) in document.Fields)
                    if (value is IReadOnlyList<object?> list)
                        foreach (var item in list) _ = item?.ToString();
                    else _ = value?.ToString();
        });
}
