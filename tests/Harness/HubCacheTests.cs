using System.Net;
using System.Security.Cryptography;
using Eval.Engine.IO;
using Eval.Harness.Data;
using Eval.Harness.Runs;
using Eval.Harness.Tasks;
using Eval.Models;
using Eval.Tests.Models;
using Eval.Tokenizers;

namespace Eval.Tests.Harness;

/// <summary>
/// Every loader reads through a Hugging Face hub cache as huggingface_hub lays it out (snapshot files are relative links
/// into blobs/): weights in each layout, shard indexes, config, tokenizer files, fairseq checkpoints, datasets,
/// fingerprints; and a link whose blob was deleted is one error naming the link and its target.
/// </summary>
[TestClass]
public sealed class HubCacheTests
{
    private static HubModelStore Offline(string cacheRoot) => new(cacheRoot, "http://127.0.0.1:9", offline: true, token: null, http: null);

    public static IEnumerable<object[]> Layouts => [["safetensors"], ["sharded-safetensors"], ["bin"], ["sharded-bin"]];

    [TestMethod]
    public void LinkedFileMeasuresAndReadsTheTargetNotTheLink()
    {
        var cache = new HubCacheLayout(SharedFixtures.TempDirectory());
        var content = RandomNumberGenerator.GetBytes(5000);
        var link = cache.Add("model.safetensors", content);
        var nested = cache.Add("sub/dir/data.txt", "line 1\nline 2\n"u8.ToArray());

        Assert.IsTrue(new FileInfo(link).Length < 100, "FileInfo.Length is the link's own length on Unix (the bug's cause)");
        Assert.AreEqual(5000, LinkedFile.Length(link));
        CollectionAssert.AreEqual(content, LinkedFile.ReadAllBytes(link));
        using (var mapped = new MappedFile(link)) Assert.AreEqual(5000, mapped.Length);
        Assert.AreEqual(Convert.ToHexStringLower(SHA256.HashData(content)), LinkedFile.FinalTargetName(link));
        Assert.IsNull(LinkedFile.FinalTargetName(cache.BlobOf("model.safetensors")), "a blob is no link");
        Assert.AreEqual("../../../../blobs/" + HubCacheLayout.GitBlobSha1("line 1\nline 2\n"u8.ToArray()), new FileInfo(nested).LinkTarget);
        CollectionAssert.AreEqual(new[] { "line 1", "line 2" }, LinkedFile.ReadLines(nested).ToArray());
        Assert.AreEqual(HubCacheLayout.GitBlobSha1("line 1\nline 2\n"u8.ToArray()), Downloader.GitBlobSha1Of(nested), "the git blob sha1 counts the target's length");
        var copy = Path.Combine(SharedFixtures.TempDirectory(), "copy");
        LinkedFile.Copy(link, copy);
        Assert.IsNull(new FileInfo(copy).LinkTarget, "the content is copied, not the link");
        CollectionAssert.AreEqual(content, File.ReadAllBytes(copy));
        StringAssert.Contains(Assert.ThrowsException<InvalidDataException>(() => LinkedFile.ReadAllBytes(link, maxBytes: 4999, what: "test file")).Message,
            "the test file is 5000 bytes, more than the 4999");

        Assert.IsTrue(LinkedFile.Reaches(link));
        Assert.IsNull(LinkedFile.BrokenLinkMessage(link));
        File.Delete(cache.BlobOf("model.safetensors"));
        Assert.IsFalse(LinkedFile.Reaches(link));
        Assert.IsTrue(File.Exists(link), "File.Exists is true for a broken link: presence and reachability differ");
        var message = Assert.ThrowsException<FileNotFoundException>(() => LinkedFile.OpenRead(link)).Message;
        AssertNamesBrokenLink(message, cache, "model.safetensors");
        Assert.AreEqual(message, LinkedFile.BrokenLinkMessage(link));
        StringAssert.Contains(Assert.ThrowsException<FileNotFoundException>(() => LinkedFile.OpenRead(link + ".none")).Message, "file not found");
    }

