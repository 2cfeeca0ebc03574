using Eval.Engine;
using Eval.Engine.Gpu;
using Eval.Harness.Data;
using Eval.Harness.Scoring;
using Eval.Models;

namespace Eval.Tests.Engine;

/// <summary>
/// Inputs sent ahead (<see cref="IBackend.SendAhead"/>): on the GPU backend the next batch's ids, mask and positions are
/// copied on a copy stream while the current batch runs, and the forward that asks for equal values takes them instead
/// of uploading on the compute stream (each such upload makes the host wait for it). Counted by the backend's
/// <see cref="IlgpuLaunchLog"/> on ILGPU's CPU accelerator with the stand-in cuBLAS; results are bit for bit those of a
/// forward without it.
/// </summary>
[TestClass]
public sealed class SendAheadTests
{
    /// <summary>
    /// A forward whose inputs were sent ahead (<see cref="ILanguageModel.ForwardInputs"/>: ids, mask, and the RoPE
    /// models' positions or the BERT family's position ids and token types) uploads none of them on the compute stream.
    /// Its output equals the same forward's without sending ahead.
    /// </summary>
    [TestMethod]
    [DataRow("modernbert-tiny", 3, 0)]
    [DataRow("llama-tiny", 3, 0)]
    [DataRow("xlmr-tiny", 4, 0)]
    [DataRow("xlmr-xl-tiny", 4, 0)]
    [DataRow("bert-tiny", 4, 0)]
    public void AForwardTakesWhatWasSentAheadAndComputesTheSame(string fixture, int taken, int uploaded)
    {
        var dir = SharedFixtures.Model(fixture);
        using var backend = TestBackends.IlgpuCpuCublas(4);
        using var model = ModelLoader.Load(dir, backend);
        var (first, second) = TwoBatches(fixture);
        var expected = LastHidden(model, second);

        using (var output = model.Forward(first))
        {
            // As a scorer does: the current forward is enqueued, then the next batch is sent, then the results come back.
            model.SendAhead(second);
            backend.CopyToHost(output.LastHidden).Dispose();
        }
        Assert.AreEqual(taken, backend.Launches.SentAhead, "what the forward uploads was sent");
        backend.Launches.Clear();
        var actual = LastHidden(model, second);
        Assert.AreEqual(taken, backend.Launches.TookSentAhead, $"{fixture}: inputs taken from those sent ahead");
        Assert.AreEqual(uploaded, backend.Launches.Uploads, $"{fixture}: uploads on the compute stream");
        CollectionAssert.AreEqual(expected, actual, $"{fixture}: the same hidden states, bit for bit");
    }

    /// <summary>A batch the model cannot take is not sent ahead, and sending it does not throw: its own forward says why.</summary>
    [TestMethod]
    public void ABatchTheModelCannotTakeIsNotSentAndItsForwardSaysWhy()
    {
        using var backend = TestBackends.IlgpuCpu(4);
        using var model = ModelLoader.Load(SharedFixtures.Model("xlmr-tiny"), backend);
        int length = model.MaxSequenceLength + 1;
        var tooLong = new TokenBatch(Enumerable.Repeat(5, length).ToArray(), Enumerable.Repeat(1, length).ToArray(), 1, length);
        model.SendAhead(tooLong);
        Assert.AreEqual(0, backend.Launches.SentAhead);
        StringAssert.Contains(Assert.ThrowsException<ArgumentException>(() => model.Forward(tooLong)).Message, "is longer than the model's");
    }

    /// <summary>Values are matched by content: an upload of other values of the same length copies its own.</summary>
    [TestMethod]
    public void OnlyEqualValuesAreTaken()
    {
        using var backend = TestBackends.IlgpuCpu(4);
        using var table = backend.CopyFromHost(Tensor.FromArray(Enumerable.Range(0, 10 * 2).Select(i => (float)i).ToArray(), 10, 2));
        backend.SendAhead([1, 2, 3]);
        Assert.AreEqual(1, backend.Launches.SentAhead);
        CollectionAssert.AreEqual(new float[] { 2, 3, 4, 5, 8, 9 }, Gathered(backend, table, [1, 2, 4]), "other values, same length");
        Assert.AreEqual((0L, 1L), (backend.Launches.TookSentAhead, backend.Launches.Uploads));
        CollectionAssert.AreEqual(new float[] { 2, 3, 4, 5, 6, 7 }, Gathered(backend, table, [1, 2, 3]));
        Assert.AreEqual((1L, 1L), (backend.Launches.TookSentAhead, backend.Launches.Uploads), "the values sent ahead were taken");
        CollectionAssert.AreEqual(new float[] { 2, 3, 4, 5, 6, 7 }, Gathered(backend, table, [1, 2, 3]));
        Assert.AreEqual((1L, 2L), (backend.Launches.TookSentAhead, backend.Launches.Uploads), "values sent ahead are taken once");
    }

