namespace Eval.Harness.Decoding;

/// <summary>
/// Picking the best of a list of scores. (Log-probabilities come from the model's backend:
/// <see cref="Models.ILanguageModel.SummarizeLogits"/>.)
/// </summary>
public static class LogProbabilities
{
    /// <summary>The index of the highest score; the first one on ties.</summary>
    public static int ArgMax(IReadOnlyList<double> scores)
    {
        int best = 0;
        for (int i = 1; i < scores.Count; i++) if (scores[i] > scores[best]) best = i;
        return best;
    }
}
