using System.IO.Compression;
using System.Text;
using Eval.Engine.IO;

namespace Eval.Tests.Engine;

/// <summary>Writes pickle opcodes byte by byte, so the tests build their pickles (benign and malicious) without Python.</summary>
internal sealed class PickleBuilder
{
    private readonly MemoryStream bytes = new();

    public PickleBuilder Raw(params byte[] raw) { bytes.Write(raw); return this; }
    public PickleBuilder Op(char opcode) => Raw((byte)opcode);
    public PickleBuilder Proto(int version = 2) => Raw(0x80, (byte)version);
    public PickleBuilder Line(string text) => Raw(Encoding.ASCII.GetBytes(text + "\n"));
    public PickleBuilder Global(string module, string name) => Op('c').Line(module).Line(name);
    public PickleBuilder Mark() => Op('(');
    public PickleBuilder Tuple() => Op('t');
    public PickleBuilder EmptyTuple() => Op(')');
    public PickleBuilder Tuple1() => Raw(0x85);
    public PickleBuilder Reduce() => Op('R');
    public PickleBuilder False() => Raw(0x89);
    public PickleBuilder None() => Op('N');
    public PickleBuilder EmptyDict() => Op('}');
    public PickleBuilder EmptyList() => Op(']');
    public PickleBuilder Append() => Op('a');
    public PickleBuilder SetItem() => Op('s');
    public PickleBuilder SetItems() => Op('u');
    public PickleBuilder BinPersId() => Op('Q');
    public PickleBuilder Stop() => Op('.');
    public PickleBuilder Put(int index) => Raw((byte)'r').Raw(BitConverter.GetBytes(index));
    public PickleBuilder Get(int index) => Raw((byte)'j').Raw(BitConverter.GetBytes(index));

    public PickleBuilder Str(string text)
    {
        var utf8 = Encoding.UTF8.GetBytes(text);
        return Op('X').Raw(BitConverter.GetBytes(utf8.Length)).Raw(utf8);
    }

    public PickleBuilder Int(long value)
    {
        if (value is >= int.MinValue and <= int.MaxValue) return Op('J').Raw(BitConverter.GetBytes((int)value));
        return Raw(0x8a, 8).Raw(BitConverter.GetBytes(value));
    }

    public PickleBuilder IntTuple(long[] values)
    {
        Mark();
        foreach (var v in values) Int(v);
        return Tuple();
    }

    /// <summary>torch._utils._rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict()).</summary>
    public PickleBuilder Tensor(string storageType, string key, long storageElements, long offset, long[] shape, long[] stride)
    {
        Global("torch._utils", "_rebuild_tensor_v2").Mark();
        Mark().Str("storage").Global("torch", storageType).Str(key).Str("cpu").Int(storageElements).Tuple().BinPersId();
        Int(offset).IntTuple(shape).IntTuple(stride).False();
        Global("collections", "OrderedDict").EmptyTuple().Reduce();
        return Tuple().Reduce();
    }

    /// <summary>A whole state dict: OrderedDict of name → tensor, then STOP.</summary>
    public static byte[] StateDict(IEnumerable<(string Name, string StorageType, string Key, long StorageElements, long Offset, long[] Shape, long[] Stride)> tensors)
    {
        var pickle = new PickleBuilder().Proto(2).Global("collections", "OrderedDict").EmptyTuple().Reduce().Mark();
        foreach (var t in tensors) pickle.Str(t.Name).Tensor(t.StorageType, t.Key, t.StorageElements, t.Offset, t.Shape, t.Stride);
        return pickle.SetItems().Stop().ToArray();
    }

    public byte[] ToArray() => bytes.ToArray();
}

/// <summary>
/// Writes torch.save's zip layout: ARCHIVE/data.pkl, ARCHIVE/data/KEY (stored), version and byteorder. Also linked into
/// the bench project, whose checkpoint-memory benchmark writes a synthetic mt0-xl checkpoint with it.
/// </summary>
internal static class TorchZipWriter
{
    public static void Write(string path, byte[] pickle, IEnumerable<(string Key, byte[] Data)> storages, string archive = "archive") =>
        WriteStreamed(path, pickle, storages.Select(s => (s.Key, (Action<Stream>)(stream => stream.Write(s.Data)))), archive);

