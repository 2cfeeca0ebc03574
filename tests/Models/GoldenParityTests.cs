using System.Text.Json;
using Eval.Cli;
using Eval.Engine;
using Eval.Engine.Cpu;
using Eval.Engine.IO;
using Eval.Models;

namespace Eval.Tests.Models;

/// <summary>
/// The fixture checkpoints against the transformers forward pass (golden.safetensors): `eval forward` writes every
/// hidden state and the logits, each compared at the positions the attention mask marks real, on the CPU backend with
/// both GEMM paths and on the GPU backend's kernels (ILGPU's CPU accelerator, float32 and bfloat16 weights).
/// </summary>
[TestClass]
public sealed class GoldenParityTests
{
    private const double Tolerance = 1e-3;

    /// <summary>choice_logprobs sum a candidate's token log-probabilities (the fixture README's suggested tolerance).</summary>
    private const double ChoiceTolerance = 5e-3;

    [TestMethod]
    [DataRow("modernbert-tiny", "managed")]
    [DataRow("modernbert-tiny", "blas")]
    [DataRow("modernbert-tiny", "ilgpu-cpu")]
    [DataRow("xlmr-tiny", "managed")]
    [DataRow("xlmr-tiny", "blas")]
    [DataRow("xlmr-tiny", "ilgpu-cpu")]
    [DataRow("xlmr-xl-tiny", "managed")]
    [DataRow("xlmr-xl-tiny", "blas")]
    [DataRow("xlmr-xl-tiny", "ilgpu-cpu")]
    [DataRow("llama-tiny", "managed")]
    [DataRow("llama-tiny", "blas")]
    [DataRow("llama-tiny", "ilgpu-cpu")]
    [DataRow("qwen2-tiny", "managed")]
    [DataRow("qwen2-tiny", "blas")]
    [DataRow("qwen2-tiny", "ilgpu-cpu")]
    [DataRow("modernbert-decoder-tiny", "managed")]
    [DataRow("modernbert-decoder-tiny", "blas")]
    [DataRow("modernbert-decoder-tiny", "ilgpu-cpu")]
    [DataRow("mt5-tiny", "managed")]
    [DataRow("mt5-tiny", "blas")]
    [DataRow("mt5-tiny", "ilgpu-cpu")]
    [DataRow("bloom-tiny", "managed")]
    [DataRow("bloom-tiny", "blas")]
    [DataRow("bloom-tiny", "ilgpu-cpu")]
    [DataRow("bert-tiny", "managed")]
    [DataRow("bert-tiny", "blas")]
    [DataRow("bert-tiny", "ilgpu-cpu")]
    [DataRow("electra-generator-tiny", "managed")]
    [DataRow("electra-generator-tiny", "blas")]
    [DataRow("electra-generator-tiny", "ilgpu-cpu")]
    [DataRow("eurobert-tiny", "managed")]
    [DataRow("eurobert-tiny", "blas")]
    [DataRow("eurobert-tiny", "ilgpu-cpu")]
    public void ForwardMatchesGolden(string fixture, string backendName)
    {
        var dir = SharedFixtures.Model(fixture);
        var outputPath = Path.Combine(SharedFixtures.TempDirectory(), "out.safetensors");
        using (var backend = Backend(backendName))
        using (var model = ModelLoader.Load(dir, backend))
            ForwardDump.Run(model, Path.Combine(dir, "golden.safetensors"), outputPath);

        AssertMatchesGolden(Path.Combine(dir, "golden.safetensors"), outputPath, $"{fixture} ({backendName})");
    }

