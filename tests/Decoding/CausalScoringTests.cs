using System.Text.Json;
using Eval.Engine.Cpu;
using Eval.Engine.IO;
using Eval.Harness.Data;
using Eval.Harness.Decoding;
using Eval.Harness.Scoring;
using Eval.Models;
using Eval.Tokenizers;

namespace Eval.Tests.Decoding;

/// <summary>Causal scoring and greedy decoding on the llama-tiny and qwen2-tiny fixtures against transformers' golden logits and greedy tokens.</summary>
[TestClass]
public sealed class CausalScoringTests
{
    private static (long[][] Ids, int[] Lengths, float[] Logits, int Vocab, int Length) Golden(string fixture)
    {
        using var golden = new SafetensorsFile(Path.Combine(SharedFixtures.Model(fixture), "golden.safetensors"));
        var ids = golden.ReadAsInt32("input_ids");
        var mask = golden.ReadAsInt32("attention_mask");
        using var logits = golden.ReadTensor("logits");
        int rows = logits.Dim(0), length = logits.Dim(1), vocab = logits.Dim(2);
        var sequences = Enumerable.Range(0, rows).Select(r => Enumerable.Range(0, length).Select(i => (long)ids[r * length + i]).ToArray()).ToArray();
        var lengths = Enumerable.Range(0, rows).Select(r => Enumerable.Range(0, length).Sum(i => mask[r * length + i])).ToArray();
        return (sequences, lengths, logits.ToArray(), vocab, length);
    }

    /// <summary>Σ log-softmax(golden logits at position i − 1)[token i] for i in [from, to).</summary>
    private static double GoldenLogLikelihood((long[][] Ids, int[] Lengths, float[] Logits, int Vocab, int Length) g, int row, int from, int to)
    {
        double sum = 0;
        for (int i = from; i < to; i++)
        {
            var logits = g.Logits.AsSpan(((row * g.Length) + i - 1) * g.Vocab, g.Vocab);
            double max = double.NegativeInfinity;
            foreach (var v in logits) max = Math.Max(max, v);
            double z = 0;
            foreach (var v in logits) z += Math.Exp(v - max);
            sum += logits[(int)g.Ids[row][i]] - max - Math.Log(z);
        }
        return sum;
    }

    private static CausalPrompt Prompt(long[] row, int contextLength, params int[] choiceEnds)
    {
        var doc = new Document(contextLength, new Dictionary<string, object?>(), "golden");
        var choices = choiceEnds.Select(e => row[contextLength..e].Select(v => (int)v).ToArray()).ToList();
        return new CausalPrompt(doc, "", choiceEnds.Select(e => $"c{e}").ToList(), 0,
            row[..contextLength].Select(v => (int)v).ToArray(), choices, false);
    }

    [TestMethod]
    [DataRow("llama-tiny")]
    [DataRow("qwen2-tiny")]
    [DataRow("modernbert-decoder-tiny")]
    public void LogLikelihoodIsTheSumOfGoldenLogSoftmaxOverTheContinuation(string fixture)
    {
        var g = Golden(fixture);
        // Contexts of different lengths and 1 to 3 choices of different lengths in one batch: padding, positions and the shared prefix all matter.
        var cases = new (int Row, int Context, int[] Ends)[]
        {
            (0, 10, [24, 13, 11]),
            (1, 4, [g.Lengths[1], 6]),
            (2, 2, [5, 3, 4]),
        };
        using var backend = new CpuBackend(2);
        using var model = ModelLoader.Load(SharedFixtures.Model(fixture), backend);
        var tokenizer = Tokenizer.Load(Path.Combine(SharedFixtures.Shared, "tokenizers", "smollm2"));
        var scorer = new CausalChoiceScorer(model, tokenizer, padId: 0);
        var prompts = cases.Select(c => Prompt(g.Ids[c.Row], c.Context, c.Ends)).ToList();
        var scores = scorer.Score(prompts, ScoringMode.LogLikelihood);
        for (int p = 0; p < cases.Length; p++)
            for (int c = 0; c < cases[p].Ends.Length; c++)
            {
                double expected = GoldenLogLikelihood(g, cases[p].Row, cases[p].Context, cases[p].Ends[c]);
                Assert.AreEqual(expected, scores[p].Scores[c], 2e-3 * (cases[p].Ends[c] - cases[p].Context), $"{fixture} prompt {p} choice {c}");
            }

        // Next-token scoring: the first continuation token's log-probability at the end of the context.
        var next = scorer.Score(prompts, ScoringMode.NextToken);
        for (int p = 0; p < cases.Length; p++)
            for (int c = 0; c < cases[p].Ends.Length; c++)
                Assert.AreEqual(GoldenLogLikelihood(g, cases[p].Row, cases[p].Context, cases[p].Context + 1), next[p].Scores[c], 2e-3);
    }