    /// <summary>The same with each storage's bytes written by a callback (storages of gigabytes without a buffer of their size; ZIP64 past 4 GiB).</summary>
    public static void WriteStreamed(string path, byte[] pickle, IEnumerable<(string Key, Action<Stream> WriteData)> storages, string archive = "archive")
    {
        using var stream = File.Create(path);
        using var zip = new ZipArchive(stream, ZipArchiveMode.Create);
        void Add(string name, Action<Stream> write)
        {
            using var entry = zip.CreateEntry($"{archive}/{name}", CompressionLevel.NoCompression).Open();
            write(entry);
        }
        Add("data.pkl", s => s.Write(pickle));
        Add("byteorder", s => s.Write("little"u8));
        foreach (var (key, write) in storages) Add($"data/{key}", write);
        Add("version", s => s.Write("3\n"u8));
    }

    /// <summary>The torch.Storage class torch.save names for a dtype.</summary>
    public static string StorageType(SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.F32 => "FloatStorage", SafetensorsDType.F16 => "HalfStorage", SafetensorsDType.BF16 => "BFloat16Storage",
        SafetensorsDType.F64 => "DoubleStorage", SafetensorsDType.I64 => "LongStorage", SafetensorsDType.I32 => "IntStorage",
        SafetensorsDType.I16 => "ShortStorage", SafetensorsDType.I8 => "CharStorage", SafetensorsDType.U8 => "ByteStorage",
        _ => "BoolStorage",
    };

    /// <summary>Tensors of a catalog as a torch.save zip (pytorch_model.bin): each its own contiguous storage, bytes as stored.</summary>
    public static void WriteCatalog(string path, ITensorCatalog source, IEnumerable<StoredTensor> tensors, string archive = "archive",
        (string Name, string StorageType, long StorageElements, long Offset, long[] Shape, long[] Stride, byte[] Storage)? extra = null)
    {
        var entries = new List<(string, string, string, long, long, long[], long[])>();
        var storages = new List<(string, byte[])>();
        foreach (var tensor in tensors)
        {
            var key = storages.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var bytes = new byte[tensor.ByteCount];
            source.ReadRaw(tensor.Name, 0, bytes);
            var stride = new long[tensor.Shape.Length];
            for (long d = stride.Length - 1, s = 1; d >= 0; s *= tensor.Shape[d], d--) stride[d] = s;
            entries.Add((tensor.Name, StorageType(tensor.DType), key, tensor.ElementCount, 0, tensor.Shape, stride));
            storages.Add((key, bytes));
        }
        if (extra is { } x)
        {
            entries.Add((x.Name, x.StorageType, "extra", x.StorageElements, x.Offset, x.Shape, x.Stride));
            storages.Add(("extra", x.Storage));
        }
        Write(path, PickleBuilder.StateDict(entries), storages, archive);
    }

    /// <summary>
    /// A catalog as transformers' sharded PyTorch layout: pytorch_model-0000k-of-0000n.bin (tensors dealt in turn) and
    /// pytorch_model.bin.index.json.
    /// </summary>
    public static void WriteShards(string folder, ITensorCatalog source, int shards)
    {
        var tensors = source.Tensors.ToList();
        var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (int k = 0; k < shards; k++)
        {
            var name = $"pytorch_model-{k + 1:D5}-of-{shards:D5}.bin";
            var mine = tensors.Where((_, i) => i % shards == k).ToList();
            foreach (var t in mine) map[t.Name] = name;
            WriteCatalog(Path.Combine(folder, name), source, mine, archive: $"shard{k}");
        }
        File.WriteAllText(Path.Combine(folder, Checkpoint.PytorchIndexFile),
            System.Text.Json.JsonSerializer.Serialize(new { metadata = new { total_size = tensors.Sum(t => t.ByteCount) }, weight_map = map }));
    }
}
