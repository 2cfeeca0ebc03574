using Eval.Engine;
using Eval.Models;

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

    /// <summary>
    /// log softmax(logits of hidden's row rows[i])[tokens[i]] for every i, in double from float32 logits. The head runs on
    /// a bounded number of rows at a time (about 2^25 logits), so a 250k vocabulary never needs [all rows, V] at once.
    /// </summary>
    public static double[] OfTokens(ILanguageModel model, Tensor hidden, IReadOnlyList<int> rows, IReadOnlyList<int> tokens)
    {
        if (rows.Count != tokens.Count) throw new ArgumentException($"{rows.Count} rows but {tokens.Count} tokens");
        var result = new double[rows.Count];
        int chunk = Math.Max(1, (1 << 25) / Math.Max(1, model.Config.VocabSize));
        for (int start = 0; start < rows.Count; start += chunk)
        {
            int n = Math.Min(chunk, rows.Count - start);
            var some = new int[n];
            for (int i = 0; i < n; i++) some[i] = rows[start + i];
            using var logits = model.Logits(hidden, some);
            for (int i = 0; i < n; i++)
                result[start + i] = logits.Row(i)[tokens[start + i]] - LogSumExp(logits.Row(i));
        }
        return result;
    }

    /// <summary>The index of the highest score; the first one on ties.</summary>
    public static int ArgMax(IReadOnlyList<double> scores)
    {
        int best = 0;
        for (int i = 1; i < scores.Count; i++) if (scores[i] > scores[best]) best = i;
        return best;
    }
}
