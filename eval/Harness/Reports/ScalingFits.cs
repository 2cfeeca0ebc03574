namespace Eval.Harness.Reports;

/// <summary>accuracy = A + B·log10(N), by least squares.</summary>
public sealed record LogLinearFit(double A, double B, double RSquared, double Rmse, int Points)
{
    public double Predict(double x) => A + B * Math.Log10(x);
}

/// <summary>accuracy = C − B·(N / XRef)^(−Alpha): rises with N and saturates at C.</summary>
public sealed record PowerLawFit(double C, double B, double Alpha, double XRef, double RSquared, double Rmse, int Points)
{
    public double Predict(double x) => C - B * Math.Pow(x / XRef, -Alpha);
}

/// <summary>Curves of accuracy against model size or training tokens.</summary>
public static class ScalingFits
{
    /// <summary>Three parameters need at least four distinct sizes to leave anything to check the fit against.</summary>
    public const int PowerLawMinimumPoints = 4;

    public static LogLinearFit LogLinear(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        Check(x, y, 2);
        var logX = x.Select(Math.Log10).ToList();
        var (a, b) = LeastSquares(logX, y);
        return new LogLinearFit(a, b, RSquared(y, logX.Select(l => a + b * l).ToList()), Rmse(y, logX.Select(l => a + b * l).ToList()), x.Count);
    }

    /// <summary>
    /// For a fixed exponent the curve is linear in C and B, so each α on a log grid gets its least-squares C and B; the best
    /// α is then refined by golden-section search. Null with fewer than four distinct sizes or when no rising curve fits.
    /// </summary>
    public static PowerLawFit? SaturatingPowerLaw(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        Check(x, y, 1);
        if (x.Distinct().Count() < PowerLawMinimumPoints) return null;
        double xRef = x.Min();
        (double Sse, double C, double B) At(double alpha)
        {
            var f = x.Select(v => Math.Pow(v / xRef, -alpha)).ToList();
            var (c, k) = LeastSquares(f, y);
            double sse = 0;
            for (int i = 0; i < y.Count; i++) sse += Math.Pow(y[i] - (c + k * f[i]), 2);
            return (-k > 0 ? sse : double.PositiveInfinity, c, -k);
        }
        const int grid = 400;
        double lo = Math.Log(1e-3), hi = Math.Log(5);
        int best = -1;
        double bestSse = double.PositiveInfinity;
        for (int i = 0; i <= grid; i++)
        {
            double sse = At(Math.Exp(lo + (hi - lo) * i / grid)).Sse;
            if (sse < bestSse) (bestSse, best) = (sse, i);
        }
        if (best < 0) return null;
        double left = lo + (hi - lo) * Math.Max(0, best - 1) / grid, right = lo + (hi - lo) * Math.Min(grid, best + 1) / grid;
        double ratio = (Math.Sqrt(5) - 1) / 2;
        for (int iteration = 0; iteration < 100; iteration++)
        {
            double m1 = right - ratio * (right - left), m2 = left + ratio * (right - left);
            if (At(Math.Exp(m1)).Sse <= At(Math.Exp(m2)).Sse) right = m2;
            else left = m1;
        }
        double alphaBest = Math.Exp((left + right) / 2);
        var (_, cBest, bBest) = At(alphaBest);
        if (!double.IsFinite(cBest) || !(bBest > 0)) return null;
        var fit = new PowerLawFit(cBest, bBest, alphaBest, xRef, 0, 0, x.Count);
        var predicted = x.Select(fit.Predict).ToList();
        return fit with { RSquared = RSquared(y, predicted), Rmse = Rmse(y, predicted) };
    }

    /// <summary>Ordinary least squares of y on one feature: (intercept, slope).</summary>
    private static (double Intercept, double Slope) LeastSquares(IReadOnlyList<double> f, IReadOnlyList<double> y)
    {
        double meanF = f.Average(), meanY = y.Average(), sff = 0, sfy = 0;
        for (int i = 0; i < f.Count; i++)
        {
            sff += (f[i] - meanF) * (f[i] - meanF);
            sfy += (f[i] - meanF) * (y[i] - meanY);
        }
        double slope = sff > 0 ? sfy / sff : 0;
        return (meanY - slope * meanF, slope);
    }

    private static double RSquared(IReadOnlyList<double> y, IReadOnlyList<double> predicted)
    {
        double mean = y.Average(), total = y.Sum(v => (v - mean) * (v - mean)), residual = y.Select((v, i) => Math.Pow(v - predicted[i], 2)).Sum();
        return total > 0 ? 1 - residual / total : residual == 0 ? 1 : 0;
    }

    private static double Rmse(IReadOnlyList<double> y, IReadOnlyList<double> predicted) =>
        Math.Sqrt(y.Select((v, i) => Math.Pow(v - predicted[i], 2)).Average());

    private static void Check(IReadOnlyList<double> x, IReadOnlyList<double> y, int minimum)
    {
        if (x.Count != y.Count) throw new ArgumentException($"{x.Count} sizes for {y.Count} accuracies");
        if (x.Distinct().Count() < minimum) throw new ArgumentException($"a fit needs at least {minimum} distinct sizes, got {x.Distinct().Count()}");
        if (x.Any(v => !(v > 0) || !double.IsFinite(v)))
            throw new ArgumentException($"sizes must be positive and finite, got {x.First(v => !(v > 0) || !double.IsFinite(v))}");
        if (y.Any(v => !double.IsFinite(v))) throw new ArgumentException("accuracies must be finite");
    }
}
