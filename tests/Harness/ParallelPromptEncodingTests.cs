using System.Collections.Concurrent;
using Eval.Harness.Data;
using Eval.Harness.Runs;
using Eval.Harness.Scoring;
using Eval.Harness.Tasks;
using Eval.Tokenizers;

namespace Eval.Tests.Harness;

/// <summary>
/// Prompts rendered and tokenized on several threads (<see cref="ParallelPromptEncoding"/>) are those of one thread,
/// element for element and in document order, for real XNLI and XCOPA rows from ../shared/datasets with the real
/// ModernBERT and SmolLM2 tokenizers: whatever the thread count, the range size and the order the work finishes in.
/// Every parallel pass uses a freshly loaded tokenizer, so its piece cache fills from several threads at once.
/// </summary>
[TestClass]
public sealed class ParallelPromptEncodingTests
{
    private static readonly int[] RangeSizes = [1, 7, 0, 100_000];

    private static readonly Lazy<IReadOnlyList<Document>> XnliDocuments = new(() =>
        Documents(TemplateTests.Registry.Get("xnli"), "validation", ["en", "ar", "zh", "sw", "th"], perLanguage: 120));

    private static readonly Lazy<IReadOnlyList<Document>> XcopaDocuments = new(() =>
        Documents(TemplateTests.Registry.Get("xcopa"), "test", ["et", "ht", "qu", "ta", "th", "vi"], perLanguage: 100));

    private static IReadOnlyList<Document> Documents(TaskDefinition task, string split, string[] languages, int perLanguage)
    {
        var store = new DatasetStore([Path.Combine(SharedFixtures.Shared, "datasets")], SharedFixtures.TempDirectory(), downloader: null);
        return languages.SelectMany(language => store.Load(task, language, split).Documents.Take(perLanguage)).ToList();
    }

    private static Tokenizer LoadTokenizer(string name) => Tokenizer.Load(Path.Combine(SharedFixtures.Shared, "tokenizers", name));

    private static Func<Document, MaskedPrompt> XnliEncoder(Tokenizer tokenizer, string template = "GPT-3 style")
    {
        var task = TemplateTests.Registry.Get("xnli");
        return new MaskedPromptEncoder(tokenizer, task, task.Template(template), 8192).Encode;
    }

    private static Func<Document, CausalPrompt> XcopaEncoder(Tokenizer tokenizer)
    {
        var task = TemplateTests.Registry.Get("xcopa");
        return new CausalPromptEncoder(tokenizer, task, task.Templates[0], 8192).Encode;
    }

    [TestMethod]
    [DataRow(2)]
    [DataRow(3)]
    [DataRow(8)]
    public void MaskedXnliPromptsAreThoseOfOneThread(int threads)
    {
        var docs = XnliDocuments.Value;
        foreach (var template in new[] { "GPT-3 style", "guaranteed/possible/impossible" })
        {
            var expected = docs.Select(XnliEncoder(LoadTokenizer("modernbert"), template)).ToArray();
            foreach (var rangeSize in RangeSizes)
            {
                var actual = ParallelPromptEncoding.EncodeAll(docs, XnliEncoder(LoadTokenizer("modernbert"), template), threads, rangeSize);
                AssertSameMasked(expected, actual, $"{template}, {threads} threads, ranges of {rangeSize}");
            }
        }
    }

    [TestMethod]
    [DataRow(2)]
    [DataRow(3)]
    [DataRow(8)]
    public void CausalXcopaPromptsAreThoseOfOneThread(int threads)
    {
        var docs = XcopaDocuments.Value;
        var expected = docs.Select(XcopaEncoder(LoadTokenizer("smollm2"))).ToArray();
        foreach (var rangeSize in RangeSizes)
        {
            var actual = ParallelPromptEncoding.EncodeAll(docs, XcopaEncoder(LoadTokenizer("smollm2")), threads, rangeSize);
            AssertSameCausal(expected, actual, $"{threads} threads, ranges of {rangeSize}");
        }
    }

