using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text.Json;

namespace Eval.Engine.IO;

/// <summary>Element types of the safetensors format that we read.</summary>
public enum SafetensorsDType { F32, F16, BF16, I64, I32, I16, U8, I8, F64, BOOL }

/// <summary>One entry of a safetensors header.</summary>
public sealed record SafetensorsEntry(string Name, SafetensorsDType DType, long[] Shape, long Begin, long End)
{
    /// <summary>Checked: the reader refuses a header whose shapes overflow, so this never throws for an opened file.</summary>
    public long ElementCount => Shape.Contains(0) ? 0 : Shape.Aggregate(1L, (a, b) => checked(a * b));
    public string ShapeText => Tensor.FormatShape(Shape);
}

/// <summary>Thrown for a malformed or inconsistent checkpoint file; the message names the file and tensor.</summary>
public sealed class CheckpointFormatException(string message) : Exception(message);

/// <summary>
/// A memory-mapped .safetensors file: an 8-byte little-endian header length, a JSON header mapping names to
/// {dtype, shape, data_offsets}, then the data. Every entry is validated when the file is opened.
/// </summary>
public sealed class SafetensorsFile : ITensorFile
{
    private const long MaxHeaderBytes = 100L << 20;
    private readonly MappedFile file;
    private readonly long dataStart;
    private readonly Dictionary<string, SafetensorsEntry> entries;

