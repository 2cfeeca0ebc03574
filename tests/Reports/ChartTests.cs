using System.Globalization;
using System.Xml.Linq;
using Eval.Charts;
using ScottPlot;
using BarSeries = Eval.Charts.BarSeries;
using Palette = Eval.Charts.Palette;
using ScottPlot.Plottables;

namespace Eval.Tests.Reports;

/// <summary>
/// Charts build the ScottPlot plot their data asks for (series, values, axes, labels, legend) and write SVG and PNG
/// files of the frame's size. Every expectation here is computed from the inputs, not read back from an earlier render.
/// </summary>
[TestClass]
public sealed class ChartTests
{
    private static BarChart Grouped() => new(new ChartFrame("Accuracy <per> language & model", "language", "accuracy (%)"),
        ["en", "fr", "sw"],
        [
            new BarSeries("model A", [60, 55, 41], [new Interval(50, 70), new Interval(45, 65), new Interval(33, 52)]),
            new BarSeries("model B", [62, double.NaN, 38], [new Interval(52, 72), null, new Interval(28, 48)]),
        ], YMax: 100, Reference: (33.3, "chance"));

    /// <summary>The plot, laid out at the frame's size (ScottPlot fills in the ticks it will draw while rendering).</summary>
    private static Plot Rendered(IChart chart)
    {
        var plot = chart.ToPlot();
        plot.RenderInMemory(chart.Frame.Width, chart.Frame.Height);
        return plot;
    }

    /// <summary>The plot and the image it renders at the frame's size (what the SVG and, at twice the size, the PNG show).</summary>
    private static (Plot Plot, RenderedPixels Pixels) Drawn(IChart chart)
    {
        var plot = chart.ToPlot();
        using var image = plot.GetImage(chart.Frame.Width, chart.Frame.Height);
        return (plot, new RenderedPixels(image.GetArrayRGB()));
    }

    /// <summary>An image's pixels, [y, x, rgb].</summary>
    private sealed record RenderedPixels(byte[,,] Rgb)
    {
        public Color At(double x, double y) => At((int)x, (int)y);

        private Color At(int x, int y) => new(Rgb[y, x, 0], Rgb[y, x, 1], Rgb[y, x, 2]);

        public IEnumerable<Color> Region(double left, double right, double top, double bottom)
        {
            for (int y = (int)top; y <= (int)bottom; y++)
                for (int x = (int)left; x <= (int)right; x++)
                    yield return At(x, y);
        }

        /// <summary>The outermost row and column on each side.</summary>
        public IEnumerable<(int X, int Y, Color Colour)> Edge()
        {
            int height = Rgb.GetLength(0), width = Rgb.GetLength(1);
            for (int x = 0; x < width; x++)
            {
                yield return (x, 0, At(x, 0));
                yield return (x, height - 1, At(x, height - 1));
            }
            for (int y = 0; y < height; y++)
            {
                yield return (0, y, At(0, y));
                yield return (width - 1, y, At(width - 1, y));
            }
        }
    }

    private static double Distance(Color a, Color b) => Math.Max(Math.Abs(a.R - b.R), Math.Max(Math.Abs(a.G - b.G), Math.Abs(a.B - b.B)));

    private static List<(double Position, string Label)> Ticks(IAxis axis) =>
        ((ScottPlot.TickGenerators.NumericManual)axis.TickGenerator).Ticks.Where(t => t.IsMajor).Select(t => (t.Position, t.Label)).ToList();

    private static List<string> LegendNames(Plot plot) =>
        plot.GetPlottables().SelectMany(p => p.LegendItems).Select(i => i.LabelText).Where(t => !string.IsNullOrEmpty(t)).ToList();

