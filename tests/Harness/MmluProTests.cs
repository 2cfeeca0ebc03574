using System.Text.Json;
using Eval.Engine.Cpu;
using Eval.Harness.Data;
using Eval.Harness.Runs;
using Eval.Harness.Scoring;
using Eval.Models;
using Eval.Tokenizers;

namespace Eval.Tests.Harness;

/// <summary>
/// The mmlu_pro task: the real test split in ../shared (12,032 questions, 14 categories, 1 to 10 options each), its
/// checks on bad rows, its templates against the wording of their sources, and scoring when the number of choices
/// varies from question to question (one option included) at any batch size.
/// </summary>
[TestClass]
public sealed class MmluProTests
{
    private static readonly string SharedData = Path.Combine(SharedFixtures.Shared, "datasets");
    private static Eval.Harness.Tasks.TaskDefinition Task => TemplateTests.Registry.Get("mmlu_pro");

    // Counted from ../shared/datasets/mmlu-pro/test.jsonl with Python's json module (see the report of the commit that added this test).
    private static readonly Dictionary<string, int> CategorySizes = new()
    {
        ["math"] = 1351, ["physics"] = 1299, ["chemistry"] = 1132, ["law"] = 1101, ["engineering"] = 969, ["other"] = 924, ["economics"] = 844,
        ["health"] = 818, ["psychology"] = 798, ["business"] = 789, ["biology"] = 717, ["philosophy"] = 499, ["computer_science"] = 410, ["history"] = 381,
    };

    private static readonly Dictionary<int, int> OptionCounts = new()
    {
        [1] = 5, [2] = 2, [3] = 20, [4] = 603, [5] = 51, [6] = 92, [7] = 157, [8] = 320, [9] = 801, [10] = 9981,
    };

    [TestMethod]
    public void TheRealTestSplitLoadsAsFourteenCategoriesEachQuestionWithItsOwnOptions()
    {
        var store = new DatasetStore([SharedData], SharedFixtures.TempDirectory(), downloader: null);
        var byOptions = new Dictionary<int, int>();
        var template = Task.Template("modernbert_instruct_eval_py");
        foreach (var subset in Task.Subsets)
        {
            var split = store.Load(Task, subset, "test");
            Assert.AreEqual("mmlu-pro-jsonl", split.Format);
            Assert.AreEqual(CategorySizes[subset], split.Documents.Count, subset);
            foreach (var doc in split.Documents)
            {
                var options = (IReadOnlyList<object?>)doc.Fields["options"]!;
                byOptions[options.Count] = byOptions.GetValueOrDefault(options.Count) + 1;
                var slot = AnswerSlotPrompt.Render(Task, template, doc, "[unused0] ");
                CollectionAssert.AreEqual("ABCDEFGHIJ"[..options.Count].Select(c => c.ToString()).ToArray(), slot.Choices.ToArray(), doc.Origin);
                Assert.AreEqual(doc.Fields["answer"], slot.Choices[slot.Gold], doc.Origin);
            }
        }
        CollectionAssert.AreEquivalent(OptionCounts.ToList(), byOptions.ToList());
    }

    [TestMethod]
    public void TheTasksSubsetsAreMmluProsCategoriesAndEachIsInOneGroup()
    {
        CollectionAssert.AreEqual(MmluProRows.Categories.Select(MmluProRows.SubsetName).ToArray(), Task.Subsets.ToArray());
        CollectionAssert.AreEquivalent(Task.Subsets.ToArray(), Task.Groups.Values.SelectMany(g => g).ToArray(), "every category in exactly one group");
        CollectionAssert.AreEqual(new[] { "test", "validation" }, Task.Splits.ToArray());
        var hub = Task.Sources.Single(s => s.Hub is not null);
        Assert.AreEqual(("TIGER-Lab/MMLU-Pro", 40), (hub.Hub!.Repo, hub.Hub.Revision.Length), "a pinned commit");
        Assert.AreEqual(2, hub.Hub.Sha256.Count);
    }

    private static string WriteJsonLines(string text)
    {
        var path = Path.Combine(SharedFixtures.TempDirectory(), "test.jsonl");
        File.WriteAllText(path, text);
        return path;
    }

