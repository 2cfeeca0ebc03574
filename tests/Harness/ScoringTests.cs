using Eval.Engine;
using Eval.Engine.Cpu;
using Eval.Engine.IO;
using Eval.Harness.Data;
using Eval.Harness.Scoring;
using Eval.Models;
using Eval.Tokenizers;

namespace Eval.Tests.Harness;

/// <summary>A masked LM whose logits at (example tag, slot position) the test sets; ids[1] of each prompt is its tag.</summary>
internal sealed class FakeMaskedModel(int vocab, Func<int, int, float[]> logitsFor, bool causal = false) : ILanguageModel
{
    public ModelConfig Config { get; } = new() { Path = "fake/config.json", Architectures = ["FakeForMaskedLM"], ModelType = "fake", VocabSize = vocab };
    public IBackend Backend { get; } = new CpuBackend(1);
    public long ParameterCount => 0;
    public ModelKind Kind => causal ? ModelKind.Causal : ModelKind.Masked;
    public int MaxSequenceLength => 512;
    public int Forwards { get; private set; }

    /// <summary>Hidden row = (tag of the example, position in the sequence).</summary>
    public ModelOutput Forward(TokenBatch batch, bool keepHiddenStates = false)
    {
        Forwards++;
        var hidden = Tensor.Zeros(batch.Tokens, 2);
        for (int b = 0; b < batch.Batch; b++)
            for (int s = 0; s < batch.Length; s++)
            {
                hidden.Row(b * batch.Length + s)[0] = batch.Ids[b * batch.Length + 1];
                hidden.Row(b * batch.Length + s)[1] = s;
            }
        return new ModelOutput(hidden, []);
    }

    public Tensor Logits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> vocabIds = default)
    {
        var logits = Tensor.Zeros(rows.Length, vocab);
        for (int r = 0; r < rows.Length; r++)
            logitsFor((int)hidden.Row(rows[r])[0], (int)hidden.Row(rows[r])[1]).CopyTo(logits.Row(r));
        return logits;
    }

    public LogitSummary SummarizeLogits(Tensor hidden, ReadOnlySpan<int> rows, ReadOnlySpan<int> ids = default)
    {
        using var logits = Logits(hidden, rows);
        return Backend.SummarizeLogits(logits, ids);
    }

    public void Dispose() => Backend.Dispose();
}

[TestClass]
public sealed class ScoringTests
{
    private const int Mask = 9, Vocab = 12;

    /// <summary>[CLS=0, tag, 5, MASK × length]; choice token ids as given.</summary>
    private static MaskedPrompt Prompt(int tag, int[][] choices, int[]? bare = null)
    {
        int length = choices.Max(c => c.Length);
        var ids = new[] { 0, tag, 5 }.Concat(Enumerable.Repeat(Mask, length)).ToArray();
        var doc = new Document(tag, new Dictionary<string, object?>(), $"test:{tag}");
        return new MaskedPrompt(doc, "", choices.Select((_, i) => $"c{i}").ToList(), 0, ids, 3, length, choices,
            bare ?? choices.Select(_ => -1).ToArray(), false);
    }

    private static float[] Row(params (int Id, float Logit)[] set)
    {
        var row = new float[Vocab];
        foreach (var (id, logit) in set) row[id] = logit;
        return row;
    }

    private static double LogSoftmax(float[] row, int id) => row[id] - Math.Log(row.Sum(v => Math.Exp(v)));

    [TestMethod]
    public void RestrictedScoresAreLogProbabilitiesOfTheChoicesTokens()
    {
        var row = Row((1, 2f), (2, 3f), (3, 1f), (7, 5f));
        using var model = new FakeMaskedModel(Vocab, (_, _) => row);
        var scores = new MaskedChoiceScorer(model, 11).Score([Prompt(4, [[1], [2], [3]])], ScoringMode.Restricted);
        Assert.AreEqual(1, scores[0].Prediction, "token 2 has the highest logit among the choices (7 is no choice)");
        for (int c = 0; c < 3; c++) Assert.AreEqual(LogSoftmax(row, c + 1), scores[0].Scores[c], 1e-5);
    }

    [TestMethod]
    public void EvalPyAddsTheBareAndSpacedFormsAndUnrestrictedCountsOtherTokensWrong()
    {
        // Choice 0 " A"=1 / "A"=3, choice 1 " B"=2 / "B"=4: " B" alone beats " A", but P(A)+P( A) beats P(B)+P( B).
        var row = Row((1, 2.0f), (3, 2.0f), (2, 2.5f), (4, 0f), (7, 4f));
        using var model = new FakeMaskedModel(Vocab, (_, _) => row);
        var scorer = new MaskedChoiceScorer(model, 11);
        var prompt = Prompt(4, [[1], [2]], [3, 4]);
        Assert.AreEqual(1, scorer.Score([prompt], ScoringMode.Restricted)[0].Prediction);
        var evalPy = scorer.Score([prompt], ScoringMode.EvalPy)[0];
        Assert.AreEqual(0, evalPy.Prediction);
        Assert.AreEqual(Math.Exp(LogSoftmax(row, 1)) + Math.Exp(LogSoftmax(row, 3)), evalPy.Scores[0], 1e-6);
        Assert.AreEqual(-1, scorer.Score([prompt], ScoringMode.Unrestricted)[0].Prediction, "argmax is token 7, no choice");

        var bareWins = Row((4, 6f), (1, 1f));
        using var model2 = new FakeMaskedModel(Vocab, (_, _) => bareWins);
        Assert.AreEqual(1, new MaskedChoiceScorer(model2, 11).Score([prompt], ScoringMode.Unrestricted)[0].Prediction, "\"B\" without the space is choice 1");
    }

