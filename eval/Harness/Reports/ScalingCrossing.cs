using Eval.Charts;
using Eval.Harness.Runs;

namespace Eval.Harness.Reports;

/// <summary>
/// Where two series' fitted curves meet. Each series is fitted y = a + b·log10 N (for accuracy y is the accuracy, for
/// decode speed log10 of the milliseconds); the crossing is the size N* at which the two fits are equal,
/// log10 N* = (a₂ − a₁) / (b₁ − b₂) — "at what size does the one stop (or start) being ahead of the other". It is in
/// range when N* lies within the sizes both series measured (the larger of their smallest sizes to the smaller of their
/// largest); outside that it is an extrapolation, and with equal slopes there is none. The 95% interval is the
/// percentile interval of log10 N* over bootstrap replicates (what is resampled is the caller's: examples for accuracy,
/// models for speed), refitting both series each time; <see cref="FractionInRange"/> is the share of replicates whose
/// fits cross within the range.
/// </summary>
public sealed record ScalingCrossing(
    string First, string Second, double? X, double? CiLow, double? CiHigh, double RangeLow, double RangeHigh, bool InRange,
    double FractionInRange, int Replicates, string? AheadBelow, string? AheadAbove)
{
    /// <summary>One sentence: where the curves cross, with the interval and who leads on either side, or why they do not.</summary>
    public string Describe(string xName, string lead = "ahead")
    {
        string range = double.IsNaN(RangeLow) ? "" : $"{Format.Number(RangeLow)}–{Format.Number(RangeHigh)}";
        if (double.IsNaN(RangeLow))
            return $"{First} and {Second}: their {xName} do not overlap, so no crossing is estimated.";
        if (X is not { } x)
            return $"{First} and {Second}: the fitted lines are parallel, they do not cross.";
        var interval = CiLow is { } low && CiHigh is { } high ? $" (95% CI {Format.Number(low)}–{Format.Number(high)})" : "";
        var share = $"in {100 * FractionInRange:0}% of {Replicates} bootstrap replicates the fits cross within {range}";
        var leads = AheadBelow is not null ? $"; {AheadBelow} is {lead} below it, {AheadAbove} above" : "";
        return InRange
            ? $"{First} and {Second} cross at {Format.Number(x)} {xName}{interval}{leads}; {share}."
            : $"{First} and {Second} do not cross within the {xName} both measured ({range}): {(x > RangeHigh ? AheadBelow : AheadAbove)} is {lead} " +
              $"throughout, and their fits would meet only at {Format.Number(x)}{interval}, an extrapolation; {share}.";
    }
}

/// <summary>The crossing of two log-linear fits and its bootstrap; the same arithmetic for accuracy and for speed.</summary>
public static class ScalingCrossings
{
    /// <summary>Replicates for the crossing's interval.</summary>
    public const int Replicates = Metrics.BootstrapSamples;

    /// <summary>log10 N* at which a₁ + b₁·L = a₂ + b₂·L; null when the slopes are equal.</summary>
    public static double? LogCrossing(LogLinearFit first, LogLinearFit second)
    {
        double slopes = first.B - second.B;
        return Math.Abs(slopes) < 1e-12 ? null : (second.A - first.A) / slopes;
    }

    /// <summary>
    /// The crossing of two series' fits over (x, y) points, and its bootstrap: replicate(random) gives one resampled
    /// (x₁, y₁, x₂, y₂), or null when the resample leaves a series without two distinct sizes (not counted).
    /// higherIsBetter says which side of the crossing each series leads (accuracy: higher; latency: lower).
    /// </summary>
    public static ScalingCrossing Estimate(string first, string second,
        IReadOnlyList<double> x1, IReadOnlyList<double> y1, IReadOnlyList<double> x2, IReadOnlyList<double> y2,
        Func<Random, (IReadOnlyList<double> X1, IReadOnlyList<double> Y1, IReadOnlyList<double> X2, IReadOnlyList<double> Y2)?> replicate,
        bool higherIsBetter, int seed = 1234)
    {
        double low = Math.Max(x1.Min(), x2.Min()), high = Math.Min(x1.Max(), x2.Max());
        if (low > high) (low, high) = (double.NaN, double.NaN);
        var fit1 = ScalingFits.LogLinear(x1, y1);
        var fit2 = ScalingFits.LogLinear(x2, y2);
        var point = LogCrossing(fit1, fit2);
        bool InRange(double? logX) => logX is { } l && !double.IsNaN(low) && l >= Math.Log10(low) - 1e-12 && l <= Math.Log10(high) + 1e-12;

        var random = new Random(seed);
        var logs = new List<double>();
        int counted = 0, inRange = 0;
        for (int r = 0; r < Replicates; r++)
        {
            if (replicate(random) is not { } sample) continue;
            if (sample.X1.Distinct().Count() < 2 || sample.X2.Distinct().Count() < 2) continue;
            counted++;
            var crossing = LogCrossing(ScalingFits.LogLinear(sample.X1, sample.Y1), ScalingFits.LogLinear(sample.X2, sample.Y2));
            if (crossing is { } c && double.IsFinite(c)) logs.Add(c);
            if (InRange(crossing)) inRange++;
        }
        logs.Sort();
        var sorted = logs.ToArray();
        double? ciLow = sorted.Length > 0 ? Math.Pow(10, Metrics.Percentile(sorted, 0.025)) : null;
        double? ciHigh = sorted.Length > 0 ? Math.Pow(10, Metrics.Percentile(sorted, 0.975)) : null;

        string? below = null, above = null;
        if (point is { } p)
        {
            // The difference of the fits changes sign at N*: look one decade either side.
            double Lead(double logX) => (fit1.A + fit1.B * logX) - (fit2.A + fit2.B * logX);
            bool firstAheadBelow = higherIsBetter ? Lead(p - 1) > 0 : Lead(p - 1) < 0;
            (below, above) = firstAheadBelow ? (first, second) : (second, first);
        }
        return new ScalingCrossing(first, second, point is { } q ? Math.Pow(10, q) : null, ciLow, ciHigh, low, high, InRange(point),
            counted > 0 ? (double)inRange / counted : 0, counted, below, above);
    }
}
