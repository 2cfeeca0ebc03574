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

    /// <summary>
    /// The interval is that of the per-example difference (B − A: +1, 0 or −1), not of how often the two disagree: with
    /// wins on both sides the two differ. 200 pairs, 30 won only by A and 50 only by B: the difference is +0.10, its
    /// standard error √((0.4 − 0.1²)/200) ≈ 0.044, so the 95% interval is about 0.10 ± 0.087; the disagreement rate
    /// (0.40) lies far outside it. With the roles swapped the interval is the mirror image.
    /// </summary>
    [TestMethod]
    public void PairedIntervalIsThatOfTheDifferenceWhenEachModelWinsSomePairs()
    {
        var a = Enumerable.Range(0, 200).Select(i => i < 30 || i >= 80 && i % 2 == 0).ToList();
        var b = Enumerable.Range(0, 200).Select(i => i >= 30 && i < 80 || i >= 80 && i % 2 == 0).ToList();
        var c = PairedComparison.Of(a, b);
        Assert.AreEqual((30, 50, 200), (c.OnlyACorrect, c.OnlyBCorrect, c.N));
        Assert.AreEqual(0.1, c.Difference, 1e-12);
        double se = Math.Sqrt((0.4 - 0.1 * 0.1) / 200);
        Assert.AreEqual(0.1 - 1.96 * se, c.CiLow, 0.02, $"[{c.CiLow}, {c.CiHigh}]");
        Assert.AreEqual(0.1 + 1.96 * se, c.CiHigh, 0.02, $"[{c.CiLow}, {c.CiHigh}]");

        var swapped = PairedComparison.Of(b, a);
        Assert.AreEqual(-0.1, swapped.Difference, 1e-12);
        Assert.AreEqual(-0.1 - 1.96 * se, swapped.CiLow, 0.02, $"[{swapped.CiLow}, {swapped.CiHigh}]");
        Assert.AreEqual(-0.1 + 1.96 * se, swapped.CiHigh, 0.02, $"[{swapped.CiLow}, {swapped.CiHigh}]");
    }
}
