using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Eval.Harness.Data;
using Eval.Harness.Tasks;

namespace Eval.Tests.Harness;

/// <summary>
/// Datasets from hub dataset repositories: parquet files read as documents, found in (or downloaded into) the hub
/// cache's datasets--org--name layout, each held to its pinned or first-seen sha256.
/// </summary>
[TestClass]
public sealed class HubDatasetTests
{
    private const string Commit = "89abcdef0123456789abcdef0123456789abcdef";

    private static string Sha256(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    private static readonly IReadOnlyList<ParquetFiles.MmluProRow> Rows =
    [
        new(1, "First?", ["a", "b", "c", "d"], "C", 2, "math"),
        new(2, "Only one option?", ["yes"], "A", 0, "law"),
        new(3, "Second?", Enumerable.Range(0, 10).Select(i => $"o{i}").ToList(), "J", 9, "math"),
        new(4, "Third?", ["p", "q"], "B", 1, "computer science"),
    ];

    [TestMethod]
    public void ParquetRowsReadAsTheSameDocumentsAsTheirJsonLines()
    {
        var dir = SharedFixtures.TempDirectory();
        var parquet = Path.Combine(dir, "test.parquet");
        var jsonl = Path.Combine(dir, "test.jsonl");
        File.WriteAllBytes(parquet, ParquetFiles.MmluPro(Rows));
        File.WriteAllText(jsonl, ParquetFiles.MmluProJsonLines(Rows));
        foreach (var subset in new[] { "math", "law", "computer_science" })
        {
            var fromParquet = DatasetReaders.Read("mmlu-pro-parquet", parquet, subset);
            var fromJson = DatasetReaders.Read("mmlu-pro-jsonl", jsonl, subset);
            Assert.AreEqual(fromJson.Count, fromParquet.Count, subset);
            for (int i = 0; i < fromJson.Count; i++)
                foreach (var key in new[] { "question_id", "question", "answer", "answer_index", "category", "src" })
                    Assert.AreEqual(fromJson[i].Fields[key], fromParquet[i].Fields[key], $"{subset} {i} {key}");
            for (int i = 0; i < fromJson.Count; i++)
                CollectionAssert.AreEqual(((IReadOnlyList<object?>)fromJson[i].Fields["options"]!).ToArray(), ((IReadOnlyList<object?>)fromParquet[i].Fields["options"]!).ToArray());
        }
        Assert.AreEqual($"{parquet} row 2", DatasetReaders.Read("mmlu-pro-parquet", parquet, "law").Single().Origin);
    }

    [TestMethod]
    public void PlainParquetColumnsPassThroughOverSeveralRowGroups()
    {
        var path = Path.Combine(SharedFixtures.TempDirectory(), "t.parquet");
        File.WriteAllBytes(path, ParquetFiles.Write(
        [
            new("question", typeof(string), ["q0", "q1", "", "q3", "q4"]),
            new("choices", typeof(string), [new[] { "a", "b" }, new[] { "c" }, new[] { "d", "e", "f" }, new string?[] { "g", null }, new[] { "h" }], IsList: true),
            new("answer", typeof(long), [0L, null, 2L, 1L, 0L]),
            new("small", typeof(int), [1, 2, 3, 4, -5]),
            new("changed", typeof(bool), [true, false, true, false, true]),
            new("score", typeof(double), [0.5, 1.5, -2.0, 0.0, 1e300]),
        ], rowGroups: 2));
        var docs = DatasetReaders.Read("parquet", path, "any");
        Assert.AreEqual(5, docs.Count);
        CollectionAssert.AreEqual(new object?[] { "q0", "q1", "", "q3", "q4" }, docs.Select(d => d.Fields["question"]).ToArray());
        CollectionAssert.AreEqual(new object?[] { 0L, null, 2L, 1L, 0L }, docs.Select(d => d.Fields["answer"]).ToArray());
        CollectionAssert.AreEqual(new object?[] { 1L, 2L, 3L, 4L, -5L }, docs.Select(d => d.Fields["small"]).ToArray());
        CollectionAssert.AreEqual(new object?[] { true, false, true, false, true }, docs.Select(d => d.Fields["changed"]).ToArray());
        CollectionAssert.AreEqual(new object?[] { 0.5, 1.5, -2.0, 0.0, 1e300 }, docs.Select(d => d.Fields["score"]).ToArray());
        Assert.AreEqual("d|e|f", string.Join("|", (IReadOnlyList<object?>)docs[2].Fields["choices"]!));
        CollectionAssert.AreEqual(new object?[] { "g", null }, ((IReadOnlyList<object?>)docs[3].Fields["choices"]!).ToArray());
        CollectionAssert.AreEqual(Enumerable.Range(0, 5).ToArray(), docs.Select(d => d.Index).ToArray());
        Assert.AreEqual($"{path} row 5", docs[4].Origin);
    }

    [TestMethod]
    public void ABadParquetFileIsAOneLineErrorNamingIt()
    {
        var dir = SharedFixtures.TempDirectory();
        string Write(string name, byte[] bytes)
        {
            var path = Path.Combine(dir, name);
            File.WriteAllBytes(path, bytes);
            return path;
        }
        var good = ParquetFiles.MmluPro(Rows);
        var cases = new (string Path, string Format, string Message)[]
        {
            (Write("text.parquet", Encoding.UTF8.GetBytes("question,answer\n")), "parquet", "not a parquet file"),
            (Write("cut.parquet", good[..(good.Length / 2)]), "parquet", "not a parquet file"),
            (Write("footer.parquet", [.. good[..^12], 0xFF, 0xFF, 0xFF, 0x7F, .. good[^8..]]), "parquet", ": footer: "),
            (Write("date.parquet", ParquetFiles.Write([new("when", typeof(DateTime), [DateTime.UnixEpoch])])), "parquet", "column 'when' holds DateTime values"),
            (Write("letter.parquet", ParquetFiles.MmluPro([Rows[0], Rows[1] with { Answer = "B" }])), "mmlu-pro-parquet", "row 2: answer 'B' is beyond the question's 1 option(s) (A)"),
            (Write("null-option.parquet", ParquetFiles.MmluPro([Rows[0] with { Options = ["a", null!] }])), "mmlu-pro-parquet", "row 1: option B is null, not text"),
            (Write("category.parquet", ParquetFiles.MmluPro([Rows[0] with { Category = "Math" }])), "mmlu-pro-parquet", "row 1: unknown category 'Math'"),
        };
        foreach (var (path, format, message) in cases)
        {
            var e = Assert.ThrowsException<DatasetFormatException>(() => DatasetReaders.Read(format, path, "math"), path);
            StringAssert.StartsWith(e.Message, path);
            StringAssert.Contains(e.Message, message);
            Assert.IsFalse(e.Message.Contains('\n'), e.Message);
        }
    }

    private static TaskDefinition TaskWith(string dir, string hub) 
    {
        var file = Path.Combine(dir, "mp.yaml");
        File.WriteAllText(file, "task: mp\nsubset_kind: category\nsubsets: [math, law, computer_science]\nsplits: [test]\ndefault_split: test\nsources:\n" +
                                $"  - format: mmlu-pro-parquet\n    path: \"data/{{split}}-00000-of-00001.parquet\"\n    hub:\n{hub}" +
                                "gold: \"{{ answer_index }}\"\ntemplates:\n  - name: x\n    answer_choices: \"{% for o in options %}{{ 'ABCDEFGHIJ'[loop.index0] }}{% if not loop.last %} ||| {% endif %}{% endfor %}\"\n" +
                                "    jinja: \"{{ question }}\"\n");
        return TaskRegistry.LoadTask(file);
    }

    /// <summary>The hub's answers for a dataset file: HEAD with commit and LFS ETag, a redirect to the CDN, the CDN's bytes.</summary>
    private static void Serve(LoopbackServer server, string repo, string revision, string file, byte[] bytes)
    {
        var headers = new Dictionary<string, string> { ["X-Repo-Commit"] = Commit, ["X-Linked-Etag"] = $"\"{Sha256(bytes)}\"", ["Location"] = $"{server.Url}/cdn/{Sha256(bytes)}" };
        server.Add($"/datasets/{repo}/resolve/{revision}/{file}", [], headers, 302);
        server.Add($"/datasets/{repo}/resolve/{Commit}/{file}", [], headers, 302);
        server.Add($"/cdn/{Sha256(bytes)}", bytes);
    }

    [TestMethod]
    public void DownloadsAPinnedHubFileIntoTheCacheLayoutAndReadsItOfflineAfterwards()
    {
        using var server = new LoopbackServer();
        var bytes = ParquetFiles.MmluPro(Rows);
        Serve(server, "org/mmlu-pro", Commit, "data/test-00000-of-00001.parquet", bytes);
        var dir = SharedFixtures.TempDirectory();
        var task = TaskWith(dir, $"      repo: org/mmlu-pro\n      revision: {Commit}\n      sha256:\n        data/test-00000-of-00001.parquet: {Sha256(bytes)}\n");
        var hubCache = Path.Combine(dir, "hub");
        using var http = new HttpClient();
        var store = new DatasetStore([], Path.Combine(dir, "data"), new Downloader(http), hub: new HubModelStore(hubCache, server.Url, offline: false, token: null, http));

        var math = store.Load(task, "math", "test");
        Assert.AreEqual(2, math.Documents.Count);
        Assert.AreEqual((true, $"hf://datasets/org/mmlu-pro@{Commit}/data/test-00000-of-00001.parquet"), (math.Sha256Pinned!.Value, math.HubFile));
        var snapshotFile = Path.Combine(hubCache, "datasets--org--mmlu-pro", "snapshots", Commit, "data", "test-00000-of-00001.parquet");
        Assert.AreEqual(snapshotFile, math.Path);
        Assert.AreEqual(Path.Combine("..", "..", "..", "blobs", Sha256(bytes)), new FileInfo(snapshotFile).LinkTarget, "a relative link into blobs/, as huggingface_hub makes");
        Assert.AreEqual(Sha256(bytes), math.Sha256);

        int requests = server.Requests.Count;
        var offline = new DatasetStore([], Path.Combine(dir, "data"), downloader: null, hub: new HubModelStore(hubCache, server.Url, offline: true, token: null, null));
        Assert.AreEqual(1, offline.Load(task, "law", "test").Documents.Count);
        Assert.AreEqual("Third?", offline.Load(task, "computer_science", "test").Documents.Single().Fields["question"]);
        Assert.AreEqual(requests, server.Requests.Count, "the cached file is read without the network");
        StringAssert.Contains(Assert.ThrowsException<FileNotFoundException>(() =>
            new DatasetStore([], Path.Combine(dir, "data2"), downloader: null, hub: new HubModelStore(Path.Combine(dir, "empty"), server.Url, offline: true, token: null, null))
                .Load(task, "math", "test")).Message, "datasets--org--mmlu-pro");
    }

    [TestMethod]
    public void AHubFileThatIsNotThePinnedOneIsRefusedAndNotKept()
    {
        using var server = new LoopbackServer();
        var bytes = ParquetFiles.MmluPro(Rows);
        Serve(server, "org/mmlu-pro", "main", "data/test-00000-of-00001.parquet", bytes);
        var dir = SharedFixtures.TempDirectory();
        var pin = new string('0', 64);
        var task = TaskWith(dir, $"      repo: org/mmlu-pro\n      revision: main\n      sha256:\n        data/test-00000-of-00001.parquet: {pin}\n");
        using var http = new HttpClient();
        var hubCache = Path.Combine(dir, "hub");
        var store = new DatasetStore([], Path.Combine(dir, "data"), new Downloader(http), hub: new HubModelStore(hubCache, server.Url, offline: false, token: null, http));
        var e = Assert.ThrowsException<DownloadException>(() => store.Load(task, "math", "test"));
        StringAssert.Contains(e.Message, $"sha256 is {Sha256(bytes)}, expected {pin} (pinned in the task file); the file was not kept");
        Assert.IsFalse(Directory.EnumerateFiles(hubCache, "*", SearchOption.AllDirectories).Any(f => f.Contains("parquet") || f.Contains(Sha256(bytes))),
            "neither the snapshot link nor the blob is left");
    }

    [TestMethod]
    public void AnUnpinnedHubFileIsHeldToItsFirstDownload()
    {
        using var server = new LoopbackServer();
        var first = ParquetFiles.MmluPro(Rows);
        var changed = ParquetFiles.MmluPro(Rows.Take(3).ToList());
        var dir = SharedFixtures.TempDirectory();
        var task = TaskWith(dir, "      repo: org/mmlu-pro\n      revision: main\n");
        using var http = new HttpClient();
        var dataCache = Path.Combine(dir, "data");
        Serve(server, "org/mmlu-pro", "main", "data/test-00000-of-00001.parquet", first);
        var loaded = new DatasetStore([], dataCache, new Downloader(http), hub: new HubModelStore(Path.Combine(dir, "hub1"), server.Url, offline: false, token: null, http))
            .Load(task, "math", "test");
        Assert.AreEqual(false, loaded.Sha256Pinned);
        var recorded = JsonNode.Parse(File.ReadAllText(Path.Combine(dataCache, "checksums.json")))!;
        Assert.AreEqual(Sha256(first), recorded["hf://datasets/org/mmlu-pro@main/data/test-00000-of-00001.parquet"]!.GetValue<string>());

        // The branch moves on: a fresh hub cache downloads the new file, which the record refuses.
        Serve(server, "org/mmlu-pro", "main", "data/test-00000-of-00001.parquet", changed);
        var e = Assert.ThrowsException<DownloadException>(() =>
            new DatasetStore([], dataCache, new Downloader(http), hub: new HubModelStore(Path.Combine(dir, "hub2"), server.Url, offline: false, token: null, http))
                .Load(task, "math", "test"));
        StringAssert.Contains(e.Message, $"expected {Sha256(first)} (recorded at its first download in");
    }

    /// <summary>A dataset blob deleted from the hub cache: offline, one line naming the snapshot link and its target; online, fetched again.</summary>
    [TestMethod]
    public void ADeletedDatasetBlobIsNamedOfflineAndFetchedAgainOnline()
    {
        using var server = new LoopbackServer();
        var bytes = ParquetFiles.MmluPro(Rows);
        Serve(server, "org/mmlu-pro", Commit, "data/test-00000-of-00001.parquet", bytes);
        var dir = SharedFixtures.TempDirectory();
        var task = TaskWith(dir, $"      repo: org/mmlu-pro\n      revision: {Commit}\n      sha256:\n        data/test-00000-of-00001.parquet: {Sha256(bytes)}\n");
        var hubCache = Path.Combine(dir, "hub");
        using var http = new HttpClient();
        DatasetStore Online() => new([], Path.Combine(dir, "data"), new Downloader(http), hub: new HubModelStore(hubCache, server.Url, offline: false, token: null, http));
        var link = Online().Load(task, "math", "test").Path;
        var blob = Path.Combine(hubCache, "datasets--org--mmlu-pro", "blobs", Sha256(bytes));
        File.Delete(blob);

        var e = Assert.ThrowsException<FileNotFoundException>(() =>
            new DatasetStore([], Path.Combine(dir, "data"), downloader: null, hub: new HubModelStore(hubCache, server.Url, offline: true, token: null, null)).Load(task, "math", "test"));
        StringAssert.Contains(e.Message, $"{link}: a link to {new FileInfo(link).LinkTarget}");
        StringAssert.Contains(e.Message, "which does not exist");
        Assert.IsFalse(e.Message.Contains('\n'), e.Message);

        Assert.AreEqual(2, Online().Load(task, "math", "test").Documents.Count);
        Assert.IsTrue(File.Exists(blob), "the blob was fetched again");
    }

    /// <summary>A hub cache laid out by hand as huggingface_hub writes it: refs/main, a snapshot whose files are relative links into blobs/.</summary>
    [TestMethod]
    public void ReadsAFileThroughARealHubCacheLayoutOffline()
    {
        var dir = SharedFixtures.TempDirectory();
        var bytes = ParquetFiles.MmluPro(Rows);
        var repo = Path.Combine(dir, "hub", "datasets--org--mmlu-pro");
        Directory.CreateDirectory(Path.Combine(repo, "blobs"));
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        Directory.CreateDirectory(Path.Combine(repo, "snapshots", Commit, "data"));
        File.WriteAllBytes(Path.Combine(repo, "blobs", Sha256(bytes)), bytes);
        File.WriteAllText(Path.Combine(repo, "refs", "main"), Commit);
        File.CreateSymbolicLink(Path.Combine(repo, "snapshots", Commit, "data", "test-00000-of-00001.parquet"), Path.Combine("..", "..", "..", "blobs", Sha256(bytes)));

        var task = TaskWith(dir, $"      repo: org/mmlu-pro\n      revision: main\n      sha256:\n        data/test-00000-of-00001.parquet: {Sha256(bytes)}\n");
        var store = new DatasetStore([], Path.Combine(dir, "data"), downloader: null, hub: new HubModelStore(Path.Combine(dir, "hub"), "http://127.0.0.1:9", offline: true, token: null, null));
        var math = store.Load(task, "math", "test");
        Assert.AreEqual(2, math.Documents.Count);
        Assert.AreEqual(Sha256(bytes), math.Sha256);
        Assert.IsTrue(math.Sha256Pinned!.Value);

        // The same layout with another blob behind the link: refused, and the user's cache is left as it is.
        var other = ParquetFiles.MmluPro(Rows.Take(2).ToList());
        File.WriteAllBytes(Path.Combine(repo, "blobs", Sha256(bytes)), other);
        var e = Assert.ThrowsException<DownloadException>(() =>
            new DatasetStore([], Path.Combine(dir, "data"), downloader: null, hub: new HubModelStore(Path.Combine(dir, "hub"), "http://127.0.0.1:9", offline: true, token: null, null))
                .Load(task, "math", "test"));
        StringAssert.Contains(e.Message, "differs");
        Assert.IsTrue(File.Exists(Path.Combine(repo, "blobs", Sha256(bytes))));
    }

    [TestMethod]
    public void ATaskFileHubSourceIsChecked()
    {
        var dir = SharedFixtures.TempDirectory();
        foreach (var (hub, message) in new[]
        {
            ("      repo: not-a-repo\n      revision: main\n", "not of the form org/name"),
            ("      repo: org/x\n      revision: ../../etc\n", "not a branch or commit"),
            ("      repo: org/x\n      revision: main\n      extra: 1\n", "unknown field 'extra'"),
        })
            StringAssert.Contains(Assert.ThrowsException<TaskFileException>(() => TaskWith(dir, hub)).Message, message);
    }

    /// <summary>
    /// `eval` with the data only in a hub cache (HF_HUB_CACHE, HF_HUB_OFFLINE=1) and a task whose hub source pins no
    /// sha256: the run reads the parquet file through the cache's links, and run.json names the hub file, its sha256
    /// and that it was not pinned.
    /// </summary>
    [TestMethod]
    public void AnEvalRunReadsTheHubCacheAndRecordsTheFileInRunJson()
    {
        var dir = SharedFixtures.TempDirectory();
        var bytes = ParquetFiles.MmluPro(Rows);
        var repo = Path.Combine(dir, "hub", "datasets--org--mmlu-pro");
        Directory.CreateDirectory(Path.Combine(repo, "blobs"));
        Directory.CreateDirectory(Path.Combine(repo, "snapshots", Commit, "data"));
        File.WriteAllBytes(Path.Combine(repo, "blobs", Sha256(bytes)), bytes);
        File.CreateSymbolicLink(Path.Combine(repo, "snapshots", Commit, "data", "test-00000-of-00001.parquet"), Path.Combine("..", "..", "..", "blobs", Sha256(bytes)));
        var prompts = Path.Combine(dir, "prompts");
        Directory.CreateDirectory(prompts);
        File.Copy(TaskWith(dir, $"      repo: org/mmlu-pro\n      revision: {Commit}\n").FilePath, Path.Combine(prompts, "mp.yaml"));
        var output = Path.Combine(dir, "run");
        var (code, log) = ProgramProcess.Wait(ProgramProcess.Start(
            ["eval", "--task", "mp", "--model", SharedFixtures.Model("modernbert-tiny"), "--tokenizer", Path.Combine(SharedFixtures.Shared, "tokenizers", "modernbert"),
             "--threads", "1", "--output", output, "--prompts", prompts],
            new Dictionary<string, string> { ["HF_HUB_CACHE"] = Path.Combine(dir, "hub"), ["HF_HUB_OFFLINE"] = "1", ["EVAL_DATA_CACHE"] = Path.Combine(dir, "data") }));
        Assert.AreEqual(0, code, log);
        var data = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "run.json")))!["tasks"]![0]!["data"]!;
        foreach (var (subset, _) in data.AsObject())
        {
            Assert.AreEqual($"hf://datasets/org/mmlu-pro@{Commit}/data/test-00000-of-00001.parquet", data[subset]!["hub_file"]!.GetValue<string>(), subset);
            Assert.AreEqual(Sha256(bytes), data[subset]!["sha256"]!.GetValue<string>());
            Assert.IsFalse(data[subset]!["sha256_pinned"]!.GetValue<bool>());
        }
        Assert.AreEqual(3, data.AsObject().Count);
        var results = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "results.json")))!["results"]!;
        Assert.AreEqual(1, results["mp_law::x"]!["choice_counts"]!["1"]!.GetValue<int>(), "the one-option question is scored and reported");
        Assert.AreEqual(1.0, results["mp_law::x"]!["acc,none"]!.GetValue<double>());
    }
}
