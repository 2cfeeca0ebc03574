using ScottPlot;

namespace Eval.Charts;

/// <summary>The values of one box (e.g. one model's per-template accuracies), with a label per value (the template).</summary>
public sealed record BoxGroup(string Category, IReadOnlyList<double> Values, IReadOnlyList<string>? Labels = null);

/// <summary>Quartiles, median and Tukey whiskers of a set of values.</summary>
public readonly record struct BoxStatistics(double Q1, double Median, double Q3, double WhiskerLow, double WhiskerHigh)
{
    public static BoxStatistics Of(IReadOnlyList<double> values)
    {
        var sorted = values.Where(double.IsFinite).Order().ToArray();
        if (sorted.Length == 0) return new BoxStatistics(double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);
        double q1 = Quantile(sorted, 0.25), median = Quantile(sorted, 0.5), q3 = Quantile(sorted, 0.75), reach = 1.5 * (q3 - q1);
        return new BoxStatistics(q1, median, q3, sorted.First(v => v >= q1 - reach), sorted.Last(v => v <= q3 + reach));
    }

    /// <summary>Linear interpolation between order statistics (numpy's default).</summary>
    public static double Quantile(double[] sorted, double q)
    {
        double position = q * (sorted.Length - 1);
        int lower = (int)Math.Floor(position), upper = Math.Min(lower + 1, sorted.Length - 1);
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower);
    }
}

/// <summary>Box plots with every value drawn over its box as a strip of points (few values per box are the norm here).</summary>
public sealed record BoxChart(ChartFrame Frame, IReadOnlyList<BoxGroup> Groups, double? YMin = null, double? YMax = null,
    (double Value, string Label)? Reference = null) : IChart
{
    public Plot ToPlot()
    {
        var plot = PlotAxes.Framed(Frame);
        const double boxWidth = 0.5;
        for (int g = 0; g < Groups.Count; g++)
        {
            var group = Groups[g];
            var stats = BoxStatistics.Of(group.Values);
            if (double.IsNaN(stats.Median)) continue;
            var colour = Palette.Colour(g);
            var box = plot.Add.Box(new Box
            {
                Position = g, BoxMin = stats.Q1, BoxMax = stats.Q3, BoxMiddle = stats.Median, WhiskerMin = stats.WhiskerLow, WhiskerMax = stats.WhiskerHigh,
                Width = boxWidth,
            });
            box.FillColor = colour.WithAlpha(0.33);
            box.LineColor = colour;
            box.LineWidth = 1.5f;
            // The strip: points spread evenly across the box so equal values stay visible.
            int n = group.Values.Count;
            var xs = Enumerable.Range(0, n).Select(i => g + (n == 1 ? 0 : (i / (double)(n - 1) - 0.5) * boxWidth * 0.7)).ToArray();
            var strip = plot.Add.ScatterPoints(xs, group.Values.ToArray(), colour);
            strip.MarkerShape = MarkerShape.FilledCircle;
            strip.MarkerSize = 7;
            strip.MarkerLineColor = Colors.White;
            strip.MarkerLineWidth = 0.8f;
        }
        if (Reference is { } reference) PlotAxes.Reference(plot, reference.Value, reference.Label);
        PlotAxes.Categories(plot, Groups.Select(g => g.Category).ToList());
        if (YMin is not null || YMax is not null)
        {
            var values = Groups.SelectMany(g => g.Values).Where(double.IsFinite).DefaultIfEmpty(0).ToList();
            plot.Axes.SetLimitsY(YMin ?? values.Min(), YMax ?? values.Max());
        }
        PlotAxes.FitTurnedLabels(plot, Frame);
        return plot;
    }
}
