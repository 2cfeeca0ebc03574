using System.Diagnostics;
using System.Text.Json;
using Eval.Harness.Data;
using Eval.Harness.Scoring;
using Eval.Harness.Tasks;
using Eval.Tokenizers;

namespace Eval.Tests.Tokenizers;

/// <summary>
/// A live cross-check against Hugging Face's Rust tokenizers on the real data, through all five tokenizers of
/// ../shared/tokenizers, 100% id-exact: every text of every dataset file the tasks read (each document's text fields
/// as the harness reads them, every subset and split, from every stored layout, and XCOPA's machine-translated
/// English), deduplicated; and the prompts the harness renders from them, for every template of every task over the
/// first <see cref="PromptDocumentsPerSplit"/> documents of each dataset file, with the answer choices as the
/// scorers tokenize them. The split is explicit because the full prompt set (about 749,000 lines a tokenizer) takes
/// far longer than CI's budget for this check; EVAL_TOKENIZER_CROSSCHECK_ALL_PROMPTS=1 runs it all.
/// </summary>
[TestClass]
public sealed class RustCrossCheckTests
{
    private const int ShownDifferences = 10;
    private const int ChunkSize = 100_000;

    /// <summary>40 documents of each file; EVAL_TOKENIZER_CROSSCHECK_ALL_PROMPTS=1 takes them all (749,000 lines a tokenizer, 13 minutes on 2 busy cores).</summary>
    public static int PromptDocumentsPerSplit =>
        Environment.GetEnvironmentVariable("EVAL_TOKENIZER_CROSSCHECK_ALL_PROMPTS") == "1" ? int.MaxValue : 40;

    private static readonly string[] TokenizerNames = ["modernbert", "smollm2", "llama2-phi3", "unigram-t5-small", "unigram-t5-ru"];

    private static string Datasets => Path.Combine(SharedFixtures.Shared, "datasets");

