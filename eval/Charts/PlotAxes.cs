using System.Globalization;
using ScottPlot;
using ScottPlot.TickGenerators;

namespace Eval.Charts;

public enum AxisKind { Linear, Log }

/// <summary>
/// What the charts share on top of ScottPlot: the frame (title, labels, size, fonts), category axes, and log axes —
/// ScottPlot has no log scale, so a log axis plots log10 of the data with ticks placed at log10 of round values and
/// labelled with the values themselves.
/// </summary>
public static class PlotAxes
{
    public const string FontName = "DejaVu Sans";

    /// <summary>
    /// A plot with the frame's title and axis labels, the same font on every machine that has it, white background. The
    /// title is centred on the figure (not on the data area, which a wide left axis pushes right) and broken between
    /// words where a line would be wider than the figure.
    /// </summary>
    public static Plot Framed(ChartFrame frame)
    {
        var plot = new Plot();
        plot.Font.Set(FontName);
        plot.Title(frame.Subtitle is null ? frame.Title : $"{frame.Title}\n{frame.Subtitle}", 15);
        plot.Axes.Title.FullFigureCenter = true;
        plot.Axes.Title.Label.Text = string.Join('\n', plot.Axes.Title.Label.Text.Split('\n').SelectMany(line => Wrapped(plot.Axes.Title.Label, line, frame.Width - 24)));
        plot.XLabel(frame.XLabel, 13);
        plot.YLabel(frame.YLabel, 13);
        plot.FigureBackground.Color = Colors.White;
        plot.DataBackground.Color = Colors.White;
        return plot;
    }

    /// <summary>The line broken between words into lines no wider than the width (a single word wider than it stays whole).</summary>
    private static IEnumerable<string> Wrapped(LabelStyle style, string line, float width)
    {
        using var paint = Paint.NewDisposablePaint();
        var current = "";
        foreach (var word in line.Split(' '))
        {
            var longer = current.Length == 0 ? word : $"{current} {word}";
            if (current.Length > 0 && style.Measure(longer, paint).Width > width)
            {
                yield return current;
                current = word;
            }
            else current = longer;
        }
        yield return current;
    }

    /// <summary>The value a log axis plots for v; refuses v ≤ 0 naming the axis.</summary>
    public static double ToAxis(AxisKind kind, double value, string axisName)
    {
        if (kind == AxisKind.Linear || !double.IsFinite(value)) return value;
        if (value <= 0) throw new ArgumentException($"the {axisName} axis is logarithmic but holds the value {value.ToString(CultureInfo.InvariantCulture)} (≤ 0)");
        return Math.Log10(value);
    }

    /// <summary>Category names at 0, 1, 2 … on the bottom axis; long names are shortened and the labels turned.</summary>
    public static void Categories(Plot plot, IReadOnlyList<string> categories)
    {
        var ticks = new NumericManual();
        for (int i = 0; i < categories.Count; i++) ticks.AddMajor(i, categories[i].Length > 28 ? categories[i][..27] + "…" : categories[i]);
        plot.Axes.Bottom.TickGenerator = ticks;
        if (categories.Count > 0 && categories.Max(c => Math.Min(28, c.Length)) * 7.0 > 560.0 / categories.Count)
        {
            plot.Axes.Bottom.TickLabelStyle.Rotation = -35;
            plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleRight;
        }
        plot.Axes.SetLimitsX(-0.6, categories.Count - 0.4);
        plot.Grid.XAxisStyle.IsVisible = false;
    }

    /// <summary>Pixels between a bottom tick mark and its label, as ScottPlot draws them.</summary>
    private const float TickLabelGap = 2;

    /// <summary>
    /// Room for category labels that <see cref="Categories"/> turned. A turned label hangs below and to the left of its
    /// tick, but ScottPlot sizes the bottom axis by the labels' unturned height and lets the first labels run past the
    /// figure's left edge: the bottom axis is made deep enough for the deepest turned label with the axis title under it,
    /// and the left axis wide enough that every label starts inside the figure (found by laying the plot out at the
    /// frame's size, so it runs after everything else is added). A chart with level labels is left as it is.
    /// </summary>
    public static void FitTurnedLabels(Plot plot, ChartFrame frame)
    {
        if (plot.Axes.Bottom is not ScottPlot.AxisPanels.XAxisBase axis || axis.TickLabelStyle.Rotation == 0 || axis.TickGenerator is not NumericManual manual) return;
        plot.RenderInMemory(frame.Width, frame.Height);   // a manual tick generator gives its ticks once laid out
        var ticks = manual.Ticks.Where(t => t.IsMajor && !string.IsNullOrWhiteSpace(t.Label)).ToList();
        if (ticks.Count == 0) return;
        var style = axis.TickLabelStyle;
        using var paint = Paint.NewDisposablePaint();
        var extents = ticks.Select(t => TurnedExtent(style.Measure(t.Label, paint), style.Rotation)).ToList();
        float title = string.IsNullOrEmpty(axis.LabelText)
            ? axis.EmptyLabelPadding.Vertical
            : axis.LabelStyle.Measure(axis.LabelText, paint).LineHeight + axis.PaddingBetweenTickAndAxisLabels.Vertical + axis.PaddingOutsideAxisLabels.Vertical;
        axis.MinimumSize = (float)Math.Ceiling(axis.MajorTickStyle.Length + TickLabelGap + extents.Max(e => e.Below) + title);
        // Widening the left axis narrows the data area, which moves the first ticks left again a little: a few passes settle it.
        for (int pass = 0; pass < 4; pass++)
        {
            plot.RenderInMemory(frame.Width, frame.Height);
            var last = plot.RenderManager.LastRender;
            float shortfall = ticks.Select((t, i) => extents[i].Left - (axis.GetPixel(t.Position, last.DataRect) - last.FigureRect.Left)).Max();
            if (shortfall <= 0) return;
            plot.Axes.Left.MinimumSize = last.Layout.PanelSizes[plot.Axes.Left] + (float)Math.Ceiling(shortfall) + 1;
        }
    }

