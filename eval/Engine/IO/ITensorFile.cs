namespace Eval.Engine.IO;

/// <summary>
/// One file of named tensors: a .safetensors file or a PyTorch checkpoint (pytorch_model.bin, model.pt). Opening
/// validates the file; tensors are converted (or copied as stored bytes, <see cref="ITensorCatalog"/>) only when read.
/// </summary>
public interface ITensorFile : ITensorCatalog, IDisposable
{
    string Path { get; }

    IReadOnlyCollection<string> TensorNames { get; }

    StoredTensor Info(string name);

    /// <summary>Converts a floating-point tensor (F32, F16, BF16) to float32 into destination (exactly its element count).</summary>
    void ReadAsFloat32(string name, Span<float> destination);
}
