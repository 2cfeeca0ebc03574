using Eval.Engine;

namespace Eval.Models;

/// <summary>
/// The last linear map of every head, hidden → vocabulary (weight [V, H], optional bias [V]). When only some ids are
/// wanted, only their rows of the weight take part, so [tokens, 250k] logits are never built for a handful of answers.
/// </summary>
public sealed class VocabularyProjection(Tensor weight, Tensor? bias)
{
    public int VocabularySize => weight.Rows;

    /// <summary>Logits of x's rows over vocabIds (all when empty), in host memory.</summary>
    public Tensor Project(IBackend backend, Tensor x, ReadOnlySpan<int> vocabIds)
    {
        if (vocabIds.IsEmpty)
        {
            var all = backend.Allocate(x.Rows, weight.Rows);
            backend.Linear(x, weight, bias, all);
            return backend.TakeToHost(all);
        }
        using var rows = backend.Allocate(vocabIds.Length, weight.Columns);
        backend.Gather(weight, vocabIds, rows);
        using var biasRows = bias is null ? null : backend.Allocate(vocabIds.Length, 1);
        if (bias is not null)
        {
            using var biasColumn = bias.Reshape(bias.Rows * bias.Columns, 1);
            backend.Gather(biasColumn, vocabIds, biasRows!);
        }
        var logits = backend.Allocate(x.Rows, vocabIds.Length);
        using var biasVector = biasRows?.Reshape(vocabIds.Length);
        backend.Linear(x, rows, biasVector, logits);
        return backend.TakeToHost(logits);
    }
}

/// <summary>Rotary position embedding frequencies, as transformers' rope initialisation functions compute them.</summary>
public static class RotaryFrequencies
{
    public static float[] Compute(double theta, int headDim, RopeScaling? scaling = null, string configPath = "")
    {
        int half = headDim / 2;
        var inv = new float[half];
        for (int i = 0; i < half; i++)
        {
            // float32 as in torch: 1 / base ** (arange(0, dim, 2).float() / dim)
            float exponent = (float)(2 * i) / headDim;
            inv[i] = 1f / MathF.Pow((float)theta, exponent);
        }
        switch (scaling?.Type)
        {
            case null or "default":
                break;
            case "linear":
                for (int i = 0; i < half; i++) inv[i] /= (float)scaling.Factor;
                break;
            case "llama3":
                ApplyLlama3(inv, scaling);
                break;
            default:
                throw new NotSupportedException($"{configPath}: rope_scaling type '{scaling.Type}' is not supported (supported: default, linear, llama3)");
        }
        return inv;
    }

    private static void ApplyLlama3(float[] inv, RopeScaling s)
    {
        double lowWavelength = s.OriginalMaxPositions / s.LowFrequencyFactor;
        double highWavelength = s.OriginalMaxPositions / s.HighFrequencyFactor;
        for (int i = 0; i < inv.Length; i++)
        {
            double wavelength = 2 * Math.PI / inv[i];
            if (wavelength < highWavelength) continue;
            if (wavelength > lowWavelength)
            {
                inv[i] = (float)(inv[i] / s.Factor);
                continue;
            }
            double smooth = (s.OriginalMaxPositions / wavelength - s.LowFrequencyFactor) / (s.HighFrequencyFactor - s.LowFrequencyFactor);
            inv[i] = (float)((1 - smooth) * inv[i] / s.Factor + smooth * inv[i]);
        }
    }
}

/// <summary>
/// The MLM head of ModernBERT, (XLM-)RoBERTa, BERT and ELECTRA generators: the chosen rows of the final hidden states go
/// through dense → activation → LayerNorm → decoder; no other row is computed. The dense layer may narrow the states
/// (ELECTRA's generator head maps hidden_size down to embedding_size, the decoder's width).
/// </summary>
public sealed record MaskedLmHead(Tensor Dense, Tensor? DenseBias, ActivationKind Activation, Tensor Norm, Tensor? NormBias,
    float Epsilon, VocabularyProjection Decoder)
{
    public Tensor Logits(IBackend be, Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> vocabIds)
    {
        using var selected = be.Allocate(rows.Length, hidden.Columns);
        using var transformed = be.Allocate(rows.Length, Dense.Rows);
        be.Gather(hidden, rows, selected);
        be.Linear(selected, Dense, DenseBias, transformed);
        be.Activation(Activation, transformed, transformed);
        be.LayerNorm(transformed, Norm, NormBias, Epsilon, transformed);
        return Decoder.Project(be, transformed, vocabIds);
    }
}
