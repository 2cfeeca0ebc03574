using ScottPlot;

namespace Eval.Charts;

public enum XyStyle { Line, Markers, LineAndMarkers }

/// <summary>A point, with an optional interval on y and a label naming it (a run, a latency).</summary>
public readonly record struct XyPoint(double X, double Y, Interval? Interval = null, string? Label = null);

/// <summary>One series of a line or scatter chart. Dashed draws its line dashed (a fitted curve, a second batch size).</summary>
public sealed record XySeries(string Name, IReadOnlyList<XyPoint> Points, XyStyle Style = XyStyle.LineAndMarkers, bool Dashed = false,
    int? ColourIndex = null);

/// <summary>Line and scatter charts over numeric axes, each linear or logarithmic; intervals draw as whiskers.</summary>
public sealed record XyChart(ChartFrame Frame, IReadOnlyList<XySeries> Series, AxisKind XAxis = AxisKind.Linear, AxisKind YAxis = AxisKind.Linear,
    double? YMin = null, double? YMax = null, IReadOnlyList<double>? XTicks = null, (double Value, string Label)? Reference = null) : IChart
{
    public Plot ToPlot()
    {
        var plot = PlotAxes.Framed(Frame);
        var points = Series.SelectMany(s => s.Points).Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).ToList();
        var yValues = points.SelectMany(p => p.Interval is { } iv ? new[] { p.Y, iv.Low, iv.High } : [p.Y]).ToList();
        if (Reference is { } r) yValues.Add(r.Value);
        double X(double v) => PlotAxes.ToAxis(XAxis, v, "x");
        double Y(double v) => PlotAxes.ToAxis(YAxis, v, "y");
        // A log axis refuses values ≤ 0 before anything is drawn.
        foreach (var p in points) X(p.X);
        yValues.ForEach(v => Y(v));

        for (int s = 0; s < Series.Count; s++)
        {
            var series = Series[s];
            int colourIndex = series.ColourIndex ?? s;
            var colour = Palette.Colour(colourIndex);
            var visible = series.Points.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).OrderBy(p => p.X).ToList();
            var scatter = plot.Add.Scatter(visible.Select(p => X(p.X)).ToArray(), visible.Select(p => Y(p.Y)).ToArray(), colour);
            scatter.LegendText = series.Name;
            scatter.LineWidth = series.Style == XyStyle.Markers ? 0 : 2;
            scatter.LinePattern = series.Dashed || Palette.IsDashed(colourIndex) ? LinePattern.Dashed : LinePattern.Solid;
            scatter.MarkerShape = series.Style == XyStyle.Line ? MarkerShape.None : Palette.Shape(colourIndex);
            scatter.MarkerSize = series.Style == XyStyle.Line ? 0 : 8;
            var withInterval = visible.Where(p => p.Interval is not null).ToList();
            if (withInterval.Count > 0)
            {
                var errors = plot.Add.ErrorBar(withInterval.Select(p => X(p.X)).ToList(), withInterval.Select(p => Y(p.Y)).ToList(),
                    withInterval.Select(p => Y(p.Interval!.Value.High) - Y(p.Y)).ToList());
                errors.YErrorNegative = withInterval.Select(p => Y(p.Y) - Y(p.Interval!.Value.Low)).ToList();
                errors.Color = colour;
                errors.CapSize = 6;
            }
        }
        if (Reference is { } reference) PlotAxes.Reference(plot, Y(reference.Value), reference.Label);

        if (XAxis == AxisKind.Log && points.Count > 0) PlotAxes.Log(plot.Axes.Bottom, points.Min(p => p.X), points.Max(p => p.X), XTicks);
        else if (XTicks is not null) plot.Axes.Bottom.SetTicks(XTicks.ToArray(), XTicks.Select(Format.Number).ToArray());
        if (YAxis == AxisKind.Log && yValues.Count > 0) PlotAxes.Log(plot.Axes.Left, YMin ?? yValues.Min(), YMax ?? yValues.Max());
        else if (YMin is not null || YMax is not null) plot.Axes.SetLimitsY(YMin ?? yValues.DefaultIfEmpty(0).Min(), YMax ?? yValues.DefaultIfEmpty(1).Max());
        PlotAxes.LegendWhenSeveral(plot, Series.Count);
        return plot;
    }
}