    /// <summary>
    /// How far a label of the measured size reaches below and left of its anchor when drawn, as ScottPlot draws a
    /// bottom tick label turned by <paramref name="rotation"/> degrees (negative: rising to the right) with its right
    /// middle at the anchor.
    /// </summary>
    private static (float Below, float Left) TurnedExtent(MeasuredText size, float rotation)
    {
        double angle = Math.Abs(rotation) * Math.PI / 180, w = size.Width, h = size.Height;
        return ((float)(w * Math.Sin(angle) + h / 2 * Math.Cos(angle)), (float)(w * Math.Cos(angle) + h / 2 * Math.Sin(angle)));
    }

    /// <summary>A log axis over [min, max] (data units, both &gt; 0): limits padded by 8% of the span in log space, ticks from <see cref="LogTicks"/>.</summary>
    public static void Log(IAxis axis, double min, double max, IReadOnlyList<double>? tickValues = null)
    {
        if (!(max > min)) (min, max) = (min / 2, max * 2);
        double lo = Math.Log10(min), hi = Math.Log10(max), pad = (hi - lo) * 0.08;
        axis.Min = lo - pad;
        axis.Max = hi + pad;
        var ticks = new NumericManual();
        foreach (var v in tickValues ?? LogTicks(min, max)) ticks.AddMajor(Math.Log10(v), Format.Number(v));
        axis.TickGenerator = ticks;
    }

    /// <summary>
    /// Round values for a log axis over [min, max]: powers of ten; with 2× and 5× when it spans three decades or fewer;
    /// every multiple when that still gives fewer than three; within a single decade, evenly spaced 1-2-5 steps.
    /// </summary>
    public static IReadOnlyList<double> LogTicks(double min, double max)
    {
        if (Math.Log10(max / min) < 1)
        {
            double step = NiceStep(min, max, 8);
            var within = new List<double>();
            for (double k = Math.Ceiling(min / step - 1e-9); k * step <= max * (1 + 1e-9); k++) within.Add(Math.Round(k * step, 12));
            return within.Where(v => v > 0).ToList();
        }
        int first = (int)Math.Floor(Math.Log10(min)), last = (int)Math.Ceiling(Math.Log10(max));
        double[][] choices = Math.Log10(max / min) <= 3 ? [[1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]] : [[1], [1, 2, 5]];
        var ticks = new List<double>();
        foreach (var multiples in choices)
        {
            ticks = (from k in Enumerable.Range(first, last - first + 1)
                     from m in multiples
                     let v = m * Math.Pow(10, k)
                     where v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)
                     select v).ToList();
            if (ticks.Count >= 3) break;
        }
        return ticks;
    }

    /// <summary>Heckbert's nice numbers: a step of 1, 2 or 5 × 10^k giving about <paramref name="count"/> ticks.</summary>
    public static double NiceStep(double min, double max, int count)
    {
        double range = max - min;
        if (!(range > 0)) return 1;
        double rough = range / Math.Max(1, count - 1);
        double exponent = Math.Floor(Math.Log10(rough));
        double fraction = rough / Math.Pow(10, exponent);
        double nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
        return nice * Math.Pow(10, exponent);
    }

    /// <summary>A dashed horizontal line at a value (chance level, speed-up of 1×), labelled on the right edge.</summary>
    public static void Reference(Plot plot, double axisValue, string label)
    {
        var line = plot.Add.HorizontalLine(axisValue, 1.2f, Palette.Neutral, LinePattern.Dashed);
        line.Text = label;
        line.LabelOppositeAxis = true;
        line.LabelFontSize = 10;
        line.LabelBackgroundColor = Colors.White;
        line.LabelFontColor = Palette.Neutral;
        line.ExcludeFromLegend = true;
    }

    /// <summary>The legend, outside the data area on the right, when there is more than one named series.</summary>
    public static void LegendWhenSeveral(Plot plot, int namedSeries)
    {
        if (namedSeries < 2) return;
        plot.ShowLegend(Edge.Right);
    }
}

/// <summary>Invariant number formatting for labels.</summary>
public static class Format
{
    /// <summary>A label: 0.25, 12, 1.5k, 135M, 1.2B.</summary>
    public static string Number(double v)
    {
        double a = Math.Abs(v);
        if (a >= 1e12) return Scaled(v / 1e12, "T");
        if (a >= 1e9) return Scaled(v / 1e9, "B");
        if (a >= 1e6) return Scaled(v / 1e6, "M");
        if (a >= 1e3) return Scaled(v / 1e3, "k");
        return v.ToString(a >= 100 ? "0" : a >= 1 || a == 0 ? "0.##" : "0.###", CultureInfo.InvariantCulture);
    }

    private static string Scaled(double v, string suffix) => v.ToString("0.##", CultureInfo.InvariantCulture) + suffix;
}
