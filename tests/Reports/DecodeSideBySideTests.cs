using Eval.Harness.Benchmarks;
using Eval.Harness.Reports;

namespace Eval.Tests.Reports;

/// <summary>
/// The decode-speed section's side-by-side table: each masked model's Mask-Predict at T = 10 beside every greedy
/// decoder of the CSV (a causal BLOOMZ and an encoder–decoder mT0 alike) at the same prompt, L and batch.
/// </summary>
[TestClass]
public sealed class DecodeSideBySideTests
{
    private static string Csv(params (string Model, string Method, int L, int T, int Batch, double Ms)[] rows)
    {
        var lines = new List<string> { string.Join(",", DecodeBenchmark.CsvHeader) };
        foreach (var (model, method, l, t, batch, ms) in rows)
            lines.Add($"generate,{model},arch,3000000000,random,{method},0,64,{l},{t},{t},{t},{batch},5,{ms},{ms},{ms},{ms / batch},1,1,,,,ok,cpu,test machine,bench decode");
        var path = Path.Combine(SharedFixtures.TempDirectory(), "decode-20260101-000000.csv");
        File.WriteAllLines(path, lines);
        return path;
    }

    [TestMethod]
    public void MaskPredictAtTenIterationsSitsBesideEveryGreedyDecoder()
    {
        var section = DecodeSpeedSection.Build(Csv(
            ("xlmr-xl", "mask-predict", 16, 1, 1, 10), ("xlmr-xl", "mask-predict", 16, 10, 1, 100), ("xlmr-xl", "mask-predict", 64, 10, 1, 200),
            ("xlmr-xl", "mask-predict", 16, 10, 8, 400),
            ("bloomz-3b", "greedy", 16, 0, 1, 300), ("bloomz-3b", "greedy", 64, 0, 1, 1000), ("bloomz-3b", "greedy", 16, 0, 8, 600),
            ("mt0-xl", "greedy", 16, 0, 1, 250)));
        var table = section.Blocks.OfType<ReportTable>().Single(t => t.Header[0] == "masked model");
        CollectionAssert.AreEqual(new[] { "masked model", "T", "prompt", "L", "batch", "Mask-Predict ms", "bloomz-3b greedy ms", "× vs bloomz-3b",
            "mt0-xl greedy ms", "× vs mt0-xl" }, table.Header.ToList());
        // T = 1 is left out; batch 1 first, then by L.
        CollectionAssert.AreEqual(new[] { "xlmr-xl", "10", "64", "16", "1", "100", "300", "3.00×", "250", "2.50×" }, table.Rows[0].ToList());
        CollectionAssert.AreEqual(new[] { "xlmr-xl", "10", "64", "64", "1", "200", "1000", "5.00×", "–", "–" }, table.Rows[1].ToList());
        CollectionAssert.AreEqual(new[] { "xlmr-xl", "10", "64", "16", "8", "400", "600", "1.50×", "–", "–" }, table.Rows[2].ToList());
        Assert.AreEqual(3, table.Rows.Count);
        var figure = section.Blocks.OfType<ReportFigure>().Single(f => f.FileName == "decode-xlmr-xl-vs-greedy");
        var chart = (Eval.Charts.XyChart)figure.Chart;
        CollectionAssert.AreEquivalent(new[] { "bloomz-3b", "mt0-xl", "bloomz-3b, batch 8" }, chart.Series.Select(s => s.Name).ToList());
        Assert.AreEqual(3.0, chart.Series.Single(s => s.Name == "bloomz-3b").Points.Single(p => p.X == 16).Y, 1e-12);
        System.Xml.Linq.XDocument.Parse(Eval.Charts.ChartFiles.Svg(chart));
    }

    [TestMethod]
    public void WithoutTenIterationsTheLargestTStandsIn()
    {
        var section = DecodeSpeedSection.Build(Csv(("mb", "mask-predict", 4, 1, 1, 5), ("mb", "mask-predict", 4, 4, 1, 20), ("llama", "greedy", 4, 0, 1, 40)));
        var table = section.Blocks.OfType<ReportTable>().Single(t => t.Header[0] == "masked model");
        CollectionAssert.AreEqual(new[] { "mb", "4", "64", "4", "1", "20", "40", "2.00×" }, table.Rows.Single().ToList());
    }

    [TestMethod]
    public void NoGreedyDecoderMeansNoSideBySideTable()
    {
        var section = DecodeSpeedSection.Build(Csv(("mb", "mask-predict", 4, 10, 1, 5)));
        Assert.IsFalse(section.Blocks.OfType<ReportTable>().Any(t => t.Header[0] == "masked model"));
    }
}
