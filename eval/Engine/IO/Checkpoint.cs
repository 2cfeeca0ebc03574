using System.Text.Json;

namespace Eval.Engine.IO;

/// <summary>
/// The weights of a Hugging Face model folder: <c>model.safetensors</c>, <c>model.safetensors.index.json</c> with its
/// shards, or (read by the safe unpickler) <c>pytorch_model.bin</c> / <c>pytorch_model.bin.index.json</c> with its
/// shards. Each tensor name maps to one file; nothing is converted until asked for.
/// </summary>
public sealed class Checkpoint : IWeightSource, ITensorCatalog, IDisposable
{
    public const string SingleFile = "model.safetensors";
    public const string IndexFile = "model.safetensors.index.json";
    public const string PytorchFile = "pytorch_model.bin";
    public const string PytorchIndexFile = "pytorch_model.bin.index.json";

    /// <summary>The weight files a folder may have, in the order they are looked for: the first present is the one read.</summary>
    public static readonly IReadOnlyList<string> WeightFileNames = [SingleFile, IndexFile, PytorchFile, PytorchIndexFile];
    private readonly List<ITensorFile> files = [];
    private readonly Dictionary<string, ITensorFile> owner = new(StringComparer.Ordinal);

    private Checkpoint(string directory) => Directory = directory;

    public string Directory { get; }
    public IEnumerable<string> Names => owner.Keys;
    public IReadOnlyList<ITensorFile> Files => files;

    public static Checkpoint Open(string directory)
    {
        var checkpoint = new Checkpoint(directory);
        try
        {
            // Present means a file or a link, even a broken one: opening it then names the link and its missing target.
            var path = WeightFileNames.Select(n => Path.Combine(directory, n)).FirstOrDefault(File.Exists)
                       ?? throw new CheckpointFormatException($"{directory}: no {SingleFile}, {IndexFile}, {PytorchFile} or {PytorchIndexFile} found");
            if (IsIndex(path)) checkpoint.OpenShards(path);
            else checkpoint.AddFile(path, null);
            return checkpoint;
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    /// <summary>Whether a weight file is a shard index (model.safetensors.index.json, pytorch_model.bin.index.json).</summary>
    public static bool IsIndex(string path) => path.EndsWith(".index.json", StringComparison.Ordinal);

    /// <summary>A checkpoint of one tensor file (a fairseq model.pt, say), which it then owns.</summary>
    public static Checkpoint Of(ITensorFile file)
    {
        var checkpoint = new Checkpoint(Path.GetDirectoryName(file.Path) ?? "");
        checkpoint.Add(file, null);
        return checkpoint;
    }

    /// <summary>Opens a tensor file by its extension: .safetensors, anything else as a PyTorch checkpoint.</summary>
    public static ITensorFile OpenFile(string path) =>
        path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) ? new SafetensorsFile(path) : new TorchCheckpoint(path);

    public string Description => Directory;

    public bool Contains(string name) => owner.ContainsKey(name);

    /// <summary>Every tensor once: the files in name order (shard 1, 2, …), each in the order of its data.</summary>
    public IEnumerable<StoredTensor> Tensors =>
        files.OrderBy(f => f.Path, StringComparer.Ordinal)
            .SelectMany(f => f.Tensors.Where(t => owner.TryGetValue(t.Name, out var o) && ReferenceEquals(o, f)));

    public void ReadRaw(string name, long offset, Span<byte> destination)
    {
        Info(name, out var file);
        file.ReadRaw(name, offset, destination);
    }

    public void Read(string name, ReadOnlySpan<int> expectedShape, Span<float> destination)
    {
        if (!owner.TryGetValue(name, out var file))
            throw new CheckpointFormatException($"{Directory}: tensor '{name}' is missing (expected shape {Tensor.FormatShape(expectedShape)})");
        var info = file.Info(name);
        if (info.Shape.Length != expectedShape.Length || !info.Shape.Zip(expectedShape.ToArray()).All(p => p.First == p.Second))
            throw new CheckpointFormatException(
                $"{file.Path}: tensor '{name}' has shape {Tensor.FormatShape(info.Shape)}, expected {Tensor.FormatShape(expectedShape)}");
        if (info.DType is not (SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16))
            throw new CheckpointFormatException($"{file.Path}: tensor '{name}' has dtype {info.DType}; weights must be F32, F16 or BF16");
        file.ReadAsFloat32(name, destination);
    }

    /// <summary>The stored dtype and shape of a tensor, and the file that holds it.</summary>
    public StoredTensor Info(string name, out ITensorFile file)
    {
        if (!owner.TryGetValue(name, out file!))
            throw new CheckpointFormatException($"{Directory}: tensor '{name}' is missing");
        return file.Info(name);
    }

    public void Dispose()
    {
        foreach (var f in files) f.Dispose();
        files.Clear();
    }

    /// <summary>
    /// The tensor → shard file map of a model.safetensors.index.json (or pytorch_model.bin.index.json), checked: valid
    /// UTF-8 JSON with a "weight_map" object of strings, no tensor named twice, each shard a file beside the index.
    /// </summary>
    public static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        var bytes = LinkedFile.ReadAllBytes(indexPath);
        // JsonDocument reads strings lazily: bad UTF-8 would surface later as InvalidOperationException.
        if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new CheckpointFormatException($"{indexPath}: not valid UTF-8");
        var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out var map)
                || map.ValueKind != JsonValueKind.Object)
                throw new CheckpointFormatException($"{indexPath}: no \"weight_map\" object");
            foreach (var p in map.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw new CheckpointFormatException($"{indexPath}: weight_map entry '{p.Name}' is not a file name");
                var shard = p.Value.GetString()!;
                if (shard.Contains('/') || shard.Contains('\\') || shard is "" or "." or "..")
                    throw new CheckpointFormatException($"{indexPath}: shard name '{shard}' must be a file in the same folder");
                if (!weightMap.TryAdd(p.Name, shard))
                    throw new CheckpointFormatException($"{indexPath}: weight_map names tensor '{p.Name}' twice");
            }
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException($"{indexPath}: not valid JSON: {e.Message}");
        }
        catch (InvalidOperationException e)
        {
            throw new CheckpointFormatException($"{indexPath}: a string is not valid text: {e.Message}");
        }
        return weightMap;
    }

    private void OpenShards(string indexPath)
    {
        var weightMap = ReadWeightMap(indexPath);
        foreach (var shard in weightMap.Values.Distinct())
        {
            var shardPath = Path.Combine(Directory, shard);
            if (!File.Exists(shardPath))
                throw new CheckpointFormatException($"{indexPath}: shard '{shard}' is missing");
            AddFile(shardPath, weightMap.Where(p => p.Value == shard).Select(p => p.Key).ToHashSet());
        }
        foreach (var (name, shard) in weightMap)
            if (!owner.ContainsKey(name))
                throw new CheckpointFormatException($"{indexPath}: tensor '{name}' is mapped to '{shard}' but that file does not hold it");
    }

    private void AddFile(string path, HashSet<string>? expected) => Add(OpenFile(path), expected);

    private void Add(ITensorFile file, HashSet<string>? expected)
    {
        files.Add(file);
        foreach (var name in file.TensorNames)
        {
            if (expected is not null && !expected.Contains(name)) continue;
            if (!owner.TryAdd(name, file))
                throw new CheckpointFormatException($"tensor '{name}' is in both {owner[name].Path} and {file.Path}");
        }
    }
}