    [TestMethod]
    [DynamicData(nameof(Layouts))]
    public void EveryLoaderReadsAModelThroughTheHubCache(string layout)
    {
        var fixture = SharedFixtures.Model("modernbert-tiny");
        var cache = HubCacheLayout.ModernBert(SharedFixtures.TempDirectory(), layout);
        var snapshot = Offline(cache.Root).Resolve("org/tiny");
        Assert.AreEqual(cache.Snapshot, snapshot);
        Assert.IsTrue(Directory.GetFiles(snapshot).All(f => new FileInfo(f).LinkTarget is not null), "every snapshot file is a link");

        // Weights (every shard and index through its link), config and the forward pass: bit-identical to the fixture.
        ConvertTests.AssertSameTensors(fixture, snapshot, layout);
        ConvertTests.AssertSameForward(fixture, snapshot, layout);
        Assert.AreEqual(ModelConfig.Load(Path.Combine(fixture, "config.json")).HiddenSize, ModelConfig.Load(Path.Combine(snapshot, "config.json")).HiddenSize);

        // Tokenizer files: the same ids and special tokens as the folder they came from.
        var tokenizerFolder = Path.Combine(SharedFixtures.Shared, "tokenizers", "modernbert");
        var expected = Tokenizer.Load(tokenizerFolder);
        var actual = Tokenizer.Load(snapshot);
        Assert.AreEqual(expected.Specials, actual.Specials);
        foreach (var text in new[] { "Hello world!", "Answer: [unused0] [MASK]", "Ünïcödé 東京 🙂" })
            CollectionAssert.AreEqual(expected.Encode(text).Ids.ToArray(), actual.Encode(text).Ids.ToArray(), text);

        // Fingerprints: an LFS blob's name is its sha256; other files are hashed through their links.
        var digests = ModelFingerprint.WeightDigests(snapshot);
        foreach (var (name, digest) in digests)
        {
            Assert.AreEqual(Path.GetFileName(cache.BlobOf(name)), digest, name);
            Assert.AreEqual(Downloader.Sha256Of(cache.BlobOf(name)), digest, name);
        }
        Assert.AreEqual(ModelFingerprint.TokenizerDigest(tokenizerFolder), ModelFingerprint.TokenizerDigest(snapshot));

        // convert from the cache copies contents (never links) and gives the same model.
        var converted = Path.Combine(SharedFixtures.TempDirectory(), "converted");
        var summary = ModelFolderConverter.Convert(snapshot, converted);
        CollectionAssert.Contains(summary.CopiedFiles.ToList(), "tokenizer.json");
        Assert.IsTrue(Directory.GetFiles(converted).All(f => new FileInfo(f).LinkTarget is null), "no links in the converted folder");
        ConvertTests.AssertSameTensors(fixture, converted, $"{layout} converted");
    }

    [TestMethod]
    public void FilesInASnapshotSubfolderLinkThreeLevelsUp()
    {
        var cache = new HubCacheLayout(SharedFixtures.TempDirectory());
        var fixture = SharedFixtures.Model("xlmr-tiny");
        cache.AddFolder(fixture, under: "encoder/", include: n => n != "golden.safetensors");
        cache.AddFolder(Path.Combine(SharedFixtures.Shared, "tokenizers", "modernbert"), under: "encoder/tokenizer/");
        StringAssert.StartsWith(new FileInfo(Path.Combine(cache.Snapshot, "encoder", "model.safetensors")).LinkTarget, "../../../blobs/");
        StringAssert.StartsWith(new FileInfo(Path.Combine(cache.Snapshot, "encoder", "tokenizer", "tokenizer.json")).LinkTarget, "../../../../blobs/");

        var folder = Path.Combine(cache.Snapshot, "encoder");
        ConvertTests.AssertSameTensors(fixture, folder, "subfolder");
        using var backend = new Eval.Engine.Cpu.CpuBackend(1);
        using var model = ModelLoader.Load(folder, backend);
        Assert.AreEqual(1000, model.Config.VocabSize);
        Assert.AreEqual(Tokenizer.Load(Path.Combine(SharedFixtures.Shared, "tokenizers", "modernbert")).Encode("a test").Ids.Count,
            Tokenizer.Load(Path.Combine(folder, "tokenizer")).Encode("a test").Ids.Count);
    }

