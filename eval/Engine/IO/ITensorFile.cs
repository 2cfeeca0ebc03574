namespace Eval.Engine.IO;

/// <summary>The element type and shape of one stored tensor, whatever file format holds it.</summary>
public sealed record TensorInfo(string Name, SafetensorsDType DType, long[] Shape)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
    public string ShapeText => Tensor.FormatShape(Shape);
}

/// <summary>
/// One file of named tensors: a .safetensors file or a PyTorch checkpoint (pytorch_model.bin, model.pt). Opening
/// validates the file; tensors are converted only when read.
/// </summary>
public interface ITensorFile : IDisposable
{
    string Path { get; }

    IReadOnlyCollection<string> TensorNames { get; }

    TensorInfo Info(string name);

    /// <summary>Converts a floating-point tensor (F32, F16, BF16) to float32 into destination (exactly its element count).</summary>
    void ReadAsFloat32(string name, Span<float> destination);
}