    public SafetensorsFile(string path)
    {
        Path = path;
        // Mapped first: the length is the opened file's (a hub-cache link's blob, not the link).
        file = new MappedFile(path);
        try
        {
            long length = file.Length;
            if (length < 8) throw Error($"file is {length} bytes, shorter than the 8-byte header length");
            long headerLength = (long)BitConverter.ToUInt64(file.Span(0, 8));
            if (headerLength <= 0 || headerLength > MaxHeaderBytes || headerLength > length - 8)
                throw Error($"header length {(ulong)headerLength} does not fit a file of {length} bytes");
            dataStart = 8 + headerLength;
            entries = ParseHeader(file.Span(8, (int)headerLength).ToArray(), length - dataStart, out var metadata);
            Metadata = metadata;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public string Path { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries => entries;
    public string Description => Path;

    /// <summary>The tensors in the order of their data in the file.</summary>
    public IEnumerable<StoredTensor> Tensors =>
        entries.Values.OrderBy(e => e.Begin).ThenBy(e => e.Name, StringComparer.Ordinal).Select(e => new StoredTensor(e.Name, e.DType, e.Shape));

    public IReadOnlyCollection<string> TensorNames => entries.Keys;

    public StoredTensor Info(string name)
    {
        var entry = Get(name);
        return new StoredTensor(name, entry.DType, entry.Shape);
    }

    public void ReadAsFloat32(string name, Span<float> destination) => ReadAsFloat32(Get(name), destination);

    public static int ElementSize(SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.F64 or SafetensorsDType.I64 => 8,
        SafetensorsDType.F32 or SafetensorsDType.I32 => 4,
        SafetensorsDType.F16 or SafetensorsDType.BF16 or SafetensorsDType.I16 => 2,
        _ => 1,
    };

    /// <summary>
    /// Widens little-endian F32/F16/BF16 elements to float32 (the one conversion every weight file uses); returns false
    /// for any other dtype. bytes must hold exactly destination.Length elements.
    /// </summary>
    public static bool TryConvertToFloat32(ReadOnlySpan<byte> bytes, SafetensorsDType dtype, Span<float> destination)
    {
        switch (dtype)
        {
            case SafetensorsDType.F32:
                MemoryMarshal.Cast<byte, float>(bytes).CopyTo(destination);
                return true;
            case SafetensorsDType.F16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(bytes), destination);
                return true;
            case SafetensorsDType.BF16:
                WidenBFloat16(MemoryMarshal.Cast<byte, ushort>(bytes), MemoryMarshal.Cast<float, uint>(destination));
                return true;
            default:
                return false;
        }
    }

    public SafetensorsEntry Get(string name) =>
        entries.TryGetValue(name, out var e) ? e : throw Error($"tensor '{name}' is not in the file");

    /// <summary>The raw bytes of a tensor, straight from the mapping (a tensor of at most 2 GiB; larger ones are read in windows).</summary>
    public ReadOnlySpan<byte> Bytes(SafetensorsEntry entry)
    {
        long size = entry.End - entry.Begin;
        if (size > int.MaxValue) throw Error($"tensor '{entry.Name}' is {size} bytes, more than can be read at once");
        return size == 0 ? [] : file.Span(dataStart + entry.Begin, (int)size);
    }

    public void ReadRaw(string name, long offset, Span<byte> destination) => ReadRaw(Get(name), offset, destination);

    /// <summary>Copies a window of a tensor's raw bytes (any size of tensor; the window fits a span).</summary>
    public void ReadRaw(SafetensorsEntry entry, long offset, Span<byte> destination)
    {
        long size = entry.End - entry.Begin;
        if (offset < 0 || offset > size || destination.Length > size - offset)
            throw Error($"tensor '{entry.Name}': bytes [{offset}, {offset + destination.Length}) are outside its {size} bytes");
        if (destination.Length == 0) return;
        file.Span(dataStart + entry.Begin + offset, destination.Length).CopyTo(destination);
    }

    /// <summary>Elements converted (and then released from the resident set, <see cref="MappedFile.Release"/>) at a time when weights are read.</summary>
    public const int ConversionWindow = 1 << 24;

    /// <summary>
    /// Converts a floating-point tensor (F32, F16, BF16) to float32 into destination, without an intermediate copy, a
    /// window at a time; each converted window's file pages leave the process's resident set.
    /// </summary>
    public void ReadAsFloat32(SafetensorsEntry entry, Span<float> destination)
    {
        if (destination.Length != entry.ElementCount)
            throw Error($"tensor '{entry.Name}' has {entry.ElementCount} elements, destination {destination.Length}");
        if (entry.DType is not (SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16))
            throw Error($"tensor '{entry.Name}' has dtype {entry.DType}; a floating-point tensor (F32, F16, BF16) is required");
        int size = ElementSize(entry.DType);
        for (long done = 0; done < destination.Length; done += ConversionWindow)
        {
            int n = (int)Math.Min(ConversionWindow, destination.Length - done);
            long start = dataStart + entry.Begin + done * size;
            TryConvertToFloat32(file.Span(start, n * size), entry.DType, destination.Slice((int)done, n));
            file.Release(start, (long)n * size);
        }
    }

    /// <summary>Reads an integer tensor (I64, I32) as int32, checking the range.</summary>
    public int[] ReadAsInt32(string name)
    {
        var entry = Get(name);
        var bytes = Bytes(entry);
        switch (entry.DType)
        {
            case SafetensorsDType.I32:
                return MemoryMarshal.Cast<byte, int>(bytes).ToArray();
            case SafetensorsDType.I64:
                var longs = MemoryMarshal.Cast<byte, long>(bytes);
                var result = new int[longs.Length];
                for (int i = 0; i < longs.Length; i++)
                    result[i] = longs[i] is >= int.MinValue and <= int.MaxValue
                        ? (int)longs[i]
                        : throw Error($"tensor '{name}' element {i} = {longs[i]} does not fit in int32");
                return result;
            default:
                throw Error($"tensor '{name}' has dtype {entry.DType}; an integer tensor (I64, I32) is required");
        }
    }

    public Tensor ReadTensor(string name)
    {
        var entry = Get(name);
        // A valid file may hold an empty tensor with a dimension past int32 ([0, 2^40]); a Tensor cannot have one.
        if (entry.Shape.Any(d => d > int.MaxValue))
            throw Error($"tensor '{name}': shape {entry.ShapeText} has a dimension beyond {int.MaxValue}, which a tensor cannot hold");
        var tensor = Tensor.Allocate(entry.Shape.Select(d => checked((int)d)).ToArray());
        ReadAsFloat32(entry, tensor.Span);
        return tensor;
    }

    public void Dispose() => file.Dispose();

    private static void WidenBFloat16(ReadOnlySpan<ushort> source, Span<uint> destination)
    {
        // A bfloat16 is the upper half of a float32.
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= source.Length; i += 16)
            {
                var v = Vector256.Create(source.Slice(i, 16));
                var (lo, hi) = Vector256.Widen(v);
                (lo << 16).CopyTo(destination.Slice(i, 8));
                (hi << 16).CopyTo(destination.Slice(i + 8, 8));
            }
        }
        for (; i < source.Length; i++) destination[i] = (uint)source[i] << 16;
    }

