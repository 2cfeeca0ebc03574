namespace Eval.Engine.IO;

/// <summary>One tensor of a checkpoint as stored: its name, element type and shape (bytes = elements × element size).</summary>
public sealed record StoredTensor(string Name, SafetensorsDType DType, long[] Shape)
{
    /// <summary>Checked: the readers refuse a tensor whose counts overflow, so this never throws for one of theirs.</summary>
    public long ElementCount => Shape.Contains(0) ? 0 : Shape.Aggregate(1L, (a, b) => checked(a * b));
    public long ByteCount => checked(ElementCount * SafetensorsFile.ElementSize(DType));
}

/// <summary>
/// A checkpoint whose tensors can be listed and read as their stored bytes (little-endian, row-major, contiguous,
/// in the stored dtype), without widening: what <c>convert</c> copies. Beside <see cref="IWeightSource"/>, which
/// reads float32 for the models; a reader of another format (pickled PyTorch, fairseq) implements both.
/// </summary>
public interface ITensorCatalog
{
    /// <summary>Names the source in error messages (the model folder or file).</summary>
    string Description { get; }

    /// <summary>Every tensor once, in a stable order (the order the source stores them in).</summary>
    IEnumerable<StoredTensor> Tensors { get; }

    /// <summary>
    /// Copies destination.Length bytes of tensor <paramref name="name"/> starting at byte <paramref name="offset"/> of
    /// its data into destination, so tensors of any size can be streamed in windows.
    /// </summary>
    void ReadRaw(string name, long offset, Span<byte> destination);

    /// <summary>
    /// config.json content the source derives itself (e.g. from a fairseq checkpoint's args), or null when the
    /// folder's own config.json is the configuration.
    /// </summary>
    byte[]? ConfigJson => null;
}
