using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Eval.Engine.IO;

/// <summary>The tensors that go into one weight file of a checkpoint being written.</summary>
public sealed record CheckpointShard(string FileName, IReadOnlyList<StoredTensor> Tensors)
{
    public long ByteCount => Tensors.Sum(t => t.ByteCount);
}

/// <summary>
/// Writes the tensors of an <see cref="ITensorCatalog"/> as transformers' <c>save_pretrained</c> does: one
/// <c>model.safetensors</c>, or above the shard size <c>model-00001-of-0000N.safetensors</c> … with
/// <c>model.safetensors.index.json</c> (<c>metadata.total_size</c> = the tensors' bytes, <c>weight_map</c> name → file,
/// sorted, two-space indented). Each tensor keeps its stored dtype and bytes; they are streamed from the source in
/// windows, so the model is never held in memory.
/// </summary>
public static class ShardedCheckpointWriter
{
    /// <summary>transformers' default <c>max_shard_size</c>, "5GB" (decimal).</summary>
    public const long DefaultMaxShardBytes = 5_000_000_000;

    private const int CopyWindowBytes = 16 << 20;

    private static readonly (string Suffix, long Multiplier)[] SizeUnits =
    [
        ("TIB", 1L << 40), ("GIB", 1L << 30), ("MIB", 1L << 20), ("KIB", 1L << 10),
        ("TB", 1_000_000_000_000), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1_000), ("B", 1),
    ];

    /// <summary>
    /// Splits the tensors in order as huggingface_hub does: a tensor that would tip the current shard over the limit
    /// starts a new one, and a tensor larger than the limit gets a shard of its own, placed when it is met (before the
    /// shard still being filled). One shard is <c>model.safetensors</c>.
    /// </summary>
    public static IReadOnlyList<CheckpointShard> PlanShards(IReadOnlyList<StoredTensor> tensors, long maxShardBytes)
    {
        if (maxShardBytes <= 0) throw new ArgumentException($"the maximum shard size must be positive, got {maxShardBytes} bytes");
        var groups = new List<List<StoredTensor>>();
        var current = new List<StoredTensor>();
        long currentBytes = 0;
        foreach (var tensor in tensors)
        {
            long size = tensor.ByteCount;
            if (size > maxShardBytes)
            {
                groups.Add([tensor]);
                continue;
            }
            if (currentBytes + size > maxShardBytes && current.Count > 0)
            {
                groups.Add(current);
                current = [];
                currentBytes = 0;
            }
            current.Add(tensor);
            currentBytes += size;
        }
        if (current.Count > 0 || groups.Count == 0) groups.Add(current);
        if (groups.Count == 1) return [new CheckpointShard(Checkpoint.SingleFile, groups[0])];
        return groups.Select((g, i) => new CheckpointShard($"model-{i + 1:D5}-of-{groups.Count:D5}.safetensors", g)).ToList();
    }

    /// <summary>Writes the weight files (and the index when sharded) into an existing folder; returns the files written.</summary>
    public static IReadOnlyList<string> Write(ITensorCatalog source, string directory, long maxShardBytes = DefaultMaxShardBytes)
    {
        var tensors = source.Tensors.ToList();
        var duplicate = tensors.GroupBy(t => t.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new CheckpointFormatException($"{source.Description}: tensor '{duplicate.Key}' is listed twice");
        var shards = PlanShards(tensors, maxShardBytes);
        var window = new byte[(int)Math.Min(CopyWindowBytes, Math.Max(1, tensors.Select(t => t.ByteCount).DefaultIfEmpty(1).Max()))];
        var written = new List<string>();
        foreach (var shard in shards)
        {
            var writer = new SafetensorsWriter().WithMetadata("format", "pt");
            foreach (var tensor in shard.Tensors)
                writer.AddStreamed(tensor.Name, tensor.DType, tensor.Shape, stream => CopyTensor(source, tensor, stream, window));
            writer.Write(Path.Combine(directory, shard.FileName));
            written.Add(shard.FileName);
        }
        if (shards.Count > 1)
        {
            File.WriteAllText(Path.Combine(directory, Checkpoint.IndexFile), IndexJson(shards), new UTF8Encoding(false));
            written.Add(Checkpoint.IndexFile);
        }
        return written;
    }

    /// <summary>model.safetensors.index.json as transformers writes it (json.dumps(indent=2, sort_keys=True) + "\n").</summary>
    public static string IndexJson(IReadOnlyList<CheckpointShard> shards)
    {
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var shard in shards)
            foreach (var tensor in shard.Tensors)
                weightMap[tensor.Name] = shard.FileName;
        var index = new SortedDictionary<string, object>(StringComparer.Ordinal)
        {
            ["metadata"] = new SortedDictionary<string, long> { ["total_size"] = shards.Sum(s => s.ByteCount) },
            ["weight_map"] = weightMap,
        };
        return JsonSerializer.Serialize(index, new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
    }

    /// <summary>
    /// Parses a shard size as transformers does: "5GB" (10⁹), "500MB", "10KB", "2GiB" (2³⁰), or a number of bytes.
    /// </summary>
    public static long ParseSize(string text)
    {
        var trimmed = text.Trim();
        foreach (var (suffix, multiplier) in SizeUnits)
        {
            if (!trimmed.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)) continue;
            var number = trimmed[..^suffix.Length].Trim();
            if (double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value > 0 && value * multiplier < long.MaxValue)
                return Math.Max(1, (long)(value * multiplier));
            break;
        }
        if (long.TryParse(trimmed, NumberStyles.None, CultureInfo.InvariantCulture, out var bytes) && bytes > 0) return bytes;
        throw new ArgumentException($"'{text}' is not a shard size: use a positive size such as 5GB, 500MB, 2GiB or a number of bytes");
    }

    private static void CopyTensor(ITensorCatalog source, StoredTensor tensor, Stream destination, byte[] window)
    {
        long size = tensor.ByteCount;
        for (long offset = 0; offset < size; offset += window.Length)
        {
            var chunk = window.AsSpan(0, (int)Math.Min(window.Length, size - offset));
            source.ReadRaw(tensor.Name, offset, chunk);
            destination.Write(chunk);
        }
    }
}
