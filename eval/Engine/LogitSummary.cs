namespace Eval.Engine;

/// <summary>
/// What <see cref="IBackend.SummarizeLogits"/> gives back for rows of logits over a vocabulary: per row r its largest logit
/// <see cref="Max"/>, <see cref="SumExp"/> = Σ_v exp(logit_v − Max) (so log Σ exp = Max + log SumExp), the first index
/// of the maximum (<see cref="ArgMax"/>) and the logits of the ids asked for, <see cref="IdsPerRow"/> per row.
/// The CPU backend sums the exponentials of 1024-element blocks in float32 and the blocks in double; the GPU backend
/// sums in float32 (each thread's share with Kahan compensation, then a tree over the group); <see cref="LogSumExp"/>
/// takes the logarithm in double on the host either way.
/// </summary>
public sealed record LogitSummary(int Rows, int IdsPerRow, float[] Max, double[] SumExp, int[] ArgMax, float[] Gathered)
{
    /// <summary>log Σ_v exp(logit_v) of row r: a token's log-probability is its logit minus this.</summary>
    public double LogSumExp(int row) => Max[row] + Math.Log(SumExp[row]);

    /// <summary>The logit of row r's i-th id.</summary>
    public float Logit(int row, int i) => Gathered[row * IdsPerRow + i];

    /// <summary>The log-probability of row r's i-th id.</summary>
    public double LogProbability(int row, int i) => Logit(row, i) - LogSumExp(row);

    /// <summary>The log-probability of row r's most likely token (<see cref="ArgMax"/>).</summary>
    public double BestLogProbability(int row) => Max[row] - LogSumExp(row);

    /// <summary>Checks the ids of a call: a whole number per row, each inside the vocabulary; returns the number per row.</summary>
    public static int IdsPerRowOf(int rows, int vocabulary, ReadOnlySpan<int> ids)
    {
        if (rows == 0 ? ids.Length != 0 : ids.Length % rows != 0)
            throw new ArgumentException($"SummarizeLogits: {ids.Length} ids do not split evenly over {rows} rows");
        for (int i = 0; i < ids.Length; i++)
            if ((uint)ids[i] >= (uint)vocabulary)
                throw new ArgumentOutOfRangeException(nameof(ids), $"SummarizeLogits: id {ids[i]} at index {i} is outside the vocabulary of {vocabulary}");
        return rows == 0 ? 0 : ids.Length / rows;
    }
}