    private Dictionary<string, SafetensorsEntry> ParseHeader(byte[] header, long dataLength, out IReadOnlyDictionary<string, string> metadata)
    {
        // JsonDocument leaves strings unchecked until they are read: bad UTF-8 (or a lone surrogate escape) would
        // surface as InvalidOperationException from a property name, so it is refused here as a format error.
        if (!System.Text.Unicode.Utf8.IsValid(header))
            throw Error("header is not valid UTF-8");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header);
        }
        catch (JsonException e)
        {
            throw Error($"header is not valid JSON: {e.Message}");
        }
        using var _ = document;
        try
        {
            return ParseEntries(document, dataLength, out metadata);
        }
        catch (InvalidOperationException e)
        {
            // System.Text.Json checks a string's escapes only when it is read: "\ud800" (a lone surrogate) parses as
            // JSON but is no Unicode text, so it cannot name a tensor (the reference reader rejects it too).
            throw Error($"header holds a string that is not valid Unicode: {e.Message}");
        }
    }

    private Dictionary<string, SafetensorsEntry> ParseEntries(JsonDocument document, long dataLength, out IReadOnlyDictionary<string, string> metadata)
    {
        if (document.RootElement.ValueKind != JsonValueKind.Object)
            throw Error("header is not a JSON object");
        return ParseEntries(document.RootElement, dataLength, out metadata);
    }

    private Dictionary<string, SafetensorsEntry> ParseEntries(JsonElement root, long dataLength, out IReadOnlyDictionary<string, string> metadata)
    {

        var result = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
        var meta = new Dictionary<string, string>();
        foreach (var property in root.EnumerateObject())
        {
            if (property.Name == "__metadata__")
            {
                if (property.Value.ValueKind == JsonValueKind.Object)
                    foreach (var m in property.Value.EnumerateObject())
                        meta[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                continue;
            }
            result[property.Name] = ParseEntry(property.Name, property.Value, dataLength);
        }
        metadata = meta;

        var ordered = result.Values.Where(e => e.End > e.Begin).OrderBy(e => e.Begin).ToList();
        for (int i = 1; i < ordered.Count; i++)
            if (ordered[i].Begin < ordered[i - 1].End)
                throw Error($"tensors '{ordered[i - 1].Name}' [{ordered[i - 1].Begin}, {ordered[i - 1].End}) and " +
                            $"'{ordered[i].Name}' [{ordered[i].Begin}, {ordered[i].End}) overlap");
        return result;
    }

    private SafetensorsEntry ParseEntry(string name, JsonElement value, long dataLength)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Error($"tensor '{name}': entry is not an object");
        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw Error($"tensor '{name}': missing dtype");
        var dtypeText = dtypeElement.GetString()!;
        // The exact name only: Enum.TryParse would also take "5", " F32" or "F32, I8" as some dtype.
        if (!Enum.GetNames<SafetensorsDType>().Contains(dtypeText, StringComparer.Ordinal) || !Enum.TryParse<SafetensorsDType>(dtypeText, out var dtype))
            throw Error($"tensor '{name}': unsupported dtype '{dtypeText}' (supported: {string.Join(", ", Enum.GetNames<SafetensorsDType>())})");
        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw Error($"tensor '{name}': missing shape");
        var shape = new List<long>();
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var dim) || dim < 0)
                throw Error($"tensor '{name}': shape {shapeElement.GetRawText()} is not a list of non-negative integers");
            shape.Add(dim);
        }
        if (!value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2
            || offsets[0].ValueKind != JsonValueKind.Number || offsets[1].ValueKind != JsonValueKind.Number
            || !offsets[0].TryGetInt64(out var begin) || !offsets[1].TryGetInt64(out var end))
            throw Error($"tensor '{name}': data_offsets must be [begin, end]");
        if (begin < 0 || end < begin)
            throw Error($"tensor '{name}': data_offsets [{begin}, {end}] are not an increasing range");
        if (end > dataLength)
            throw Error($"tensor '{name}': data_offsets [{begin}, {end}] run past the end of the data ({dataLength} bytes; the file may be truncated)");
        var entry = new SafetensorsEntry(name, dtype, shape.ToArray(), begin, end);
        long expected;
        try { expected = checked(entry.ElementCount * ElementSize(dtype)); }
        catch (OverflowException) { throw Error($"tensor '{name}': shape {entry.ShapeText} × {dtype} is more bytes than a file can hold"); }
        if (end - begin != expected)
            throw Error($"tensor '{name}': shape {entry.ShapeText} × {dtype} needs {expected} bytes but data_offsets span {end - begin}");
        return entry;
    }

    private CheckpointFormatException Error(string message) => new($"{Path}: {message}");
}
