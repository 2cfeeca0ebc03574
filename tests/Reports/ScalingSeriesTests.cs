using System.Globalization;
using Eval.Harness.Benchmarks;
using Eval.Harness.Reports;

namespace Eval.Tests.Reports;

/// <summary>
/// `scaling` with several series (model kinds from run.json's architecture, families by regex, a mapping file) and
/// where their fits cross, on synthetic runs and benchmark rows whose curves are known: the crossing must land on the
/// known size, inside its bootstrap interval; curves that meet only far outside the measured sizes are said not to
/// cross; decode speed against size crosses where the two latency laws are equal.
/// </summary>
[TestClass]
public sealed class ScalingSeriesTests
{
    private static readonly double[] Sizes = [1e7, 3e7, 1e8, 3e8, 1e9, 3e9, 1e10];
    private const int Examples = 2000;

    /// <summary>
    /// Runs of two kinds, accuracy a + b·(log10 N − 7) exactly (to 1/2000) on the same 2000 examples; the encoders are
    /// ModernBERT (masked), the decoders the Ettin decoder (causal).
    /// </summary>
    private static List<string> PairedRuns(string dir, (double A, double B) encoder, (double A, double B) decoder)
    {
        var folders = new List<string>();
        foreach (var (kind, architecture, (a, b)) in new[] { ("encoder", "ModernBertForMaskedLM", encoder), ("decoder", "ModernBertDecoderForCausalLM", decoder) })
            for (int i = 0; i < Sizes.Length; i++)
            {
                double accuracy = a + b * (Math.Log10(Sizes[i]) - 7);
                int right = (int)Math.Round(Examples * accuracy);
                // Which examples are right differs by kind and size (a scrambled order), as with real models.
                var order = Enumerable.Range(0, Examples).OrderBy(d => (d * 7919 + i * 104729 + kind.Length * 31) % Examples).ToList();
                var correct = order.Take(right).ToHashSet();
                var examples = Enumerable.Range(0, Examples).Select(d => new SyntheticRuns.Example("xnli", "en", "t", d, correct.Contains(d) ? 0 : 1, 0, 3));
                folders.Add(SyntheticRuns.Write(Path.Combine(dir, $"ettin-{kind}-{i}"), $"jhu-clsp/ettin-{kind}-{i}", (long)Sizes[i], examples,
                    architecture: architecture));
            }
        return folders;
    }

    private static Dictionary<string, string> CrossingRow(string output, string name = "xnli")
    {
        var lines = File.ReadAllLines(Path.Combine(output, "scaling-crossings.csv")).Select(l => l.Split(',')).ToList();
        var header = lines[0];
        var row = lines.Skip(1).Single(r => r[0] == name);
        return header.Select((h, i) => (h, i)).ToDictionary(e => e.h, e => row[e.i]);
    }

    private static double Number(string text) => double.Parse(text, CultureInfo.InvariantCulture);

    /// <summary>
    /// Encoders 0.40 + 0.05·(log10 N − 7), decoders 0.30 + 0.10·(log10 N − 7): equal at log10 N = 9, N* = 1B, the
    /// encoder ahead below and the decoder above. By kind, by families and by a mapping file, the same answer.
    /// </summary>
    [TestMethod]
    public void SeriesThatCrossInRangeGiveTheKnownSizeInsideTheirInterval()
    {
        var dir = SharedFixtures.TempDirectory();
        var folders = PairedRuns(dir, (0.40, 0.05), (0.30, 0.10));
        File.WriteAllLines(Path.Combine(dir, "series.csv"), ["run,series", .. folders.Select(f => $"{Path.GetFileName(f)},{(f.Contains("encoder") ? "enc" : "dec")}")]);
        foreach (var (options, first, second) in new (string[] Options, string First, string Second)[]
        {
            (["--series", "kind"], "causal", "masked"),
            (["--series", "encoder=ettin-encoder", "--series", "decoder=ettin-decoder"], "decoder", "encoder"),
            (["--series-file", Path.Combine(dir, "series.csv")], "dec", "enc"),
        })
        {
            var output = Path.Combine(dir, "out-" + first);
            var (code, log) = ProgramProcess.Run(dir, ["scaling", .. folders, .. options, "--output", output]);
            Assert.AreEqual(0, code, log);
            var row = CrossingRow(output);
            Assert.AreEqual((first, second), (row["first"], row["second"]), string.Join(" ", options));
            Assert.AreEqual(9, Math.Log10(Number(row["crossing"])), 0.02, $"{string.Join(" ", options)}: N* {row["crossing"]}");
            Assert.IsTrue(Number(row["ci_low"]) < 1e9 && 1e9 < Number(row["ci_high"]), $"the interval {row["ci_low"]}–{row["ci_high"]} holds 1B");
            Assert.IsTrue(Number(row["ci_high"]) / Number(row["ci_low"]) < 3, $"2000 examples pin N* within a factor of 3: {row["ci_low"]}–{row["ci_high"]}");
            Assert.AreEqual("true", row["in_range"]);
            Assert.IsTrue(Number(row["fraction_in_range"]) > 0.99, row["fraction_in_range"]);
            Assert.AreEqual((second, first), (row["ahead_below"], row["ahead_above"]), "the encoder leads below 1B, the decoder above");
            StringAssert.Contains(log, $"{first} and {second} cross at {Eval.Charts.Format.Number(Number(row["crossing"]))} parameters (95% CI");

            var fits = File.ReadAllLines(Path.Combine(output, "scaling-fits.csv")).Select(l => l.Split(',')).Where(r => r[3] == "log-linear").ToList();
            var bySeries = fits.ToDictionary(r => r[1], r => (A: Number(r[5]), B: Number(r[6])));
            // acc = a + b·log10 N: the encoders' a = 0.40 − 0.05·7, the decoders' 0.30 − 0.10·7.
            Assert.AreEqual(0.05, bySeries[second].B, 1e-3);
            Assert.AreEqual(0.40 - 0.35, bySeries[second].A, 5e-3);
            Assert.AreEqual(0.10, bySeries[first].B, 1e-3);
            Assert.AreEqual(0.30 - 0.70, bySeries[first].A, 5e-3);
            foreach (var file in new[] { "scaling.html", "scaling.md", "charts/scaling-xnli.png", "charts/scaling-all.svg" })
                Assert.IsTrue(File.Exists(Path.Combine(output, file)), file);
        }
    }

