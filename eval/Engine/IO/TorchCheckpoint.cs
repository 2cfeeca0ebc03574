using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace Eval.Engine.IO;

/// <summary>
/// A PyTorch checkpoint (pytorch_model.bin, fairseq's model.pt / checkpoint_last.pt) read without running any code:
/// the zip layout of torch.save ≥ 1.6 (<c>ARCHIVE/data.pkl</c>, one stored member <c>ARCHIVE/data/KEY</c> per storage,
/// <c>byteorder</c>, <c>version</c>) or the legacy layout (magic number, protocol, sys info, the pickle, the storage
/// keys, then each storage as an 8-byte little-endian element count and its bytes). The pickle goes through the safe
/// <see cref="PickleReader"/>; storages stay in the memory-mapped file and tensors (views: offset, shape, strides) are
/// converted only when read. The state dict is the root dict, or its "model" / "state_dict" / "module" entry.
/// </summary>
public sealed class TorchCheckpoint : ITensorFile
{
    private static readonly BigInteger LegacyMagic = BigInteger.Parse("119547037146038801333356");   // 0x1950a86a20f9469cfc6c
    private const long LegacyProtocol = 1001;
    private static readonly string[] NestedStateDictKeys = ["model", "state_dict", "module", "model_state_dict"];

    /// <summary>
    /// The most bytes one tensor may have laid out densely (1 TiB; no model has a tensor near it). A view can repeat its
    /// storage's elements (stride 0), so its dense size is not bounded by the file: [2^40, 2^20] of one stored float
    /// would make <c>convert</c> write 4 EiB.
    /// </summary>
    public const long MaxTensorBytes = 1L << 40;

    private readonly MappedFile file;
    private readonly Dictionary<string, TorchStorage> storages = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (long Offset, long Length)> storageBytes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TorchTensor> tensors = new(StringComparer.Ordinal);

