using System.IO.Compression;
using System.Text;
using Eval.Engine.IO;
using Eval.Fuzz.Targets;

namespace Eval.Fuzz;

/// <summary>
/// Small seeds written at run time (nothing of them is committed): synthetic files of each format, built here, plus
/// pieces of the shared fixtures (weights and pickles only; dataset seeds are synthetic rows, never dataset text).
/// </summary>
internal static class SyntheticSeeds
{
    public static void Write(string target, string folder, string sharedFolder)
    {
        Directory.CreateDirectory(folder);
        void Seed(string name, byte[] content) => File.WriteAllBytes(Path.Combine(folder, name), content);
        void Text(string name, string content) => Seed(name, Encoding.UTF8.GetBytes(content));
        string fixtures = Path.Combine(sharedFolder, "fixtures", "checkpoints");

        switch (target)
        {
            case "safetensors":
                Seed("f32.safetensors", Safetensors(w => w.Add("a", [1f, 2f, 3f, 4f], 2, 2).Add("b", [5f], 1)));
                Seed("mixed.safetensors", Safetensors(w => w.Add("ids", [1L, 2L, 3L], 3).Add("h", SafetensorsDType.F16, new byte[8], 4)
                    .Add("bf", SafetensorsDType.BF16, new byte[4], 2).Add("e", SafetensorsDType.F32, [], 0).WithMetadata("format", "pt")));
                break;
            case "safetensors-index":
                Text("index.json", """{"metadata": {"total_size": 40}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"}}""");
                Text("one-shard.json", """{"weight_map": {"b": "model-00002-of-00002.safetensors"}}""");
                break;
            case "pickle":
                Seed("state-dict.pkl", SyntheticPickles.StateDict(2));
                Seed("fairseq.pkl", SyntheticPickles.Fairseq());
                Seed("protocol0.pkl", Convert.FromHexString(
                    "286c70300a49310a6156615c7530303061620a70310a6146312e350a6156e90a70320a614e614930310a614c31303030303030303030303030303030" +
                    "3030303030303030303030303030304c0a612849310a49320a7470330a61286470340a566b0a70350a635f636f646563730a656e636f64650a70360a" +
                    "285678790a70370a566c6174696e310a70380a7470390a527031300a73612e"));
                Seed("protocol5.pkl", Convert.FromHexString(
                    "8005954d000000000000007d94288c016194284b0147400400000000000043027879948f94284b014b0290284b03919474948c0162945d94284e4e4e65" +
                    "8c0163948a060000000000ff8c0164948c06c3a9c3a9c3a994752e"));
                foreach (var (name, file) in new[] { ("llama-data.pkl", "llama-tiny-bin/pytorch_model.bin"), ("fairseq-data.pkl", "xlmr-xl-tiny-fairseq/model.pt") })
                    if (ZipMember(Path.Combine(fixtures, file), "data.pkl") is { } pickle) Seed(name, pickle);
                break;
            case "torch-checkpoint":
                Seed("zip.bin", SyntheticPickles.Zip(SyntheticPickles.StateDict(2), 2));
                Seed("legacy.bin", SyntheticPickles.Legacy(SyntheticPickles.StateDict(2), 2));
                CopyIfSmall(Path.Combine(fixtures, "llama-tiny-bin", "pytorch_model.bin"), Path.Combine(folder, "llama-tiny.bin"));
                CopyIfSmall(Path.Combine(fixtures, "xlmr-xl-tiny-bin-legacy", "pytorch_model.bin"), Path.Combine(folder, "xlmr-xl-legacy.bin"));
                break;
            case "fairseq-checkpoint":
                Seed("fairseq.pt", SyntheticPickles.Zip(SyntheticPickles.Fairseq(), 8));
                CopyIfSmall(Path.Combine(fixtures, "xlmr-xl-tiny-fairseq", "model.pt"), Path.Combine(folder, "xlmr-xl-tiny.pt"));
                break;
            case "model-config":
                foreach (var config in Directory.EnumerateFiles(Path.Combine(sharedFolder, "configs"), "*.json").Order(StringComparer.Ordinal).Take(4))
                    File.Copy(config, Path.Combine(folder, Path.GetFileName(config)), overwrite: true);
                break;
            case "xnli-tsv":
                Text("rows.tsv", "id\tpremise\thypothesis\tlabel\n0\tA man walks.\tSomeone moves.\t0\n1\tA dog barks.\tA cat sleeps.\t2\n");
                break;
            case "xnli-1.0":
                Text("rows.tsv", "language\tgold_label\tsentence1_binary_parse\tsentence1\tsentence2\tpairID\n" +
                    "en\tneutral\t( A )\tA man walks.\tHe is late.\t1\nde\tentailment\t( B )\tEin Hund.\tEin Tier.\t2\n");
                break;
            case "json-lines":
                Text("rows.jsonl", """
                    {"premise": "The glass fell.", "choice1": "It broke.", "choice2": "It sang.", "question": "effect", "label": 0, "idx": 0}
                    {"premise": "x", "choice1": "y", "choice2": "z", "question": "cause", "label": 1, "idx": 1, "changed": true, "n": null, "l": [1.5, "a", {"k": []}]}
                    """);
                break;
            case "xwinograd-tsv":
                Text("rows.tsv", "en\twsc\t1\tThe cup fell because it was slippery.\t[\"The\", \"cup\", \"fell\", \"because\", \"it\", \"was\", \"slippery\", \".\"]\t" +
                    "[\"it\", [4, 5]]\t[[\"The cup\", \"cup\", [0, 2], true], [\"The table\", \"table\", [0, 2], false]]\n" +
                    "jp\twsc\t2\tx\t[\"x\"]\t[\"x\", [0, 1]]\t[]\n");
                break;
            case "mmlu-csv":
                Text("rows.csv", "question,choice0,choice1,choice2,choice3,answer\n\"What is 2+2?\",3,4,5,\"six, maybe\",1\nQ,a,b,c,d,3\n");
                break;
            case "mmlu-original":
                Text("rows.csv", "\"What is 2+2?\",3,4,5,\"six, \"\"quoted\"\"\",B\nQ,a,b,c,d,D\n");
                break;
            case "mmlu-pro-jsonl":
                Text("rows.jsonl", """
                    {"question_id": 1, "question": "What is 2+2?", "options": ["3", "4", "5", "6", "7", "8", "9", "10", "11", "12"], "answer": "B", "answer_index": 1, "category": "math", "src": "s"}
                    {"question_id": 2, "question": "One?", "options": ["only"], "answer": "A", "answer_index": 0, "category": "computer science", "src": "s"}
                    {"question_id": 3, "question": "Q", "options": ["a", "b", "c"], "answer": "C", "category": "computer science", "cot_content": ""}
                    """);
                break;
            case "parquet" or "mmlu-pro-parquet":
                Seed("rows.parquet", SyntheticParquet.MmluPro());
                Seed("two-groups.parquet", SyntheticParquet.MmluPro(rowGroups: 2));
                Seed("zstd-dictionary.parquet", SyntheticParquet.MmluPro(compression: Parquet.CompressionMethod.Zstd, dictionary: true));
                Seed("gzip.parquet", SyntheticParquet.MmluPro(compression: Parquet.CompressionMethod.Gzip));
                Seed("uncompressed-dictionary.parquet", SyntheticParquet.MmluPro(compression: Parquet.CompressionMethod.None, dictionary: true));
                break;
            case "run-json":
                Text("run.json", ReportTargets.ValidRunJson);
                Text("minimal.json", """{"model": {"id": "m"}, "options": {"scoring": "masked"}}""");
                break;
            case "samples-jsonl":
                Text("samples.jsonl", ReportTargets.ValidSamples);
                break;
            case "decode-csv":
                Text("decode.csv", string.Join(",", Eval.Harness.Benchmarks.DecodeBenchmark.CsvHeader) + "\n" +
                    "greedy,llama-tiny,LlamaForCausalLM,1000,bf16,kv-cache,1,16,8,3,3,24,1,3,12.5,11,14,12.5,80,640,transformers,17.5,1.4,ok,cpu,ci,\"mlm-eval bench decode\"\n" +
                    "mask-predict,xlmr-tiny,XLMRobertaForMaskedLM,2000,f32,mask-predict,4,16,8,3,0,0,4,0,,,,,,,,,,skipped,cpu,ci,x\n");
                break;
        }
    }

    private static byte[] Safetensors(Func<SafetensorsWriter, SafetensorsWriter> build)
    {
        var path = Path.GetTempFileName();
        try
        {
            build(new SafetensorsWriter()).Write(path);
            return File.ReadAllBytes(path);
        }
        finally { File.Delete(path); }
    }

    private static byte[]? ZipMember(string path, string suffix)
    {
        if (!File.Exists(path)) return null;
        using var zip = ZipFile.OpenRead(path);
        var entry = zip.Entries.FirstOrDefault(e => e.FullName.EndsWith("/" + suffix, StringComparison.Ordinal));
        if (entry is null) return null;
        using var stream = entry.Open();
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private static void CopyIfSmall(string source, string destination)
    {
        if (File.Exists(source) && new FileInfo(source).Length <= 1 << 20) File.Copy(source, destination, overwrite: true);
    }
}
