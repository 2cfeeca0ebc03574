using Eval.Engine.IO;
using Eval.Models;

namespace Eval.Fuzz.Targets;

/// <summary>
/// Weight files: safetensors (header and offsets), the sharded index, the safe unpickler on its own, PyTorch
/// checkpoints (zip and legacy layouts) and fairseq checkpoints. Each refuses a bad file with
/// <see cref="CheckpointFormatException"/> naming the file (and tensor, offset or pickle opcode).
/// </summary>
public static class CheckpointTargets
{
    /// <summary>The largest tensor the targets convert whole to float32 (bigger ones are read in a window).</summary>
    private const long MaxConvertedElements = 1 << 16;
    private const int ReadWindowBytes = 256;

    public static FuzzTarget Safetensors { get; } = new(
        "safetensors",
        "model.safetensors",
        "the input as model.safetensors: opened (header and offsets validated), then every tensor's first bytes read and small float/int tensors converted",
        [typeof(CheckpointFormatException)],
        (input, workspace) =>
        {
            var path = workspace.WriteFile("safetensors", "model.safetensors", input);
            using var file = new SafetensorsFile(path);
            _ = file.Metadata.Count;
            ReadEveryTensor(file);
            foreach (var entry in file.Entries.Values)
                if (entry.DType is SafetensorsDType.I32 or SafetensorsDType.I64 && entry.ElementCount <= MaxConvertedElements)
                    file.ReadAsInt32(entry.Name);
        });

    public static FuzzTarget SafetensorsIndex { get; } = new(
        "safetensors-index",
        "safetensors-index",
        "the input as model.safetensors.index.json beside two valid shards: Checkpoint.Open on the folder, then every tensor read",
        [typeof(CheckpointFormatException)],
        (input, workspace) =>
        {
            WriteShards(workspace);
            var path = workspace.WriteFile("safetensors-index", Checkpoint.IndexFile, input);
            using var checkpoint = Checkpoint.Open(Path.GetDirectoryName(path)!);
            ReadEveryTensor(checkpoint);
        });

    public static FuzzTarget Pickle { get; } = new(
        "pickle",
        "fuzz.pkl",
        "the input as a pickle for the safe unpickler (PickleReader.Load; persistent ids resolved to storages as torch.save writes them)",
        [typeof(CheckpointFormatException)],
        (input, _) => PickleReader.Load(input, "fuzz.pkl", StorageOf));

    public static FuzzTarget TorchCheckpointFile { get; } = new(
        "torch-checkpoint",
        Checkpoint.PytorchFile,
        "the input as pytorch_model.bin (zip or legacy torch.save layout): opened, then every tensor's first bytes read and small float tensors converted",
        [typeof(CheckpointFormatException)],
        (input, workspace) =>
        {
            var path = workspace.WriteFile("torch-checkpoint", Checkpoint.PytorchFile, input);
            using var checkpoint = new TorchCheckpoint(path);
            ReadEveryTensor(checkpoint);
        });

    public static FuzzTarget Fairseq { get; } = new(
        "fairseq-checkpoint",
        "model.pt",
        "the input as a fairseq model.pt: FairseqCheckpoint.Open (its args/cfg become a ModelConfig), then every tensor's first bytes read",
        [typeof(CheckpointFormatException)],
        (input, workspace) =>
        {
            var path = workspace.WriteFile("fairseq-checkpoint", "model.pt", input);
            using var checkpoint = FairseqCheckpoint.Open(path);
            _ = checkpoint.Config.HiddenSize;
            _ = checkpoint.ConfigJson?.Length;
            ReadEveryTensor(checkpoint);
        });

    private static readonly IReadOnlyDictionary<string, SafetensorsDType> StorageTypes = new Dictionary<string, SafetensorsDType>(StringComparer.Ordinal)
    {
        ["FloatStorage"] = SafetensorsDType.F32, ["HalfStorage"] = SafetensorsDType.F16, ["BFloat16Storage"] = SafetensorsDType.BF16,
        ["DoubleStorage"] = SafetensorsDType.F64, ["LongStorage"] = SafetensorsDType.I64, ["IntStorage"] = SafetensorsDType.I32,
        ["ShortStorage"] = SafetensorsDType.I16, ["CharStorage"] = SafetensorsDType.I8, ["ByteStorage"] = SafetensorsDType.U8,
        ["BoolStorage"] = SafetensorsDType.BOOL,
    };

    /// <summary>A persistent id ('storage', torch.XStorage, key, location, numel) as a storage; anything else refused.</summary>
    private static TorchStorage StorageOf(object? id)
    {
        if (id is PickleTuple { Count: 5 } t && t[0] is "storage" && t[1] is PickleGlobal type
            && StorageTypes.TryGetValue(type.Name, out var dtype) && t[4] is long count and >= 0)
            return new TorchStorage(t[2]?.ToString() ?? "", dtype, type.FullName, t[3] as string ?? "", count);
        throw new InvalidDataException($"persistent id {PickleText.Describe(id)} is not a storage");
    }

    /// <summary>The two shards the index target's inputs may name: model-00001-of-00002 holds "a", model-00002-of-00002 "b".</summary>
    public static void WriteShards(FuzzWorkspace workspace)
    {
        workspace.EnsureFile("safetensors-index", "model-00001-of-00002.safetensors",
            path => new SafetensorsWriter().Add("a", [1f, 2f], 2).Write(path));
        workspace.EnsureFile("safetensors-index", "model-00002-of-00002.safetensors",
            path => new SafetensorsWriter().Add("b", [1f, 2f, 3f, 4f], 2, 2).Add("c", [5L, 6L], 2).Write(path));
    }

    /// <summary>What a converter does with a catalog: each tensor's bytes in windows, small float tensors converted.</summary>
    private static void ReadEveryTensor(ITensorCatalog catalog)
    {
        var window = new byte[ReadWindowBytes];
        foreach (var tensor in catalog.Tensors)
        {
            long bytes = tensor.ByteCount;
            catalog.ReadRaw(tensor.Name, 0, window.AsSpan(0, (int)Math.Min(bytes, window.Length)));
            if (bytes > window.Length) catalog.ReadRaw(tensor.Name, bytes - window.Length, window);
            if (catalog is ITensorFile file && tensor.DType is SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16
                && tensor.ElementCount <= MaxConvertedElements)
                file.ReadAsFloat32(tensor.Name, new float[tensor.ElementCount]);
        }
    }
}