    [TestMethod]
    public void FairseqCheckpointsDictionariesAndDatasetsReadThroughLinks()
    {
        var cache = new HubCacheLayout(SharedFixtures.TempDirectory(), "org/fairseq");
        cache.AddFolder(SharedFixtures.Checkpoint("xlmr-tiny-fairseq"), include: n => n != "golden.safetensors");
        using (var fairseq = FairseqCheckpoint.Open(Path.Combine(cache.Snapshot, "model.pt")))
        using (var direct = FairseqCheckpoint.Open(Path.Combine(SharedFixtures.Checkpoint("xlmr-tiny-fairseq"), "model.pt")))
            Assert.AreEqual(direct.Config.HiddenSize, fairseq.Config.HiddenSize);
        Assert.AreEqual(FairseqDictionary.Load(Path.Combine(SharedFixtures.Checkpoint("xlmr-tiny-fairseq"), "dict.txt")).Symbols.Count,
            FairseqDictionary.Load(Path.Combine(cache.Snapshot, "dict.txt")).Symbols.Count);

        // A --data-dir whose file is a link (a dataset kept in a hub cache, or linked in by hand).
        var dataDir = SharedFixtures.TempDirectory();
        var original = Path.Combine(SharedFixtures.Shared, "datasets", "xcopa", "data", "et", "test.et.jsonl");
        Assert.IsTrue(File.Exists(original), original);
        var data = new HubCacheLayout(SharedFixtures.TempDirectory(), "datasets/xcopa");
        var linked = data.AddFile("test.et.jsonl", original);
        var inDataDir = Path.Combine(dataDir, "xcopa", "data", "et", "test.et.jsonl");
        Directory.CreateDirectory(Path.GetDirectoryName(inDataDir)!);
        File.CreateSymbolicLink(inDataDir, linked);
        var task = TaskRegistry.LoadTask(Path.Combine(SharedFixtures.ProjectRoot, "prompts", "xcopa.yaml"));
        var viaLink = new DatasetStore([dataDir], Path.Combine(dataDir, "cache"), downloader: null).Load(task, "et", "test");
        var direct2 = new DatasetStore([Path.Combine(SharedFixtures.Shared, "datasets")], Path.Combine(dataDir, "cache"), downloader: null).Load(task, "et", "test");
        Assert.AreEqual(direct2.Documents.Count, viaLink.Documents.Count);
        Assert.AreEqual(direct2.Sha256, viaLink.Sha256);

        File.Delete(data.BlobOf("test.et.jsonl"));
        var e = Assert.ThrowsException<FileNotFoundException>(() => new DatasetStore([dataDir], Path.Combine(dataDir, "cache"), downloader: null).Load(task, "et", "test"));
        // The data folder's link reaches the cache's link, whose blob is gone: the error names the link that is broken.
        StringAssert.Contains(e.Message, linked);
        StringAssert.Contains(e.Message, "which does not exist");
    }

    [TestMethod]
    public void ABrokenLinkNamesTheLinkAndItsTargetWhereverItIsRead()
    {
        foreach (var (layout, file) in new[] { ("safetensors", Checkpoint.SingleFile), ("sharded-safetensors", "model-00002-of-*.safetensors"),
                     ("sharded-safetensors", Checkpoint.IndexFile), ("bin", Checkpoint.PytorchFile), ("sharded-bin", "pytorch_model-00002-of-00002.bin"),
                     ("sharded-bin", Checkpoint.PytorchIndexFile), ("safetensors", "config.json"), ("safetensors", "tokenizer.json"),
                     ("safetensors", "tokenizer_config.json") })
        {
            var cache = HubCacheLayout.ModernBert(SharedFixtures.TempDirectory(), layout);
            var name = Path.GetFileName(Directory.GetFiles(cache.Snapshot, file).Single());
            File.Delete(cache.BlobOf(name));

            // Offline, the hub store names the link that lost its blob (every file loading reads is checked).
            AssertNamesBrokenLink(Assert.ThrowsException<FileNotFoundException>(() => Offline(cache.Root).Resolve("org/tiny")).Message, cache, name);

            // Read directly (--model pointing at the snapshot folder), each reader names it too.
            Exception error = name switch
            {
                "tokenizer.json" or "tokenizer_config.json" => Assert.ThrowsException<FileNotFoundException>(() => Tokenizer.Load(cache.Snapshot)),
                "config.json" => Assert.ThrowsException<FileNotFoundException>(() => ModelConfig.Load(Path.Combine(cache.Snapshot, name))),
                _ => Assert.ThrowsException<FileNotFoundException>(() =>
                {
                    using var backend = new Eval.Engine.Cpu.CpuBackend(1);
                    ModelLoader.Load(cache.Snapshot, backend).Dispose();
                }),
            };
            AssertNamesBrokenLink(error.Message, cache, name);
            if (HubCacheLayout.IsLfs(name))
                AssertNamesBrokenLink(Assert.ThrowsException<FileNotFoundException>(() => ModelFingerprint.FileDigest(Path.Combine(cache.Snapshot, name))).Message, cache, name);
        }
    }