    private const string GoodRow = "{\"question_id\": 1, \"question\": \"Q?\", \"options\": [\"a\", \"b\", \"c\"], \"answer\": \"B\", \"answer_index\": 1, \"category\": \"math\", \"src\": \"s\"}";

    [TestMethod]
    [DataRow("\"answer\": \"B\", \"answer_index\": 1", "\"answer\": \"D\", \"answer_index\": 3", "answer 'D' is beyond the question's 3 option(s) (A–C)")]
    [DataRow("[\"a\", \"b\", \"c\"]", "[]", "no options")]
    [DataRow("\"options\": [\"a\", \"b\", \"c\"], ", "", "no 'options' field")]
    [DataRow("[\"a\", \"b\", \"c\"]", "[\"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\", \"h\", \"i\", \"j\", \"k\"]", "11 options")]
    [DataRow("[\"a\", \"b\", \"c\"]", "[\"a\", null, \"c\"]", "option B is null, not text")]
    [DataRow("\"category\": \"math\"", "\"category\": \"astrology\"", "unknown category 'astrology'")]
    [DataRow("\"answer\": \"B\"", "\"answer\": \"b\"", "answer 'b' is not a letter A–J")]
    [DataRow("\"answer_index\": 1", "\"answer_index\": 2", "answer_index 2 disagrees with answer 'B'")]
    [DataRow("\"question\": \"Q?\"", "\"question\": 7", "'question' is 7, not text")]
    public void ABadRowIsAOneLineErrorNamingTheFileAndLine(string good, string bad, string message)
    {
        Assert.IsTrue(GoodRow.Contains(good), good);
        var path = WriteJsonLines(GoodRow + "\n\n" + GoodRow.Replace(good, bad) + "\n");
        // Every subset refuses the file, not only the bad row's own category.
        foreach (var subset in new[] { "math", "law" })
        {
            var e = Assert.ThrowsException<DatasetFormatException>(() => DatasetReaders.Read("mmlu-pro-jsonl", path, subset));
            StringAssert.StartsWith(e.Message, $"{path}:3: ");
            StringAssert.Contains(e.Message, message);
            Assert.IsFalse(e.Message.Contains('\n'), e.Message);
        }
        Assert.AreEqual(1, DatasetReaders.Read("mmlu-pro-jsonl", WriteJsonLines(GoodRow + "\n"), "math").Count);
    }

    [TestMethod]
    public void ASubsetThatIsNoCategoryIsRefused() =>
        StringAssert.Contains(Assert.ThrowsException<ArgumentException>(() => DatasetReaders.Read("mmlu-pro-jsonl", WriteJsonLines(GoodRow + "\n"), "computer science")).Message,
            "computer_science");

    private static Dictionary<string, object?> Doc(string question, string[] options, int answer, string category = "computer science") => new()
    {
        ["question"] = question, ["options"] = options.Cast<object?>().ToList(), ["answer"] = "ABCDEFGHIJ"[answer].ToString(), ["answer_index"] = (long)answer,
        ["category"] = category,
    };

    /// <summary>Each template against its source's wording, written out here as the source's code builds it (letters A–J).</summary>
    [TestMethod]
    public void TheTemplatesWriteTheirSourcesWording()
    {
        string[] options = [" 4 ", "5", "six"];
        var fields = Doc("  What is 2+2? ", options, 0);
        string letters = "ABCDEFGHIJ";

        // ModernBERT-Instruct eval.py, format_mmlu_example: prefix, stripped question, "- X: choice" lines, then the answer line.
        var evalPy = "You will be given a question as well as a list of options. Read the question carefully and select the right answer from the list.\nQUESTION:\n" +
                     "What is 2+2?" + "\nCHOICES:\n" + string.Concat(options.Select((o, i) => $"- {letters[i]}: {o}\n")) + "\nANSWER:\nAnswer: [unused0] [MASK]";
        // lm-evaluation-harness mmlu_pro: description (without its chain-of-thought sentence) + "\n", format_cot_example without "Let's think step by step."
        var lmEval = "The following are multiple choice questions (with answers) about computer science.\n" + "Question:\n" + "  What is 2+2? " + "\n" + "Options:\n" +
                     string.Concat(options.Select((o, i) => $"{letters[i]}. {o.Trim()}\n")) + "Answer:";
        // The model card: "QUESTION: " + question, choices, "ANSWER: [unused0] [MASK]".
        var card = "You will be given a question and options. Select the right answer.\nQUESTION: " + "  What is 2+2? " + "\nCHOICES:\n" +
                   string.Concat(options.Select((o, i) => $"- {letters[i]}: {o}\n")) + "ANSWER: [unused0] [MASK]";

        foreach (var (name, expected) in new[] { ("modernbert_instruct_eval_py", evalPy), ("lm_eval_harness", lmEval + " [MASK]"), ("modernbert_instruct_model_card", card) })
        {
            var slot = AnswerSlotPrompt.Render(Task, Task.Template(name), new Document(0, fields, "t:1"), "[unused0] ");
            // PromptSource strips the parts: the leading spaces of the card's question are kept inside the text.
            Assert.AreEqual(expected.Trim(), (slot.Before + "[MASK]" + slot.After).Trim(), name);
            CollectionAssert.AreEqual(new[] { "A", "B", "C" }, slot.Choices.ToArray(), name);
            Assert.AreEqual(0, slot.Gold);
        }
    }

