using System.Text.Json;
using Eval.Engine;
using Eval.Engine.IO;
using Eval.Harness.Data;
using Eval.Harness.Decoding;
using Eval.Harness.Scoring;
using Eval.Models;

namespace Eval.Tests.Models;

/// <summary>
/// mT5 / T5 (<see cref="T5Model"/>) beyond the golden forward (<see cref="GoldenParityTests"/>): greedy decoding against
/// transformers' tokens, the decoder's KV cache against recomputation, rank classification against the golden and
/// against itself in other batches, and fixture variants without a golden (other shapes, spellings, heads, feed-forwards)
/// against a double-precision reference that is first checked against the golden.
/// </summary>
[TestClass]
public sealed class T5ModelTests
{
    private static IEncoderDecoderModel Load(string dir, IBackend backend) => (IEncoderDecoderModel)ModelLoader.Load(dir, backend);

    private static TokenBatch Batch(params int[][] sequences) => TokenBatch.FromSequences(sequences.Select(s => (IReadOnlyList<int>)s).ToList(), 0);

    [TestMethod]
    [DataRow("cpu")]
    [DataRow("ilgpu-cpu")]
    public void GreedyDecodingReproducesTransformersTokensAlsoInAPaddedBatch(string backendName)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(T5Fixtures.Folder, "greedy.json")));
        var prompt = doc.RootElement.GetProperty("prompt").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var expected = doc.RootElement.GetProperty("greedy_new_tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        using var backend = GoldenParityTests.Backend(backendName);
        using var model = Load(T5Fixtures.Folder, backend);
        var decoder = new GreedyDecoder(model, padId: 0);

        var alone = decoder.Generate([prompt], expected.Length, new HashSet<int>())[0];
        CollectionAssert.AreEqual(expected, alone.Tokens, $"{backendName}: greedy tokens");
        Assert.IsFalse(alone.Stopped);
        // Beside a longer prompt this one is padded in the encoder, and its decoder sequence shares the step batch.
        var longer = prompt.Concat(prompt[..^1]).ToArray();
        var batched = decoder.Generate([longer, prompt], expected.Length, new HashSet<int>());
        CollectionAssert.AreEqual(expected, batched[1].Tokens, $"{backendName}: greedy tokens beside a longer prompt");
        // A stop token ends the sequence without being kept; the other sequence goes on.
        var stopped = decoder.Generate([prompt, longer], expected.Length, new HashSet<int> { expected[3] });
        CollectionAssert.AreEqual(expected[..3], stopped[0].Tokens);
        Assert.IsTrue(stopped[0].Stopped);
    }

    [TestMethod]
    [DataRow("cpu")]
    [DataRow("ilgpu-cpu")]
    public void IncrementalDecodingEqualsFullRecomputation(string backendName)
    {
        using var backend = GoldenParityTests.Backend(backendName);
        using var model = Load(T5Fixtures.Folder, backend);
        var (sources, _, _, _) = T5Fixtures.GoldenRows();
        int[] target = [0, 592, 404, 886, 616, 767, 474, 276, 157, 658, 259, 854];
        int[] other = [0, 5, 17, 400, 12, 999, 3, 1, 250, 251, 7, 8];
        using var encoder = model.Encode(Batch(sources[0], sources[2]));
        using var full = model.Decode(Batch(target, other), encoder);
        using var fullLogits = model.Logits(full.LastHidden, Enumerable.Range(0, 2 * target.Length).ToArray());

        // Five tokens, then three, then one at a time: each chunk at the positions after the cached ones.
        using var cache = model.CreateDecoderCache(2, 16);
        int start = 0;
        foreach (int size in new[] { 5, 3, 1, 1, 1, 1 })
        {
            using var output = model.Decode(Batch(target[start..(start + size)], other[start..(start + size)]), encoder, cache);
            using var logits = model.Logits(output.LastHidden, Enumerable.Range(0, 2 * size).ToArray());
            for (int b = 0; b < 2; b++)
                for (int i = 0; i < size; i++)
                {
                    double diff = Engine.Reference.MaxAbsDiff(fullLogits.Row(b * target.Length + start + i), logits.Row(b * size + i));
                    Assert.IsTrue(diff < 1e-4, $"{backendName}: sequence {b} position {start + i} differs by {diff}");
                }
            start += size;
        }
        Assert.AreEqual(target.Length, cache.Length);
    }

    /// <summary>
    /// The golden's rank classification through the harness's scorer: each row's three candidates with the golden
    /// scores, and every prompt's scores the same alone, in the batch, and in another order (its batch-mates change the
    /// padding of sources and targets and the number of choices per prompt).
    /// </summary>
    [TestMethod]
    [DataRow("cpu")]
    [DataRow("ilgpu-cpu")]
    public void RankClassificationMatchesTheGoldenAndDoesNotDependOnBatchMates(string backendName)
    {
        var (sources, _, choices, golden) = T5Fixtures.GoldenRows();
        using var backend = GoldenParityTests.Backend(backendName);
        using var model = Load(T5Fixtures.Folder, backend);
        var scorer = ModelKinds.Of(model).CreateScorer(model, null, 0);
        var kind = ModelKinds.Of(model);
        IScoredPrompt Prompt(int row, IReadOnlyList<int[]> candidates) =>
            kind.PromptFromIds!(new Document(row, new Dictionary<string, object?>(), "golden"), sources[row], candidates);

        var together = scorer.Score([.. Enumerable.Range(0, sources.Length).Select(r => Prompt(r, choices[r]))], ScoringMode.LogLikelihood);
        for (int r = 0; r < sources.Length; r++)
            for (int c = 0; c < 3; c++)
                Assert.AreEqual(golden[r * 3 + c], together[r].Scores[c], 5e-3, $"{backendName}: row {r} candidate {c}");

        // Alone, reversed, and beside a prompt with two choices only.
        for (int r = 0; r < sources.Length; r++)
        {
            var alone = scorer.Score([Prompt(r, choices[r])], ScoringMode.LogLikelihood)[0];
            var mixed = scorer.Score([Prompt((r + 1) % 3, choices[(r + 1) % 3][..2]), Prompt(r, choices[r]), Prompt((r + 2) % 3, choices[(r + 2) % 3])],
                ScoringMode.LogLikelihood)[1];
            for (int c = 0; c < 3; c++)
            {
                Assert.AreEqual(together[r].Scores[c], alone.Scores[c], 1e-4, $"{backendName}: row {r} candidate {c} alone");
                Assert.AreEqual(together[r].Scores[c], mixed.Scores[c], 1e-4, $"{backendName}: row {r} candidate {c} among others");
            }
            Assert.AreEqual(together[r].Prediction, alone.Prediction);
        }
    }

    /// <summary>Next-token scoring reads the decoder's first position: log-softmax of the golden logits at position 0 (the start token).</summary>
    [TestMethod]
    public void NextTokenScoresAreTheLogSoftmaxAtTheDecodersFirstPosition()
    {
        var (sources, _, choices, _) = T5Fixtures.GoldenRows();
        using var golden = new SafetensorsFile(T5Fixtures.GoldenPath);
        using var logits = golden.ReadTensor("logits");
        int length = logits.Dim(1), vocab = logits.Dim(2);
        using var backend = new Eval.Engine.Cpu.CpuBackend(2);
        using var model = Load(T5Fixtures.Folder, backend);
        var kind = ModelKinds.Of(model);
        var prompts = sources.Select((s, r) => kind.PromptFromIds!(new Document(r, new Dictionary<string, object?>(), "golden"), s, choices[r])).ToList();
        var scores = kind.CreateScorer(model, null, 0).Score(prompts, ScoringMode.NextToken);
        for (int r = 0; r < sources.Length; r++)
        {
            var row = logits.Span.Slice(r * length * vocab, vocab);
            double normalizer = LogProbabilities.LogSumExp(row);
            for (int c = 0; c < choices[r].Length; c++)
                Assert.AreEqual(row[choices[r][c][0]] - normalizer, scores[r].Scores[c], 1e-3, $"row {r} choice {c}");
        }
    }

    [TestMethod]
    public void TheDoubleReferenceReproducesTheGolden()
    {
        var (sources, decoderInputs, _, _) = T5Fixtures.GoldenRows();
        using var checkpoint = Checkpoint.Open(T5Fixtures.Folder);
        var reference = new T5Reference(ModelConfig.Load(Path.Combine(T5Fixtures.Folder, "config.json")), checkpoint);
        using var golden = new SafetensorsFile(T5Fixtures.GoldenPath);
        using var logits = golden.ReadTensor("logits");
        int length = logits.Dim(1), vocab = logits.Dim(2);
        for (int r = 0; r < sources.Length; r++)
        {
            var expected = reference.DecodeLogits(reference.Encode(sources[r]), decoderInputs[r]);
            for (int i = 0; i < decoderInputs[r].Length; i++)
                for (int v = 0; v < vocab; v++)
                    Assert.AreEqual(logits.Span[(r * length + i) * vocab + v], expected[i][v], 1e-3, $"row {r} position {i} id {v}");
        }
    }

    /// <summary>
    /// Random-weight variants against the double reference on a padded batch of two (sources longer than the bucket's
    /// max distance, so the logarithmic buckets are used): heads·d_kv ≠ d_model with more decoder than encoder layers;
    /// T5 v1.0 (ReLU, tied head with the d_model^−0.5 rescale, generic config spellings, the embedding copies); the
    /// embedding stored only as decoder.embed_tokens.weight with a gated SiLU; exact GELU, plain.
    /// </summary>
    [TestMethod]
    [DataRow("odd-shapes", "cpu")]
    [DataRow("odd-shapes", "ilgpu-cpu")]
    [DataRow("t5-v1.0-tied", "cpu")]
    [DataRow("t5-v1.0-tied", "ilgpu-cpu")]
    [DataRow("decoder-embeddings", "cpu")]
    [DataRow("plain-gelu", "cpu")]
    public void VariantsMatchTheDoubleReference(string variant, string backendName)
    {
        var dir = variant switch
        {
            "odd-shapes" => T5Fixtures.RandomModel(T5Fixtures.Json(new
            {
                architectures = new[] { "MT5ForConditionalGeneration" }, model_type = "mt5", vocab_size = 300, d_model = 40, num_heads = 3, d_kv = 24,
                d_ff = 56, num_layers = 1, num_decoder_layers = 3, relative_attention_num_buckets = 16, relative_attention_max_distance = 20,
                feed_forward_proj = "gated-gelu", tie_word_embeddings = false, decoder_start_token_id = 0, eos_token_id = 1, pad_token_id = 0,
                layer_norm_epsilon = 1e-6,
            }), seed: 11),
            "t5-v1.0-tied" => T5Fixtures.RandomModel(T5Fixtures.Json(new
            {
                architectures = new[] { "T5ForConditionalGeneration" }, model_type = "t5", vocab_size = 200, hidden_size = 32, num_attention_heads = 4,
                head_dim = 8, d_ff = 48, num_hidden_layers = 2, relative_attention_num_buckets = 32, feed_forward_proj = "relu",
                decoder_start_token_id = 0, eos_token_id = 1, pad_token_id = 0,
            }), seed: 12, withEmbeddingCopies: true),
            "decoder-embeddings" => T5Fixtures.RandomModel(T5Fixtures.Json(new
            {
                architectures = new[] { "MT5ForConditionalGeneration" }, model_type = "mt5", vocab_size = 150, d_model = 16, num_heads = 2, d_kv = 8,
                d_ff = 24, num_layers = 2, num_decoder_layers = 2, relative_attention_num_buckets = 8, relative_attention_max_distance = 12,
                feed_forward_proj = "gated-silu", decoder_start_token_id = 3, pad_token_id = 0,
            }), seed: 13, embeddingName: "decoder.embed_tokens.weight"),
            _ => T5Fixtures.RandomModel(T5Fixtures.Json(new
            {
                architectures = new[] { "MT5ForConditionalGeneration" }, model_type = "mt5", vocab_size = 120, d_model = 24, num_heads = 4, d_kv = 4,
                d_ff = 40, num_layers = 3, num_decoder_layers = 1, feed_forward_proj = "gelu", tie_word_embeddings = false, pad_token_id = 0,
            }), seed: 14),
        };
        var config = ModelConfig.Load(Path.Combine(dir, "config.json"));
        var random = new Random(5);
        int[] Ids(int n) => Enumerable.Range(0, n).Select(_ => random.Next(2, config.VocabSize)).ToArray();
        int[][] sources = [Ids(37), Ids(23)];
        int[][] targets = [[config.DecoderStart, .. Ids(9)], [config.DecoderStart, .. Ids(5)]];

        using var checkpoint = Checkpoint.Open(dir);
        var reference = new T5Reference(config, checkpoint);
        using var backend = GoldenParityTests.Backend(backendName);
        using var model = Load(dir, backend);
        using var encoder = model.Encode(Batch(sources));
        using var decoded = model.Decode(Batch(targets), encoder);
        int width = targets.Max(t => t.Length);
        for (int b = 0; b < 2; b++)
        {
            var expected = reference.DecodeLogits(reference.Encode(sources[b]), targets[b]);
            using var logits = model.Logits(decoded.LastHidden, Enumerable.Range(0, targets[b].Length).Select(i => b * width + i).ToArray());
            for (int i = 0; i < targets[b].Length; i++)
                for (int v = 0; v < config.VocabSize; v++)
                    Assert.AreEqual(expected[i][v], logits.Row(i)[v], 1e-3 * Math.Max(1, Math.Abs(expected[i][v])),
                        $"{variant} ({backendName}): sequence {b} position {i} id {v}");
        }
    }
}
