using Eval.Engine;
using Eval.Engine.Cpu;

namespace Eval.Tests.Engine;

/// <summary>
/// <see cref="IBackend.SummarizeLogits"/> on every backend against a double-precision reference (max, then
/// Σ exp(logit − max) with Math.Exp in double, the scalar computation the scorers used before): ModernBERT's
/// vocabulary (50,368) and a small one, logits of spread 1 to 40 with planted ties for the maximum, a row of −∞ but one,
/// and per-row ids. The CPU backend sums 1024-element blocks of float32 exponentials into a double, the GPU backend
/// sums in float32 over the group; both must stay within a few float32 roundings of the reference's log-sum-exp.
/// </summary>
[TestClass]
public sealed class LogitSummaryTests
{
    public static IEnumerable<object[]> Backends() => TestBackends.All();

    /// <summary>|LSE − reference| allowed: the CPU's sum is float32 only within a block; the GPU's is float32 throughout.</summary>
    private static double Tolerance(string backend, double lse) => (backend.StartsWith("ilgpu") ? 2e-6 : 4e-7) * Math.Max(1, Math.Abs(lse));

    [TestMethod]
    [DynamicData(nameof(Backends), DynamicDataSourceType.Method)]
    public void SummariesMatchTheDoubleReference(string name, Func<IBackend> create)
    {
        using var be = create();
        foreach (int vocabulary in new[] { 7, 1000, 50368 })
            foreach (float spread in new[] { 1f, 8f, 40f })
            {
                int rows = 5, perRow = 3;
                var logits = Reference.Random(rows * vocabulary, vocabulary + (int)spread, spread);
                // Row 1: its maximum twice (the first index wins); row 2: −∞ everywhere but two entries; row 3: one dominant logit.
                logits[1 * vocabulary + vocabulary / 2] = logits[1 * vocabulary + vocabulary - 1] = 2 * spread;
                for (int v = 0; v < vocabulary; v++) logits[2 * vocabulary + v] = float.NegativeInfinity;
                logits[2 * vocabulary + 3 % vocabulary] = 0.5f;
                logits[2 * vocabulary + (vocabulary - 2)] = -0.25f;
                logits[3 * vocabulary] = 80f;
                var ids = Enumerable.Range(0, rows * perRow).Select(i => (i * 7919 + 3) % vocabulary).ToArray();
                using var t = be.Upload(logits, rows, vocabulary);
                var summary = be.SummarizeLogits(t, ids);
                Assert.AreEqual((rows, perRow), (summary.Rows, summary.IdsPerRow));
                for (int r = 0; r < rows; r++)
                {
                    var row = logits.AsSpan(r * vocabulary, vocabulary);
                    int best = 0;
                    for (int v = 1; v < vocabulary; v++) if (row[v] > row[best]) best = v;
                    double sum = 0;
                    foreach (float v in row) sum += Math.Exp((double)v - row[best]);
                    double lse = row[best] + Math.Log(sum);
                    var label = $"{name} V={vocabulary} spread {spread} row {r}";
                    Assert.AreEqual(best, summary.ArgMax[r], $"{label}: argmax (the first of equal maxima)");
                    Assert.AreEqual(row[best], summary.Max[r], $"{label}: max");
                    Assert.AreEqual(lse, summary.LogSumExp(r), Tolerance(name, lse), $"{label}: log-sum-exp");
                    for (int i = 0; i < perRow; i++)
                    {
                        Assert.AreEqual(row[ids[r * perRow + i]], summary.Logit(r, i), $"{label}: logit of id {ids[r * perRow + i]}");
                        Assert.AreEqual(row[ids[r * perRow + i]] - lse, summary.LogProbability(r, i), Tolerance(name, lse), $"{label}: log-probability");
                    }
                }
            }
    }

    [TestMethod]
    [DynamicData(nameof(Backends), DynamicDataSourceType.Method)]
    public void IdsAreChecked(string name, Func<IBackend> create)
    {
        using var be = create();
        using var t = be.Upload(Reference.Random(2 * 10, 1), 2, 10);
        StringAssert.Contains(Assert.ThrowsException<ArgumentException>(() => be.SummarizeLogits(t, [1, 2, 3])).Message, "3 ids do not split evenly over 2 rows");
        StringAssert.Contains(Assert.ThrowsException<ArgumentOutOfRangeException>(() => be.SummarizeLogits(t, [1, 10])).Message, "id 10");
        var none = be.SummarizeLogits(t, []);
        Assert.AreEqual(0, none.IdsPerRow, name);
    }

    /// <summary>The CPU's log-sum-exp is the vectorised one: on ModernBERT-sized rows it agrees with the scalar double sum far below a float32 rounding.</summary>
    [TestMethod]
    public void TheCpuSumIsWithinRoundingOfTheScalarDoubleSum()
    {
        using var be = new CpuBackend(1);
        var logits = Reference.Random(50368, 3, 30f);
        using var t = Tensor.FromArray(logits, 1, logits.Length);
        var summary = be.SummarizeLogits(t, []);
        double max = logits.Max(), sum = logits.Sum(v => Math.Exp(v - max));
        double lse = max + Math.Log(sum);
        Assert.AreEqual(lse, summary.LogSumExp(0), 1e-7 * Math.Abs(lse), "block sums in float32, blocks in double");
    }
}
