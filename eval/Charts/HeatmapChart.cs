using System.Globalization;
using ScottPlot;

namespace Eval.Charts;

/// <summary>
/// A grid of values — accuracy per language (rows) × template (columns), say — as coloured cells with the value
/// written in each; NaN cells stay grey and empty. Colours come from viridis (colour-blind-safe, monotone in lightness)
/// over [Min, Max]. No colour bar: ScottPlot draws it as an embedded bitmap, and every cell already says its value.
/// </summary>
public sealed record HeatmapChart(ChartFrame Frame, IReadOnlyList<string> Rows, IReadOnlyList<string> Columns, IReadOnlyList<IReadOnlyList<double>> Values,
    double Min = 0, double Max = 100, string ValueFormat = "0.0") : IChart
{
    public Plot ToPlot()
    {
        if (Values.Count != Rows.Count || Values.Any(r => r.Count != Columns.Count))
            throw new ArgumentException($"heatmap '{Frame.Title}' needs {Rows.Count} rows of {Columns.Count} values");
        var plot = PlotAxes.Framed(Frame);
        // Row 0 on top: ScottPlot draws the intensity array's first row at the top of the extent.
        var intensities = new double[Rows.Count, Columns.Count];
        for (int r = 0; r < Rows.Count; r++)
            for (int c = 0; c < Columns.Count; c++)
                intensities[r, c] = Values[r][c];
        var heatmap = plot.Add.Heatmap(intensities);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        heatmap.ManualRange = new ScottPlot.Range(Min, Max);
        heatmap.NaNCellColor = Color.FromHex("#DDDDDD");
        heatmap.RenderStrategy = new ScottPlot.Plottables.Heatmap.RenderStrategies.Rectangles();
        heatmap.Rectangle = new CoordinateRect(-0.5, Columns.Count - 0.5, -0.5, Rows.Count - 0.5);

        for (int r = 0; r < Rows.Count; r++)
            for (int c = 0; c < Columns.Count; c++)
            {
                double v = Values[r][c];
                if (!double.IsFinite(v)) continue;
                var text = plot.Add.Text(v.ToString(ValueFormat, CultureInfo.InvariantCulture), c, RowY(r));
                text.LabelFontSize = 11;
                text.LabelAlignment = Alignment.MiddleCenter;
                // Light text on the dark half of viridis, dark text on the light half.
                text.LabelFontColor = (v - Min) / (Max - Min) < 0.6 ? Colors.White : Colors.Black;
            }
        PlotAxes.Categories(plot, Columns);
        var rowTicks = new ScottPlot.TickGenerators.NumericManual();
        for (int r = 0; r < Rows.Count; r++) rowTicks.AddMajor(RowY(r), Rows[r]);
        plot.Axes.Left.TickGenerator = rowTicks;
        plot.Axes.SetLimits(-0.5, Columns.Count - 0.5, -0.5, Rows.Count - 0.5);
        plot.Grid.IsVisible = false;
        return plot;
    }

    /// <summary>The y of row r: the first row at the top.</summary>
    public double RowY(int r) => Rows.Count - 1 - r;
}