    /// <summary>
    /// Each document waits a pseudo-random while before it is encoded, and the first waits until another document has
    /// finished, so ranges finish out of order however the machine's load schedules the threads.
    /// </summary>
    [TestMethod]
    [DataRow(8, 1)]
    [DataRow(3, 5)]
    [DataRow(8, 0)]
    public void ShuffledCompletionKeepsDocumentOrder(int threads, int rangeSize)
    {
        var docs = XnliDocuments.Value.Take(240).ToList();
        var expected = docs.Select(XnliEncoder(LoadTokenizer("modernbert"))).ToArray();
        var encode = XnliEncoder(LoadTokenizer("modernbert"));
        var finished = new ConcurrentQueue<int>();
        using var anotherFinished = new ManualResetEventSlim();
        var actual = ParallelPromptEncoding.EncodeAll(docs, doc =>
        {
            int index = docs.IndexOf(doc);
            int wait = (int)((uint)(doc.Index * 2654435761u + (uint)doc.Origin.Length) % 4);
            if (wait > 0) Thread.Sleep(wait - 1);
            if (index == 0) anotherFinished.Wait(TimeSpan.FromSeconds(60));
            var prompt = encode(doc);
            finished.Enqueue(index);
            if (index != 0) anotherFinished.Set();
            return prompt;
        }, threads, rangeSize);
        var order = finished.ToArray();
        Assert.AreEqual(docs.Count, order.Length);
        Assert.IsFalse(order.SequenceEqual(Enumerable.Range(0, docs.Count)), "the documents finished in document order: the schedule was not shuffled");
        AssertSameMasked(expected, actual, $"{threads} threads, ranges of {rangeSize}, shuffled completion");
    }

    [TestMethod]
    [DataRow(1, 0)]
    [DataRow(2, 1)]
    [DataRow(3, 7)]
    [DataRow(8, 0)]
    [DataRow(8, 1000)]
    public void TheLowestIndexedFailureIsThrown(int threads, int rangeSize)
    {
        var docs = Enumerable.Range(0, 500).Select(i => new Document(i, new Dictionary<string, object?>(), $"synthetic:{i}")).ToList();
        var failing = new HashSet<int> { 37, 38, 211, 499 };
        var error = Assert.ThrowsException<InvalidDataException>(() => ParallelPromptEncoding.EncodeAll(docs, doc =>
        {
            if (doc.Index == 37) Thread.Sleep(50);   // later failures are seen first
            return failing.Contains(doc.Index) ? throw new InvalidDataException($"{doc.Origin}: bad") : doc.Index;
        }, threads, rangeSize));
        Assert.AreEqual("synthetic:37: bad", error.Message);
    }

    [TestMethod]
    public void ACancelledEncodingStops()
    {
        var docs = Enumerable.Range(0, 100).Select(i => new Document(i, new Dictionary<string, object?>(), $"synthetic:{i}")).ToList();
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        foreach (int threads in new[] { 1, 4 })
            Assert.ThrowsException<OperationCanceledException>(() => ParallelPromptEncoding.EncodeAll(docs, d => d.Index, threads, cancel: cancel.Token),
                $"{threads} threads");
    }

