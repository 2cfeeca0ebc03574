using Eval.Engine;

namespace Eval.Tests.GpuCheck;

/// <summary>
/// A backend that passes every op to another, with two planted differences for testing the GPU check's criteria:
/// <list type="bullet">
/// <item><see cref="LinearNoise"/>: every Linear output multiplied by (1 + e·u), u uniform in [−1, 1] (seeded) — what a
/// correct GPU does differently from the emulation: cuBLAS sums the same float32 products in another order;</item>
/// <item><see cref="RopeThetaFactor"/> on layer <see cref="RopeLayer"/>: that layer's rotary frequencies those of
/// θ·factor (inv_freq_i = θ^(−i/n), n frequencies) — a kernel bug confined to one layer.</item>
/// </list>
/// Assumes one Rope call per layer on queries and keys together, or two (queries, then keys), as ModernBERT and Llama do.
/// LinearActivation is perturbed as its Linear (the noise before the activation), the fused ops otherwise pass through.
/// </summary>
public sealed class PerturbedBackend(IBackend inner, double linearNoise = 0, int ropeLayer = -1, double ropeThetaFactor = 1, int seed = 1) : IBackend
{
    private readonly Random random = new(seed);
    private int ropeCalls;

    public double LinearNoise { get; } = linearNoise;
    public int RopeLayer { get; } = ropeLayer;
    public double RopeThetaFactor { get; } = ropeThetaFactor;

    public string Name => $"{inner.Name} (perturbed)";

    public Tensor Allocate(params int[] shape) => inner.Allocate(shape);
    public Tensor Zeros(params int[] shape) => inner.Zeros(shape);
    public Tensor TakeWeight(Tensor host) => inner.TakeWeight(host);
    public Tensor CopyFromHost(Tensor host) => inner.CopyFromHost(host);
    public Tensor CopyToHost(Tensor tensor) => inner.CopyToHost(tensor);
    public void SendAhead(ReadOnlySpan<int> values) => inner.SendAhead(values);
    public Tensor AllocateGemmInput(params int[] shape) => inner.AllocateGemmInput(shape);
    public Tensor TakeToHost(Tensor tensor) => inner.TakeToHost(tensor);

    public void Linear(Tensor x, Tensor weight, Tensor? bias, Tensor y)
    {
        inner.Linear(x, weight, bias, y);
        if (LinearNoise == 0) return;
        using var host = inner.CopyToHost(y);
        var values = host.Span;
        for (int i = 0; i < values.Length; i++) values[i] *= (float)(1 + LinearNoise * (2 * random.NextDouble() - 1));
        // y = noisy + 0: the backend has no in-place upload.
        using var noisy = inner.CopyFromHost(host);
        using var zero = inner.Zeros(y.Shape.ToArray());
        inner.Add(noisy, zero, y);
    }

    public void LinearActivation(ActivationKind kind, Tensor x, Tensor weight, Tensor? bias, Tensor y)
    {
        Linear(x, weight, bias, y);
        inner.Activation(kind, y, y);
    }

    public void Rope(ColumnSlice x, int heads, int headDim, ReadOnlySpan<int> positions, ReadOnlySpan<float> invFrequencies)
    {
        int layer = ropeCalls++ / 2;
        inner.Rope(x, heads, headDim, positions, Frequencies(layer, invFrequencies));
    }

    public void Rope(ColumnSlice queries, int queryHeads, ColumnSlice keys, int keyHeads, int headDim, ReadOnlySpan<int> positions,
        ReadOnlySpan<float> invFrequencies)
    {
        int layer = ropeCalls / 2;
        ropeCalls += 2;
        inner.Rope(queries, queryHeads, keys, keyHeads, headDim, positions, Frequencies(layer, invFrequencies));
    }

    /// <summary>The frequencies layer <paramref name="layer"/> gets: those of θ·factor on <see cref="RopeLayer"/>.</summary>
    private ReadOnlySpan<float> Frequencies(int layer, ReadOnlySpan<float> invFrequencies)
    {
        if (layer != RopeLayer || RopeThetaFactor == 1) return invFrequencies;
        var wrong = new float[invFrequencies.Length];
        for (int i = 0; i < wrong.Length; i++) wrong[i] = (float)(invFrequencies[i] * Math.Pow(RopeThetaFactor, -(double)i / wrong.Length));
        return wrong;
    }

    public void Gather(Tensor table, ReadOnlySpan<int> ids, Tensor y) => inner.Gather(table, ids, y);
    public void LayerNorm(Tensor x, Tensor? weight, Tensor? bias, float epsilon, Tensor y) => inner.LayerNorm(x, weight, bias, epsilon, y);
    public void RmsNorm(Tensor x, Tensor weight, float epsilon, Tensor y) => inner.RmsNorm(x, weight, epsilon, y);
    public void AddLayerNorm(Tensor residual, Tensor x, Tensor? xBias, Tensor? weight, Tensor? bias, float epsilon, Tensor y) =>
        inner.AddLayerNorm(residual, x, xBias, weight, bias, epsilon, y);
    public void AddRmsNorm(Tensor residual, Tensor x, Tensor weight, float epsilon, Tensor y) => inner.AddRmsNorm(residual, x, weight, epsilon, y);
    public void Activation(ActivationKind kind, Tensor x, Tensor y) => inner.Activation(kind, x, y);
    public void GatedActivation(ActivationKind kind, Tensor x, Tensor y) => inner.GatedActivation(kind, x, y);
    public void Add(Tensor a, Tensor b, Tensor y) => inner.Add(a, b, y);
    public void Attention(ColumnSlice q, ColumnSlice k, ColumnSlice v, AttentionShape shape, AttentionMask mask, Tensor output) =>
        inner.Attention(q, k, v, shape, mask, output);
    public void Softmax(Tensor x) => inner.Softmax(x);
    public LogitSummary SummarizeLogits(Tensor logits, ReadOnlySpan<int> ids) => inner.SummarizeLogits(logits, ids);
    public void CopyRows(RowBlocks source, RowBlocks destination, int batches, int rows, int columns) =>
        inner.CopyRows(source, destination, batches, rows, columns);
    public void MeanPool(Tensor x, int length, ReadOnlySpan<int> include, Tensor y) => inner.MeanPool(x, length, include, y);

    public void Dispose() => inner.Dispose();
}