    [TestMethod]
    public void GroupedBarsHoldEachValueAtItsCategoryWithItsIntervalAndAChanceLine()
    {
        var plot = Rendered(Grouped());
        var series = plot.GetPlottables<BarPlot>().ToList();
        Assert.AreEqual(2, series.Count);
        CollectionAssert.AreEqual(new[] { "model A", "model B" }, series.Select(s => s.LegendText).ToArray());
        CollectionAssert.AreEqual(new[] { 60.0, 55, 41 }, series[0].Bars.Select(b => b.Value).ToArray());
        CollectionAssert.AreEqual(new[] { 62.0, 38 }, series[1].Bars.Select(b => b.Value).ToArray(), "the NaN of model B has no bar");
        // Two series share each category's 0.8 slot: A left of the category's centre, B right of it.
        CollectionAssert.AreEqual(new[] { -0.2, 0.8, 1.8 }, series[0].Bars.Select(b => Math.Round(b.Position, 9)).ToArray());
        CollectionAssert.AreEqual(new[] { 0.2, 2.2 }, series[1].Bars.Select(b => Math.Round(b.Position, 9)).ToArray());
        Assert.IsTrue(series.SelectMany(s => s.Bars).All(b => b.ValueBase == 0), "bars rise from zero");
        Assert.AreEqual(Palette.Colour(0), series[0].Bars[0].FillColor);
        Assert.AreEqual(Color.FromHex("#E69F00"), series[1].Bars[0].FillColor, "Okabe–Ito orange second");

        // Whiskers: from the interval's low to its high end, around the bar's value (sw of model A: 8 below, 11 above).
        var whiskers = plot.GetPlottables<ErrorBar>().ToList();
        Assert.AreEqual(2, whiskers.Count);
        CollectionAssert.AreEqual(new[] { 10.0, 10, 8 }, whiskers[0].YErrorNegative!.ToArray());
        CollectionAssert.AreEqual(new[] { 10.0, 10, 11 }, whiskers[0].YErrorPositive!.ToArray());
        CollectionAssert.AreEqual(new[] { 10.0, 10 }, whiskers[1].YErrorNegative!.ToArray());
        CollectionAssert.AreEqual(new[] { 62.0, 38 }, whiskers[1].Ys!.ToArray());

        CollectionAssert.AreEqual(new[] { (0.0, "en"), (1.0, "fr"), (2.0, "sw") }, Ticks(plot.Axes.Bottom));
        var chance = plot.GetPlottables<HorizontalLine>().Single();
        Assert.AreEqual(33.3, chance.Y);
        Assert.AreEqual("chance", chance.Text);
        Assert.AreEqual("Accuracy <per> language & model", plot.Axes.Title.Label.Text);
        Assert.AreEqual("language", plot.Axes.Bottom.Label.Text);
        Assert.AreEqual("accuracy (%)", plot.Axes.Left.Label.Text);
        Assert.AreEqual(0, plot.Axes.Left.Min);
        Assert.AreEqual(100, plot.Axes.Left.Max);
        CollectionAssert.AreEqual(new[] { "model A", "model B" }, LegendNames(plot));
    }

    [TestMethod]
    public void RatioBarsOnALogAxisRiseAndFallFromTheirBase()
    {
        var plot = Rendered(new BarChart(new ChartFrame("speed-up", "prompt", "×"), ["64", "256"], [new BarSeries("m", [2, 0.5])], AxisKind.Log, BarBase: 1));
        var bars = plot.GetPlottables<BarPlot>().Single().Bars;
        // On a log axis a bar spans log10 of its value from log10 of the base: 2× rises as far as ½× falls.
        Assert.AreEqual(Math.Log10(2), bars[0].Value, 1e-12);
        Assert.AreEqual(-Math.Log10(2), bars[1].Value, 1e-12);
        Assert.IsTrue(bars.All(b => b.ValueBase == 0), "log10 of the base 1");
        var ticks = Ticks(plot.Axes.Left);
        foreach (var (position, label) in ticks) Assert.AreEqual(Math.Log10(double.Parse(label, CultureInfo.InvariantCulture)), position, 1e-9, label);
        CollectionAssert.Contains(ticks.Select(t => t.Label).ToList(), "1");
        Assert.IsTrue(plot.Axes.Left.Min < -Math.Log10(2) && plot.Axes.Left.Max > Math.Log10(2), "both bars inside the axis");
    }

