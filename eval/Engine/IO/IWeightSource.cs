namespace Eval.Engine.IO;

/// <summary>Where a model's weights come from: a checkpoint on disk, or random values for speed benchmarks.</summary>
public interface IWeightSource
{
    /// <summary>Names the source in error messages (the model folder).</summary>
    string Description { get; }

    bool Contains(string name);

    /// <summary>
    /// Reads tensor <paramref name="name"/> as float32 into destination after checking that it has exactly
    /// <paramref name="expectedShape"/> and a floating-point dtype; errors name the file, the tensor and both shapes.
    /// </summary>
    void Read(string name, ReadOnlySpan<int> expectedShape, Span<float> destination);
}

/// <summary>
/// Weights drawn uniformly from ±Scale (norm weights are 1): speed does not depend on the values. The same seed
/// gives the same values in every process (the name is hashed with FNV-1a, not the per-process string hash).
/// Optional tensors are reported absent, so tied heads share the embeddings as in the real checkpoints.
/// </summary>
public sealed class RandomWeights(int seed = 1, float scale = 0.02f) : IWeightSource
{
    public string Description => $"random weights (seed {seed})";

    public bool Contains(string name) => false;

    public void Read(string name, ReadOnlySpan<int> expectedShape, Span<float> destination)
    {
        bool isNormWeight = expectedShape.Length == 1 && name.Contains("norm", StringComparison.OrdinalIgnoreCase) && name.EndsWith(".weight");
        if (isNormWeight)
        {
            destination.Fill(1f);
            return;
        }
        uint hash = 2166136261;
        foreach (char c in name) hash = (hash ^ c) * 16777619;
        var rng = new Random(seed ^ (int)hash);
        for (int i = 0; i < destination.Length; i++) destination[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
    }
}
