using Eval.Engine;
using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>
/// Reads the tensors an architecture needs from a checkpoint, checking presence and shape, and converts each one
/// straight from the memory-mapped file into an engine tensor. Keeps every tensor it loaded for disposal.
/// </summary>
public sealed class ModelWeights : IDisposable
{
    private readonly Checkpoint checkpoint;
    private readonly string architecture;
    private readonly List<Tensor> loaded = [];

    public ModelWeights(Checkpoint checkpoint, string architecture)
    {
        this.checkpoint = checkpoint;
        this.architecture = architecture;
    }

    public bool Contains(string name) => checkpoint.Contains(name);

    /// <summary>Loads a required tensor of exactly this shape.</summary>
    public Tensor Load(string name, params int[] shape) => LoadRows([name], [shape]);

    public Tensor? LoadOptional(string name, params int[] shape) => Contains(name) ? Load(name, shape) : null;

    /// <summary>Loads a tensor that is required only when <paramref name="required"/> is true (a config flag).</summary>
    public Tensor? LoadIf(bool required, string name, params int[] shape) => required ? Load(name, shape) : null;

    /// <summary>Loads several tensors concatenated along their first axis (q, k, v into one fused projection).</summary>
    public Tensor LoadRows(string[] names, int[][] shapes)
    {
        int total = 0;
        var entries = new (SafetensorsEntry Entry, SafetensorsFile File)[names.Length];
        for (int i = 0; i < names.Length; i++)
        {
            if (!checkpoint.Contains(names[i]))
                throw new CheckpointFormatException(
                    $"{checkpoint.Directory}: tensor '{names[i]}' required by {architecture} is missing (expected shape {Tensor.FormatShape(shapes[i])})");
            var entry = checkpoint.Entry(names[i], out var file);
            if (!entry.Shape.SequenceEqual(shapes[i].Select(d => (long)d)))
                throw new CheckpointFormatException(
                    $"{file.Path}: tensor '{names[i]}' has shape {entry.ShapeText}, {architecture} expects {Tensor.FormatShape(shapes[i])}");
            if (entry.DType is not (SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16))
                throw new CheckpointFormatException(
                    $"{file.Path}: tensor '{names[i]}' has dtype {entry.DType}; weights must be F32, F16 or BF16");
            entries[i] = (entry, file);
            total += shapes[i][0];
        }
        int[] shape = [total, .. shapes[0][1..]];
        for (int i = 1; i < shapes.Length; i++)
            if (!shapes[i][1..].SequenceEqual(shapes[0][1..]))
                throw new ArgumentException($"cannot stack {string.Join(", ", names)}: trailing shapes differ");

        var tensor = Tensor.Allocate(shape);
        long offset = 0;
        foreach (var (entry, file) in entries)
        {
            var span = tensor.Span.Slice((int)offset, (int)entry.ElementCount);
            file.ReadAsFloat32(entry, span);
            offset += entry.ElementCount;
        }
        loaded.Add(tensor);
        return tensor;
    }

    public void Dispose()
    {
        foreach (var t in loaded) t.Dispose();
        loaded.Clear();
    }
}