    [TestMethod]
    public void OutputDoesNotDependOnTheCultureOrTheMomentItIsRendered()
    {
        static string RenderIn(string culture)
        {
            var saved = System.Globalization.CultureInfo.CurrentCulture;
            try
            {
                System.Globalization.CultureInfo.CurrentCulture = new System.Globalization.CultureInfo(culture);
                return ChartFiles.Svg(Grouped());
            }
            finally
            {
                System.Globalization.CultureInfo.CurrentCulture = saved;
            }
        }
        var invariant = RenderIn("");
        // German writes 41,5 and 1.000: a chart formatted with the current culture would differ here.
        Assert.AreEqual(invariant, RenderIn("de-DE"));
        Assert.IsFalse(System.Text.RegularExpressions.Regex.IsMatch(invariant, @"=""-?\d+,\d"), "numbers in attributes use a decimal point");
        Assert.IsFalse(invariant.Contains(DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture)), "no timestamp");
    }

    [TestMethod]
    public void SeriesLengthMismatchIsAnError()
    {
        var chart = new BarChart(new ChartFrame("t", "x", "y"), ["a", "b"], [new BarSeries("s", [1])]);
        var e = Assert.ThrowsException<ArgumentException>(() => chart.ToPlot());
        StringAssert.Contains(e.Message, "'s'");
    }

    [TestMethod]
    public void LogLogLinesHoldLog10OfTheirPointsWithPowerOfTenTicks()
    {
        var chart = new XyChart(new ChartFrame("speed-up", "new tokens", "speed-up (×)"),
            [
                new XySeries("T = 1", [new(16, 20), new(1, 8), new(256, 90)]),
                new XySeries("T = 10", [new(1, 0.9), new(16, 2), new(256, 9, new Interval(7, 11))], Dashed: true),
                new XySeries("measured", [new(4, 3), new(64, double.NaN)], XyStyle.Markers),
            ], AxisKind.Log, AxisKind.Log, Reference: (1, "1×"));
        var plot = Rendered(chart);
        var lines = plot.GetPlottables<Scatter>().ToList();
        Assert.AreEqual(3, lines.Count);
        var first = lines[0].Data.GetScatterPoints();
        CollectionAssert.AreEqual(new[] { 0, Math.Log10(16), Math.Log10(256) }, first.Select(p => p.X).ToArray(), "sorted by x, log10");
        CollectionAssert.AreEqual(new[] { Math.Log10(8), Math.Log10(20), Math.Log10(90) }, first.Select(p => p.Y).ToArray());
        Assert.AreEqual(1, lines[2].Data.GetScatterPoints().Count, "the NaN point is left out");
        Assert.AreEqual(0, lines[2].LineWidth, "a markers-only series draws no line");
        Assert.AreNotEqual(MarkerShape.None, lines[2].MarkerShape);
        Assert.AreEqual(LinePattern.Dashed.Name, lines[1].LinePattern.Name);
        Assert.AreEqual(LinePattern.Solid.Name, lines[0].LinePattern.Name);

        var whisker = plot.GetPlottables<ErrorBar>().Single();
        Assert.AreEqual(Math.Log10(256), whisker.Xs.Single(), 1e-12);
        Assert.AreEqual(Math.Log10(9) - Math.Log10(7), whisker.YErrorNegative!.Single(), 1e-12);
        Assert.AreEqual(Math.Log10(11) - Math.Log10(9), whisker.YErrorPositive!.Single(), 1e-12);
        Assert.AreEqual(0, plot.GetPlottables<HorizontalLine>().Single().Y, "1× sits at log10 1 = 0");

        // x spans 1..256 (2.4 decades): 1-2-5 ticks; y spans 0.9..90 (2 decades).
        CollectionAssert.AreEqual(new[] { "1", "2", "5", "10", "20", "50", "100", "200" }, Ticks(plot.Axes.Bottom).Select(t => t.Label).ToArray());
        CollectionAssert.AreEqual(new[] { 0, Math.Log10(2), Math.Log10(5), 1 }, Ticks(plot.Axes.Bottom).Take(4).Select(t => t.Position).ToArray());
        CollectionAssert.IsSubsetOf(new[] { "1", "10" }, Ticks(plot.Axes.Left).Select(t => t.Label).ToList());
        CollectionAssert.AreEqual(new[] { "T = 1", "T = 10", "measured" }, LegendNames(plot));
    }

    [TestMethod]
    public void GivenXTicksOnALogAxisAreTheOnlyTicks()
    {
        var plot = Rendered(new XyChart(new ChartFrame("t", "L", "×"), [new XySeries("s", [new(1, 1), new(4, 2), new(16, 3)])], AxisKind.Log, XTicks: [1, 4, 16]));
        CollectionAssert.AreEqual(new[] { (0.0, "1"), (Math.Log10(4), "4"), (Math.Log10(16), "16") }, Ticks(plot.Axes.Bottom));
    }

    [TestMethod]
    public void LogTicksAreRoundValuesForTheSpan()
    {
        CollectionAssert.AreEqual(new[] { "500M", "1B", "2B", "5B", "10B", "20B", "50B", "100B" }, PlotAxes.LogTicks(2.6e8, 1.1e11).Select(Format.Number).ToList());
        CollectionAssert.AreEqual(new[] { "1k", "10k", "100k", "1M", "10M" }, PlotAxes.LogTicks(900, 2e7).Select(Format.Number).ToList(),
            "over more than three decades, powers of ten only");
        CollectionAssert.AreEqual(new[] { "0.6", "0.8", "1", "1.2", "1.4", "1.6" }, PlotAxes.LogTicks(0.55, 1.65).Select(Format.Number).ToList(),
            "within a decade, evenly spaced nice values");
    }

    [TestMethod]
    public void LogAxisRefusesNonPositiveValues()
    {
        var chart = new XyChart(new ChartFrame("t", "x", "y"), [new XySeries("s", [new(0, 1), new(10, 2)])], AxisKind.Log);
        var e = Assert.ThrowsException<ArgumentException>(() => chart.ToPlot());
        StringAssert.Contains(e.Message, "x axis is logarithmic");
    }

    [DataTestMethod]
    [DataRow(0.0, 1.0, 0.2)]
    [DataRow(0.0, 100.0, 20.0)]
    [DataRow(0.0, 0.37, 0.1)]
    [DataRow(12.0, 13.0, 0.2)]
    [DataRow(0.0, 7000.0, 2000.0)]
    public void NiceStepsAreOneTwoOrFiveTimesAPowerOfTen(double min, double max, double step) =>
        Assert.AreEqual(step, PlotAxes.NiceStep(min, max, 6), step * 1e-9);

    [DataTestMethod]
    [DataRow(135e6, "135M")]
    [DataRow(1.7e9, "1.7B")]
    [DataRow(25000.0, "25k")]
    [DataRow(0.25, "0.25")]
    [DataRow(64.0, "64")]
    public void NumbersAreLabelledCompactly(double value, string label) => Assert.AreEqual(label, Format.Number(value));

    [TestMethod]
    public void BoxPlotHoldsQuartilesAndEveryValueAsAPoint()
    {
        var stats = BoxStatistics.Of([1, 2, 3, 4, 5, 6, 7, 8, 9, 40]);
        Assert.AreEqual(3.25, stats.Q1, 1e-12);
        Assert.AreEqual(5.5, stats.Median, 1e-12);
        Assert.AreEqual(7.75, stats.Q3, 1e-12);
        Assert.AreEqual(9, stats.WhiskerHigh, "40 lies beyond 1.5 IQR");
        Assert.AreEqual(1, stats.WhiskerLow);

        var plot = Rendered(new BoxChart(new ChartFrame("spread", "model", "accuracy"),
            [new BoxGroup("a", [50, 52, 55, 61, 48], ["t1", "t2", "t3", "t4", "t5"]), new BoxGroup("b", [40, 45])], Reference: (33.3, "chance")));
        var boxes = plot.GetPlottables<BoxPlot>().SelectMany(b => b.Boxes).ToList();
        Assert.AreEqual(2, boxes.Count);
        // a sorted: 48 50 52 55 61 → Q1 50, median 52, Q3 55; whiskers reach 48 and 61 (within 1.5 IQR = 7.5).
        Assert.AreEqual((0.0, 50.0, 52.0, 55.0, 48.0, 61.0), (boxes[0].Position, boxes[0].BoxMin, boxes[0].BoxMiddle!.Value, boxes[0].BoxMax, boxes[0].WhiskerMin!.Value, boxes[0].WhiskerMax!.Value));
        Assert.AreEqual((1.0, 41.25, 42.5, 43.75), (boxes[1].Position, boxes[1].BoxMin, boxes[1].BoxMiddle!.Value, boxes[1].BoxMax));
        CollectionAssert.AreEqual(new[] { Palette.Colour(0).WithAlpha(0.33), Palette.Colour(1).WithAlpha(0.33) }, boxes.Select(b => b.FillColor).ToArray());
        var strips = plot.GetPlottables<Scatter>().ToList();
        CollectionAssert.AreEqual(new[] { 50.0, 52, 55, 61, 48 }, strips[0].Data.GetScatterPoints().Select(p => p.Y).ToArray());
        CollectionAssert.AreEqual(new[] { 40.0, 45 }, strips[1].Data.GetScatterPoints().Select(p => p.Y).ToArray());
        Assert.IsTrue(strips[1].Data.GetScatterPoints().All(p => Math.Abs(p.X - 1) < 0.25), "b's points lie over b's box");
        CollectionAssert.AreEqual(new[] { (0.0, "a"), (1.0, "b") }, Ticks(plot.Axes.Bottom));
        Assert.AreEqual(33.3, plot.GetPlottables<HorizontalLine>().Single().Y);
    }

    /// <summary>WCAG 2 relative luminance of an opaque colour, and the contrast ratio of two (1 to 21).</summary>
    private static double Luminance(Color c)
    {
        static double Channel(byte v) => v / 255.0 <= 0.04045 ? v / 255.0 / 12.92 : Math.Pow((v / 255.0 + 0.055) / 1.055, 2.4);
        return 0.2126 * Channel(c.R) + 0.7152 * Channel(c.G) + 0.0722 * Channel(c.B);
    }

    private static double Contrast(Color a, Color b) =>
        (Math.Max(Luminance(a), Luminance(b)) + 0.05) / (Math.Min(Luminance(a), Luminance(b)) + 0.05);

    [TestMethod]
    public void HeatmapHoldsEachCellWithItsValueWrittenInItAndTheFirstRowOnTop()
    {
        var chart = new HeatmapChart(new ChartFrame("xnli: accuracy", "template", "language"), ["en", "fr", "sw"], ["t1", "t2"],
            [[80, 70], [60, double.NaN], [40, 35.25]]);
        var plot = Rendered(chart);
        // One rectangle per cell, row 0 on top (y = 2), filled with viridis at the value's place in [0, 100]; NaN grey.
        var cells = plot.GetPlottables<ScottPlot.Plottables.Rectangle>().ToDictionary(r => (X: (r.X1 + r.X2) / 2, Y: (r.Y1 + r.Y2) / 2));
        Assert.AreEqual(6, cells.Count, "three rows of two cells");
        Assert.IsTrue(cells.Values.All(r => Math.Abs(r.X2 - r.X1) == 1 && Math.Abs(r.Y2 - r.Y1) == 1), "unit cells");
        var viridis = new ScottPlot.Colormaps.Viridis();
        Assert.AreEqual(viridis.GetColor(0.80), cells[(0, 2)].FillColor, "en · t1");
        Assert.AreEqual(viridis.GetColor(0.3525), cells[(1, 0)].FillColor, "sw · t2");
        Assert.AreEqual(Color.FromHex("#DDDDDD"), cells[(1, 1)].FillColor, "fr · t2 has no examples");

        var labels = plot.GetPlottables<Text>().ToDictionary(t => (t.Location.X, t.Location.Y));
        Assert.AreEqual(5, labels.Count, "six cells, one NaN");
        Assert.AreEqual("80.0", labels[(0, 2)].LabelText, "en is the top row (y = 2)");
        Assert.AreEqual("35.3", labels[(1, 0)].LabelText, "sw · t2 at the bottom right, one decimal");
        Assert.IsFalse(labels.ContainsKey((1, 1)), "fr · t2 has no examples");
        foreach (var (at, label) in labels)
            Assert.IsTrue(Contrast(label.LabelFontColor, cells[at].FillColor) >= 4.5,
                $"{label.LabelText}: {label.LabelFontColor} on {cells[at].FillColor} is hard to read");
        CollectionAssert.AreEqual(new[] { (2.0, "en"), (1.0, "fr"), (0.0, "sw") }, Ticks(plot.Axes.Left));
        CollectionAssert.AreEqual(new[] { (0.0, "t1"), (1.0, "t2") }, Ticks(plot.Axes.Bottom));

        var e = Assert.ThrowsException<ArgumentException>(() => new HeatmapChart(new ChartFrame("bad", "x", "y"), ["a"], ["t1", "t2"], [[1]]).ToPlot());
        StringAssert.Contains(e.Message, "1 rows of 2 values");
    }

    /// <summary>
    /// The demo's heatmap, one language: every cell is painted in its colour in the rendered image, and its value is
    /// written in ink that stands out from that colour (white text on a white figure passed before). Values across the
    /// range test both text colours, mid-viridis (where black and white contrast least) included.
    /// </summary>
    [TestMethod]
    public void AOneRowHeatmapPaintsEveryCellAndWritesEachValueLegibly()
    {
        double[] values = [0, 25, 45, 55, 60, 100, double.NaN];
        var chart = new HeatmapChart(new ChartFrame("xnli: accuracy per language and template", "template", "language", Width: 1000, Height: 360),
            ["en"], ["GPT-3 style", "MNLI crowdsource", "can we infer", "guaranteed/possible/impossible", "justified in saying", "take the following", "none"], [values]);
        var (plot, pixels) = Drawn(chart);
        var data = plot.RenderManager.LastRender.DataRect;
        for (int c = 0; c < values.Length; c++)
        {
            var fill = double.IsNaN(values[c]) ? Color.FromHex("#DDDDDD") : new ScottPlot.Colormaps.Viridis().GetColor(values[c] / 100);
            float left = plot.Axes.Bottom.GetPixel(c - 0.5, data), right = plot.Axes.Bottom.GetPixel(c + 0.5, data);
            // Away from the centred value: a quarter in from the cell's top left corner.
            var corner = pixels.At(left + (right - left) / 4, data.Top + data.Height / 4);
            Assert.IsTrue(Distance(corner, fill) <= 3, $"cell {c} ({values[c]}) is {corner}, not {fill}");
            // Around the centre: the value's glyphs, in ink that contrasts with the cell.
            var ink = pixels.Region(left + (right - left) / 3, right - (right - left) / 3, data.VerticalCenter - 8, data.VerticalCenter + 8)
                .Select(p => Contrast(p, fill)).Max();
            if (double.IsNaN(values[c])) Assert.IsTrue(ink < 1.2, $"cell {c} has no value but something is written in it");
            else Assert.IsTrue(ink >= 4.5, $"the value in cell {c} ({values[c]}) barely stands out: contrast {ink:0.00}");
        }
    }

    /// <summary>Long category names are turned; they and the title must stay inside the figure and clear of the axis title.</summary>
    private static IEnumerable<IChart> ChartsWithTurnedLabels()
    {
        string[] templates = ["GPT-3 style, with a long name", "MNLI crowdsource", "can we infer", "guaranteed/possible/impossible", "justified in saying"];
        yield return new HeatmapChart(new ChartFrame("xnli: accuracy per language and template, ModernBERT-Large-Instruct", "template", "language",
            Width: 760, Height: 360, Subtitle: "accuracy (%) per cell"), ["en"], templates, [[37.5, 25, 29.2, 45.8, 29.2]]);
        yield return new HeatmapChart(new ChartFrame("mmlu: accuracy per subject and template, SmolLM2-360M", "template", "subject", Width: 560, Height: 400),
            ["abstract_algebra", "high_school_government_and_politics", "world_religions"], ["modernbert_instruct_eval_py", "model_card", "lm_eval_harness_default"],
            [[50, 45, 45], [60, 45, 50], [70, 30, 55]]);
        string[] subjects = ["high_school_government_and_politics", "abstract_algebra", "anatomy", "astronomy", "business_ethics", "clinical_knowledge", "college_biology", "world_religions"];
        yield return new BarChart(new ChartFrame("mmlu: accuracy per subject", "subject", "accuracy (%)", Width: 720),
            subjects, [new BarSeries("ModernBERT-Large-Instruct", subjects.Select((_, i) => 40.0 + i).ToList()), new BarSeries("SmolLM2-360M", subjects.Select((_, i) => 30.0 + i).ToList())],
            YMax: 100, Reference: (25, "chance"));
        yield return new BoxChart(new ChartFrame("spread across templates", "model", "accuracy (%)", Width: 560),
            new[] { "ModernBERT-Large-Instruct-a", "ModernBERT-Large-Instruct-b", "SmolLM2-360M-Instruct-c", "Qwen2.5-0.5B-Instruct-d" }.Select((m, i) => new BoxGroup(m, [40 + i, 45 + i, 50 + i])).ToList(),
            Reference: (33.3, "chance"));
    }

    [TestMethod]
    public void TurnedCategoryLabelsAndTitlesStayInsideTheFigureAndClearOfTheAxisTitle()
    {
        foreach (var chart in ChartsWithTurnedLabels())
        {
            var (plot, pixels) = Drawn(chart);
            var name = chart.Frame.Title;
            var axis = (ScottPlot.AxisPanels.XAxisBase)plot.Axes.Bottom;
            var style = axis.TickLabelStyle;
            Assert.AreNotEqual(0f, style.Rotation, $"{name}: the labels are long enough to be turned");
            var data = plot.RenderManager.LastRender.DataRect;
            // ScottPlot records where it drew the last label (unturned, its right middle at the anchor): the anchors' height.
            float anchorY = style.LastRenderPixelRect.VerticalCenter;
            float axisTitleTop = axis.LabelStyle.LastRenderPixelRect.Top;
            using var paint = Paint.NewDisposablePaint();
            double angle = style.Rotation * Math.PI / 180;
            foreach (var tick in ((ScottPlot.TickGenerators.NumericManual)axis.TickGenerator).Ticks.Where(t => t.IsMajor))
            {
                var size = style.Measure(tick.Label, paint);
                float anchorX = axis.GetPixel(tick.Position, data);
                // The label's box, right middle at the anchor, turned about it as Skia turns the canvas (clockwise for positive degrees, y down).
                var corners = new[] { (-size.Width, -size.Height / 2), (0f, -size.Height / 2), (-size.Width, size.Height / 2), (0f, size.Height / 2) }
                    .Select(p => (X: anchorX + p.Item1 * Math.Cos(angle) - p.Item2 * Math.Sin(angle), Y: anchorY + p.Item1 * Math.Sin(angle) + p.Item2 * Math.Cos(angle)))
                    .ToList();
                Assert.IsTrue(corners.Min(p => p.X) >= 0, $"{name}: '{tick.Label}' starts {-corners.Min(p => p.X):0} px left of the figure");
                Assert.IsTrue(corners.Max(p => p.X) <= chart.Frame.Width, $"{name}: '{tick.Label}' ends right of the figure");
                Assert.IsTrue(corners.Max(p => p.Y) <= axisTitleTop, $"{name}: '{tick.Label}' reaches {corners.Max(p => p.Y):0}, into the axis title at {axisTitleTop:0}");
            }
            Assert.IsTrue(axisTitleTop >= data.Bottom && axis.LabelStyle.LastRenderPixelRect.Bottom <= chart.Frame.Height, $"{name}: the axis title is inside the figure");
            var title = plot.Axes.Title.Label.LastRenderPixelRect;
            Assert.IsTrue(title.Left >= 0 && title.Right <= chart.Frame.Width, $"{name}: the title runs from {title.Left:0} to {title.Right:0} px");
            // Whatever is drawn, nothing is cut by the figure's edge: its outermost pixels are all background.
            var edge = pixels.Edge().Where(p => p.Colour.R < 250 || p.Colour.G < 250 || p.Colour.B < 250).ToList();
            Assert.AreEqual(0, edge.Count, $"{name}: ink on the figure's edge at {string.Join(", ", edge.Take(5).Select(p => $"({p.X}, {p.Y})"))}");
        }
    }

    [TestMethod]
    public void SavesAnSvgAndAPngOfTheFramesSize()
    {
        var dir = SharedFixtures.TempDirectory();
        var files = ChartFiles.Save(Grouped() with { Frame = Grouped().Frame with { Width = 640, Height = 380 } }, Path.Combine(dir, "grouped"));
        CollectionAssert.AreEqual(new[] { Path.Combine(dir, "grouped.svg"), Path.Combine(dir, "grouped.png") }, files.ToArray());

        var svg = XDocument.Load(files[0]).Root!;
        Assert.AreEqual("svg", svg.Name.LocalName);
        Assert.AreEqual("640", (string?)svg.Attribute("width"));
        Assert.AreEqual("380", (string?)svg.Attribute("height"));

        var png = File.ReadAllBytes(files[1]);
        CollectionAssert.AreEqual(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        CollectionAssert.AreEqual("IHDR"u8.ToArray(), png[12..16]);
        // IHDR: width and height, big-endian, at bytes 16..24; twice the frame's size.
        Assert.AreEqual(640 * ChartFiles.PngScale, (png[16] << 24) | (png[17] << 16) | (png[18] << 8) | png[19]);
        Assert.AreEqual(380 * ChartFiles.PngScale, (png[20] << 24) | (png[21] << 16) | (png[22] << 8) | png[23]);
    }

    /// <summary>
    /// Rendering another chart in between must not change a chart's bytes (no process-wide id counters, no time stamps),
    /// and different charts must differ — so the equality is not that of an output that ignores its input.
    /// </summary>
    [TestMethod]
    public void TheSameChartGivesTheSameBytesWhateverWasRenderedBefore()
    {
        var first = ChartFiles.Svg(Grouped());
        var other = ChartFiles.Svg(new BoxChart(new ChartFrame("other", "x", "y"), [new BoxGroup("a", [1, 2, 3])]));
        ChartFiles.Png(new BarChart(new ChartFrame("third", "x", "y"), ["a"], [new BarSeries("s", [1])]));
        Assert.AreNotEqual(first, other);
        Assert.AreEqual(first, ChartFiles.Svg(Grouped()));
        CollectionAssert.AreEqual(ChartFiles.Png(Grouped()), ChartFiles.Png(Grouped() with { }));
        Assert.IsFalse(System.Text.RegularExpressions.Regex.IsMatch(first, @"\d{4}-\d{2}-\d{2}"), "no dates in the SVG");
    }

    [TestMethod]
    public void InlinedSvgsHaveTheirOwnIdsAViewBoxAndATitle()
    {
        var a = XElement.Parse(ChartFiles.InlineSvg(Grouped(), "fig-a"));
        var b = XElement.Parse(ChartFiles.InlineSvg(Grouped(), "fig-b"));
        var idsA = a.DescendantsAndSelf().Select(e => (string?)e.Attribute("id")).OfType<string>().ToList();
        Assert.IsTrue(idsA.Count > 0 && idsA.All(i => i.StartsWith("fig-a-", StringComparison.Ordinal)), string.Join(", ", idsA));
        var idsB = b.DescendantsAndSelf().Select(e => (string?)e.Attribute("id")).OfType<string>().ToList();
        Assert.AreEqual(0, idsA.Intersect(idsB).Count());
        var references = a.DescendantsAndSelf().SelectMany(e => e.Attributes()).Select(x => System.Text.RegularExpressions.Regex.Match(x.Value, @"url\(#([^)]+)\)"))
            .Where(m => m.Success).Select(m => m.Groups[1].Value).ToList();
        Assert.IsTrue(references.Count > 0);
        CollectionAssert.IsSubsetOf(references, idsA, "every clip-path reference resolves inside its own figure");
        Assert.AreEqual("chart", (string?)a.Attribute("class"));
        Assert.AreEqual("0 0 720 420", (string?)a.Attribute("viewBox"));
        Assert.AreEqual("Accuracy <per> language & model", a.Elements().First(e => e.Name.LocalName == "title").Value);
    }
}
