using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Eval.Engine.IO;

/// <summary>Writes a .safetensors file (float32 and int64 tensors) in insertion order.</summary>
public sealed class SafetensorsWriter
{
    private readonly List<(string Name, SafetensorsDType DType, long[] Shape, byte[] Data)> tensors = [];

    public SafetensorsWriter Add(string name, ReadOnlySpan<float> values, params long[] shape)
    {
        Check(name, values.Length, shape);
        tensors.Add((name, SafetensorsDType.F32, shape, MemoryMarshal.AsBytes(values).ToArray()));
        return this;
    }

    public SafetensorsWriter Add(string name, ReadOnlySpan<long> values, params long[] shape)
    {
        Check(name, values.Length, shape);
        tensors.Add((name, SafetensorsDType.I64, shape, MemoryMarshal.AsBytes(values).ToArray()));
        return this;
    }

    public void Write(string path)
    {
        var header = new Dictionary<string, object>();
        long offset = 0;
        foreach (var (name, dtype, shape, data) in tensors)
        {
            header[name] = new { dtype = dtype.ToString(), shape, data_offsets = new[] { offset, offset + data.Length } };
            offset += data.Length;
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        int padded = (json.Length + 7) / 8 * 8;   // keeps the data 8-byte aligned, as the reference writer does
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        var temporary = path + ".partial";
        using (var stream = File.Create(temporary))
        {
            stream.Write(BitConverter.GetBytes((ulong)padded));
            stream.Write(json);
            for (int i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
            foreach (var t in tensors) stream.Write(t.Data);
        }
        File.Move(temporary, path, overwrite: true);
    }

    private static void Check(string name, int count, long[] shape)
    {
        long expected = shape.Aggregate(1L, (a, b) => a * b);
        if (expected != count)
            throw new ArgumentException($"tensor '{name}': {count} values for shape {Tensor.FormatShape(shape)}");
    }
}