    /// <summary>
    /// Every tensor of the golden file is in the forward output with its shape and dtype; integer tensors are equal and
    /// float tensors within 1e-3 ([B, S, X] tensors only at the positions the attention mask marks real: an
    /// encoder–decoder's decoder.* states and logits by decoder_attention_mask), choice_logprobs (sums over a
    /// candidate's tokens) within 5e-3.
    /// </summary>
    internal static void AssertMatchesGolden(string goldenPath, string outputPath, string label)
    {
        using var golden = new SafetensorsFile(goldenPath);
        using var ours = new SafetensorsFile(outputPath);
        var encoderMask = golden.ReadAsInt32("attention_mask");
        var decoderMask = golden.Entries.ContainsKey("decoder_attention_mask") ? golden.ReadAsInt32("decoder_attention_mask") : null;
        int compared = 0;
        foreach (var (name, expected) in golden.Entries)
        {
            Assert.IsTrue(ours.Entries.TryGetValue(name, out var actual), $"{label}: output lacks '{name}'");
            CollectionAssert.AreEqual(expected.Shape, actual!.Shape, $"{label}: shape of '{name}'");
            Assert.AreEqual(expected.DType, actual.DType, $"{label}: dtype of '{name}'");
            if (expected.DType != SafetensorsDType.F32)
            {
                CollectionAssert.AreEqual(golden.ReadAsInt32(name), ours.ReadAsInt32(name), $"{label}: '{name}'");
                continue;
            }
            var e = new float[expected.ElementCount];
            var a = new float[actual.ElementCount];
            golden.ReadAsFloat32(expected, e);
            ours.ReadAsFloat32(actual, a);
            // [B, S, X] tensors are compared only at real positions; [N, V] logits rows are all real.
            int rowSize = (int)expected.Shape[^1];
            bool perPosition = expected.Shape.Length == 3;
            var mask = decoderMask is not null && (name.StartsWith("decoder.", StringComparison.Ordinal) || name == "logits") ? decoderMask : encoderMask;
            double tolerance = name == "choice_logprobs" ? ChoiceTolerance : Tolerance;
            double max = 0;
            for (int i = 0; i < e.Length; i++)
                if (!perPosition || mask[i / rowSize] != 0)
                    max = Math.Max(max, Math.Abs(e[i] - a[i]));
            Assert.IsTrue(max <= tolerance, $"{label}: '{name}' max |diff| {max:E2} > {tolerance}");
            compared++;
        }
        Assert.IsTrue(compared >= 4, $"{label}: only {compared} float tensors compared");
    }

