using System.Globalization;
using ScottPlot;

namespace Eval.Charts;

/// <summary>
/// A grid of values — accuracy per language (rows) × template (columns), say — as coloured cells with the value
/// written in each; NaN cells stay grey and empty. Colours come from viridis (colour-blind-safe, monotone in lightness)
/// over [Min, Max]; each value is written in black or white, whichever contrasts more with its cell. Every cell is its
/// own rectangle (ScottPlot's heatmap plottable draws nothing for a single row: it sizes cells from rows − 1). No colour
/// bar: ScottPlot draws it as an embedded bitmap, and every cell already says its value.
/// </summary>
public sealed record HeatmapChart(ChartFrame Frame, IReadOnlyList<string> Rows, IReadOnlyList<string> Columns, IReadOnlyList<IReadOnlyList<double>> Values,
    double Min = 0, double Max = 100, string ValueFormat = "0.0") : IChart
{
    /// <summary>The fill of cells without a value.</summary>
    public static Color NaNColour { get; } = Color.FromHex("#DDDDDD");

    public Plot ToPlot()
    {
        if (Values.Count != Rows.Count || Values.Any(r => r.Count != Columns.Count))
            throw new ArgumentException($"heatmap '{Frame.Title}' needs {Rows.Count} rows of {Columns.Count} values");
        var plot = PlotAxes.Framed(Frame);
        for (int r = 0; r < Rows.Count; r++)
            for (int c = 0; c < Columns.Count; c++)
            {
                double v = Values[r][c];
                var fill = CellColour(v);
                var cell = plot.Add.Rectangle(c - 0.5, c + 0.5, RowY(r) - 0.5, RowY(r) + 0.5);
                cell.FillColor = fill;
                cell.LineColor = Colors.White;
                cell.LineWidth = 1;
                if (!double.IsFinite(v)) continue;
                var text = plot.Add.Text(v.ToString(ValueFormat, CultureInfo.InvariantCulture), c, RowY(r));
                text.LabelFontSize = 11;
                text.LabelAlignment = Alignment.MiddleCenter;
                text.LabelFontColor = TextColourOn(fill);
            }
        PlotAxes.Categories(plot, Columns);
        var rowTicks = new ScottPlot.TickGenerators.NumericManual();
        for (int r = 0; r < Rows.Count; r++) rowTicks.AddMajor(RowY(r), Rows[r]);
        plot.Axes.Left.TickGenerator = rowTicks;
        plot.Axes.SetLimits(-0.5, Columns.Count - 0.5, -0.5, Rows.Count - 0.5);
        plot.Grid.IsVisible = false;
        PlotAxes.FitTurnedLabels(plot, Frame);
        return plot;
    }

    /// <summary>The y of row r: the first row at the top.</summary>
    public double RowY(int r) => Rows.Count - 1 - r;

    /// <summary>Viridis at the value's place in [Min, Max] (clamped); grey for NaN.</summary>
    public Color CellColour(double value) => double.IsFinite(value)
        ? new ScottPlot.Colormaps.Viridis().GetColor(Math.Clamp((value - Min) / (Max - Min), 0, 1))
        : NaNColour;

    /// <summary>Black or white, whichever has the higher contrast ratio with the fill (WCAG relative luminance).</summary>
    public static Color TextColourOn(Color fill) =>
        ContrastRatio(Colors.Black, fill) >= ContrastRatio(Colors.White, fill) ? Colors.Black : Colors.White;

    /// <summary>WCAG 2 contrast ratio (L1 + 0.05) / (L2 + 0.05) of two opaque colours, from 1 to 21.</summary>
    public static double ContrastRatio(Color a, Color b)
    {
        double la = RelativeLuminance(a), lb = RelativeLuminance(b);
        return (Math.Max(la, lb) + 0.05) / (Math.Min(la, lb) + 0.05);
    }

    private static double RelativeLuminance(Color c)
    {
        static double Linear(byte channel)
        {
            double s = channel / 255.0;
            return s <= 0.04045 ? s / 12.92 : Math.Pow((s + 0.055) / 1.055, 2.4);
        }
        return 0.2126 * Linear(c.R) + 0.7152 * Linear(c.G) + 0.0722 * Linear(c.B);
    }
}
