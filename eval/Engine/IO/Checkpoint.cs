using System.Text.Json;

namespace Eval.Engine.IO;

/// <summary>
/// The weights of a Hugging Face model folder: <c>model.safetensors</c>, or <c>model.safetensors.index.json</c> with
/// its shards. Each tensor name maps to one file; nothing is read until asked for.
/// </summary>
public sealed class Checkpoint : IWeightSource, ITensorCatalog, IDisposable
{
    public const string SingleFile = "model.safetensors";
    public const string IndexFile = "model.safetensors.index.json";
    private readonly List<SafetensorsFile> files = [];
    private readonly Dictionary<string, SafetensorsFile> owner = new(StringComparer.Ordinal);

    private Checkpoint(string directory) => Directory = directory;

    public string Directory { get; }
    public IEnumerable<string> Names => owner.Keys;
    public IReadOnlyList<SafetensorsFile> Files => files;

    public static Checkpoint Open(string directory)
    {
        var checkpoint = new Checkpoint(directory);
        try
        {
            var single = Path.Combine(directory, SingleFile);
            var index = Path.Combine(directory, IndexFile);
            if (File.Exists(single))
                checkpoint.AddFile(single, null);
            else if (File.Exists(index))
                checkpoint.OpenShards(index);
            else if (File.Exists(Path.Combine(directory, "pytorch_model.bin")) || File.Exists(Path.Combine(directory, "pytorch_model.bin.index.json")))
                throw new CheckpointFormatException(
                    $"{directory}: only pytorch_model.bin is present; safetensors weights are required " +
                    "(convert with transformers: model.save_pretrained(dir, safe_serialization=True))");
            else
                throw new CheckpointFormatException($"{directory}: no {SingleFile} or {IndexFile} found");
            return checkpoint;
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    public string Description => Directory;

    public bool Contains(string name) => owner.ContainsKey(name);

    /// <summary>Every tensor once: the files in name order (shard 1, 2, …), each in the order of its data.</summary>
    public IEnumerable<StoredTensor> Tensors =>
        files.OrderBy(f => f.Path, StringComparer.Ordinal)
            .SelectMany(f => f.Tensors.Where(t => owner.TryGetValue(t.Name, out var o) && ReferenceEquals(o, f)));

    public void ReadRaw(string name, long offset, Span<byte> destination)
    {
        var entry = Entry(name, out var file);
        file.ReadRaw(entry, offset, destination);
    }

    public void Read(string name, ReadOnlySpan<int> expectedShape, Span<float> destination)
    {
        if (!owner.ContainsKey(name))
            throw new CheckpointFormatException($"{Directory}: tensor '{name}' is missing (expected shape {Tensor.FormatShape(expectedShape)})");
        var entry = Entry(name, out var file);
        if (entry.Shape.Length != expectedShape.Length || !entry.Shape.Zip(expectedShape.ToArray()).All(p => p.First == p.Second))
            throw new CheckpointFormatException(
                $"{file.Path}: tensor '{name}' has shape {entry.ShapeText}, expected {Tensor.FormatShape(expectedShape)}");
        if (entry.DType is not (SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16))
            throw new CheckpointFormatException($"{file.Path}: tensor '{name}' has dtype {entry.DType}; weights must be F32, F16 or BF16");
        file.ReadAsFloat32(entry, destination);
    }

    public SafetensorsEntry Entry(string name, out SafetensorsFile file)
    {
        if (!owner.TryGetValue(name, out file!))
            throw new CheckpointFormatException($"{Directory}: tensor '{name}' is missing");
        return file.Get(name);
    }

    public void Dispose()
    {
        foreach (var f in files) f.Dispose();
        files.Clear();
    }

    private void OpenShards(string indexPath)
    {
        Dictionary<string, string> weightMap;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (!doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new CheckpointFormatException($"{indexPath}: no \"weight_map\" object");
            weightMap = map.EnumerateObject().ToDictionary(p => p.Name,
                p => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()!
                    : throw new CheckpointFormatException($"{indexPath}: weight_map entry '{p.Name}' is not a file name"));
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException($"{indexPath}: not valid JSON: {e.Message}");
        }
        foreach (var shard in weightMap.Values.Distinct())
        {
            if (shard.Contains('/') || shard.Contains('\\'))
                throw new CheckpointFormatException($"{indexPath}: shard name '{shard}' must be a file in the same folder");
            var shardPath = Path.Combine(Directory, shard);
            if (!File.Exists(shardPath))
                throw new CheckpointFormatException($"{indexPath}: shard '{shard}' is missing");
            AddFile(shardPath, weightMap.Where(p => p.Value == shard).Select(p => p.Key).ToHashSet());
        }
        foreach (var (name, shard) in weightMap)
            if (!owner.ContainsKey(name))
                throw new CheckpointFormatException($"{indexPath}: tensor '{name}' is mapped to '{shard}' but that file does not hold it");
    }

    private void AddFile(string path, HashSet<string>? expected)
    {
        var file = new SafetensorsFile(path);
        files.Add(file);
        foreach (var name in file.Entries.Keys)
        {
            if (expected is not null && !expected.Contains(name)) continue;
            if (!owner.TryAdd(name, file))
                throw new CheckpointFormatException($"tensor '{name}' is in both {owner[name].Path} and {path}");
        }
    }
}
