using System.Xml.Linq;
using Eval.Charts;

namespace Eval.Tests.Reports;

/// <summary>Charts render as well-formed SVG holding the marks their data asks for, the same bytes every time.</summary>
[TestClass]
public sealed class ChartTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    private static XDocument Parse(IChart chart) => XDocument.Parse(chart.ToSvg());

    private static List<XElement> WithClass(XDocument doc, string cssClass) =>
        doc.Descendants().Where(e => ((string?)e.Attribute("class"))?.Split(' ').Contains(cssClass) == true).ToList();

    private static List<string> TickLabels(XDocument doc, string axis) =>
        WithClass(doc, axis).SelectMany(g => g.Descendants(Svg + "text")).Where(t => (string?)t.Attribute("class") == "tick").Select(t => t.Value).ToList();

    private static BarChart Grouped() => new(new ChartFrame("Accuracy <per> language & model", "language", "accuracy (%)"),
        ["en", "fr", "sw"],
        [
            new BarSeries("model A", [60, 55, 41], [new Interval(50, 70), new Interval(45, 65), new Interval(30, 52)]),
            new BarSeries("model B", [62, double.NaN, 38], [new Interval(52, 72), null, new Interval(28, 48)]),
        ], YMax: 100, Reference: (33.3, "chance"));

    [TestMethod]
    public void GroupedBarChartHasABarPerValueWhiskersLegendAndEscapedTitle()
    {
        var doc = Parse(Grouped());
        Assert.AreEqual("svg", doc.Root!.Name.LocalName);
        Assert.AreEqual(5, WithClass(doc, "bar").Count, "six values, one NaN");
        Assert.AreEqual(5, WithClass(doc, "error-bar").Count);
        Assert.AreEqual(2, WithClass(doc, "legend-item").Count);
        Assert.AreEqual("Accuracy <per> language & model", WithClass(doc, "title").Single().Value);
        CollectionAssert.AreEqual(new[] { "en", "fr", "sw" }, TickLabels(doc, "x-axis"));
        CollectionAssert.AreEqual(new[] { "0", "20", "40", "60", "80", "100" }, TickLabels(doc, "y-axis"));
        Assert.AreEqual(1, WithClass(doc, "reference").Count);
        // Taller value, taller bar: en of model A (60) against sw (41).
        var bars = WithClass(doc, "bar").Select(b => double.Parse((string)b.Attribute("height")!, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.IsTrue(bars[0] > bars[2], $"{bars[0]} vs {bars[2]}");
        Assert.AreEqual(bars[0] * 41 / 60, bars[2], 0.05);
    }

    [TestMethod]
    public void RatioBarsOnALogAxisRiseAndFallFromTheirBase()
    {
        var doc = Parse(new BarChart(new ChartFrame("speed-up", "prompt", "×"), ["64", "256"], [new BarSeries("m", [2, 0.5])], AxisKind.Log, BarBase: 1));
        double Attr(XElement e, string name) => double.Parse((string)e.Attribute(name)!, System.Globalization.CultureInfo.InvariantCulture);
        var bars = WithClass(doc, "bar");
        // 2× rises to the base line's height, ½× hangs from it, and on a log axis both are equally long.
        Assert.AreEqual(Attr(bars[0], "y") + Attr(bars[0], "height"), Attr(bars[1], "y"), 0.02);
        Assert.AreEqual(Attr(bars[0], "height"), Attr(bars[1], "height"), 0.02);
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
                return Grouped().ToSvg();
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
        var e = Assert.ThrowsException<ArgumentException>(() => chart.ToSvg());
        StringAssert.Contains(e.Message, "'s'");
    }

    [TestMethod]
    public void LogAxesTickAtPowersOfTenAndLinesConnectPoints()
    {
        var chart = new XyChart(new ChartFrame("speed-up", "new tokens", "speed-up (×)"),
            [
                new XySeries("T = 1", [new(1, 8), new(16, 20), new(256, 90)]),
                new XySeries("T = 10", [new(1, 0.9), new(16, 2), new(256, 9, new Interval(7, 11))]),
                new XySeries("measured", [new(4, 3), new(64, double.NaN)], XyStyle.Markers),
            ], AxisKind.Log, AxisKind.Log, Reference: (1, "1×"));
        var doc = Parse(chart);
        Assert.AreEqual(2, WithClass(doc, "line").Count, "markers-only series draws no line");
        Assert.AreEqual(7, WithClass(doc, "point").Count, "the NaN point is left out");
        Assert.AreEqual(1, WithClass(doc, "error-bar").Count);
        CollectionAssert.IsSubsetOf(new[] { "1", "10", "100" }, TickLabels(doc, "x-axis"));
        CollectionAssert.IsSubsetOf(new[] { "1", "10" }, TickLabels(doc, "y-axis"));
        Assert.AreEqual(3, WithClass(doc, "legend-item").Count);
    }

    [TestMethod]
    public void LogAxisOverAFewDecadesTicksAtOneTwoAndFive()
    {
        var labels = new LogScale(2.6e8, 1.1e11, 0, 100).Ticks().Select(t => t.Label).ToList();
        CollectionAssert.AreEqual(new[] { "500M", "1B", "2B", "5B", "10B", "20B", "50B", "100B" }, labels);
        CollectionAssert.AreEqual(new[] { "1k", "10k", "100k", "1M", "10M" }, new LogScale(900, 2e7, 0, 100).Ticks().Select(t => t.Label).ToList(),
            "over more than three decades, powers of ten only");
        CollectionAssert.AreEqual(new[] { "0.6", "0.8", "1", "1.2", "1.4", "1.6" }, new LogScale(0.55, 1.65, 0, 100).Ticks().Select(t => t.Label).ToList(),
            "within a decade, evenly spaced nice values");
    }

    [TestMethod]
    public void LogAxisRefusesNonPositiveValues()
    {
        var chart = new XyChart(new ChartFrame("t", "x", "y"), [new XySeries("s", [new(0, 1), new(10, 2)])], AxisKind.Log);
        var e = Assert.ThrowsException<ArgumentException>(() => chart.ToSvg());
        StringAssert.Contains(e.Message, "x axis is logarithmic");
    }

    [DataTestMethod]
    [DataRow(0.0, 1.0, 0.2)]
    [DataRow(0.0, 100.0, 20.0)]
    [DataRow(0.0, 0.37, 0.1)]
    [DataRow(12.0, 13.0, 0.2)]
    [DataRow(0.0, 7000.0, 2000.0)]
    public void NiceStepsAreOneTwoOrFiveTimesAPowerOfTen(double min, double max, double step) =>
        Assert.AreEqual(step, LinearScale.NiceStep(min, max, 6), step * 1e-9);

    [DataTestMethod]
    [DataRow(135e6, "135M")]
    [DataRow(1.7e9, "1.7B")]
    [DataRow(25000.0, "25k")]
    [DataRow(0.25, "0.25")]
    [DataRow(64.0, "64")]
    public void NumbersAreLabelledCompactly(double value, string label) => Assert.AreEqual(label, Format.Number(value));

    [TestMethod]
    public void BoxPlotDrawsQuartilesAndEveryValue()
    {
        var stats = BoxStatistics.Of([1, 2, 3, 4, 5, 6, 7, 8, 9, 40]);
        Assert.AreEqual(3.25, stats.Q1, 1e-12);
        Assert.AreEqual(5.5, stats.Median, 1e-12);
        Assert.AreEqual(7.75, stats.Q3, 1e-12);
        Assert.AreEqual(9, stats.WhiskerHigh, "40 lies beyond 1.5 IQR");
        Assert.AreEqual(1, stats.WhiskerLow);

        var doc = Parse(new BoxChart(new ChartFrame("spread", "model", "accuracy"),
            [new BoxGroup("a", [50, 52, 55, 61, 48], ["t1", "t2", "t3", "t4", "t5"]), new BoxGroup("b", [40, 45])]));
        Assert.AreEqual(2, WithClass(doc, "box").Count);
        Assert.AreEqual(2, WithClass(doc, "median").Count);
        Assert.AreEqual(7, WithClass(doc, "point").Count);
        StringAssert.Contains(WithClass(doc, "point")[0].Element(Svg + "title")!.Value, "t1");
    }

    [TestMethod]
    public void SavesAPngBesideTheSvgWithRsvgConvert()
    {
        var rasterizer = ChartFiles.FindRasterizer();
        Assert.IsNotNull(rasterizer, "rsvg-convert is not installed (apt-get install librsvg2-bin; .ci/run installs it)");
        var dir = SharedFixtures.TempDirectory();
        var files = ChartFiles.Save(Grouped(), Path.Combine(dir, "grouped"), rasterizer);
        Assert.AreEqual(2, files.Count);
        var png = File.ReadAllBytes(files[1]);
        CollectionAssert.AreEqual(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        // IHDR: width and height, big-endian, at bytes 16..24; the chart is 720×420 at zoom 2.
        Assert.AreEqual(1440, (png[16] << 24) | (png[17] << 16) | (png[18] << 8) | png[19]);
        Assert.AreEqual(840, (png[20] << 24) | (png[21] << 16) | (png[22] << 8) | png[23]);
    }
}