    public TorchCheckpoint(string path)
    {
        Path = path;
        file = new MappedFile(path);
        try
        {
            if (file.Length < 4)
                throw Error($"file is {file.Length} bytes: not a PyTorch checkpoint");
            var start = file.Span(0, 4);
            if (start[0] == 'P' && start[1] == 'K' && start[2] == 3 && start[3] == 4) ReadZip();
            else if (start[0] == 0x80) ReadLegacy();
            else throw Error("neither a zip archive (torch.save since 1.6) nor a legacy torch.save pickle (tar archives of torch < 0.4 are not supported)");
            StateDict = FindStateDict(Root);
            foreach (var (key, value) in StateDict.Entries)
                if (key is string name && value is TorchTensor tensor)
                {
                    if (tensor.Defect(MaxTensorBytes) is { } defect) throw Error($"tensor '{name}': {defect}");
                    tensors[name] = tensor;
                }
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public string Path { get; }

    /// <summary>"zip" or "legacy".</summary>
    public string Layout { get; private set; } = "";

    /// <summary>The whole unpickled object: tensors are <see cref="TorchTensor"/>, other classes inert <see cref="PickleObject"/>s.</summary>
    public object? Root { get; private set; }

    /// <summary>The dict the tensors were taken from (the root, or its "model" entry for fairseq).</summary>
    public PickleDict StateDict { get; }

    /// <summary>Each tensor as the pickle describes it: a view (offset, shape, strides) into a storage.</summary>
    public IReadOnlyDictionary<string, TorchTensor> Views => tensors;

    public IReadOnlyCollection<string> TensorNames => tensors.Keys;

    public StoredTensor Info(string name) => new(name, Get(name).Storage.DType, Get(name).Shape);

    public string Description => Path;

    /// <summary>The state dict's tensors in its order.</summary>
    public IEnumerable<StoredTensor> Tensors => tensors.Keys.Select(Info);

    /// <summary>A window of a tensor's bytes as stored, row-major (a strided view gathers just the window's elements).</summary>
    public void ReadRaw(string name, long offset, Span<byte> destination)
    {
        var tensor = Get(name);
        int size = SafetensorsFile.ElementSize(tensor.Storage.DType);
        long total = tensor.ByteCount;
        if (offset < 0 || offset > total || destination.Length > total - offset)
            throw Error($"tensor '{name}': bytes [{offset}, {offset + destination.Length}) are outside its {total} bytes");
        if (destination.Length == 0) return;
        if (tensor.IsContiguous)
            file.Span(storageBytes[tensor.Storage.Key].Offset + tensor.StorageOffset * size + offset, destination.Length).CopyTo(destination);
        else
            Gather(tensor, offset, destination);
    }

    public void ReadAsFloat32(string name, Span<float> destination)
    {
        var tensor = Get(name);
        if (destination.Length != tensor.ElementCount)
            throw Error($"tensor '{name}' has {tensor.ElementCount} elements, destination {destination.Length}");
        var dtype = tensor.Storage.DType;
        if (dtype is not (SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16))
            throw Error($"tensor '{name}' has dtype {dtype} ({tensor.Storage.StorageType}); a floating-point tensor (F32, F16, BF16) is required");
        int size = SafetensorsFile.ElementSize(dtype);
        long storageStart = storageBytes[tensor.Storage.Key].Offset;
        // Converted in windows (no byte span near 2 GiB); a contiguous window is released from the process's resident set
        // once converted, so the mapped file never holds a second copy of the weights in memory; a strided view is
        // gathered through a small buffer.
        int chunk = tensor.IsContiguous ? SafetensorsFile.ConversionWindow : (1 << 20) / size;
        var gathered = tensor.IsContiguous ? null : new byte[Math.Min(destination.Length, chunk) * size];
        for (long done = 0; done < destination.Length; done += chunk)
        {
            int n = (int)Math.Min(chunk, destination.Length - done);
            if (gathered is null)
            {
                long start = storageStart + (tensor.StorageOffset + done) * size;
                SafetensorsFile.TryConvertToFloat32(file.Span(start, n * size), dtype, destination.Slice((int)done, n));
                file.Release(start, (long)n * size);
            }
            else
            {
                Gather(tensor, done * size, gathered.AsSpan(0, n * size));
                SafetensorsFile.TryConvertToFloat32(gathered.AsSpan(0, n * size), dtype, destination.Slice((int)done, n));
            }
        }
    }

    /// <summary>
    /// Bytes [byteOffset, byteOffset + destination.Length) of a strided view laid out row-major: only the elements the
    /// window covers are visited (an expanded view of exabytes is read a window at a time like any other).
    /// </summary>
    private void Gather(TorchTensor tensor, long byteOffset, Span<byte> destination)
    {
        int size = SafetensorsFile.ElementSize(tensor.Storage.DType);
        long storageStart = storageBytes[tensor.Storage.Key].Offset;
        var shape = tensor.Shape;
        var stride = tensor.Stride;
        // The multi-index of the window's first element, and where that element is stored.
        var index = new long[shape.Length];
        long rest = byteOffset / size, source = tensor.StorageOffset;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            index[d] = rest % shape[d];
            rest /= shape[d];
            source += index[d] * stride[d];
        }
        int skip = (int)(byteOffset % size);
        for (int written = 0; written < destination.Length;)
        {
            int take = Math.Min(size - skip, destination.Length - written);
            file.Span(storageStart + source * size + skip, take).CopyTo(destination.Slice(written, take));
            written += take;
            skip = 0;
            // The next element in row-major order (Defect bounded every (shape - 1) × stride, so nothing overflows).
            for (int d = shape.Length - 1; d >= 0; d--)
            {
                if (++index[d] < shape[d])
                {
                    source += stride[d];
                    break;
                }
                source -= (shape[d] - 1) * stride[d];
                index[d] = 0;
            }
        }
    }

    public void Dispose() => file.Dispose();

    private TorchTensor Get(string name) =>
        tensors.TryGetValue(name, out var t) ? t : throw Error($"tensor '{name}' is not in the checkpoint");

    // ---- the zip layout -----------------------------------------------------------------------------------------

    private void ReadZip()
    {
        Layout = "zip";
        var members = ZipDirectory.Read(file);
        var pickles = members.Values.Where(m => m.Name.EndsWith("/data.pkl", StringComparison.Ordinal) && m.Name.IndexOf('/') == m.Name.Length - "/data.pkl".Length).ToList();
        if (pickles.Count != 1)
            throw Error(pickles.Count == 0 ? "the zip archive has no ARCHIVE/data.pkl: not a torch.save file" : "the zip archive has more than one data.pkl");
        var pickle = pickles[0];
        var archive = pickle.Name[..^"/data.pkl".Length];
        if (members.TryGetValue(archive + "/byteorder", out var byteorder))
        {
            var order = Encoding.ASCII.GetString(Stored(byteorder)).Trim();
            if (order != "little") throw Error($"{byteorder.Name} says '{order}'; only little-endian checkpoints are supported");
        }
        var source = $"{Path} ({pickle.Name})";
        Root = PickleReader.Load(Stored(pickle), source, id =>
        {
            var storage = Storage(id);
            if (!storageBytes.ContainsKey(storage.Key))
            {
                var memberName = $"{archive}/data/{storage.Key}";
                if (!members.TryGetValue(memberName, out var member))
                    throw new InvalidDataException($"storage '{storage.Key}' has no member {memberName} in the archive");
                if (!member.IsStored)
                    throw new InvalidDataException($"storage member {memberName} is compressed (method {member.Method}); torch.save writes storages uncompressed");
                CheckStorageFits(storage, member.Size, memberName);
                storageBytes[storage.Key] = (member.DataOffset, member.Size);
            }
            return storage;
        });
    }

    private ReadOnlySpan<byte> Stored(ZipMember member)
    {
        if (!member.IsStored)
            throw Error($"member {member.Name} is compressed or encrypted (method {member.Method}); torch.save writes members uncompressed");
        if (member.Size > int.MaxValue) throw Error($"member {member.Name} is {member.Size} bytes, more than a pickle may be");
        return file.Span(member.DataOffset, (int)member.Size);
    }

    // ---- the legacy layout (torch.save before 1.6, or _use_new_zipfile_serialization=False) ---------------------

    private void ReadLegacy()
    {
        Layout = "legacy";
        int position = 0;
        var magic = NextLegacyPickle(ref position, "magic number");
        if (!(magic is BigInteger m && m == LegacyMagic))
            throw Error($"the first pickle is {PickleText.Describe(magic)}, not PyTorch's magic number 0x1950a86a20f9469cfc6c: not a torch.save file");
        if (NextLegacyPickle(ref position, "protocol version") is not long protocol || protocol != LegacyProtocol)
            throw Error($"legacy protocol version is not {LegacyProtocol}");
        if (NextLegacyPickle(ref position, "sys info") is PickleDict sysInfo && sysInfo.GetValueOrDefault("little_endian") is false)
            throw Error("the checkpoint was written on a big-endian machine; only little-endian checkpoints are supported");
        int mainAt = position;
        Root = NextLegacyPickle(ref position, "main", Storage);
        if (NextLegacyPickle(ref position, "storage keys") is not PickleList keys || keys.Items.Any(k => k is not string))
            throw Error("the legacy storage-key list is missing or is not a list of strings");

        long at = position;
        foreach (string key in keys.Items.Cast<string>())
        {
            if (!storages.TryGetValue(key, out var storage))
                throw Error($"storage key '{key}' at byte {at} is not referenced by the pickle at byte {mainAt}");
            if (file.Length - at < 8)
                throw Error($"storage '{key}' at byte {at}: the file ends before its element count (truncated?)");
            long count = BinaryPrimitives.ReadInt64LittleEndian(file.Span(at, 8));
            if (count != storage.ElementCount)
                throw Error($"storage '{key}' at byte {at}: the file says {count} elements, the pickle {storage.ElementCount}");
            at += 8;
            try { CheckStorageFits(storage, file.Length - at, $"the rest of the file after byte {at}"); }
            catch (InvalidDataException e) { throw Error(e.Message); }
            storageBytes[key] = (at, storage.ElementCount * SafetensorsFile.ElementSize(storage.DType));
            at += storageBytes[key].Length;
        }
        foreach (var key in storages.Keys)
            if (!storageBytes.ContainsKey(key)) throw Error($"storage '{key}' is referenced by the pickle but not in the storage-key list");
    }

    /// <summary>The legacy layout's next pickle, from position (the pickles lie in the first 2 GiB).</summary>
    private object? NextLegacyPickle(ref int position, string what, Func<object?, object?>? persistentLoad = null)
    {
        var whole = file.Span(0, (int)Math.Min(file.Length, int.MaxValue));
        var value = PickleReader.Load(whole[position..], $"{Path} (legacy {what} pickle at byte {position})", persistentLoad, out int length);
        position += length;
        return value;
    }

    // ---- persistent ids and the state dict ------------------------------------------------------------------------

    /// <summary>Resolves ('storage', torch.XStorage, key, location, numel[, view metadata]) to its storage record.</summary>
    private TorchStorage Storage(object? id)
    {
        if (id is not PickleTuple { Count: 5 or 6 } t || t[0] is not "storage")
            throw new InvalidDataException($"persistent id {PickleText.Describe(id)} is not ('storage', type, key, location, numel)");
        if (t[1] is not PickleGlobal type || !PickleGlobals.StorageTypes.TryGetValue(type.Name, out var dtype))
            throw new InvalidDataException($"storage type {PickleText.Describe(t[1])} is not supported (supported: {string.Join(", ", PickleGlobals.StorageTypes.Keys.Select(k => "torch." + k))})");
        var key = t[2] switch
        {
            string s => s,
            long l => l.ToString(System.Globalization.CultureInfo.InvariantCulture),
            _ => throw new InvalidDataException($"storage key {PickleText.Describe(t[2])} is not a string"),
        };
        if (t[4] is not long count || count < 0)
            throw new InvalidDataException($"storage '{key}' element count {PickleText.Describe(t[4])} is not a non-negative integer");
        if (t.Count == 6 && t[5] is not null)
            throw new InvalidDataException($"storage '{key}' is a view of another storage (pre-0.4 format), which is not supported");
        var storage = new TorchStorage(key, dtype, type.FullName, t[3] as string ?? "", count);
        if (storages.TryGetValue(key, out var known))
        {
            if (known.DType != dtype || known.ElementCount != count)
                throw new InvalidDataException($"storage '{key}' is named as {known.StorageType}[{known.ElementCount}] and as {type.FullName}[{count}]");
            return known;
        }
        storages[key] = storage;
        return storage;
    }

    private static void CheckStorageFits(TorchStorage storage, long available, string where)
    {
        long size = SafetensorsFile.ElementSize(storage.DType);
        if (storage.ElementCount > available / size)
            throw new InvalidDataException(
                $"storage '{storage.Key}' claims {storage.ElementCount} elements × {size} bytes ({storage.StorageType}) but {where} holds {available} bytes (truncated or corrupt)");
    }

    private PickleDict FindStateDict(object? root)
    {
        static bool HasTensors(PickleDict d) => d.Entries.Any(e => e.Value is TorchTensor);
        if (root is PickleDict dict)
        {
            if (HasTensors(dict)) return dict;
            foreach (var key in NestedStateDictKeys)
                if (dict.GetValueOrDefault(key) is PickleDict nested && HasTensors(nested)) return nested;
        }
        throw Error($"no state dict (a dict of tensors, at the root or under {string.Join(", ", NestedStateDictKeys.Select(k => $"'{k}'"))}): the pickle holds {PickleText.Describe(root)}");
    }

    private CheckpointFormatException Error(string message) => new($"{Path}: {message}");
}
