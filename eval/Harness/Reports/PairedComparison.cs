namespace Eval.Harness.Reports;

/// <summary>
/// Two models on the same examples: accuracy of each, their difference (B − A) with a 95% paired-bootstrap interval,
/// the discordant counts, and McNemar's exact two-sided p-value.
/// </summary>
public sealed record PairedComparison(int N, double AccuracyA, double AccuracyB, double Difference, double CiLow, double CiHigh,
    int OnlyACorrect, int OnlyBCorrect, double McNemarP)
{
    public const int BootstrapSamples = 2000;

    public static PairedComparison Of(IReadOnlyList<bool> a, IReadOnlyList<bool> b, int seed = 1234)
    {
        if (a.Count != b.Count) throw new ArgumentException($"paired outcomes differ in length: {a.Count} and {b.Count}");
        int n = a.Count;
        if (n == 0) return new PairedComparison(0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, 0, 0, double.NaN);
        int onlyA = 0, onlyB = 0, hitsA = 0, hitsB = 0;
        var delta = new double[n];
        for (int i = 0; i < n; i++)
        {
            if (a[i]) hitsA++;
            if (b[i]) hitsB++;
            if (a[i] && !b[i]) onlyA++;
            if (b[i] && !a[i]) onlyB++;
            delta[i] = (b[i] ? 1 : 0) - (a[i] ? 1 : 0);
        }
        var (low, high) = Runs.Metrics.BootstrapInterval(delta, seed, BootstrapSamples);
        return new PairedComparison(n, (double)hitsA / n, (double)hitsB / n, (double)(hitsB - hitsA) / n, low, high, onlyA, onlyB, McNemarExact(onlyA, onlyB));
    }

    /// <summary>Exact McNemar test: two-sided binomial test of the discordant pairs against p = ½.</summary>
    public static double McNemarExact(int onlyA, int onlyB)
    {
        int n = onlyA + onlyB;
        if (n == 0) return 1;
        int k = Math.Min(onlyA, onlyB);
        // log C(n, i) − n·ln 2, summed in log space so large n does not underflow.
        double logTerm = -n * Math.Log(2), logSum = logTerm;
        for (int i = 0; i < k; i++)
        {
            logTerm += Math.Log(n - i) - Math.Log(i + 1);
            logSum = Math.Max(logSum, logTerm) + double.LogP1(Math.Exp(-Math.Abs(logSum - logTerm)));
        }
        return Math.Min(1, 2 * Math.Exp(logSum));
    }

    /// <summary>Pairs the examples both runs scored (same task, language, template and document) and compares them.</summary>
    public static PairedComparison Between(RunRecord a, RunRecord b, Func<RunSample, bool> filter)
    {
        var bByKey = b.Samples.Where(filter).ToDictionary(s => (s.Key, s.DocId));
        var pairs = a.Samples.Where(filter).Where(s => bByKey.ContainsKey((s.Key, s.DocId)))
            .Select(s => (A: s.Correct, B: bByKey[(s.Key, s.DocId)].Correct)).ToList();
        return Of(pairs.Select(p => p.A).ToList(), pairs.Select(p => p.B).ToList());
    }
}
