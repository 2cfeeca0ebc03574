using Eval.Harness.Reports;

namespace Eval.Tests.Reports;

[TestClass]
public sealed class PairedComparisonTests
{
    [DataTestMethod]
    [DataRow(10, 2, 0.0385742188)]   // 2·(C(12,0)+C(12,1)+C(12,2))/2^12 = 2·79/4096
    [DataRow(2, 10, 0.0385742188)]
    [DataRow(5, 5, 1.0)]
    [DataRow(0, 0, 1.0)]
    [DataRow(0, 7, 0.015625)]        // 2/2^7
    public void McNemarExactMatchesTheBinomialTest(int onlyA, int onlyB, double p) =>
        Assert.AreEqual(p, PairedComparison.McNemarExact(onlyA, onlyB), 1e-9);

    [TestMethod]
    public void McNemarStaysFiniteForLargeCounts()
    {
        double p = PairedComparison.McNemarExact(5000, 5300);
        Assert.IsTrue(p > 0.001 && p < 0.01, $"p = {p}");
    }

    [TestMethod]
    public void IdenticalOutcomesDifferByNothing()
    {
        var outcomes = Enumerable.Range(0, 50).Select(i => i % 3 == 0).ToList();
        var c = PairedComparison.Of(outcomes, outcomes);
        Assert.AreEqual(0, c.Difference);
        Assert.AreEqual(0, c.CiLow);
        Assert.AreEqual(0, c.CiHigh);
        Assert.AreEqual(1, c.McNemarP);
    }

    [TestMethod]
    public void PairedIntervalCoversTheDifferenceAndExcludesZeroForAClearGain()
    {
        var a = Enumerable.Range(0, 200).Select(i => i % 2 == 0).ToList();
        var b = Enumerable.Range(0, 200).Select(i => i % 2 == 0 || i % 5 == 1).ToList();
        var c = PairedComparison.Of(a, b);
        Assert.AreEqual(0.1, c.Difference, 1e-12);
        Assert.IsTrue(c.CiLow > 0 && c.CiLow < 0.1 && c.CiHigh > 0.1, $"[{c.CiLow}, {c.CiHigh}]");
        Assert.AreEqual(0, c.OnlyACorrect);
        Assert.AreEqual(20, c.OnlyBCorrect);
    }
}
