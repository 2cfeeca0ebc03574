using Eval.Tokenizers;

namespace Eval.Tests.Tokenizers;

/// <summary>
/// One <see cref="Tokenizer"/> instance used from many threads at once gives exactly the ids one thread gets: real XNLI
/// premises and hypotheses in 15 languages (../shared/datasets), each of the five tokenizers freshly loaded so its piece
/// cache is filled concurrently, threads released together by a barrier, two walking the texts in the same order (the
/// same pieces at the same moment) and six in shuffled orders of their own (different pieces), three rounds. A cache
/// that is not safe for concurrent use shows up as wrong ids or an exception here (a plain Dictionary as the piece cache
/// failed this class in every try on 2 cores, though not every tokenizer's case every time: races are probabilistic).
/// </summary>
[TestClass]
public sealed class TokenizerConcurrencyTests
{
    private const int Threads = 8;

    /// <summary>Each round a freshly loaded instance: a race shows itself only now and then.</summary>
    private const int Rounds = 3;

    private static readonly Lazy<string[]> Texts = new(() =>
        Directory.GetFiles(Path.Combine(SharedFixtures.Shared, "datasets", "xnli"), "xnli_test_*.tsv").Order(StringComparer.Ordinal)
            .SelectMany(file => File.ReadLines(file).Skip(1).Take(150))
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

        for (int round = 0; round < Rounds; round++)
        {
            var shared = Tokenizer.Load(folder);
            var results = new int[Threads][][];
            var failures = new Exception?[Threads];
            using var start = new Barrier(Threads);
            var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
            {
                try
                {
                    // Threads 0 and 1 walk the texts in file order, together; the others each in a shuffled order of their own.
                    var order = Enumerable.Range(0, texts.Length).ToArray();
                    if (t > 1) new Random(round * Threads + t).Shuffle(order);
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
                Assert.IsNull(failures[t], $"{name}, round {round}, thread {t}: {failures[t]}");
                var reference = t % 4 != 3 ? expected : expectedPlain;
                for (int i = 0; i < texts.Length; i++)
                    CollectionAssert.AreEqual(reference[i], results[t][i], $"{name}, round {round}, thread {t}, text {i}: '{texts[i]}'");
            }
        }
    }
}
