using Eval.Engine;
using Eval.Models;

namespace Eval.Harness.Decoding;

/// <summary>
/// Log-probabilities of chosen tokens (from the model's <see cref="ILanguageModel.SummarizeLogits"/>), and picking the
/// best of a list of scores.
/// </summary>
public static class LogProbabilities
{
    /// <summary>
    /// log softmax(logits of hidden's row rows[i])[tokens[i]] for every i: the model's
    /// <see cref="ILanguageModel.SummarizeLogits"/> (the vocabulary projection, its log-sum-exp and the gathered logits
    /// computed where the model computes, in runs of rows that bound the logits held), so only the summary reaches the host.
    /// </summary>
    public static double[] OfTokens(ILanguageModel model, Tensor hidden, IReadOnlyList<int> rows, IReadOnlyList<int> tokens)
    {
        if (rows.Count != tokens.Count) throw new ArgumentException($"{rows.Count} rows but {tokens.Count} tokens");
        if (rows.Count == 0) return [];
        var summary = model.SummarizeLogits(hidden, rows.ToArray(), tokens.ToArray());
        var result = new double[rows.Count];
        for (int i = 0; i < result.Length; i++) result[i] = summary.LogProbability(i, 0);
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
