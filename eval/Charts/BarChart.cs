using ScottPlot;

namespace Eval.Charts;

/// <summary>One series of a bar chart: a value per category (NaN where it has none) and optional intervals.</summary>
public sealed record BarSeries(string Name, IReadOnlyList<double> Values, IReadOnlyList<Interval?>? Intervals = null);

/// <summary>
/// Bars per category; with several series, grouped side by side. Intervals draw as whiskers. The y axis starts at zero
/// unless given, so bar lengths stay comparable; on a log y axis bars rise from the axis bottom, or from BarBase (a
/// ratio of 1, say) up or down.
/// </summary>
public sealed record BarChart(ChartFrame Frame, IReadOnlyList<string> Categories, IReadOnlyList<BarSeries> Series,
    AxisKind YAxis = AxisKind.Linear, double? YMin = null, double? YMax = null, (double Value, string Label)? Reference = null,
    double? BarBase = null) : IChart
{
    public Plot ToPlot()
    {
        foreach (var s in Series)
            if (s.Values.Count != Categories.Count || s.Intervals is { } iv && iv.Count != Categories.Count)
                throw new ArgumentException($"bar series '{s.Name}' has {s.Values.Count} values for {Categories.Count} categories in chart '{Frame.Title}'");
        var plot = PlotAxes.Framed(Frame);
        var values = Series.SelectMany(s => s.Values.Concat((s.Intervals ?? []).Where(i => i is not null).SelectMany(i => new[] { i!.Value.Low, i.Value.High })))
            .Where(double.IsFinite).ToList();
        if (Reference is { } r) values.Add(r.Value);
        double Axis(double v) => PlotAxes.ToAxis(YAxis, v, "y");
        values.ForEach(v => Axis(v)); // a log axis refuses values ≤ 0 before anything is drawn

        double lowest = values.Count > 0 ? values.Min() : 1, highest = values.Count > 0 ? values.Max() : 1;
        double yMin = YMin ?? (YAxis == AxisKind.Linear ? Math.Min(0, lowest) : lowest), yMax = YMax ?? highest;
        if (YAxis == AxisKind.Log) PlotAxes.Log(plot.Axes.Left, Math.Min(yMin, BarBase ?? yMin), Math.Max(yMax, BarBase ?? yMax));
        double baseline = BarBase is { } from ? Axis(from) : YAxis == AxisKind.Log ? plot.Axes.Left.Min : 0;

        double groupWidth = 0.8, barWidth = groupWidth / Math.Max(1, Series.Count);
        for (int s = 0; s < Series.Count; s++)
        {
            var series = Series[s];
            var bars = new List<Bar>();
            var whiskers = (X: new List<double>(), Y: new List<double>(), Low: new List<double>(), High: new List<double>());
            for (int c = 0; c < Categories.Count; c++)
            {
                double v = series.Values[c];
                if (!double.IsFinite(v)) continue;
                double x = c - groupWidth / 2 + barWidth * (s + 0.5);
                bars.Add(new Bar { Position = x, Value = Axis(v), ValueBase = baseline, Size = barWidth * 0.92, FillColor = Palette.Colour(s), LineWidth = 0 });
                if (series.Intervals?[c] is { } interval)
                {
                    whiskers.X.Add(x);
                    whiskers.Y.Add(Axis(v));
                    whiskers.Low.Add(Axis(v) - Axis(interval.Low));
                    whiskers.High.Add(Axis(interval.High) - Axis(v));
                }
            }
            var barPlot = plot.Add.Bars(bars);
            barPlot.LegendText = series.Name;
            barPlot.Color = Palette.Colour(s);
            if (whiskers.X.Count > 0)
            {
                var errors = plot.Add.ErrorBar(whiskers.X, whiskers.Y, whiskers.High);
                errors.YErrorNegative = whiskers.Low;
                errors.Color = Color.FromHex("#222222");
                errors.LineWidth = 1.3f;
                errors.CapSize = Math.Min(8, (float)(barWidth * 30));
            }
        }
        if (Reference is { } reference) PlotAxes.Reference(plot, Axis(reference.Value), reference.Label);
        PlotAxes.Categories(plot, Categories);
        if (YAxis == AxisKind.Linear)
        {
            double pad = (yMax - yMin) * 0.04;
            plot.Axes.SetLimitsY(YMin ?? (yMin < 0 ? yMin - pad : yMin), YMax ?? yMax + pad);
        }
        PlotAxes.LegendWhenSeveral(plot, Series.Count);
        PlotAxes.FitTurnedLabels(plot, Frame);
        return plot;
    }
}
