using Eval.Engine;
using Eval.Engine.IO;

namespace Eval.Models;

/// <summary>
/// Reads the tensors an architecture needs from a weight source (checked for presence, shape and dtype there) and
/// converts each one straight from the memory-mapped file into an engine tensor, which the backend then keeps where it
/// computes (uploaded once to a device). Keeps every tensor it loaded for disposal.
/// </summary>
public sealed class ModelWeights : IDisposable
{
    private readonly IWeightSource source;
    private readonly IBackend backend;
    private readonly string architecture;
    private readonly List<Tensor> loaded = [];

    public ModelWeights(IWeightSource source, IBackend backend, string architecture)
    {
        this.source = source;
        this.backend = backend;
        this.architecture = architecture;
    }

    public bool Contains(string name) => source.Contains(name);

    /// <summary>The weight source as errors name it (the model folder).</summary>
    public string Description => source.Description;

    /// <summary>Number of parameters loaded so far (a tied head counts once).</summary>
    public long ParameterCount => loaded.Sum(t => t.Length);

    /// <summary>Loads a required tensor of exactly this shape.</summary>
    public Tensor Load(string name, params int[] shape) => LoadRows([name], [shape]);

    public Tensor? LoadOptional(string name, params int[] shape) => Contains(name) ? Load(name, shape) : null;

    /// <summary>Loads a tensor that is required only when <paramref name="required"/> is true (a config flag).</summary>
    public Tensor? LoadIf(bool required, string name, params int[] shape) => required ? Load(name, shape) : null;

    /// <summary>Loads several tensors concatenated along their first axis (q, k, v into one fused projection).</summary>
    /// <summary>
    /// Loads name, or alternative when only that spelling is in the checkpoint (an older name for the same tensor); a
    /// tensor under neither name is reported under the first.
    /// </summary>
    public Tensor LoadEither(string name, string alternative, params int[] shape) =>
        Load(!Contains(name) && Contains(alternative) ? alternative : name, shape);

    /// <summary>
    /// A LayerNorm's weight and bias under prefix: "weight" / "bias" as transformers saves them, or "gamma" / "beta" as
    /// Google's converted BERT checkpoints store them (transformers renames those on load).
    /// </summary>
    public (Tensor Weight, Tensor Bias) LoadLayerNorm(string prefix, int size) =>
        (LoadEither(prefix + "weight", prefix + "gamma", size), LoadEither(prefix + "bias", prefix + "beta", size));

    /// <summary>
    /// Loads a required tensor whose expected shape comes from a config field (or a difference of two): a tensor missing
    /// or of another shape is reported with that reason, so the one line says which side to check.
    /// </summary>
    public Tensor LoadBecause(string reason, string name, params int[] shape) => Keep(ReadHost([name], [shape], reason));

    /// <summary>Loads several tensors concatenated along their first axis (q, k, v into one fused projection).</summary>
    public Tensor LoadRows(string[] names, int[][] shapes) => Keep(ReadHost(names, shapes));

    /// <summary>
    /// Loads a tensor with its first axis reordered: row r of the result is row sourceRows[r] of the stored tensor (a
    /// fused projection stored interleaved per head, regrouped so that all queries come first, then keys, then values).
    /// </summary>
    public Tensor LoadReordered(string name, int[] shape, ReadOnlySpan<int> sourceRows)
    {
        if (sourceRows.Length != shape[0])
            throw new ArgumentException($"{name}: {sourceRows.Length} source rows for a first axis of {shape[0]}");
        using var stored = ReadHost([name], [shape]);
        var reordered = Tensor.Allocate(shape);
        int rowSize = (int)(stored.Length / shape[0]);
        var from = stored.Span;
        var to = reordered.Span;
        for (int r = 0; r < sourceRows.Length; r++)
            from.Slice(sourceRows[r] * rowSize, rowSize).CopyTo(to.Slice(r * rowSize, rowSize));
        return Keep(reordered);
    }

    /// <summary>The named tensors read into one host tensor, stacked along the first axis; errors name the architecture.</summary>
    private Tensor ReadHost(string[] names, int[][] shapes, string reason = "")
    {
        for (int i = 1; i < shapes.Length; i++)
            if (!shapes[i][1..].SequenceEqual(shapes[0][1..]))
                throw new ArgumentException($"cannot stack {string.Join(", ", names)}: trailing shapes differ");
        var tensor = Tensor.Allocate([shapes.Sum(s => s[0]), .. shapes[0][1..]]);
        try
        {
            long offset = 0;
            for (int i = 0; i < names.Length; i++)
            {
                int count = (int)Tensor.ElementCount(shapes[i]);
                source.Read(names[i], shapes[i], tensor.Span.Slice((int)offset, count));
                offset += count;
            }
            return tensor;
        }
        catch (CheckpointFormatException e)
        {
            tensor.Dispose();
            throw new CheckpointFormatException(reason.Length == 0
                ? $"{e.Message} (required by {architecture})"
                : $"{e.Message} (required by {architecture}: {reason})");
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    /// <summary>Hands a host tensor to the backend (uploaded where it computes) and keeps it for disposal.</summary>
    private Tensor Keep(Tensor host)
    {
        var resident = backend.TakeWeight(host);
        loaded.Add(resident);
        return resident;
    }

    public void Dispose()
    {
        foreach (var t in loaded) t.Dispose();
        loaded.Clear();
    }
}