    [TestMethod]
    public void ADeletedBlobIsDownloadedAgainAndPytorchWeightsAreFetched()
    {
        // The hub serves the sharded .bin layout only (no safetensors): the store fetches the index, then its shards.
        var source = HubCacheLayout.ModernBert(SharedFixtures.TempDirectory(), "sharded-bin", "org/source");
        using var server = new LoopbackServer();
        foreach (var link in Directory.GetFiles(source.Snapshot))
        {
            var name = Path.GetFileName(link);
            var bytes = File.ReadAllBytes(link);
            var etag = Path.GetFileName(source.BlobOf(name));
            var headers = new Dictionary<string, string> { ["X-Repo-Commit"] = HubCacheLayout.Commit, [HubCacheLayout.IsLfs(name) ? "X-Linked-Etag" : "ETag"] = $"\"{etag}\"" };
            server.Add($"/org/tiny/resolve/main/{name}", bytes, headers);
            server.Add($"/org/tiny/resolve/{HubCacheLayout.Commit}/{name}", bytes, headers);
        }
        var root = SharedFixtures.TempDirectory();
        using var http = new HttpClient();
        var store = new HubModelStore(root, server.Url, offline: false, token: null, http);
        var snapshot = store.Resolve("org/tiny");
        CollectionAssert.AreEquivalent(Directory.GetFiles(source.Snapshot).Select(Path.GetFileName).ToList(), Directory.GetFiles(snapshot).Select(Path.GetFileName).ToList());
        Assert.IsTrue(server.Requests.Any(r => r.EndsWith("/pytorch_model.bin.index.json", StringComparison.Ordinal)));
        ConvertTests.AssertSameTensors(SharedFixtures.Model("modernbert-tiny"), snapshot, "downloaded .bin shards");

        // A blob deleted from the cache: offline names it; online it is fetched again and the link reaches it.
        var shard = Path.Combine(snapshot, "pytorch_model-00001-of-00002.bin");
        var blob = Path.GetFullPath(new FileInfo(shard).LinkTarget!, snapshot);
        File.Delete(blob);
        StringAssert.Contains(Assert.ThrowsException<FileNotFoundException>(() => new HubModelStore(root, server.Url, offline: true, token: null, null).Resolve("org/tiny")).Message,
            shard);
        Assert.AreEqual(snapshot, store.Resolve("org/tiny"));
        Assert.IsTrue(File.Exists(blob) && LinkedFile.Reaches(shard));
        ConvertTests.AssertSameTensors(SharedFixtures.Model("modernbert-tiny"), snapshot, "after the blob came back");
    }

    /// <summary>One line naming the link (snapshot path) and its target as written (../../blobs/HASH).</summary>
    internal static void AssertNamesBrokenLink(string message, HubCacheLayout cache, string file)
    {
        var link = Path.Combine(cache.Snapshot, file);
        StringAssert.Contains(message, link, file);
        StringAssert.Contains(message, new FileInfo(link).LinkTarget!, file);
        StringAssert.Contains(message, "which does not exist", file);
        Assert.IsFalse(message.Contains('\n'), $"{file}: one line: {message}");
    }
}
