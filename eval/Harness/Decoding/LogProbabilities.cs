namespace Eval.Harness.Decoding;

/// <summary>Turning a row of logits into log-probabilities, and picking the best of a list of scores.</summary>
public static class LogProbabilities
{
    /// <summary>log Σ exp(row), computed stably in double: a token's log-probability is its logit minus this.</summary>
    public static double LogSumExp(ReadOnlySpan<float> row)
    {
        float max = System.Numerics.Tensors.TensorPrimitives.Max(row);
        double sum = 0;
        foreach (var v in row) sum += Math.Exp(v - max);
        return max + Math.Log(sum);
    }

    /// <summary>The index of the highest score; the first one on ties.</summary>
    public static int ArgMax(IReadOnlyList<double> scores)
    {
        int best = 0;
        for (int i = 1; i < scores.Count; i++) if (scores[i] > scores[best]) best = i;
        return best;
    }
}
