namespace Eval.Charts;

/// <summary>One series of a bar chart: a value per category (NaN where it has none) and optional intervals.</summary>
public sealed record BarSeries(string Name, IReadOnlyList<double> Values, IReadOnlyList<Interval?>? Intervals = null);

/// <summary>
/// Bars per category; with several series, grouped side by side. Intervals draw as whiskers. The y axis starts at zero
/// unless given, so bar lengths stay comparable; a log y axis has bars rising from its bottom, or from BarBase (a ratio
/// of 1, say) up or down.
/// </summary>
public sealed record BarChart(ChartFrame Frame, IReadOnlyList<string> Categories, IReadOnlyList<BarSeries> Series,
    AxisKind YAxis = AxisKind.Linear, double? YMin = null, double? YMax = null, (double Value, string Label)? Reference = null,
    double? BarBase = null) : IChart
{
    public string ToSvg()
    {
        foreach (var s in Series)
            if (s.Values.Count != Categories.Count || s.Intervals is { } iv && iv.Count != Categories.Count)
                throw new ArgumentException($"bar series '{s.Name}' has {s.Values.Count} values for {Categories.Count} categories in chart '{Frame.Title}'");
        var legend = Series.Select((s, i) => new LegendEntry(s.Name, Palette.Colour(i), null, null, true)).ToList();
        var svg = new SvgCanvas(Frame.Width, Frame.Height, Frame.Title);
        var area = ChartLayout.CategoryArea(Frame, legend, Categories);
        var values = Series.SelectMany(s => s.Values.Concat((s.Intervals ?? []).Where(i => i is not null).SelectMany(i => new[] { i!.Value.Low, i.Value.High })));
        if (Reference is { } r) values = values.Append(r.Value);
        var y = Scale.For(YAxis, values, area.Bottom, area.Top, "y", YMin ?? (YAxis == AxisKind.Linear ? 0 : null), YMax);

        ChartLayout.Title(svg, Frame);
        ChartLayout.YAxis(svg, Frame, area, y);
        ChartLayout.CategoryAxis(svg, Frame, area, Categories);
        double slot = area.Width / Math.Max(1, Categories.Count);
        double barWidth = Math.Min(56, slot * 0.8 / Math.Max(1, Series.Count)), groupWidth = barWidth * Series.Count;
        double baseline = BarBase is { } from ? Math.Clamp(y.Map(from), area.Top, area.Bottom)
            : YAxis == AxisKind.Log ? area.Bottom : y.Map(Math.Max(y.Min, Math.Min(0, y.Max)));
        for (int s = 0; s < Series.Count; s++)
        {
            var series = Series[s];
            svg.BeginGroup("series");
            for (int c = 0; c < Categories.Count; c++)
            {
                double v = series.Values[c];
                if (!double.IsFinite(v)) continue;
                double x = area.Left + slot * c + (slot - groupWidth) / 2 + barWidth * s;
                double top = Math.Clamp(y.Map(v), area.Top, area.Bottom);
                var tip = $"{series.Name} · {Categories[c]}: {Format.Number(v)}";
                if (series.Intervals?[c] is { } ci) tip += $" [{Format.Number(ci.Low)}, {Format.Number(ci.High)}]";
                svg.Rect(x + 0.5, Math.Min(top, baseline), barWidth - 1, Math.Abs(baseline - top), "bar", Palette.Colour(s), tooltip: tip);
                if (series.Intervals?[c] is { } interval)
                    svg.ErrorBar(x + barWidth / 2, Math.Clamp(y.Map(interval.Low), area.Top, area.Bottom), Math.Clamp(y.Map(interval.High), area.Top, area.Bottom),
                        Math.Min(5, barWidth / 4), "#222");
            }
            svg.EndGroup();
        }
        if (Reference is { } reference) ChartLayout.ReferenceLine(svg, area, y, reference.Value, reference.Label);
        ChartLayout.Legend(svg, area, legend);
        return svg.ToSvg();
    }
}
