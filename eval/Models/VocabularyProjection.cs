using Eval.Engine;

namespace Eval.Models;

/// <summary>
/// The last linear map of every head, hidden → vocabulary (weight [V, H], optional bias [V]). When only some ids' logits
/// are wanted, only their rows of the weight take part, so [tokens, 250k] logits are never built for a handful of
/// answers; when log-probabilities are wanted (<see cref="Summarize"/>), the full rows stay where the backend computes
/// and only their summary comes back.
/// </summary>
public sealed class VocabularyProjection(Tensor weight, Tensor? bias)
{
    /// <summary>The most logits (rows × vocabulary) one step of <see cref="Summarize"/> holds: 256 MiB of float32.</summary>
    public const long SummaryLogitBudget = 64L << 20;

    public int VocabularySize => weight.Rows;

    /// <summary>
    /// <see cref="IBackend.SummarizeLogits"/> of x's rows over the whole vocabulary (ids: <c>ids.Length / x.Rows</c> per
    /// row): the logits are computed and summarised where the backend computes, in runs of rows whose logits fit
    /// <see cref="SummaryLogitBudget"/>, and only the summary reaches the host.
    /// </summary>
    public LogitSummary Summarize(IBackend backend, Tensor x, ReadOnlySpan<int> ids)
    {
        int rows = x.Rows, vocabulary = weight.Rows;
        int perRow = LogitSummary.IdsPerRowOf(rows, vocabulary, ids);
        int step = (int)Math.Clamp(SummaryLogitBudget / Math.Max(vocabulary, 1), 1, Math.Max(rows, 1));
        if (step >= rows)
        {
            using var all = backend.Allocate(rows, vocabulary);
            backend.Linear(x, weight, bias, all);
            return backend.SummarizeLogits(all, ids);
        }
        var summary = new LogitSummary(rows, perRow, new float[rows], new double[rows], new int[rows], new float[ids.Length]);
        using var logits = backend.Allocate(step, vocabulary);
        for (int first = 0; first < rows; first += step)
        {
            int count = Math.Min(step, rows - first);
            using var part = x.SliceRows(first, count);
            using var partLogits = count == step ? logits.Reshape(step, vocabulary) : logits.SliceRows(0, count);
            backend.Linear(part, weight, bias, partLogits);
            var piece = backend.SummarizeLogits(partLogits, ids.Slice(first * perRow, count * perRow));
            piece.Max.CopyTo(summary.Max, first);
            piece.SumExp.CopyTo(summary.SumExp, first);
            piece.ArgMax.CopyTo(summary.ArgMax, first);
            piece.Gathered.CopyTo(summary.Gathered, first * perRow);
        }
        return summary;
    }

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
        using var transformed = Transform(be, hidden, rows);
        return Decoder.Project(be, transformed, vocabIds);
    }

    /// <summary>The head on the chosen rows, then <see cref="VocabularyProjection.Summarize"/>.</summary>
    public LogitSummary Summarize(IBackend be, Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> ids)
    {
        using var transformed = Transform(be, hidden, rows);
        return Decoder.Summarize(be, transformed, ids);
    }

    /// <summary>dense → activation → LayerNorm of the chosen rows of hidden (dense may narrow them: ELECTRA's generator).</summary>
    private Tensor Transform(IBackend be, Tensor hidden, ReadOnlySpan<int> rows)
    {
        using var selected = be.Allocate(rows.Length, hidden.Columns);
        var transformed = be.Allocate(rows.Length, Dense.Rows);
        be.Gather(hidden, rows, selected);
        be.LinearActivation(Activation, selected, Dense, DenseBias, transformed);
        be.LayerNorm(transformed, Norm, NormBias, Epsilon, transformed);
        return transformed;
    }
}
