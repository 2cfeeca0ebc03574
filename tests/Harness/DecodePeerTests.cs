using Eval.Harness.Benchmarks;

namespace Eval.Tests.Harness;

/// <summary>
/// The decode benchmark's pairing of each masked-LM row with a causal peer, on rows whose timings are given: the peer is
/// the causal LM nearest in parameter count (on a log scale), and the speed-up is the peer's time over the masked LM's.
/// </summary>
[TestClass]
public sealed class DecodePeerTests
{
    private static DecodeBenchmarkRow Row(string model, long parameters, string method, int choices, double milliseconds,
        string section = DecodeBenchmark.Classify, int newTokens = 0) =>
        new(section, model, "arch", parameters, "random", method, choices, PromptTokens: 64, newTokens, Iterations: 1, IterationsRun: 1,
            ForwardPasses: 1, Batch: 1, new Timing([milliseconds, milliseconds, milliseconds]), "ok");

    // The masked LM has 400M parameters. Nearest on a log scale: 360M (|ln 0.9| = 0.11); 135M and 1.2B are both far
    // (|ln 0.34| = 1.09, |ln 3| = 1.10), the 1.2B farthest.
    private static readonly DecodeBenchmarkRow[] Rows =
    [
        Row("mlm-400m", 400_000_000, "single-mask", 0, 10),
        Row("mlm-400m", 400_000_000, "mask-predict", 0, 50, DecodeBenchmark.Generate, newTokens: 16),
        Row("causal-135m", 135_000_000, "loglik", 3, 5),
        Row("causal-360m", 360_000_000, "loglik", 2, 20),
        Row("causal-360m", 360_000_000, "loglik", 3, 30),
        Row("causal-360m", 360_000_000, "loglik", 4, 40),
        Row("causal-360m", 360_000_000, "greedy", 0, 200, DecodeBenchmark.Generate, newTokens: 16),
        Row("causal-1200m", 1_200_000_000, "loglik", 3, 90),
        Row("causal-1200m", 1_200_000_000, "greedy", 0, 900, DecodeBenchmark.Generate, newTokens: 16),
    ];

    [TestMethod]
    public void A_masked_LM_is_paired_with_the_nearest_sized_causal_LM_over_three_choices()
    {
        var single = DecodeBenchmark.WithPeers(Rows).Single(r => r.Method == "single-mask");
        Assert.AreEqual("causal-360m loglik (3 choices)", single.Peer);
        Assert.AreEqual(30, single.PeerMedianMs);
    }

    [TestMethod]
    public void The_speed_up_is_the_peers_time_over_the_masked_LMs()
    {
        var paired = DecodeBenchmark.WithPeers(Rows);
        // 30 ms for the causal LM's log-likelihood, 10 ms for the single [MASK]: the masked LM is 3× faster.
        Assert.AreEqual(3.0, paired.Single(r => r.Method == "single-mask").Speedup!.Value, 1e-12);
        // Mask-Predict 50 ms against greedy decoding's 200 ms for the same 16 tokens: 4×.
        var generation = paired.Single(r => r.Method == "mask-predict");
        Assert.AreEqual("causal-360m greedy", generation.Peer);
        Assert.AreEqual(4.0, generation.Speedup!.Value, 1e-12);
        Assert.IsNull(paired.Single(r => r.Model == "causal-135m").Speedup, "causal rows have no peer");
    }
}