    /// <summary>The whole run and one shard of it: prompt threads and batch sizes change neither the examples nor their scores.</summary>
    [TestMethod]
    public void RunResultsDoNotDependOnEncodingThreadsOrBatchSize()
    {
        var tokenizer = LoadTokenizer("modernbert");
        int vocab = tokenizer.IdCount;
        var task = TemplateTests.Registry.Get("xnli");
        var store = new DatasetStore([Path.Combine(SharedFixtures.Shared, "datasets")], SharedFixtures.TempDirectory(), downloader: null);

        List<ExampleResult> Run(int threads, int batchSize, ShardSpec? shard = null)
        {
            using var model = new FakeMaskedModel(vocab, (tag, position) =>
                Enumerable.Range(0, vocab).Select(v => MathF.Sin(tag * 0.37f + position * 1.3f + v * 0.011f)).ToArray());
            using var cache = new ScoreCache(Path.Combine(SharedFixtures.TempDirectory(), "scores.sqlite"));
            var request = new EvalRequest([task], ["en", "sw"], ["GPT-3 style", "can we infer"], "validation", 30, batchSize, ScoringMode.Restricted, 512)
            {
                EncodingThreads = threads, Shard = shard,
            };
            return new EvaluationRunner(model, LoadTokenizer("modernbert"), store, cache, "fake").Run(request).Examples.ToList();
        }

        var whole = Run(threads: 1, batchSize: 8);
        Assert.AreEqual(2 * 2 * 30, whole.Count);
        // A shard's part is chosen by the prompts' token counts in plan order: the same whatever the threads.
        var firstShard = Run(threads: 1, batchSize: 8, new ShardSpec(0, 3));
        Assert.IsTrue(firstShard.Count is > 0 and < 2 * 2 * 30);
        foreach (var (threads, batchSize, shard) in new (int, int, ShardSpec?)[] { (2, 8, null), (3, 5, null), (8, 1, null), (8, 30, null), (3, 8, new(0, 3)), (8, 4, new(0, 3)) })
        {
            var expected = shard is null ? whole : firstShard;
            var actual = Run(threads, batchSize, shard);
            Assert.AreEqual(expected.Count, actual.Count);
            for (int i = 0; i < expected.Count; i++)
            {
                var (e, a) = (expected[i], actual[i]);
                var where = $"{threads} threads, batches of {batchSize}, shard {shard?.ToString() ?? "none"}, example {i}";
                Assert.AreEqual((e.Subset, e.Template, e.DocId, e.Prompt, e.Prediction, e.Gold, e.Truncated),
                    (a.Subset, a.Template, a.DocId, a.Prompt, a.Prediction, a.Gold, a.Truncated), where);
                CollectionAssert.AreEqual(e.Scores, a.Scores, where);
                CollectionAssert.AreEqual(e.ChoiceLengths, a.ChoiceLengths, where);
            }
        }
    }

    private static void AssertSameMasked(IReadOnlyList<MaskedPrompt> expected, IReadOnlyList<MaskedPrompt> actual, string what)
    {
        Assert.AreEqual(expected.Count, actual.Count, what);
        for (int i = 0; i < expected.Count; i++)
        {
            var (e, a) = (expected[i], actual[i]);
            var where = $"{what}: prompt {i} ({e.Document.Origin})";
            Assert.AreSame(e.Document, a.Document, where);
            Assert.AreEqual((e.Text, e.Gold, e.MaskStart, e.MaskLength, e.Truncated), (a.Text, a.Gold, a.MaskStart, a.MaskLength, a.Truncated), where);
            CollectionAssert.AreEqual(e.Ids, a.Ids, where);
            CollectionAssert.AreEqual(e.Choices.ToArray(), a.Choices.ToArray(), where);
            CollectionAssert.AreEqual(e.BareChoiceFirstIds.ToArray(), a.BareChoiceFirstIds.ToArray(), where);
            AssertSameChoiceIds(e.ChoiceIds, a.ChoiceIds, where);
        }
    }

    private static void AssertSameCausal(IReadOnlyList<CausalPrompt> expected, IReadOnlyList<CausalPrompt> actual, string what)
    {
        Assert.AreEqual(expected.Count, actual.Count, what);
        for (int i = 0; i < expected.Count; i++)
        {
            var (e, a) = (expected[i], actual[i]);
            var where = $"{what}: prompt {i} ({e.Document.Origin})";
            Assert.AreSame(e.Document, a.Document, where);
            Assert.AreEqual((e.Text, e.Gold, e.Truncated), (a.Text, a.Gold, a.Truncated), where);
            CollectionAssert.AreEqual(e.ContextIds, a.ContextIds, where);
            CollectionAssert.AreEqual(e.Choices.ToArray(), a.Choices.ToArray(), where);
            AssertSameChoiceIds(e.ChoiceIds, a.ChoiceIds, where);
        }
    }

    private static void AssertSameChoiceIds(IReadOnlyList<int[]> expected, IReadOnlyList<int[]> actual, string where)
    {
        Assert.AreEqual(expected.Count, actual.Count, where);
        for (int c = 0; c < expected.Count; c++) CollectionAssert.AreEqual(expected[c], actual[c], $"{where}, choice {c}");
    }
}