    [TestMethod]
    public void ATokenizerWithIdsBeyondTheModelsVocabularyIsRefusedUpFront()
    {
        var tokenizer = Tokenizer.Load(Path.Combine(SharedFixtures.Shared, "tokenizers", "smollm2"));
        var error = Assert.ThrowsException<ArgumentException>(() => tokenizer.RequireFits(1000, "llama-tiny"));
        StringAssert.Contains(error.Message, "does not belong to this model");
        tokenizer.RequireFits(tokenizer.IdCount, "a model with exactly its vocabulary");
    }

    [TestMethod]
    [DataRow("llama-tiny")]
    [DataRow("qwen2-tiny")]
    [DataRow("modernbert-decoder-tiny")]
    public void GreedyMatchesTransformersGreedyTokensAlsoInAPaddedBatch(string fixture)
    {
        var dir = SharedFixtures.Model(fixture);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "greedy.json")));
        var prompt = json.RootElement.GetProperty("prompt").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var expected = json.RootElement.GetProperty("greedy_new_tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        using var backend = new CpuBackend(2);
        using var model = (ICausalLanguageModel)ModelLoader.Load(dir, backend);
        var decoder = new GreedyDecoder(model, padId: 0);

        var alone = decoder.Generate([prompt], expected.Length, new HashSet<int>())[0];
        CollectionAssert.AreEqual(expected, alone.Tokens);
        Assert.IsFalse(alone.Stopped);
        // Beside a longer prompt, this one is right-padded and its new tokens follow the padding in the cache.
        var longer = prompt.Concat(prompt[1..]).ToArray();
        var batched = decoder.Generate([longer, prompt], expected.Length, new HashSet<int>());
        CollectionAssert.AreEqual(expected, batched[1].Tokens);

        // A stop token ends the sequence without being kept.
        var stopped = decoder.Generate([prompt], expected.Length, new HashSet<int> { expected[3] })[0];
        CollectionAssert.AreEqual(expected[..3], stopped.Tokens);
        Assert.IsTrue(stopped.Stopped);
    }

    [TestMethod]
    public void EncoderSplitsContextAndContinuationAsLmEvaluationHarness()
    {
        var registry = Eval.Harness.Tasks.TaskRegistry.Load(Path.Combine(SharedFixtures.ProjectRoot, "prompts"));
        var task = registry.Get("xnli");
        var doc = new Document(0, new Dictionary<string, object?> { ["premise"] = "The cat sat on the mat.", ["hypothesis"] = "A cat is sitting.", ["label"] = 0L }, "test:1");
        foreach (var name in new[] { "llama2-phi3", "smollm2" })
        {
            var tokenizer = Tokenizer.Load(Path.Combine(SharedFixtures.Shared, "tokenizers", name));
            foreach (var template in task.Templates)
            {
                var prompt = new CausalPromptEncoder(tokenizer, task, template, 4096).Encode(doc);
                var leading = CausalPromptEncoder.LeadingSpecialTokens(tokenizer);
                CollectionAssert.AreEqual(leading, prompt.ContextIds[..leading.Length], $"{name}: context starts with the BOS the tokenizer adds");
                Assert.IsFalse(prompt.Text.EndsWith(' '), "trailing whitespace moves into the continuation");
                for (int c = 0; c < prompt.Choices.Count; c++)
                {
                    var whole = leading.Concat(tokenizer.Encode(prompt.Text + " " + prompt.Choices[c], addSpecialTokens: false).Ids).ToArray();
                    CollectionAssert.AreEqual(whole, prompt.ContextIds.Concat(prompt.ChoiceIds[c]).ToArray(), $"{name} {template.Name} choice {c}");
                }
            }
        }
        Assert.AreEqual(1, CausalPromptEncoder.LeadingSpecialTokens(Tokenizer.Load(Path.Combine(SharedFixtures.Shared, "tokenizers", "llama2-phi3"))).Length);
        Assert.AreEqual(0, CausalPromptEncoder.LeadingSpecialTokens(Tokenizer.Load(Path.Combine(SharedFixtures.Shared, "tokenizers", "smollm2"))).Length);
    }
}
