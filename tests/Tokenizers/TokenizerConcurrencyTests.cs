using Eval.Tokenizers;

namespace Eval.Tests.Tokenizers;

/// <summary>
/// One <see cref="Tokenizer"/> instance used from many threads at once gives exactly the ids one thread gets: real XNLI
/// premises and hypotheses in 15 languages (../shared/datasets), each of the five tokenizers freshly loaded so its piece
/// cache is filled concurrently, threads released together by a barrier, some walking the texts in the same order (the
/// same pieces at the same moment) and some in their own shuffled orders (different pieces). A cache that is not safe
/// for concurrent use shows up as wrong ids or an exception here.
/// </summary>
[TestClass]
public sealed class TokenizerConcurrencyTests
{
    private const int Threads = 8;

    private static readonly Lazy<string[]> Texts = new(() =>
        Directory.GetFiles(Path.Combine(SharedFixtures.Shared, "datasets", "xnli"), "xnli_test_*.tsv").Order(StringComparer.Ordinal)
            .SelectMany(file => File.ReadLines(file).Skip(1).Take(60))
            .SelectMany(line => line.Split('\t') is [_, var premise, var hypothesis, ..] ? new[] { premise, hypothesis } : [])
            .ToArray());

    [TestMethod]
    [DynamicData(nameof(TokenizerFixtureTests.TokenizerNames), typeof(TokenizerFixtureTests), DynamicDataSourceType.Method)]
    public void ManyThreadsOnOneInstanceGetTheSingleThreadedIds(string name)
    {
        var texts = Texts.Value;
        var folder = TokenizerFixtureTests.TokenizerDirectory(name);
        var single = Tokenizer.Load(folder);
        var expected = texts.Select(t => single.Encode(t).Ids.ToArray()).ToArray();
        var expectedPlain = texts.Select(t => single.Encode(t, addSpecialTokens: false).Ids.ToArray()).ToArray();

        var shared = Tokenizer.Load(folder);
        var results = new int[Threads][][];
        var failures = new Exception?[Threads];
        using var start = new Barrier(Threads);
        var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            try
            {
                // Even threads walk the texts in file order, together; odd ones each in a shuffled order of their own.
                var order = Enumerable.Range(0, texts.Length).ToArray();
                if (t % 2 == 1) new Random(t).Shuffle(order);
                var ids = new int[texts.Length][];
                start.SignalAndWait();
                foreach (var i in order)
                    ids[i] = shared.Encode(texts[i], addSpecialTokens: t % 4 != 3).Ids.ToArray();
                results[t] = ids;
            }
            catch (Exception e)
            {
                failures[t] = e;
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());

        for (int t = 0; t < Threads; t++)
        {
            Assert.IsNull(failures[t], $"{name}, thread {t}: {failures[t]}");
            var reference = t % 4 != 3 ? expected : expectedPlain;
            for (int i = 0; i < texts.Length; i++)
                CollectionAssert.AreEqual(reference[i], results[t][i], $"{name}, thread {t}, text {i}: '{texts[i]}'");
        }
    }
}
