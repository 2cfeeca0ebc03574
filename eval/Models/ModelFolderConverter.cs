using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>What <see cref="ModelFolderConverter"/> wrote.</summary>
public sealed record ConversionSummary(string Destination, int TensorCount, long TensorBytes, IReadOnlyList<string> WeightFiles, IReadOnlyList<string> CopiedFiles);

/// <summary>
/// `mlm-eval convert`: a supported model folder → Hugging Face layout (config.json, model.safetensors or shards with
/// model.safetensors.index.json, the tokenizer files). Tensors keep their stored dtype and bytes, so the converted
/// folder gives bit-identical outputs. The folder is built beside the destination (DST.tmp) and renamed into place
/// when complete, so an interrupted conversion never leaves a half-written model under the destination's name.
/// </summary>
public static class ModelFolderConverter
{
    /// <summary>Files copied from the source folder when present: tokenizers of every kind, and generation settings.</summary>
    public static readonly IReadOnlyList<string> AccompanyingFiles =
    [
        "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
        "sentencepiece.bpe.model", "spiece.model", "tokenizer.model", "vocab.txt", "vocab.json", "merges.txt",
        "dict.txt", "generation_config.json",
    ];

    /// <summary>Opens the source folder's weights (<see cref="Checkpoint.Open"/>, or a fairseq checkpoint) and converts it.</summary>
    public static ConversionSummary Convert(string source, string destination, long maxShardBytes = ShardedCheckpointWriter.DefaultMaxShardBytes, bool force = false)
    {
        CheckFolders(source, destination, force);
        if (!File.Exists(Path.Combine(source, "config.json")) && FairseqCheckpoint.FindFile(source) is { } fairseqPath)
        {
            // A fairseq folder: Hugging Face names and the config derived from its args.
            using var fairseq = FairseqCheckpoint.Open(fairseqPath);
            return Convert(fairseq, source, destination, maxShardBytes, force);
        }
        using var checkpoint = Checkpoint.Open(source);
        if (checkpoint is not ITensorCatalog catalog)
            throw new NotSupportedException($"{source}: its weights cannot be listed tensor by tensor, so they cannot be converted");
        return Convert(catalog, source, destination, maxShardBytes, force);
    }

    /// <summary>Converts the tensors of <paramref name="catalog"/>; <paramref name="source"/> is the folder its config and tokenizer files come from.</summary>
    public static ConversionSummary Convert(ITensorCatalog catalog, string source, string destination, long maxShardBytes, bool force)
    {
        CheckFolders(source, destination, force);
        var (configJson, configPath) = ReadConfig(catalog, source);
        ModelLoader.ResolveArchitecture(ModelConfig.Parse(configJson, configPath));
        if (maxShardBytes <= 0) throw new ArgumentException($"the maximum shard size must be positive, got {maxShardBytes} bytes");

        var full = Path.GetFullPath(destination).TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
        var staging = full + ".tmp";
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        else if (File.Exists(staging)) throw new IOException($"{staging}: a file is in the way of the staging folder");
        Directory.CreateDirectory(staging);
        try
        {
            var weightFiles = ShardedCheckpointWriter.Write(catalog, staging, maxShardBytes);
            File.WriteAllBytes(Path.Combine(staging, "config.json"), configJson);
            var copied = new List<string> { "config.json" };
            foreach (var name in AccompanyingFiles)
            {
                var from = Path.Combine(source, name);
                if (!File.Exists(from)) continue;
                LinkedFile.Copy(from, Path.Combine(staging, name));
                copied.Add(name);
            }
            var tensors = catalog.Tensors.ToList();
            if (Directory.Exists(full)) Directory.Delete(full, recursive: true);
            Directory.Move(staging, full);
            return new ConversionSummary(full, tensors.Count, tensors.Sum(t => t.ByteCount), weightFiles, copied);
        }
        catch
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            throw;
        }
    }

    private static void CheckFolders(string source, string destination, bool force)
    {
        if (!Directory.Exists(source)) throw new DirectoryNotFoundException($"{source}: model folder not found");
        var sourceFull = Path.TrimEndingDirectorySeparator(Path.GetFullPath(source));
        var destinationFull = Path.TrimEndingDirectorySeparator(Path.GetFullPath(destination));
        if (string.Equals(sourceFull, destinationFull, StringComparison.Ordinal))
            throw new ArgumentException($"{destination}: the destination is the source folder; convert into a new folder");
        if (File.Exists(destinationFull)) throw new ArgumentException($"{destination}: exists and is a file, not a folder");
        if (!force && Directory.Exists(destinationFull) && Directory.EnumerateFileSystemEntries(destinationFull).Any())
            throw new ArgumentException($"{destination}: the folder is not empty; pass --force to replace it");
        if (sourceFull.StartsWith(destinationFull + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ArgumentException($"{destination}: the destination contains the source folder, which replacing it would delete");
    }

    private static (byte[] Json, string Path) ReadConfig(ITensorCatalog catalog, string source)
    {
        if (catalog.ConfigJson is { } derived) return (derived, $"{catalog.Description} (config derived from the checkpoint)");
        var path = Path.Combine(source, "config.json");
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: config.json not found; the source folder needs one", path);
        return (LinkedFile.ReadAllBytes(path), path);
    }
}