    /// <summary>
    /// Encoders 0.60 + 0.02·(log10 N − 7), decoders 0.30 + 0.05·(log10 N − 7): the lines meet only at 10^17, far past the
    /// 10M–10B measured, so they do not cross in range and (almost) no replicate does; the encoder leads throughout.
    /// </summary>
    [TestMethod]
    public void SeriesThatMeetOnlyFarOutsideTheirSizesDoNotCross()
    {
        var dir = SharedFixtures.TempDirectory();
        var folders = PairedRuns(dir, (0.60, 0.02), (0.30, 0.05));
        var output = Path.Combine(dir, "out");
        var (code, log) = ProgramProcess.Run(dir, ["scaling", .. folders, "--series", "kind", "--output", output]);
        Assert.AreEqual(0, code, log);
        var row = CrossingRow(output);
        Assert.AreEqual("false", row["in_range"]);
        Assert.AreEqual(17, Math.Log10(Number(row["crossing"])), 0.5);
        Assert.IsTrue(Number(row["fraction_in_range"]) < 0.01, row["fraction_in_range"]);
        Assert.AreEqual(1e7, Number(row["range_low"]));
        Assert.AreEqual(1e10, Number(row["range_high"]));
        StringAssert.Contains(log, "causal and masked do not cross within the parameters both measured (10M–10B): masked is ahead throughout");
    }

    [TestMethod]
    public void TheCrossingOfTwoLinesIsWhereTheyAreEqual()
    {
        var first = new LogLinearFit(0.4 - 0.35, 0.05, 1, 0, 5);
        var second = new LogLinearFit(0.3 - 0.7, 0.10, 1, 0, 5);
        Assert.AreEqual(9, ScalingCrossings.LogCrossing(first, second)!.Value, 1e-12);
        Assert.AreEqual(9, ScalingCrossings.LogCrossing(second, first)!.Value, 1e-12);
        Assert.IsNull(ScalingCrossings.LogCrossing(first, first with { A = 0.2 }), "parallel lines do not cross");
    }

