using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Eval.Engine.IO;
using Eval.Harness.Data;

namespace Eval.Harness.Runs;

/// <summary>
/// Identifies a model for the score cache and run.json: the sha256 of each weight file (taken from the hub cache's
/// blob name when the file is a link to one), config.json and the tokenizer files.
/// </summary>
public static partial class ModelFingerprint
{
    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Name();

    private static readonly string[] WeightPatterns = ["*.bin", "*.pt"];

    public static IReadOnlyDictionary<string, string> WeightDigests(string modelDirectory)
    {
        // safetensors when the folder has them (what the loader reads first), else the PyTorch checkpoint files.
        var files = Directory.EnumerateFiles(modelDirectory, "*.safetensors").Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0)
            files = WeightPatterns.SelectMany(p => Directory.EnumerateFiles(modelDirectory, p)).Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new FileNotFoundException($"{modelDirectory}: no .safetensors, .bin or .pt weights");
        return files.ToDictionary(f => Path.GetFileName(f), FileDigest);
    }

    public static string FileDigest(string path)
    {
        if (LinkedFile.FinalTargetName(path) is { } blob && Sha256Name().IsMatch(blob) && LinkedFile.Reaches(path)) return blob;
        return Downloader.Sha256Of(path);
    }

    public static string Combine(IReadOnlyDictionary<string, string> weights, string configPath, string tokenizerDigest)
    {
        var text = new StringBuilder();
        foreach (var (name, digest) in weights.OrderBy(kv => kv.Key, StringComparer.Ordinal)) text.Append(name).Append('=').Append(digest).Append('\n');
        // A fairseq folder has no config.json: its settings are inside the hashed checkpoint.
        text.Append("config=").Append(File.Exists(configPath) ? Downloader.Sha256Of(configPath) : "none").Append('\n');
        text.Append("tokenizer=").Append(tokenizerDigest).Append('\n');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>sha256 over tokenizer.json and tokenizer_config.json (when present) of a tokenizer folder.</summary>
    public static string TokenizerDigest(string tokenizerDirectory)
    {
        var parts = new[] { "tokenizer.json", "tokenizer_config.json" }
            .Select(f => Path.Combine(tokenizerDirectory, f)).Where(File.Exists).Select(FileDigest);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n", parts))));
    }
}
