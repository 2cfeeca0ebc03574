namespace Eval.Charts;

public enum XyStyle { Line, Markers, LineAndMarkers }

/// <summary>A point, with an optional interval on y and a label for its tooltip.</summary>
public readonly record struct XyPoint(double X, double Y, Interval? Interval = null, string? Label = null);

/// <summary>One series of a line or scatter chart. Dashed draws its line dashed (a fitted curve beside measured points).</summary>
public sealed record XySeries(string Name, IReadOnlyList<XyPoint> Points, XyStyle Style = XyStyle.LineAndMarkers, bool Dashed = false,
    int? ColourIndex = null);

/// <summary>Line and scatter charts over numeric axes, each linear or logarithmic; intervals draw as whiskers.</summary>
public sealed record XyChart(ChartFrame Frame, IReadOnlyList<XySeries> Series, AxisKind XAxis = AxisKind.Linear, AxisKind YAxis = AxisKind.Linear,
    double? YMin = null, double? YMax = null, IReadOnlyList<double>? XTicks = null, (double Value, string Label)? Reference = null) : IChart
{
    public string ToSvg()
    {
        int Colour(int i) => Series[i].ColourIndex ?? i;
        var legend = Series.Select((s, i) => new LegendEntry(s.Name, Palette.Colour(Colour(i)), s.Style == XyStyle.Line ? null : Colour(i),
            s.Dashed ? "6 4" : Palette.Dash(Colour(i)), false, HasLine: s.Style != XyStyle.Markers)).ToList();
        var svg = new SvgCanvas(Frame.Width, Frame.Height, Frame.Title);
        var area = ChartLayout.Area(Frame, legend);
        var points = Series.SelectMany(s => s.Points).Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).ToList();
        var yValues = points.SelectMany(p => p.Interval is { } iv ? new[] { p.Y, iv.Low, iv.High } : [p.Y]);
        if (Reference is { } r) yValues = yValues.Append(r.Value);
        var x = Scale.For(XAxis, points.Select(p => p.X), area.Left, area.Right, "x", tickValues: XTicks);
        var y = Scale.For(YAxis, yValues, area.Bottom, area.Top, "y", YMin, YMax);

        ChartLayout.Title(svg, Frame);
        ChartLayout.YAxis(svg, Frame, area, y);
        ChartLayout.XAxis(svg, Frame, area, x);
        if (Reference is { } reference) ChartLayout.ReferenceLine(svg, area, y, reference.Value, reference.Label);
        for (int s = 0; s < Series.Count; s++)
        {
            var series = Series[s];
            string colour = Palette.Colour(Colour(s));
            var visible = series.Points.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).OrderBy(p => p.X).ToList();
            svg.BeginGroup("series");
            if (series.Style != XyStyle.Markers && visible.Count > 1)
                svg.Polyline(visible.Select(p => (x.Map(p.X), Clamp(y.Map(p.Y), area))).ToList(), "line", colour, 2,
                    series.Dashed ? "6 4" : Palette.Dash(Colour(s)), series.Name);
            foreach (var p in visible)
            {
                double px = x.Map(p.X), py = y.Map(p.Y);
                if (p.Interval is { } iv) svg.ErrorBar(px, Clamp(y.Map(iv.Low), area), Clamp(y.Map(iv.High), area), 4, colour);
                if (series.Style != XyStyle.Line && py >= area.Top - 0.5 && py <= area.Bottom + 0.5)
                    svg.Marker(px, py, Colour(s), "point", colour,
                        tooltip: $"{series.Name}{(p.Label is null ? "" : " · " + p.Label)}: ({Format.Number(p.X)}, {Format.Number(p.Y)})");
            }
            svg.EndGroup();
        }
        ChartLayout.Legend(svg, area, legend);
        return svg.ToSvg();
    }

    private static double Clamp(double py, PlotArea area) => Math.Clamp(py, area.Top, area.Bottom);
}