    /// <summary>At most <see cref="IlgpuBackend.MostSentAhead"/> wait; the oldest goes first, and sending values already waiting sends nothing.</summary>
    [TestMethod]
    public void TheOldestWaitingValuesAreDroppedFirst()
    {
        using var backend = TestBackends.IlgpuCpu(4);
        using var table = backend.CopyFromHost(Tensor.FromArray(Enumerable.Range(0, 20).Select(i => (float)i).ToArray(), 20, 1));
        for (int i = 0; i <= IlgpuBackend.MostSentAhead; i++) backend.SendAhead([i, i + 1]);
        backend.SendAhead([IlgpuBackend.MostSentAhead, IlgpuBackend.MostSentAhead + 1]);
        Assert.AreEqual(IlgpuBackend.MostSentAhead + 1, backend.Launches.SentAhead, "values already waiting are not sent again");
        CollectionAssert.AreEqual(new float[] { 0, 1 }, Gathered(backend, table, [0, 1]));
        Assert.AreEqual((0L, 1L), (backend.Launches.TookSentAhead, backend.Launches.Uploads), "the oldest was dropped");
        CollectionAssert.AreEqual(new float[] { 1, 2 }, Gathered(backend, table, [1, 2]));
        Assert.AreEqual((1L, 1L), (backend.Launches.TookSentAhead, backend.Launches.Uploads));
    }

    /// <summary>
    /// The masked scorer, told the next batch, sends it ahead while it scores the current one: the next call's forward takes
    /// its ids, mask and positions, and its scores equal a fresh scorer's.
    /// </summary>
    [TestMethod]
    public void TheMaskedScorerSendsItsNextBatchAhead()
    {
        using var backend = TestBackends.IlgpuCpuCublas(4);
        using var model = ModelLoader.Load(SharedFixtures.Model("modernbert-tiny"), backend);
        var current = new[] { Prompt(1, 7), Prompt(2, 4) };
        var next = new[] { Prompt(3, 5), Prompt(4, 9), Prompt(5, 2) };
        var expected = new MaskedChoiceScorer(model, 0).Score(next, ScoringMode.Restricted);

        var scorer = new MaskedChoiceScorer(model, 0);
        scorer.Upcoming(next);
        scorer.Score(current, ScoringMode.Restricted);
        backend.Launches.Clear();
        var actual = scorer.Score(next, ScoringMode.Restricted);
        Assert.AreEqual(3, backend.Launches.TookSentAhead, "ids, mask and positions were waiting");
        for (int i = 0; i < next.Length; i++) CollectionAssert.AreEqual(expected[i].Scores, actual[i].Scores);
    }

    /// <summary>[CLS 1, a tag, filler × length, [MASK] 4]: choices 10, 11 and 12.</summary>
    private static MaskedPrompt Prompt(int tag, int length)
    {
        var ids = new[] { 1, 100 + tag }.Concat(Enumerable.Range(200, length)).Append(4).ToArray();
        var doc = new Document(tag, new Dictionary<string, object?>(), $"test:{tag}");
        return new MaskedPrompt(doc, "", ["a", "b", "c"], 0, ids, ids.Length - 1, 1, [[10], [11], [12]], [-1, -1, -1], false);
    }

    private static float[] LastHidden(ILanguageModel model, TokenBatch batch)
    {
        using var output = model.Forward(batch);
        using var host = model.Backend.CopyToHost(output.LastHidden);
        return host.Span.ToArray();
    }

    private static float[] Gathered(IBackend backend, Tensor table, int[] ids)
    {
        using var y = backend.Allocate(ids.Length, table.Columns);
        backend.Gather(table, ids, y);
        using var host = backend.CopyToHost(y);
        return host.Span.ToArray();
    }

    /// <summary>The golden batch, and its sequences in reverse order with one token less (other ids, mask and length).</summary>
    private static (TokenBatch First, TokenBatch Second) TwoBatches(string fixture)
    {
        var first = SharedFixtures.GoldenBatch(fixture);
        var (ids, mask, batch, length) = (first.Ids, first.Mask, first.Batch, first.Length);
        var sequences = Enumerable.Range(0, batch).Reverse()
            .Select(b => (IReadOnlyList<int>)ids.Skip(b * length).Take(length).Where((_, s) => mask[b * length + s] != 0).SkipLast(1).ToArray()).ToList();
        return (first, TokenBatch.FromSequences(sequences, padId: 0));
    }
}
