using Eval.Engine;
using Eval.Engine.Cpu;
using Eval.Engine.IO;
using Eval.Harness.Decoding;
using Eval.Models;

namespace Eval.Tests.Decoding;

/// <summary>
/// A masked LM whose hidden row is the position in its sequence; at target position p (p = position − prefix) the
/// logits put confidence(iteration, p) on token 100 + p and -2 on every other. It records the ids of every forward.
/// </summary>
internal sealed class ScriptedMaskedModel(int prefix, Func<int, int, float> confidence) : ILanguageModel
{
    public ModelConfig Config { get; } = new() { Path = "scripted/config.json", Architectures = ["ScriptedForMaskedLM"], ModelType = "scripted", VocabSize = 200 };
    public IBackend Backend { get; } = new CpuBackend(1);
    public long ParameterCount => 0;
    public ModelKind Kind => ModelKind.Masked;
    public int MaxSequenceLength => 512;
    public List<int[]> Inputs { get; } = [];

    public ModelOutput Forward(TokenBatch batch, bool keepHiddenStates = false)
    {
        Inputs.Add(batch.Ids[..batch.Length]);
        var hidden = Tensor.Zeros(batch.Tokens, 1);
        for (int r = 0; r < batch.Tokens; r++) hidden.Row(r)[0] = r % batch.Length;
        return new ModelOutput(hidden, []);
    }

    public Tensor Logits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> vocabIds = default)
    {
        var logits = Tensor.Zeros(rows.Length, Config.VocabSize);
        logits.Span.Fill(-2f);
        for (int r = 0; r < rows.Length; r++)
        {
            int p = (int)hidden.Row(rows[r])[0] - prefix;
            logits.Row(r)[100 + p] = confidence(Inputs.Count, p);
        }
        return logits;
    }

    public LogitSummary SummarizeLogits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> ids = default)
    {
        using var logits = Logits(hidden, rows);
        return Backend.SummarizeLogits(logits, ids);
    }

    public void Dispose() => Backend.Dispose();
}

/// <summary>Another weight source with some tensors added (a length head the fixture lacks).</summary>
internal sealed class OverlayWeights(IWeightSource inner, IReadOnlyDictionary<string, float[]> extra) : IWeightSource
{
    public string Description => inner.Description;
    public bool Contains(string name) => extra.ContainsKey(name) || inner.Contains(name);

    public void Read(string name, ReadOnlySpan<int> expectedShape, Span<float> destination)
    {
        if (extra.TryGetValue(name, out var values)) values.CopyTo(destination);
        else inner.Read(name, expectedShape, destination);
    }
}

[TestClass]
public sealed class MaskPredictTests
{
    private const int Mask = 7;

    [TestMethod]
    public void RemaskingPicksTheLowestProbabilityPositionsAndKeepsEachPositionsLastScore()
    {
        // Iteration 1 confidences; in iteration 2 the re-predicted positions become sure, except position 5.
        float[] first = [3f, 0.5f, 2f, 0.1f, 4f, 1f, 5f, 0.2f];
        var model = new ScriptedMaskedModel(prefix: 2, (iteration, p) => iteration == 1 ? first[p] : p == 5 ? -1f : 10f + p);
        var decoder = new MaskPredictDecoder(model, Mask, padId: 0);
        var output = decoder.Decode([new MaskPredictInput([1, 2], [3])], iterations: 3, lengths: [8], MaskPredictLayout.Appended)[0];

        Assert.AreEqual(3, model.Inputs.Count);
        int[] MaskedAt(int forward) => Enumerable.Range(0, 8).Where(p => model.Inputs[forward][2 + p] == Mask).ToArray();
        CollectionAssert.AreEqual(Enumerable.Range(0, 8).ToArray(), MaskedAt(0));
        // After t = 1: n = ⌊8·2/3⌋ = 5 lowest of [3, .5, 2, .1, 4, 1, 5, .2] → 3, 7, 1, 5, 2.
        CollectionAssert.AreEqual(new[] { 1, 2, 3, 5, 7 }, MaskedAt(1));
        // After t = 2: n = ⌊8·1/3⌋ = 2; kept scores 3, 4, 5 (positions 0, 4, 6) from iteration 1, new ones 11, 12, -1, 13, 17 → 5 and 0.
        CollectionAssert.AreEqual(new[] { 0, 5 }, MaskedAt(2));
        // Unmasked positions carry their predicted tokens into the next iteration.
        Assert.AreEqual(104, model.Inputs[1][2 + 4]);
        Assert.AreEqual(101, model.Inputs[2][2 + 1]);

        CollectionAssert.AreEqual(Enumerable.Range(100, 8).ToArray(), output.Tokens);
        Assert.AreEqual(3, output.Iterations);
        double LogProb(float logit) => logit - Math.Log(Math.Exp(logit) + 199 * Math.Exp(-2));
        Assert.AreEqual(LogProb(4f), output.LogProbabilities[4], 1e-5, "position 4 keeps its iteration-1 score");
        Assert.AreEqual(LogProb(11f), output.LogProbabilities[1], 1e-5, "position 1 keeps its iteration-2 score");
        Assert.AreEqual(LogProb(-1f), output.LogProbabilities[5], 1e-5, "position 5 was last predicted in iteration 3");
    }

