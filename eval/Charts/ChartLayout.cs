namespace Eval.Charts;

/// <summary>What every chart has: a title, axis labels and a size in pixels.</summary>
public sealed record ChartFrame(string Title, string XLabel, string YLabel, double Width = 720, double Height = 420, string? Subtitle = null);

/// <summary>A chart that renders itself as a standalone SVG document.</summary>
public interface IChart
{
    ChartFrame Frame { get; }
    string ToSvg();
}

/// <summary>A confidence interval or error bar in data units.</summary>
public readonly record struct Interval(double Low, double High);

/// <summary>One legend entry: a name drawn with its series' colour, marker shape and line (dashed or not, or none).</summary>
public sealed record LegendEntry(string Name, string Colour, int? Shape, string? Dash, bool IsArea, bool HasLine = true);

/// <summary>The plot rectangle inside the margins.</summary>
public readonly record struct PlotArea(double Left, double Top, double Right, double Bottom)
{
    public double Width => Right - Left;
    public double Height => Bottom - Top;
}

/// <summary>Margins, title, gridlines, axes, tick labels and the legend: drawn the same way for every chart type.</summary>
public static class ChartLayout
{
    private const double CharWidth = 6.6;

    public static PlotArea Area(ChartFrame frame, IReadOnlyList<LegendEntry> legend, double extraBottom = 0)
    {
        double top = 40 + (frame.Subtitle is null ? 0 : 16);
        double legendWidth = legend.Count > 1 ? Math.Min(244, 40 + legend.Max(e => e.Name.Length) * CharWidth) : 0;
        return new PlotArea(72, top, frame.Width - 20 - legendWidth, frame.Height - 52 - extraBottom);
    }

    public static void Title(SvgCanvas svg, ChartFrame frame)
    {
        svg.Text(frame.Width / 2, 24, frame.Title, "title", 16, weight: "bold");
        if (frame.Subtitle is not null) svg.Text(frame.Width / 2, 42, frame.Subtitle, "subtitle", 12, fill: "#555");
    }

    /// <summary>Horizontal gridlines with y tick labels, the y axis, and both axis labels.</summary>
    public static void YAxis(SvgCanvas svg, ChartFrame frame, PlotArea area, Scale y)
    {
        svg.BeginGroup("y-axis");
        foreach (var tick in y.Ticks())
        {
            double py = y.Map(tick.Value);
            svg.Line(area.Left, py, area.Right, py, "grid", "#e3e3e3");
            svg.Text(area.Left - 6, py + 4, tick.Label, "tick", 11, anchor: "end");
        }
        svg.Line(area.Left, area.Top, area.Left, area.Bottom, "axis", "#444");
        svg.Line(area.Left, area.Bottom, area.Right, area.Bottom, "axis", "#444");
        svg.Text(18, (area.Top + area.Bottom) / 2, frame.YLabel, "axis-label", 12.5, rotate: -90);
        svg.EndGroup();
    }

    /// <summary>Vertical gridlines and tick labels of a numeric x axis.</summary>
    public static void XAxis(SvgCanvas svg, ChartFrame frame, PlotArea area, Scale x)
    {
        svg.BeginGroup("x-axis");
        foreach (var tick in x.Ticks())
        {
            double px = x.Map(tick.Value);
            svg.Line(px, area.Top, px, area.Bottom, "grid", "#eeeeee");
            svg.Line(px, area.Bottom, px, area.Bottom + 4, "tick-mark", "#444");
            svg.Text(px, area.Bottom + 17, tick.Label, "tick", 11);
        }
        svg.Text((area.Left + area.Right) / 2, frame.Height - 12, frame.XLabel, "axis-label", 12.5);
        svg.EndGroup();
    }

    /// <summary>Category names under their slots; rotated when they would not fit side by side.</summary>
    public static void CategoryAxis(SvgCanvas svg, ChartFrame frame, PlotArea area, IReadOnlyList<string> categories)
    {
        svg.BeginGroup("x-axis");
        double slot = area.Width / Math.Max(1, categories.Count);
        bool rotate = RotateLabels(categories, area.Width);
        for (int i = 0; i < categories.Count; i++)
        {
            double px = area.Left + slot * (i + 0.5);
            var label = categories[i].Length > 28 ? categories[i][..27] + "…" : categories[i];
            if (rotate) svg.Text(px, area.Bottom + 14, label, "tick", 11, anchor: "end", rotate: -35);
            else svg.Text(px, area.Bottom + 17, label, "tick", 11);
        }
        svg.Text((area.Left + area.Right) / 2, frame.Height - 12, frame.XLabel, "axis-label", 12.5);
        svg.EndGroup();
    }

    private static bool RotateLabels(IReadOnlyList<string> categories, double plotWidth) =>
        categories.Count > 0 && categories.Max(c => Math.Min(28, c.Length)) * CharWidth > plotWidth / categories.Count - 6;

    /// <summary>The plot area of a chart with category labels under it: lowered by the room rotated labels need.</summary>
    public static PlotArea CategoryArea(ChartFrame frame, IReadOnlyList<LegendEntry> legend, IReadOnlyList<string> categories)
    {
        double width = Area(frame, legend).Width;
        return Area(frame, legend, RotateLabels(categories, width) ? categories.Max(c => Math.Min(28, c.Length)) * CharWidth * 0.6 : 0);
    }

    /// <summary>A dashed horizontal line at a value (chance level, speed-up of 1×), labelled at its right end.</summary>
    public static void ReferenceLine(SvgCanvas svg, PlotArea area, Scale y, double value, string label)
    {
        if (value < Math.Min(y.Min, y.Max) || value > Math.Max(y.Min, y.Max)) return;
        double py = y.Map(value);
        svg.Line(area.Left, py, area.Right, py, "reference", "#777", 1.2, "5 4");
        svg.Text(area.Right - 4, py - 4, label, "reference-label", 10.5, anchor: "end", fill: "#555", halo: true);
    }

    public static void Legend(SvgCanvas svg, PlotArea area, IReadOnlyList<LegendEntry> entries)
    {
        if (entries.Count < 2) return;
        svg.BeginGroup("legend");
        double x = area.Right + 14, y = area.Top + 6;
        foreach (var e in entries)
        {
            svg.BeginGroup("legend-item");
            if (e.IsArea) svg.Rect(x, y - 5, 14, 10, "legend-swatch", e.Colour);
            else
            {
                if (e.HasLine) svg.Line(x - 6, y, x + 20, y, "legend-swatch", e.Colour, 2, e.Dash is null ? null : "4 3");
                if (e.Shape is { } shape) svg.Marker(x + 7, y, shape, "legend-marker", e.Colour, 3.5);
            }
            svg.Text(x + 26, y + 4, e.Name.Length > 30 ? e.Name[..29] + "…" : e.Name, "legend-label", 11.5, anchor: "start");
            svg.EndGroup();
            y += 19;
        }
        svg.EndGroup();
    }
}
