namespace Eval.Charts;

/// <summary>The values of one box (e.g. one model's per-template accuracies), with a label per value for tooltips.</summary>
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
    public string ToSvg()
    {
        var svg = new SvgCanvas(Frame.Width, Frame.Height, Frame.Title);
        var categories = Groups.Select(g => g.Category).ToList();
        var area = ChartLayout.CategoryArea(Frame, [], categories);
        var values = Groups.SelectMany(g => g.Values);
        if (Reference is { } r) values = values.Append(r.Value);
        var y = Scale.For(AxisKind.Linear, values, area.Bottom, area.Top, "y", YMin, YMax);

        ChartLayout.Title(svg, Frame);
        ChartLayout.YAxis(svg, Frame, area, y);
        ChartLayout.CategoryAxis(svg, Frame, area, categories);
        if (Reference is { } reference) ChartLayout.ReferenceLine(svg, area, y, reference.Value, reference.Label);
        double slot = area.Width / Math.Max(1, Groups.Count), boxWidth = Math.Min(70, slot * 0.5);
        for (int g = 0; g < Groups.Count; g++)
        {
            var group = Groups[g];
            var stats = BoxStatistics.Of(group.Values);
            if (double.IsNaN(stats.Median)) continue;
            string colour = Palette.Colour(g);
            double cx = area.Left + slot * (g + 0.5);
            svg.BeginGroup("box-group");
            svg.Line(cx, y.Map(stats.WhiskerLow), cx, y.Map(stats.Q1), "whisker", "#444");
            svg.Line(cx, y.Map(stats.Q3), cx, y.Map(stats.WhiskerHigh), "whisker", "#444");
            svg.Line(cx - boxWidth / 4, y.Map(stats.WhiskerLow), cx + boxWidth / 4, y.Map(stats.WhiskerLow), "whisker", "#444");
            svg.Line(cx - boxWidth / 4, y.Map(stats.WhiskerHigh), cx + boxWidth / 4, y.Map(stats.WhiskerHigh), "whisker", "#444");
            svg.Rect(cx - boxWidth / 2, y.Map(stats.Q3), boxWidth, Math.Max(1, y.Map(stats.Q1) - y.Map(stats.Q3)), "box", colour + "55", colour,
                $"{group.Category}: median {Format.Number(stats.Median)}, quartiles {Format.Number(stats.Q1)}–{Format.Number(stats.Q3)}, n = {group.Values.Count}");
            svg.Line(cx - boxWidth / 2, y.Map(stats.Median), cx + boxWidth / 2, y.Map(stats.Median), "median", "#222", 2);
            // The strip: points spread evenly across the box so equal values stay visible.
            int n = group.Values.Count;
            for (int i = 0; i < n; i++)
            {
                double offset = n == 1 ? 0 : (i / (double)(n - 1) - 0.5) * boxWidth * 0.7;
                var label = group.Labels is { } labels && i < labels.Count ? labels[i] + ": " : "";
                svg.Marker(cx + offset, y.Map(group.Values[i]), 0, "point", colour, 3.5, $"{group.Category} · {label}{Format.Number(group.Values[i])}");
            }
            svg.EndGroup();
        }
        return svg.ToSvg();
    }
}