    [TestMethod]
    public void OneIterationIsOneArgmaxPassOnModernBert()
    {
        using var backend = new CpuBackend(2);
        using var model = ModelLoader.Load(SharedFixtures.Model("modernbert-tiny"), backend);
        int maskId = 4, padId = model.Config.PadTokenId ?? 0;
        var inputs = new[] { new MaskPredictInput([1, 17, 29, 33, 41], [2]), new MaskPredictInput([1, 55, 61], [2]) };
        int[] lengths = [4, 6];
        var outputs = new MaskPredictDecoder(model, maskId, padId).Decode(inputs, 1, lengths, MaskPredictLayout.Appended);

        for (int i = 0; i < inputs.Length; i++)
        {
            var ids = inputs[i].Prefix.Concat(Enumerable.Repeat(maskId, lengths[i])).Concat(inputs[i].Suffix).ToArray();
            var batch = TokenBatch.FromSequences([ids], padId);
            using var output = model.Forward(batch);
            var rows = Enumerable.Range(inputs[i].Prefix.Length, lengths[i]).ToArray();
            using var logits = model.Logits(output.LastHidden, rows);
            var expected = rows.Select((_, r) => System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.Row(r))).ToArray();
            CollectionAssert.AreEqual(expected, outputs[i].Tokens, $"input {i}");
            Assert.AreEqual(1, outputs[i].ForwardPasses);
        }
    }

    /// <summary>[source; &lt;s&gt; masks &lt;/s&gt;] as one sequence with the source-then-target layout.</summary>
    private static TokenBatch Concatenated(int[][] sources, int[][] targets, int padId)
    {
        var sequences = sources.Select((s, i) => (IReadOnlyList<int>)[.. s, .. targets[i]]).ToList();
        var plain = TokenBatch.FromSequences(sequences, padId);
        return new TokenBatch(plain.Ids, plain.Mask, plain.Batch, plain.Length) { SourceLengths = sources.Select(s => s.Length).ToArray() };
    }

    [TestMethod]
    [DataRow("xlmr-tiny", "cpu")]
    [DataRow("xlmr-xl-tiny", "cpu")]
    [DataRow("xlmr-tiny", "ilgpu-cpu")]
    [DataRow("xlmr-xl-tiny", "ilgpu-cpu")]
    public void CachedSourceGivesTheConcatenatedLayoutsPrediction(string fixture, string backendName)
    {
        using var backend = backendName == "cpu" ? new CpuBackend(2) : (IBackend)Engine.TestBackends.IlgpuCpu(4);
        using var model = ModelLoader.Load(SharedFixtures.Model(fixture), backend);
        int padId = model.Config.PadTokenId ?? 1, bos = 0, eos = 2, maskId = 3;
        int[][] sources = [[0, 41, 52, 63, 74, 85, 2], [0, 91, 17, 2]];
        int[] lengths = [5, 3];
        var outputs = new MaskPredictDecoder(model, maskId, padId, bos, eos)
            .Decode(sources.Select(s => new MaskPredictInput(s, [])).ToList(), 1, lengths, MaskPredictLayout.SourceTarget);

        int[][] targets = lengths.Select(n => (int[])[bos, .. Enumerable.Repeat(maskId, n), eos]).ToArray();
        var batch = Concatenated(sources, targets, padId);
        using var output = model.Forward(batch);
        for (int i = 0; i < sources.Length; i++)
        {
            var rows = Enumerable.Range(i * batch.Length + sources[i].Length + 1, lengths[i]).ToArray();
            using var logits = model.Logits(output.LastHidden, rows);
            var expected = rows.Select((_, r) => System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.Row(r))).ToArray();
            CollectionAssert.AreEqual(expected, outputs[i].Tokens, $"{fixture} input {i}");
            Assert.AreEqual(2, outputs[i].ForwardPasses, "the source once, then one target pass");
        }
    }

    [TestMethod]
    public void ConcatenatedLayoutHidesTheTargetFromTheSourceAndRestartsTargetPositions()
    {
        using var backend = new CpuBackend(2);
        using var model = ModelLoader.Load(SharedFixtures.Model("xlmr-tiny"), backend);
        int padId = model.Config.PadTokenId ?? 1, h = model.Config.HiddenSize;
        int[] source = [0, 41, 52, 63, 2], target = [0, 41, 52, 77, 2];
        using var sourceAlone = model.Forward(TokenBatch.FromSequences([source], padId));
        using var targetAlone = model.Forward(TokenBatch.FromSequences([target], padId));
        var batch = Concatenated([source], [target], padId);
        using var joint = model.Forward(batch, keepHiddenStates: true);
        var embeddings = joint.HiddenStates.First(s => s.Name == "hidden.embeddings").Value;
        static bool Close(Span<float> a, Span<float> b) => a.ToArray().Zip(b.ToArray()).All(p => Math.Abs(p.First - p.Second) < 1e-5f);
        for (int i = 0; i < source.Length; i++)
        {
            // With restarted positions a target token's embedding equals the same token's in the source.
            if (source[i] == target[i])
                CollectionAssert.AreEqual(embeddings.Row(i).ToArray(), embeddings.Row(source.Length + i).ToArray(), $"embedding of target token {i}");
            Assert.IsTrue(Close(sourceAlone.LastHidden.Row(i), joint.LastHidden.Row(i)), $"source token {i} changed when a target followed it");
            Assert.IsFalse(Close(targetAlone.LastHidden.Row(i), joint.LastHidden.Row(source.Length + i)), $"target token {i} does not see the source");
        }
    }

    [TestMethod]
    [DataRow("cpu")]
    [DataRow("ilgpu-cpu")]
    public void LengthHeadPicksTheTargetLengthAndItsAbsenceAsksForOne(string backendName)
    {
        var dir = SharedFixtures.Model("xlmr-tiny");
        using var backend = backendName == "cpu" ? new CpuBackend(2) : (IBackend)Engine.TestBackends.IlgpuCpu(4);
        int[] source = [0, 41, 52, 63, 74, 2];
        int h;
        float[] pooled;
        using (var plain = ModelLoader.Load(dir, backend))
        {
            var error = Assert.ThrowsException<ArgumentException>(() =>
                new MaskPredictDecoder(plain, 3, 1, 0, 2).Decode([new MaskPredictInput(source, [])], 4, null, MaskPredictLayout.SourceTarget));
            StringAssert.Contains(error.Message, "--length");
            h = plain.Config.HiddenSize;
            using var output = plain.Forward(TokenBatch.FromSequences([source], 1));
            using var hidden = backend.CopyToHost(output.LastHidden);
            pooled = new float[h];
            for (int i = 0; i < source.Length; i++)
                for (int c = 0; c < h; c++) pooled[c] += hidden.Row(i)[c] / source.Length;
        }
        // Row 9 of the length embedding is the pooled source state itself; the others are orthogonal noise of small norm.
        var table = new float[512 * h];
        var random = new Random(3);
        for (int i = 0; i < table.Length; i++) table[i] = (float)(random.NextDouble() - 0.5) * 1e-3f;
        pooled.CopyTo(table, 9 * h);
        using var checkpoint = Checkpoint.Open(dir);
        var config = ModelConfig.Load(Path.Combine(dir, "config.json"));
        using var model = ModelLoader.Create(config, new OverlayWeights(checkpoint, new Dictionary<string, float[]> { ["embed_length.weight"] = table }), backend);
        var decoded = new MaskPredictDecoder(model, 3, 1, 0, 2).Decode([new MaskPredictInput(source, [])], 4, null, MaskPredictLayout.SourceTarget)[0];
        Assert.AreEqual(7, decoded.Tokens.Length, "a predicted length of 9 counts <s> and </s>");
        Assert.AreEqual(4, decoded.Iterations);
    }
}
