using Eval.Harness.Data;

namespace Eval.Tests.Harness;

[TestClass]
public sealed class DatasetTests
{
    private static string Write(string name, string text)
    {
        var path = Path.Combine(SharedFixtures.TempDirectory(), name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    [TestMethod]
    public void ReadsXnliTsvAndTheOriginalRelease()
    {
        var tsv = Write("x.tsv", "id\tpremise\thypothesis\tlabel\n0\tA dog \"barks\".\tAn animal makes noise.\t0\n1\tP2\tH2\t2\n");
        var docs = DatasetReaders.Read("xnli-tsv", tsv, "en");
        Assert.AreEqual(2, docs.Count);
        Assert.AreEqual("A dog \"barks\".", docs[0].Fields["premise"]);
        Assert.AreEqual(2L, docs[1].Fields["label"]);
        Assert.AreEqual($"{tsv}:3", docs[1].Origin);

        var original = Write("xnli.dev.tsv",
            "language\tgold_label\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tpromptID\tpairID\n" +
            "en\tneutral\t-\t-\t-\t-\tS1 en\tS2 en\t1\t1\nfr\tcontradiction\t-\t-\t-\t-\tS1 fr\tS2 fr\t1\t1\nfr\tentailment\t-\t-\t-\t-\tT1 fr\tT2 fr\t2\t2\n");
        var fr = DatasetReaders.Read("xnli-1.0", original, "fr");
        Assert.AreEqual(2, fr.Count);
        Assert.AreEqual(("S1 fr", "S2 fr", 2L), ((string)fr[0].Fields["premise"]!, (string)fr[0].Fields["hypothesis"]!, (long)fr[0].Fields["label"]!));
        Assert.AreEqual(0L, fr[1].Fields["label"]);
        Assert.AreEqual(1L, DatasetReaders.Read("xnli-1.0", original, "en")[0].Fields["label"]);

        var bad = Write("bad.tsv", "id\tpremise\thypothesis\tlabel\n0\tP\tH\t7\n");
        var e = Assert.ThrowsException<DatasetFormatException>(() => DatasetReaders.Read("xnli-tsv", bad, "en"));
        StringAssert.Contains(e.Message, $"{bad}:2: label '7'");
    }

    [TestMethod]
    public void ReadsJsonLinesWithTypesAndReportsBadLines()
    {
        var path = Write("val.et.jsonl",
            "{\"premise\": \"P.\", \"choice1\": \"A.\", \"choice2\": \"B.\", \"question\": \"cause\", \"label\": 1, \"idx\": 0, \"changed\": false}\n\n" +
            "{\"premise\": \"Q.\", \"choice1\": \"C.\", \"choice2\": \"D.\", \"question\": \"effect\", \"label\": 0, \"idx\": 1, \"changed\": true}\n");
        var docs = DatasetReaders.Read("xcopa-jsonl", path, "et");
        Assert.AreEqual(2, docs.Count);
        Assert.AreEqual(1L, docs[0].Fields["label"]);
        Assert.AreEqual(true, docs[1].Fields["changed"]);
        Assert.AreEqual($"{path}:3", docs[1].Origin);

        var bad = Write("bad.jsonl", "{\"a\": 1}\n{\"a\": \n");
        var e = Assert.ThrowsException<DatasetFormatException>(() => DatasetReaders.Read("json-lines", bad, "en"));
        StringAssert.Contains(e.Message, $"{bad}:2: invalid JSON");
    }

    [TestMethod]
    public void ConvertsTheXWinogradTsvToTheHubLayout()
    {
        var path = Write("dataset.tsv",
            "en\tsrc\t?\tBob paid for Al's lunch. He was kind.\t[\"Bob\", \"paid\", \"for\", \"Al\", \"'s\", \"lunch\", \".\", \"He\", \"was\", \"kind\", \".\"]\t[\"He\", [7, 8], [\"He\"]]\t[[\"Bob\", [0, 1], [\"Bob\"], true], [\"Al\", [3, 4], [\"Al\"], false]]\n" +
            "jp\tsrc\t?\t彼は箱を運んだ。\t[\"彼\", \"は\", \"箱\", \"を\", \"運んだ\", \"。\"]\t[\"彼\", [0, 1], [\"彼\"]]\t[[\"男\", [0, 1], [\"男\"], false], [\"女\", [0, 1], [\"女\"], true]]\n");
        var en = DatasetReaders.Read("xwinograd-tsv", path, "en").Single();
        Assert.AreEqual("Bob paid for Al's lunch. _ was kind.", en.Fields["sentence"]);
        Assert.AreEqual(("Bob", "Al", "1"), ((string)en.Fields["option1"]!, (string)en.Fields["option2"]!, (string)en.Fields["answer"]!));
        var jp = DatasetReaders.Read("xwinograd-tsv", path, "jp").Single();
        Assert.AreEqual("_は箱を運んだ。", jp.Fields["sentence"]);
        Assert.AreEqual("2", jp.Fields["answer"]);

        var bad = Write("bad.tsv", "en\ts\t?\tA b.\t[\"A\", \"c\"]\t[\"c\", [1, 2], [\"c\"]]\t[]\n");
        var e = Assert.ThrowsException<DatasetFormatException>(() => DatasetReaders.Read("xwinograd-tsv", bad, "en"));
        StringAssert.Contains(e.Message, $"{bad}:1: pronoun token 1 'c'");
    }

    [TestMethod]
    public void ReadsBothMmluLayouts()
    {
        var headed = Write("anatomy_test.csv", "question,choice0,choice1,choice2,choice3,answer\n\"Which, of these?\",a,b,\"c \"\"quoted\"\"\",d,2\nSecond,e,f,g,h,0\n");
        var docs = DatasetReaders.Read("mmlu-csv", headed, "anatomy");
        Assert.AreEqual(2, docs.Count);
        Assert.AreEqual("Which, of these?", docs[0].Fields["question"]);
        CollectionAssert.AreEqual(new object?[] { "a", "b", "c \"quoted\"", "d" }, ((List<object?>)docs[0].Fields["choices"]!).ToArray());
        Assert.AreEqual(2L, docs[0].Fields["answer"]);
        Assert.AreEqual("anatomy", docs[1].Fields["subject"]);

        var original = Write("anatomy_dev.csv", "Q1,a,b,c,d,D\n\"Multi\nline\",e,f,g,h,B\n");
        var orig = DatasetReaders.Read("mmlu-original", original, "anatomy");
        Assert.AreEqual((3L, 1L), ((long)orig[0].Fields["answer"]!, (long)orig[1].Fields["answer"]!));
        Assert.AreEqual("Multi\nline", orig[1].Fields["question"]);

        var bad = Write("bad_test.csv", "Q1,a,b,c,d,E\n");
        StringAssert.Contains(Assert.ThrowsException<DatasetFormatException>(() => DatasetReaders.Read("mmlu-original", bad, "x")).Message, "answer 'E'");
        var badHeader = Write("h_test.csv", "q,a,b,c,d,answer\n");
        StringAssert.Contains(Assert.ThrowsException<DatasetFormatException>(() => DatasetReaders.Read("mmlu-csv", badHeader, "x")).Message, ":1: header");
    }

    /// <summary>Every file of ../shared/datasets loads through the tasks' own sources, with the row counts of its README.</summary>
    [TestMethod]
    public void LoadsEveryRealFileWithTheDocumentedRowCounts()
    {
        var store = new DatasetStore([Path.Combine(SharedFixtures.Shared, "datasets")], SharedFixtures.TempDirectory(), downloader: null);
        var registry = TemplateTests.Registry;

        var xnli = registry.Get("xnli");
        foreach (var lang in xnli.Subsets)
        {
            Assert.AreEqual(5010, store.Load(xnli, lang, "test").Documents.Count, $"xnli {lang} test");
            Assert.AreEqual(2490, store.Load(xnli, lang, "validation").Documents.Count, $"xnli {lang} validation");
        }
        var xcopa = registry.Get("xcopa");
        foreach (var lang in xcopa.Subsets)
        {
            var test = store.Load(xcopa, lang, "test");
            Assert.AreEqual(500, test.Documents.Count, $"xcopa {lang} test");
            Assert.AreEqual("xcopa-jsonl", test.Format);
            Assert.AreEqual(100, store.Load(xcopa, lang, "validation").Documents.Count, $"xcopa {lang} val");
        }
        var xwinograd = registry.Get("xwinograd");
        var expected = new Dictionary<string, int> { ["en"] = 2325, ["fr"] = 83, ["jp"] = 959, ["pt"] = 263, ["ru"] = 315, ["zh"] = 16 };
        foreach (var (lang, count) in expected)
        {
            var split = store.Load(xwinograd, lang, "test");
            Assert.AreEqual(count, split.Documents.Count, $"xwinograd {lang}");
            Assert.IsTrue(split.Documents.All(d => ((string)d.Fields["sentence"]!).Count(c => c == '_') >= 1), $"every {lang} sentence has its _");
        }
        var mmlu = registry.Get("mmlu");
        Assert.AreEqual(14042, mmlu.Subsets.Sum(s => store.Load(mmlu, s, "test").Documents.Count));
        Assert.AreEqual(285, mmlu.Subsets.Sum(s => store.Load(mmlu, s, "dev").Documents.Count));
        // The original headerless layout (an early snapshot, 14079 test rows) is read by the mmlu-original reader.
        var originalDir = Path.Combine(SharedFixtures.Shared, "datasets", "mmlu-original-format", "test");
        Assert.AreEqual(14079, Directory.EnumerateFiles(originalDir, "*_test.csv")
            .Sum(f => DatasetReaders.Read("mmlu-original", f, Path.GetFileName(f)[..^9]).Count));
        // Validation exists only in the original layout here.
        Assert.AreEqual("mmlu-original", store.Load(mmlu, "anatomy", "validation").Format);
    }

    [TestMethod]
    public void MissingDataOfflineNamesEveryPathTried()
    {
        var store = new DatasetStore([SharedFixtures.TempDirectory()], SharedFixtures.TempDirectory(), downloader: null);
        var e = Assert.ThrowsException<FileNotFoundException>(() => store.Load(TemplateTests.Registry.Get("xcopa"), "et", "test"));
        StringAssert.Contains(e.Message, "xcopa/data/et/test.et.jsonl");
        StringAssert.Contains(e.Message, "offline");
        Assert.ThrowsException<ArgumentException>(() => store.Load(TemplateTests.Registry.Get("xcopa"), "xx", "test"));
    }
}
