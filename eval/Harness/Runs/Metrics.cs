using Eval.Harness.Decoding;

namespace Eval.Harness.Runs;

/// <summary>Accuracy over n examples, its standard error (sample sd / √n) and a 95% percentile-bootstrap interval.</summary>
public sealed record AccuracyEstimate(double Accuracy, int N, double StdErr, double CiLow, double CiHigh);

/// <summary>Spread of a metric across templates.</summary>
public sealed record TemplateSpread(double Mean, double Sd, double Min, double Max, int Templates);

public static class Metrics
{
    public const int BootstrapSamples = 1000;

    public static AccuracyEstimate Accuracy(IReadOnlyList<bool> correct, int seed = 1234)
    {
        int n = correct.Count;
        if (n == 0) return new AccuracyEstimate(double.NaN, 0, double.NaN, double.NaN, double.NaN);
        int hits = correct.Count(c => c);
        double mean = (double)hits / n;
        // Sample variance of 0/1 outcomes with n - 1 in the denominator.
        double variance = n > 1 ? (hits * (1 - mean) * (1 - mean) + (n - hits) * mean * mean) / (n - 1) : 0;
        var (low, high) = BootstrapInterval(correct, seed);
        return new AccuracyEstimate(mean, n, Math.Sqrt(variance / n), low, high);
    }

    /// <summary>2.5th and 97.5th percentiles of the accuracy over resamples with replacement (deterministic for a seed).</summary>
    public static (double Low, double High) BootstrapInterval(IReadOnlyList<bool> correct, int seed = 1234, int samples = BootstrapSamples) =>
        BootstrapInterval(correct.Select(c => c ? 1.0 : 0.0).ToList(), seed, samples);

    /// <summary>2.5th and 97.5th percentiles of the mean over resamples with replacement (deterministic for a seed).</summary>
    public static (double Low, double High) BootstrapInterval(IReadOnlyList<double> values, int seed, int samples)
    {
        int n = values.Count;
        var random = new Random(seed);
        var means = new double[samples];
        for (int s = 0; s < samples; s++)
        {
            double sum = 0;
            for (int i = 0; i < n; i++) sum += values[random.Next(n)];
            means[s] = sum / n;
        }
        Array.Sort(means);
        return (Percentile(means, 0.025), Percentile(means, 0.975));
    }

    public static double Percentile(double[] sorted, double q)
    {
        if (sorted.Length == 0) return double.NaN;
        double position = q * (sorted.Length - 1);
        int lower = (int)Math.Floor(position), upper = Math.Min(lower + 1, sorted.Length - 1);
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower);
    }

    /// <summary>
    /// A choice's length as acc_norm counts it: Python's len() of the text, in Unicode code points (a character outside
    /// the Basic Multilingual Plane, which .NET stores as two UTF-16 units, counts once).
    /// </summary>
    public static int Characters(string text)
    {
        int count = 0;
        foreach (var _ in text.EnumerateRunes()) count++;
        return count;
    }

    /// <summary>
    /// acc_norm's choice as lm-evaluation-harness defines it: the argmax of each choice's log-likelihood divided by the
    /// choice's length in characters (<see cref="Characters"/>; a length of 0 counts as 1).
    /// </summary>
    public static int NormalizedPrediction(IReadOnlyList<double> logLikelihoods, IReadOnlyList<int> choiceCharacters)
    {
        if (logLikelihoods.Count != choiceCharacters.Count)
            throw new ArgumentException($"{logLikelihoods.Count} log-likelihoods for {choiceCharacters.Count} choice lengths");
        return LogProbabilities.ArgMax(logLikelihoods.Select((ll, i) => ll / Math.Max(1, choiceCharacters[i])).ToArray());
    }

    /// <summary>Mean ± sample sd, min and max of per-template accuracies.</summary>
    public static TemplateSpread Spread(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return new TemplateSpread(double.NaN, double.NaN, double.NaN, double.NaN, 0);
        double mean = values.Average();
        double sd = values.Count > 1 ? Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1)) : 0;
        return new TemplateSpread(mean, sd, values.Min(), values.Max(), values.Count);
    }
}