    [TestMethod]
    [DataRow("llama-tiny", "cpu")]
    [DataRow("qwen2-tiny", "cpu")]
    [DataRow("llama-tiny", "ilgpu-cpu")]
    [DataRow("qwen2-tiny", "ilgpu-cpu")]
    [DataRow("modernbert-decoder-tiny", "cpu")]
    [DataRow("modernbert-decoder-tiny", "ilgpu-cpu")]
    [DataRow("bloom-tiny", "cpu")]
    [DataRow("bloom-tiny", "ilgpu-cpu")]
    public void GreedyDecodingWithKvCacheReproducesGolden(string fixture, string backendName)
    {
        var dir = SharedFixtures.Model(fixture);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "greedy.json")));
        var prompt = doc.RootElement.GetProperty("prompt").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var expected = doc.RootElement.GetProperty("greedy_new_tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();

        using var backend = Backend(backendName);
        using var model = (ICausalLanguageModel)ModelLoader.Load(dir, backend);
        using var cache = model.CreateCache(1, prompt.Length + expected.Length);
        var generated = new List<int>();
        var next = new TokenBatch(prompt, Enumerable.Repeat(1, prompt.Length).ToArray(), 1, prompt.Length);
        for (int step = 0; step < expected.Length; step++)
        {
            using var output = model.Forward(next, cache);
            using var logits = model.Logits(output.LastHidden, [next.Length - 1]);
            int token = ArgMax(logits.Span);
            generated.Add(token);
            next = new TokenBatch([token], [1], 1, 1);
        }
        CollectionAssert.AreEqual(expected, generated, $"{fixture} ({backendName}): greedy tokens");
    }

    [TestMethod]
    [DataRow("llama-tiny", "cpu")]
    [DataRow("qwen2-tiny", "cpu")]
    [DataRow("llama-tiny", "ilgpu-cpu")]
    [DataRow("qwen2-tiny", "ilgpu-cpu")]
    [DataRow("modernbert-decoder-tiny", "cpu")]
    [DataRow("modernbert-decoder-tiny", "ilgpu-cpu")]
    [DataRow("bloom-tiny", "cpu")]
    [DataRow("bloom-tiny", "ilgpu-cpu")]
    public void IncrementalDecodingEqualsFullRecomputation(string fixture, string backendName)
    {
        using var backend = Backend(backendName);
        using var model = (ICausalLanguageModel)ModelLoader.Load(SharedFixtures.Model(fixture), backend);
        int[] tokens = [1, 5, 99, 421, 17, 625, 3, 496, 565, 282, 700, 12];
        using var full = model.Forward(new TokenBatch(tokens, Ones(tokens.Length), 1, tokens.Length));
        using var fullLogits = model.Logits(full.LastHidden, Enumerable.Range(0, tokens.Length).ToArray());

        // Prompt of 5, then a chunk of 3, then single tokens.
        using var cache = model.CreateCache(1, 16);
        int start = 0;
        foreach (int size in new[] { 5, 3, 1, 1, 1, 1 })
        {
            var chunk = tokens[start..(start + size)];
            using var output = model.Forward(new TokenBatch(chunk, Ones(size), 1, size), cache);
            using var logits = model.Logits(output.LastHidden, Enumerable.Range(0, size).ToArray());
            for (int i = 0; i < size; i++)
            {
                double diff = Engine.Reference.MaxAbsDiff(fullLogits.Row(start + i), logits.Row(i));
                Assert.IsTrue(diff < 1e-4, $"{fixture} ({backendName}): position {start + i} differs by {diff}");
            }
            start += size;
        }
        Assert.AreEqual(tokens.Length, cache.Length);
    }

    [TestMethod]
    [DataRow("modernbert-tiny", "cpu")]
    [DataRow("xlmr-tiny", "cpu")]
    [DataRow("xlmr-xl-tiny", "cpu")]
    [DataRow("llama-tiny", "cpu")]
    [DataRow("qwen2-tiny", "cpu")]
    [DataRow("bert-tiny", "cpu")]
    [DataRow("electra-generator-tiny", "cpu")]
    [DataRow("eurobert-tiny", "cpu")]
    [DataRow("modernbert-tiny", "ilgpu-cpu")]
    [DataRow("llama-tiny", "ilgpu-cpu")]
    [DataRow("modernbert-decoder-tiny", "cpu")]
    [DataRow("modernbert-decoder-tiny", "ilgpu-cpu")]
    // mt5-tiny's Forward is its encoder (bidirectional position buckets beside padding); its decoder: T5ModelTests.
    [DataRow("mt5-tiny", "cpu")]
    [DataRow("mt5-tiny", "ilgpu-cpu")]
    [DataRow("bloom-tiny", "cpu")]
    [DataRow("bloom-tiny", "ilgpu-cpu")]
    [DataRow("eurobert-tiny", "ilgpu-cpu")]
    public void LogitsDoNotDependOnBatchOrPadding(string fixture, string backendName)
    {
        using var backend = Backend(backendName);
        using var model = ModelLoader.Load(SharedFixtures.Model(fixture), backend);
        int pad = model.Config.PadTokenId ?? 0;
        int vocab = Math.Min(model.Config.VocabSize, 1000);
        var rng = new Random(7);
        // Lengths around the sliding window of modernbert-tiny (±16) so local layers see padding too.
        var sequences = new[] { 7, 40, 23 }.Select(n => (IReadOnlyList<int>)Enumerable.Range(0, n)
            .Select(_ => rng.Next(5, vocab)).Where(id => id != pad).ToArray()).ToArray();

        var batched = TokenBatch.FromSequences(sequences, pad);
        using var together = model.Forward(batched);
        for (int b = 0; b < sequences.Length; b++)
        {
            var alone = TokenBatch.FromSequences([sequences[b]], pad);
            using var single = model.Forward(alone);
            var rows = Enumerable.Range(0, sequences[b].Count).ToArray();
            using var expected = model.Logits(single.LastHidden, rows);
            using var actual = model.Logits(together.LastHidden, rows.Select(r => b * batched.Length + r).ToArray());
            double diff = Engine.Reference.MaxAbsDiff(expected.Span, actual.Span);
            Assert.IsTrue(diff < 1e-4, $"{fixture} ({backendName}): sequence {b} differs by {diff} between alone and padded batch");
        }
    }

    [TestMethod]
    public void RestrictedVocabularyLogitsAreTheMatchingColumns()
    {
        using var backend = new CpuBackend(2);
        using var model = ModelLoader.Load(SharedFixtures.Model("modernbert-tiny"), backend);
        using var golden = new SafetensorsFile(Path.Combine(SharedFixtures.Model("modernbert-tiny"), "golden.safetensors"));
        var ids = golden.ReadAsInt32("input_ids");
        var batch = new TokenBatch(ids, golden.ReadAsInt32("attention_mask"), (int)golden.Get("input_ids").Shape[0], (int)golden.Get("input_ids").Shape[1]);
        using var output = model.Forward(batch);
        int[] rows = [0, 5, batch.Length + 3];
        int[] vocabIds = [50283, 0, 32, 330, 50367, 330];
        using var full = model.Logits(output.LastHidden, rows);
        using var restricted = model.Logits(output.LastHidden, rows, vocabIds);
        Assert.AreEqual(vocabIds.Length, restricted.Columns);
        for (int r = 0; r < rows.Length; r++)
            for (int j = 0; j < vocabIds.Length; j++)
                Assert.AreEqual(full.Row(r)[vocabIds[j]], restricted.Row(r)[j], 1e-5, $"row {r} id {vocabIds[j]}");
    }

    /// <summary>
    /// bfloat16 weights on the GPU backend: every logits row keeps a cosine of at least 0.999 against the float32 golden
    /// and its argmax wherever the golden's margin is real (the criterion the GPU check applies on CUDA).
    /// </summary>
    [TestMethod]
    [DataRow("modernbert-tiny")]
    [DataRow("xlmr-tiny")]
    [DataRow("llama-tiny")]
    [DataRow("modernbert-decoder-tiny")]
    [DataRow("mt5-tiny")]
    [DataRow("bloom-tiny")]
    [DataRow("bert-tiny")]
    public void Bf16WeightsKeepEveryArgmaxOfTheGolden(string fixture)
    {
        var dir = SharedFixtures.Model(fixture);
        var outputPath = Path.Combine(SharedFixtures.TempDirectory(), "out.safetensors");
        using (var backend = Engine.TestBackends.IlgpuCpu(4, Precision.Bf16))
        using (var model = ModelLoader.Load(dir, backend))
            ForwardDump.Run(model, Path.Combine(dir, "golden.safetensors"), outputPath);
        using var golden = new SafetensorsFile(Path.Combine(dir, "golden.safetensors"));
        using var ours = new SafetensorsFile(outputPath);
        var e = new float[golden.Get("logits").ElementCount];
        var a = new float[e.Length];
        golden.ReadAsFloat32(golden.Get("logits"), e);
        ours.ReadAsFloat32(ours.Get("logits"), a);
        int vocab = (int)golden.Get("logits").Shape[^1];
        // An encoder–decoder's logits are per decoder position.
        var mask = golden.ReadAsInt32(golden.Entries.ContainsKey("decoder_attention_mask") ? "decoder_attention_mask" : "attention_mask");
        bool perPosition = golden.Get("logits").Shape.Length == 3;
        double largestDifference = 0;
        for (int r = 0; r < e.Length / vocab; r++)
        {
            if (perPosition && mask[r] == 0) continue;
            var expected = e.AsSpan(r * vocab, vocab).ToArray();
            var actual = a.AsSpan(r * vocab, vocab).ToArray();
            double cosine = System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(expected, actual);
            Assert.IsTrue(cosine >= 0.999, $"{fixture}: logits row {r} cosine {cosine:F5} < 0.999 with bf16 weights");
            double difference = Engine.Reference.MaxAbsDiff(expected, actual);
            largestDifference = Math.Max(largestDifference, difference);
            // The random tiny models have near-ties; where the golden's top two are further apart than twice the row's
            // largest change, rounding cannot honestly swap them.
            int best = ArgMax(expected);
            double runnerUp = Enumerable.Range(0, vocab).Where(i => i != best).Max(i => expected[i]);
            if (expected[best] - runnerUp > 2 * difference)
                Assert.AreEqual(best, ArgMax(actual), $"{fixture}: logits row {r} argmax changed with bf16 weights");
        }
        // bf16 weights really were used: the logits are not float32-exact any more (float32 runs agree to ~1e-6).
        Assert.IsTrue(largestDifference > 1e-5, $"{fixture}: bf16 logits match float32 to {largestDifference:E1}; were the weights rounded?");
    }

    internal static IBackend Backend(string name) => name switch
    {
        "managed" => new CpuBackend(2, GemmPath.Managed),
        "blas" => new CpuBackend(2, GemmPath.Blas),
        "cpu" => new CpuBackend(2),
        "ilgpu-cpu" => Engine.TestBackends.IlgpuCpu(4),
        _ => throw new ArgumentException(name),
    };

    private static int[] Ones(int n) => Enumerable.Repeat(1, n).ToArray();

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }
}