    [TestMethod]
    public void MultiTokenChoicesMultiplyTheirPositionsProbabilities()
    {
        // Choice 0 = [1, 2] over two masks, choice 1 = [3] on the first mask only (the second stays free).
        var first = Row((1, 3f), (3, 2f));
        var second = Row((2, 0.5f), (5, 4f));
        using var model = new FakeMaskedModel(Vocab, (_, position) => position == 3 ? first : second);
        var result = new MaskedChoiceScorer(model, 11).Score([Prompt(4, [[1, 2], [3]])], ScoringMode.Restricted)[0];
        Assert.AreEqual(LogSoftmax(first, 1) + LogSoftmax(second, 2), result.Scores[0], 1e-5);
        Assert.AreEqual(LogSoftmax(first, 3), result.Scores[1], 1e-5);
        Assert.AreEqual(1, result.Prediction);
    }

    [TestMethod]
    public void BatchesOfMixedLengthsScoreLikeSinglePrompts()
    {
        using var model = new FakeMaskedModel(Vocab, (tag, position) => Row((1, tag), (2, 10 - tag), (3, position)));
        var scorer = new MaskedChoiceScorer(model, 11);
        var prompts = new[] { Prompt(2, [[1], [2]]), Prompt(8, [[1, 3], [2]]), Prompt(5, [[3], [2, 1, 1]]) };
        var together = scorer.Score(prompts, ScoringMode.Restricted);
        for (int i = 0; i < prompts.Length; i++)
            CollectionAssert.AreEqual(scorer.Score([prompts[i]], ScoringMode.Restricted)[0].Scores, together[i].Scores);
        Assert.AreEqual(4, model.Forwards);
    }

    [TestMethod]
    public void CausalModelsAreRefused()
    {
        using var model = new FakeMaskedModel(Vocab, (_, _) => new float[Vocab], causal: true);
        StringAssert.Contains(Assert.ThrowsException<NotSupportedException>(() => new MaskedChoiceScorer(model, 0)).Message, "causal");
    }

    /// <summary>
    /// The ModernBERT-Instruct eval.py template on the real MMLU rows tokenizes to exactly the input_ids of the
    /// modernbert-tiny golden file (made by the authors' format with Hugging Face's tokenizer).
    /// </summary>
    [TestMethod]
    public void EvalPyTemplateReproducesTheGoldenMmluPrompts()
    {
        var tokenizer = Tokenizer.Load(Path.Combine(SharedFixtures.Shared, "tokenizers", "modernbert"));
        var task = TemplateTests.Registry.Get("mmlu");
        var encoder = new MaskedPromptEncoder(tokenizer, task, task.Template("modernbert_instruct_eval_py"), 8192);
        using var golden = new SafetensorsFile(Path.Combine(SharedFixtures.Model("modernbert-tiny"), "golden.safetensors"));
        var ids = golden.ReadAsInt32("input_ids");
        var mask = golden.ReadAsInt32("attention_mask");
        int rows = (int)golden.Entries["input_ids"].Shape[0], length = (int)golden.Entries["input_ids"].Shape[1];
        var store = new DatasetStore([Path.Combine(SharedFixtures.Shared, "datasets")], SharedFixtures.TempDirectory(), null);
        var docs = task.Subsets.SelectMany(s => store.Load(task, s, "test").Documents).ToList();
        for (int b = 0; b < rows; b++)
        {
            var expected = Enumerable.Range(0, length).Where(i => mask[b * length + i] == 1).Select(i => ids[b * length + i]).ToArray();
            var text = tokenizer.Decode(expected);
            int q = text.IndexOf("QUESTION:\n", StringComparison.Ordinal) + 10, end = text.IndexOf("\nCHOICES:", StringComparison.Ordinal);
            var question = text[q..end];
            var doc = docs.Single(d => ((string)d.Fields["question"]!).Trim() == question);
            var prompt = encoder.Encode(doc);
            CollectionAssert.AreEqual(expected, prompt.Ids, $"golden row {b}");
            Assert.AreEqual(tokenizer.TokenToId("[MASK]"), prompt.Ids[prompt.MaskStart]);
            Assert.AreEqual(1, prompt.MaskLength);
            Assert.IsTrue(prompt.ChoiceIds.All(c => c.Length == 1), "A-D are single tokens after a space");
        }
    }

    [TestMethod]
    public void LongPromptsLoseTokensFromTheLeftAndKeepTheTail()
    {
        var tokenizer = Tokenizer.Load(Path.Combine(SharedFixtures.Shared, "tokenizers", "modernbert"));
        var task = TemplateTests.Registry.Get("xnli");
        var template = task.Template("GPT-3 style");
        var doc = new Document(0, new Dictionary<string, object?>
        {
            ["premise"] = string.Join(" ", Enumerable.Repeat("word", 200)), ["hypothesis"] = "Short claim.", ["label"] = 1L,
        }, "test:1");
        var full = new MaskedPromptEncoder(tokenizer, task, template, 8192).Encode(doc);
        var cut = new MaskedPromptEncoder(tokenizer, task, template, 64).Encode(doc);
        Assert.IsFalse(full.Truncated);
        Assert.IsTrue(cut.Truncated);
        Assert.AreEqual(64, cut.Ids.Length);
        Assert.AreEqual(full.Ids[0], cut.Ids[0], "[CLS] is kept");
        CollectionAssert.AreEqual(full.Ids[^40..], cut.Ids[^40..], "the template's tail and the mask are kept");
        Assert.AreEqual(full.Ids.Length - full.MaskStart, cut.Ids.Length - cut.MaskStart);
        Assert.AreEqual(1, full.Gold);
        Assert.IsTrue(full.Text.EndsWith("True, False, or Neither? [MASK]", StringComparison.Ordinal), full.Text);
    }
}