    /// <summary>
    /// Latency laws ms = 1·(N/1e8)^0.5 (encoders) and 0.5·(N/1e8)^1 (decoders) meet where (N/1e8)^0.5 = 2, at N = 4·10^8:
    /// the decoders are faster below, the encoders above. The bootstrap over models cannot move an exact fit.
    /// </summary>
    [TestMethod]
    public void DecodeSpeedSeriesCrossWhereTheirLatencyLawsAreEqual()
    {
        var dir = SharedFixtures.TempDirectory();
        var lines = new List<string> { string.Join(",", DecodeBenchmark.CsvHeader) };
        double[] sizes = [2e7, 5e7, 1e8, 3e8, 1e9, 2e9];
        foreach (var n in sizes)
        {
            double encoder = Math.Pow(n / 1e8, 0.5), decoder = 0.5 * (n / 1e8);
            string Row(string model, string architecture, string method, int choices, double ms) => string.Join(",",
                "classify", model, architecture, ((long)n).ToString(CultureInfo.InvariantCulture), "random", method, choices, 64, 0, 0, 0, 1, 1, 3,
                ms.ToString("R", CultureInfo.InvariantCulture), (0.9 * ms).ToString("R", CultureInfo.InvariantCulture),
                (1.2 * ms).ToString("R", CultureInfo.InvariantCulture), ms.ToString("R", CultureInfo.InvariantCulture), "1", "1", "", "", "", "ok", "cpu", "test machine", "bench decode");
            lines.Add(Row($"enc-{n:0}", "ModernBertForMaskedLM", "single-mask", 3, encoder));
            lines.Add(Row($"dec-{n:0}", "ModernBertDecoderForCausalLM", "loglik", 2, 3 * decoder));    // not the row a 3-choice one stands for
            lines.Add(Row($"dec-{n:0}", "ModernBertDecoderForCausalLM", "loglik", 3, decoder));
            lines.Add(Row($"dec-{n:0}", "ModernBertDecoderForCausalLM", "next-token", 3, decoder / 10)); // not compared
        }
        var csv = Path.Combine(dir, "decode-20260101-000000.csv");
        File.WriteAllLines(csv, lines);
        var output = Path.Combine(dir, "out");
        var (code, log) = ProgramProcess.Run(dir, ["scaling", "--bench", csv, "--series", "kind", "--output", output]);
        Assert.AreEqual(0, code, log);
        var row = CrossingRow(output, "speed-classify-p64-b1");
        Assert.AreEqual(Math.Log10(4e8), Math.Log10(Number(row["crossing"])), 1e-6);
        Assert.AreEqual(("causal", "masked"), (row["ahead_below"], row["ahead_above"]), "decoders faster below 400M, encoders above");
        Assert.AreEqual("true", row["in_range"]);
        Assert.AreEqual(4e8, Number(row["ci_low"]), 1, "every resample of exact laws gives the same crossing");
        StringAssert.Contains(log, "causal is faster below it, masked above");
        foreach (var file in new[] { "scaling.html", "charts/speed-classify-p64-b1.png" })
            Assert.IsTrue(File.Exists(Path.Combine(output, file)), file);
    }

    [TestMethod]
    [DataRow(new[] { "--series", "kind", "--series", "a=x" }, "cannot be combined with families")]
    [DataRow(new[] { "--series", "encoder" }, "--series 'encoder': expected 'kind' or NAME=REGEX")]
    [DataRow(new[] { "--series", "a=(" }, "--series a=: '(' is not a regular expression")]
    [DataRow(new[] { "--series", "a=x", "--series", "a=y" }, "family 'a' is given twice")]
    public void BadSeriesOptionsAreOneLineErrors(string[] options, string expected)
    {
        var dir = SharedFixtures.TempDirectory();
        var folders = PairedRuns(dir, (0.4, 0.05), (0.3, 0.1)).Take(2).ToList();
        var (code, log) = ProgramProcess.Run(dir, ["scaling", .. folders, .. options, "--output", Path.Combine(dir, "out")]);
        Assert.AreEqual(1, code, log);
        StringAssert.Contains(log, expected);
        Assert.IsFalse(log.Contains("   at "), log);
    }

    [TestMethod]
    public void AnUnknownArchitectureCannotBeGroupedByKind()
    {
        var dir = SharedFixtures.TempDirectory();
        var examples = Enumerable.Range(0, 10).Select(d => new SyntheticRuns.Example("xnli", "en", "t", d, 0, 0, 3));
        var folder = SyntheticRuns.Write(Path.Combine(dir, "gpt"), "org/gpt", 1000, examples, architecture: "GPT2LMHeadModel");
        var e = Assert.ThrowsExactly<ArgumentException>(() =>
            ScalingReport.Fit([RunRecord.Load(folder)], new Dictionary<RunRecord, double>(), ScalingSeries.ByKind));
        StringAssert.Contains(e.Message, "architecture 'GPT2LMHeadModel' is not one this program knows");
        StringAssert.Contains(e.Message, "--series NAME=REGEX");
    }

    [TestMethod]
    public void RunsThatNoFamilyClaimsAreLeftOutAndListed()
    {
        var dir = SharedFixtures.TempDirectory();
        var folders = PairedRuns(dir, (0.40, 0.05), (0.30, 0.10));
        var runs = RunRecord.LoadAll(folders);
        var x = runs.ToDictionary(r => r, r => (double)r.Parameters);
        var result = ScalingReport.Fit(runs, x, ScalingSeries.Parse(["encoder=ettin-encoder-[0-3]$"], null));
        Assert.AreEqual(4, result.Tasks.Single().Series.Single().Points.Count);
        CollectionAssert.AreEquivalent(runs.Where(r => r.Name.Contains("decoder") || r.Name.EndsWith('4') || r.Name.EndsWith('5') || r.Name.EndsWith('6'))
            .Select(r => r.Name).ToList(), result.LeftOut.ToList());
        Assert.AreEqual(0, result.Tasks.Single().Crossings.Count, "one series has nothing to cross");
    }
}
