using ScottPlot;

namespace Eval.Charts;

/// <summary>What every chart has: a title (and optional subtitle), axis labels and a size in pixels.</summary>
public sealed record ChartFrame(string Title, string XLabel, string YLabel, int Width = 720, int Height = 420, string? Subtitle = null);

/// <summary>A chart as data that builds its ScottPlot plot; <see cref="ChartFiles"/> writes the plot as SVG and PNG.</summary>
public interface IChart
{
    ChartFrame Frame { get; }

    /// <summary>A new plot holding the chart's series, axes, labels and legend (a fresh one on every call).</summary>
    Plot ToPlot();
}

/// <summary>A confidence interval or error bar in data units.</summary>
public readonly record struct Interval(double Low, double High);

/// <summary>Okabe and Ito's colour-blind-safe palette (black last); past eight series, lines repeat the colours dashed.</summary>
public static class Palette
{
    private static readonly string[] Colours = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];
    private static readonly MarkerShape[] Shapes = [MarkerShape.FilledCircle, MarkerShape.FilledSquare, MarkerShape.FilledTriangleUp, MarkerShape.FilledDiamond];

    public static string Hex(int series) => Colours[series % Colours.Length];
    public static Color Colour(int series) => Color.FromHex(Hex(series));

    /// <summary>Solid for the first eight series, dashed for the next eight.</summary>
    public static bool IsDashed(int series) => series / Colours.Length % 2 == 1;

    /// <summary>A marker shape per series, so series differ by shape as well as colour.</summary>
    public static MarkerShape Shape(int series) => Shapes[series % Shapes.Length];

    /// <summary>Reference lines (chance, 1×) and whiskers.</summary>
    public static Color Neutral => Color.FromHex("#555555");
}
