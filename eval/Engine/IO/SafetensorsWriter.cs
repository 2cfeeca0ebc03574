using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Eval.Engine.IO;

/// <summary>
/// Writes a .safetensors file in insertion order: float32 and int64 values, raw bytes of any dtype (F16/BF16 kept as
/// stored), or tensors whose bytes are streamed into the file when it is written, so a large checkpoint is never
/// held in memory. The file appears under its name only once it is complete.
/// </summary>
public sealed class SafetensorsWriter
{
    private readonly List<(string Name, SafetensorsDType DType, long[] Shape, long ByteCount, Action<Stream> WriteData)> tensors = [];
    private readonly Dictionary<string, string> metadata = new(StringComparer.Ordinal);

    public SafetensorsWriter Add(string name, ReadOnlySpan<float> values, params long[] shape) =>
        Add(name, SafetensorsDType.F32, MemoryMarshal.AsBytes(values), shape);

    public SafetensorsWriter Add(string name, ReadOnlySpan<long> values, params long[] shape) =>
        Add(name, SafetensorsDType.I64, MemoryMarshal.AsBytes(values), shape);

    /// <summary>Adds a tensor as its raw little-endian bytes in <paramref name="dtype"/> (copied now).</summary>
    public SafetensorsWriter Add(string name, SafetensorsDType dtype, ReadOnlySpan<byte> bytes, params long[] shape)
    {
        long expected = ByteCount(name, dtype, shape);
        if (bytes.Length != expected)
            throw new ArgumentException($"tensor '{name}': {bytes.Length} bytes for shape {Tensor.FormatShape(shape)} × {dtype} ({expected} bytes)");
        var data = bytes.ToArray();
        tensors.Add((name, dtype, shape, expected, stream => stream.Write(data)));
        return this;
    }

    /// <summary>
    /// Adds a tensor whose bytes <paramref name="writeData"/> writes to the file's stream when <see cref="Write"/> runs;
    /// it must write exactly shape × element size bytes.
    /// </summary>
    public SafetensorsWriter AddStreamed(string name, SafetensorsDType dtype, long[] shape, Action<Stream> writeData)
    {
        tensors.Add((name, dtype, shape, ByteCount(name, dtype, shape), writeData));
        return this;
    }

    /// <summary>Sets a <c>__metadata__</c> entry (transformers writes <c>format: pt</c>).</summary>
    public SafetensorsWriter WithMetadata(string key, string value)
    {
        metadata[key] = value;
        return this;
    }

    /// <summary>The bytes of tensor data added so far.</summary>
    public long DataBytes => tensors.Sum(t => t.ByteCount);

    public int Count => tensors.Count;

    public void Write(string path)
    {
        var header = new Dictionary<string, object>();
        if (metadata.Count > 0) header["__metadata__"] = metadata;
        long offset = 0;
        foreach (var (name, dtype, shape, byteCount, _) in tensors)
        {
            if (name == "__metadata__") throw new ArgumentException("'__metadata__' is reserved and cannot name a tensor");
            if (!header.TryAdd(name, new { dtype = dtype.ToString(), shape, data_offsets = new[] { offset, offset + byteCount } }))
                throw new ArgumentException($"tensor '{name}' is added twice");
            offset += byteCount;
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        int padded = (json.Length + 7) / 8 * 8;   // keeps the data 8-byte aligned, as the reference writer does
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        var temporary = path + ".partial";
        try
        {
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                stream.Write(BitConverter.GetBytes((ulong)padded));
                stream.Write(json);
                for (int i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
                foreach (var t in tensors)
                {
                    long start = stream.Position;
                    t.WriteData(stream);
                    if (stream.Position - start != t.ByteCount)
                        throw new InvalidDataException($"{path}: tensor '{t.Name}' wrote {stream.Position - start} bytes, expected {t.ByteCount}");
                }
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    private static long ByteCount(string name, SafetensorsDType dtype, long[] shape)
    {
        if (shape.Any(d => d < 0)) throw new ArgumentException($"tensor '{name}': shape {Tensor.FormatShape(shape)} has a negative dimension");
        return checked(shape.Aggregate(1L, (a, b) => a * b) * SafetensorsFile.ElementSize(dtype));
    }
}