    [TestMethod]
    public void EveryDatasetTextIsIdExactWithTheRustLibrary()
    {
        var texts = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (_, _, _, _, docs) in DatasetFiles())
            foreach (var doc in docs)
                foreach (var text in TextFields(doc.Fields)) texts.Add(text);
        Assert.IsTrue(texts.Count > 100_000, $"only {texts.Count} dataset texts: is ../shared/datasets complete?");
        var items = texts.Order(StringComparer.Ordinal).Select(t => (t, true)).ToList();
        CompareWithRust("dataset texts", _ => items);
    }

    [TestMethod]
    public void RenderedPromptsAreIdExactWithTheRustLibrary()
    {
        var documents = DatasetFiles().Select(f => (f.Task, f.Docs.Take(PromptDocumentsPerSplit).ToList())).ToList();
        var scope = PromptDocumentsPerSplit == int.MaxValue ? "all documents" : $"the first {PromptDocumentsPerSplit} documents";
        CompareWithRust($"prompts of every template over {scope} of every dataset file", tokenizer =>
        {
            // As the scorers tokenize: the masked LM's prompt (with its mask tokens, or the gold answer where the
            // tokenizer has no mask) with special tokens, each choice after a space and bare without.
            var fill = tokenizer.Specials.Mask;
            var anchor = tokenizer.Specials.Unused0 is { } unused ? unused + " " : "";
            var items = new HashSet<(string, bool)>();
            foreach (var (task, docs) in documents)
                foreach (var template in task.Templates)
                    foreach (var doc in docs)
                    {
                        var slot = AnswerSlotPrompt.Render(task, template, doc, anchor);
                        items.Add((slot.Before + (fill ?? slot.Choices[slot.Gold]) + slot.After, true));
                        foreach (var choice in slot.Choices)
                        {
                            items.Add((" " + choice, false));
                            items.Add((choice, false));
                        }
                    }
            return items.Order().ToList();
        });
    }

    /// <summary>Every tokenizer: ours and Rust's ids for every item; fails with the first differences.</summary>
    private static void CompareWithRust(string what, Func<Tokenizer, IReadOnlyList<(string Text, bool AddSpecial)>> itemsFor)
    {
        var clock = Stopwatch.StartNew();
        var differences = new List<string>();
        long compared = 0, differing = 0;
        foreach (var name in TokenizerNames)
        {
            var directory = TokenizerFixtureTests.TokenizerDirectory(name);
            var tokenizer = Tokenizer.Load(directory);
            var items = itemsFor(tokenizer);
            double oursSeconds = 0, rustSeconds = 0;
            int differingHere = 0;
            // In chunks, so that the oracle's input and output stay small; ours runs while the oracle does.
            for (int from = 0; from < items.Count; from += ChunkSize)
            {
                var chunk = items.Skip(from).Take(ChunkSize).ToList();
                var rust = Task.Run(() =>
                {
                    var rustClock = Stopwatch.StartNew();
                    return (RustTokenizersOracle.Encode(directory, chunk), rustClock.Elapsed.TotalSeconds);
                });
                var oursClock = Stopwatch.StartNew();
                var ours = new IReadOnlyList<int>[chunk.Count];
                Parallel.For(0, chunk.Count, i => ours[i] = tokenizer.Encode(chunk[i].Text, chunk[i].AddSpecial).Ids);
                oursSeconds += oursClock.Elapsed.TotalSeconds;
                var (expected, seconds) = rust.Result;
                rustSeconds += seconds;
                for (int i = 0; i < chunk.Count; i++)
                {
                    if (ours[i].SequenceEqual(expected[i].Ids)) continue;
                    differingHere++;
                    if (differences.Count < ShownDifferences)
                        differences.Add($"{name} special={chunk[i].AddSpecial} {JsonSerializer.Serialize(chunk[i].Text)}\n" +
                                        $"   rust {string.Join(" ", expected[i].Ids)}\n   ours {string.Join(" ", ours[i])}");
                }
            }
            compared += items.Count;
            differing += differingHere;
            Console.WriteLine($"{what}: {name}: {items.Count} lines, {differingHere} differ (ours {oursSeconds:F1} s, Rust through node {rustSeconds:F1} s, side by side; {clock.Elapsed.TotalSeconds:F0} s so far)");
        }
        Assert.AreEqual(0, differing, $"{what}: {differing} of {compared} lines differ from the Rust library; the first:\n{string.Join("\n", differences)}");
    }

    /// <summary>The documents of every (task, source layout, subset, split) file present under ../shared/datasets.</summary>
    private static IEnumerable<(TaskDefinition Task, string Subset, string Split, string Path, IReadOnlyList<Document> Docs)> DatasetFiles()
    {
        var registry = TaskRegistry.Load(Path.Combine(SharedFixtures.ProjectRoot, "prompts"));
        var files = new List<(TaskDefinition, string, string, string, IReadOnlyList<Document>)>();
        foreach (var task in registry.Tasks)
        {
            var sources = task.Sources.ToList();
            // Stored copies no task source names: XCOPA's machine-translated English, XWinograd's selected items.
            if (task.Name == "xcopa") sources.AddRange(task.Sources.Where(s => s.Path.StartsWith("xcopa/data/", StringComparison.Ordinal))
                .Select(s => s with { Path = s.Path.Replace("xcopa/data/", "xcopa/data-gmt/", StringComparison.Ordinal) }));
            if (task.Name == "xwinograd") sources.AddRange(task.Sources.Where(s => s.Path == "xwinograd/dataset.tsv")
                .Select(s => s with { Path = "xwinograd/dataset.selected.tsv" }));
            foreach (var source in sources)
                foreach (var subset in task.Subsets)
                    foreach (var split in task.Splits)
                    {
                        if (source.SplitName(split) is null) continue;
                        var path = Path.Combine(Datasets, source.Resolve(subset, split));
                        if (!File.Exists(path)) continue;
                        var docs = DatasetReaders.Read(source.Format, path, subset);
                        if (docs.Count > 0) files.Add((task, subset, split, path, docs));
                    }
        }
        foreach (var name in new[] { "xnli", "xcopa", "xwinograd", "mmlu" })
            Assert.IsTrue(files.Any(f => f.Item1.Name == name), $"no {name} data under {Datasets}");
        return files;
    }

    private static IEnumerable<string> TextFields(IReadOnlyDictionary<string, object?> fields)
    {
        foreach (var value in fields.Values)
        {
            if (value is string text) yield return text;
            else if (value is IEnumerable<object?> list)
                foreach (var item in list.OfType<string>()) yield return item;
        }
    }
}