    [TestMethod]
    public void AQuestionIsOfferedExactlyItsOwnOptionsDownToOne()
    {
        foreach (int count in new[] { 1, 2, 7, 10 })
        {
            var fields = Doc("Q?", Enumerable.Range(0, count).Select(i => $"o{i}").ToArray(), count - 1);
            foreach (var template in Task.Templates)
            {
                var slot = AnswerSlotPrompt.Render(Task, template, new Document(0, fields, "t:1"), "");
                Assert.AreEqual(count, slot.Choices.Count, $"{template.Name}, {count} options");
                Assert.AreEqual(count - 1, slot.Gold);
                var text = slot.Before + slot.After;
                Assert.IsTrue(text.Contains($"o{count - 1}") && !text.Contains($"o{count}"), text);
            }
        }
    }

    /// <summary>A few questions of each size (1, 2, 4 and 10 options) in one category, written as the shared file is.</summary>
    private static IReadOnlyList<ParquetFiles.MmluProRow> MixedRows() =>
    [
        .. new[] { 10, 1, 4, 2, 10, 1, 7, 3, 10, 9, 1, 5 }.Select((n, i) => new ParquetFiles.MmluProRow(i, $"Question number {i} asks about {new string('x', i % 5)}?",
            Enumerable.Range(0, n).Select(k => $"option {k} of {i}").ToList(), "ABCDEFGHIJ"[(i * 7) % n].ToString(), (i * 7) % n, "math")),
        new(99, "Elsewhere?", ["x", "y"], "A", 0, "law"),
    ];

    /// <summary>The modernbert-tiny fixture through the runner on questions of 1 to 10 options: batch sizes 1, 3, 8 and a token budget agree exactly.</summary>
    [TestMethod]
    [DataRow(ScoringMode.Restricted)]
    [DataRow(ScoringMode.EvalPy)]
    [DataRow(ScoringMode.Unrestricted)]
    public void MaskedPredictionsOverVaryingChoiceCountsDoNotDependOnTheBatch(ScoringMode mode)
    {
        var data = SharedFixtures.TempDirectory();
        Directory.CreateDirectory(Path.Combine(data, "mmlu-pro"));
        File.WriteAllText(Path.Combine(data, "mmlu-pro", "test.jsonl"), ParquetFiles.MmluProJsonLines(MixedRows()));
        var tokenizer = Tokenizer.Load(Path.Combine(SharedFixtures.Shared, "tokenizers", "modernbert"));
        using var backend = new CpuBackend(1);
        using var model = ModelLoader.Load(SharedFixtures.Model("modernbert-tiny"), backend);
        List<ExampleResult> Run(int batchSize, int? budget = null)
        {
            using var cache = new ScoreCache(Path.Combine(SharedFixtures.TempDirectory(), "scores.sqlite"));
            var store = new DatasetStore([data], SharedFixtures.TempDirectory(), downloader: null);
            var request = new EvalRequest([Task], ["math"], null, "test", null, batchSize, mode, 512) { MaxBatchTokens = budget, EncodingThreads = 1 };
            return new EvaluationRunner(model, tokenizer, store, cache, "tiny").Run(request).Examples.ToList();
        }

        var one = Run(1);
        Assert.AreEqual(3 * 12, one.Count);
        foreach (var e in one)
        {
            int options = MixedRows()[e.DocId].Options.Count;
            Assert.AreEqual(options, e.Choices.Count, $"{e.Template} {e.DocId}");
            Assert.AreEqual(options, e.Scores.Length);
            if (options == 1 && mode != ScoringMode.Unrestricted) Assert.AreEqual((0, true), (e.Prediction, e.Correct), "the one option is the answer");
            Assert.IsTrue(e.Prediction >= (mode == ScoringMode.Unrestricted ? -1 : 0) && e.Prediction < options);
        }
        foreach (var (batchSize, budget) in new (int, int?)[] { (3, null), (8, null), (int.MaxValue, 600) })
        {
            var other = Run(batchSize, budget);
            for (int i = 0; i < one.Count; i++)
            {
                var where = $"batch {batchSize}, budget {budget}: {one[i].Template} doc {one[i].DocId}";
                Assert.AreEqual(one[i].Prediction, other[i].Prediction, where);
                for (int c = 0; c < one[i].Scores.Length; c++)
                    Assert.AreEqual(one[i].Scores[c], other[i].Scores[c], 1e-4 * Math.Max(1, Math.Abs(one[i].Scores[c])), where);
            }
        }
    }

    /// <summary>
    /// The llama-tiny fixture's log-likelihood scorer with 1, 2, 4 and 10 continuations per prompt (of 1 to 3 tokens) in one
    /// batch: each prompt's scores are those it gets alone.
    /// </summary>
    [TestMethod]
    public void CausalLogLikelihoodOverVaryingChoiceCountsDoesNotDependOnTheBatch()
    {
        using var backend = new CpuBackend(1);
        using var model = ModelLoader.Load(SharedFixtures.Model("llama-tiny"), backend);
        var scorer = new CausalChoiceScorer(model, tokenizer: null, padId: 0);
        var random = new Random(29);
        var prompts = new[] { 1, 10, 2, 4, 1, 10 }.Select((choices, p) => new CausalPrompt(new Document(p, new Dictionary<string, object?>(), $"t:{p}"), "",
            Enumerable.Range(0, choices).Select(c => $"{c}").ToList(), 0,
            Enumerable.Range(0, 5 + 3 * p).Select(_ => random.Next(3, 1000)).ToArray(),
            Enumerable.Range(0, choices).Select(c => Enumerable.Range(0, 1 + (c + p) % 3).Select(_ => random.Next(3, 1000)).ToArray()).ToList(), false)).ToList();
        foreach (var mode in new[] { ScoringMode.LogLikelihood, ScoringMode.NextToken })
        {
            var together = scorer.Score(prompts, mode);
            for (int p = 0; p < prompts.Count; p++)
            {
                var alone = scorer.Score([prompts[p]], mode).Single();
                Assert.AreEqual(prompts[p].Choices.Count, together[p].Scores.Length);
                Assert.AreEqual(alone.Prediction, together[p].Prediction, $"{mode} prompt {p}");
                for (int c = 0; c < alone.Scores.Length; c++)
                    Assert.AreEqual(alone.Scores[c], together[p].Scores[c], 1e-3 * Math.Max(1, Math.Abs(alone.Scores[c])), $"{mode} prompt {p} choice {c}");
            }
            Assert.AreEqual(0, together[0].Prediction, "a single continuation is the prediction");
        }
    }

    /// <summary>results.json says how many choices each example had and what guessing among them would score.</summary>
    [TestMethod]
    public void ResultsRecordTheChoiceCountsAndTheirChance()
    {
        var examples = new[] { 1, 2, 4, 4 }.Select((n, i) => new ExampleResult("mmlu_pro", "math", "test", "t", i, "", Enumerable.Range(0, n).Select(c => $"{c}").ToList(),
            new double[n], 0, 0, false, Enumerable.Repeat(1, n).ToArray())).ToList();
        var summary = RunSummary.From(new RunOutcome(examples, [], 0, 0, 0));
        var row = summary.Templates.Single();
        CollectionAssert.AreEqual(new[] { KeyValuePair.Create(1, 1), KeyValuePair.Create(2, 1), KeyValuePair.Create(4, 2) }, row.ChoiceCounts.ToArray());
        Assert.AreEqual(1.0, row.Estimate.Accuracy, "a one-option question counts as right when its option is predicted");
    }
}
