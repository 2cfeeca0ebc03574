using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Eval.Harness.Data;
using Eval.Harness.Tasks;

namespace Eval.Tests.Harness;

/// <summary>A loopback HTTP server with fixed responses, standing in for GitHub, dl.fbaipublicfiles.com and the hub.</summary>
internal sealed class LoopbackServer : IDisposable
{
    private readonly HttpListener listener = new();
    private readonly Dictionary<string, Func<HttpListenerRequest, (int Status, Dictionary<string, string> Headers, byte[] Body)>> routes = [];
    private readonly Task loop;

    public LoopbackServer()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        Url = $"http://127.0.0.1:{port}";
        listener.Prefixes.Add(Url + "/");
        listener.Start();
        loop = Task.Run(Serve);
    }

    public string Url { get; }
    public List<string> Requests { get; } = [];

    public void Add(string path, byte[] body, Dictionary<string, string>? headers = null, int status = 200) =>
        routes[path] = _ => (status, headers ?? [], body);

    private async Task Serve()
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await listener.GetContextAsync(); }
            catch (Exception) { return; }
            var path = context.Request.Url!.AbsolutePath;
            lock (Requests) Requests.Add($"{context.Request.HttpMethod} {path}");
            var (status, headers, body) = routes.TryGetValue(path, out var route) ? route(context.Request) : (404, [], Encoding.UTF8.GetBytes("not found"));
            context.Response.StatusCode = status;
            foreach (var (k, v) in headers)
                if (k == "Location") context.Response.RedirectLocation = v;
                else context.Response.Headers[k] = v;
            context.Response.ContentLength64 = body.Length;
            if (context.Request.HttpMethod != "HEAD") await context.Response.OutputStream.WriteAsync(body);
            context.Response.Close();
        }
    }

    public void Dispose()
    {
        listener.Stop();
        listener.Close();
        loop.Wait(TimeSpan.FromSeconds(5));
    }
}

[TestClass]
public sealed class DownloadTests
{
    private static string Sha256(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    private static TaskDefinition TaskWith(string dir, string sources)
    {
        var file = Path.Combine(dir, "t.yaml");
        File.WriteAllText(file, $"task: t\nsubsets: [et, en]\nsplits: [test, validation]\ndefault_split: test\nsources:\n{sources}\ngold: \"{{{{ label }}}}\"\n" +
                                "templates:\n  - name: x\n    answer_choices: \"{{choice1}} ||| {{choice2}}\"\n    jinja: \"{{ premise }}\"\n");
        return TaskRegistry.LoadTask(file);
    }

    [TestMethod]
    public void DownloadsPinnedFilesAndRefusesAChangedOne()
    {
        using var server = new LoopbackServer();
        var good = Encoding.UTF8.GetBytes("{\"premise\": \"P.\", \"choice1\": \"A.\", \"choice2\": \"B.\", \"question\": \"cause\", \"label\": 0, \"idx\": 0}\n");
        server.Add("/data/et/test.et.jsonl", good);
        server.Add("/data/en/test.en.jsonl", good.Concat(good).ToArray());
        var dir = SharedFixtures.TempDirectory();
        var task = TaskWith(dir, $"  - format: xcopa-jsonl\n    path: \"xcopa/{{subset}}/{{split}}.{{subset}}.jsonl\"\n    download:\n      url: \"{server.Url}/data/{{subset}}/{{split}}.{{subset}}.jsonl\"\n" +
                                 $"      sha256:\n        xcopa/et/test.et.jsonl: {Sha256(good)}\n        xcopa/en/test.en.jsonl: {Sha256(good)}\n");
        var cache = Path.Combine(dir, "cache");
        using var http = new HttpClient();
        var store = new DatasetStore([], cache, new Downloader(http));

        var et = store.Load(task, "et", "test");
        Assert.AreEqual(1, et.Documents.Count);
        Assert.AreEqual(Path.Combine(cache, "xcopa/et/test.et.jsonl"), et.Path);
        store.Load(task, "et", "test");
        Assert.AreEqual(1, server.Requests.Count, "a cached file is not fetched again");

        var e = Assert.ThrowsException<DownloadException>(() => store.Load(task, "en", "test"));
        StringAssert.Contains(e.Message, $"sha256 is {Sha256(good.Concat(good).ToArray())}, expected {Sha256(good)}");
        Assert.IsFalse(Directory.EnumerateFiles(cache, "*", SearchOption.AllDirectories).Any(f => f.Contains("test.en")), "nothing is kept");

        var offline = new DatasetStore([], Path.Combine(dir, "empty"), downloader: null);
        StringAssert.Contains(Assert.ThrowsException<FileNotFoundException>(() => offline.Load(task, "et", "test")).Message, "offline");
    }

    [TestMethod]
    public void UnpacksAPinnedZipAndRecordsUnpinnedDigests()
    {
        using var server = new LoopbackServer();
        var zipBytes = new MemoryStream();
        using (var zip = new ZipArchive(zipBytes, ZipArchiveMode.Create, leaveOpen: true))
        {
            using var w = new StreamWriter(zip.CreateEntry("XNLI-1.0/xnli.dev.tsv").Open());
            w.Write("language\tgold_label\tsentence1\tsentence2\nen\tentailment\tA\tB\net\tneutral\tC\tD\n");
        }
        server.Add("/XNLI-1.0.zip", zipBytes.ToArray());
        var dir = SharedFixtures.TempDirectory();
        var file = Path.Combine(dir, "t.yaml");
        File.WriteAllText(file, "task: t\nsubsets: [en, et]\nsplits: [validation]\ndefault_split: validation\nsources:\n" +
                                $"  - format: xnli-1.0\n    path: \"XNLI-1.0/xnli.{{split}}.tsv\"\n    split_names: {{validation: dev}}\n    download:\n      url: \"{server.Url}/XNLI-1.0.zip\"\n      archive: zip\n      sha256: {Sha256(zipBytes.ToArray())}\n" +
                                "gold: \"{{ label }}\"\ntemplates:\n  - name: x\n    answer_choices: \"a ||| b ||| c\"\n    jinja: \"{{ premise }}\"\n");
        var task = TaskRegistry.LoadTask(file);
        using var http = new HttpClient();
        var store = new DatasetStore([], Path.Combine(dir, "cache"), new Downloader(http));
        Assert.AreEqual("C", store.Load(task, "et", "validation").Documents.Single().Fields["premise"]);
        Assert.AreEqual(0L, store.Load(task, "en", "validation").Documents.Single().Fields["label"]);
        Assert.AreEqual(1, server.Requests.Count);

        // A source without a pin (the XWinograd hub files): the first digest is recorded and later downloads held to it.
        var body = Encoding.UTF8.GetBytes("{\"sentence\": \"_ ran.\", \"option1\": \"A\", \"option2\": \"B\", \"answer\": \"1\"}\n");
        server.Add("/x/test/en.jsonl", body);
        var unpinned = TaskWith(dir, $"  - format: json-lines\n    path: \"x/{{split}}/{{subset}}.jsonl\"\n    download:\n      url: \"{server.Url}/x/{{split}}/{{subset}}.jsonl\"\n");
        var cache2 = Path.Combine(dir, "cache2");
        new DatasetStore([], cache2, new Downloader(http)).Load(unpinned, "en", "test");
        StringAssert.Contains(File.ReadAllText(Path.Combine(cache2, "checksums.json")), Sha256(body));
        File.Delete(Path.Combine(cache2, "x", "test", "en.jsonl"));
        server.Add("/x/test/en.jsonl", Encoding.UTF8.GetBytes("{\"changed\": true}\n"));
        Assert.ThrowsException<DownloadException>(() => new DatasetStore([], cache2, new Downloader(http)).Load(unpinned, "en", "test"));
    }

    [TestMethod]
    public void ResolvesHubIdsThroughTheHuggingFaceCacheLayout()
    {
        using var server = new LoopbackServer();
        const string commit = "0123456789abcdef0123456789abcdef01234567";
        var fixture = SharedFixtures.Model("xlmr-tiny");
        var files = new Dictionary<string, byte[]>
        {
            ["config.json"] = File.ReadAllBytes(Path.Combine(fixture, "config.json")),
            ["tokenizer.json"] = Encoding.UTF8.GetBytes("{\"model\": {}}"),
            ["model.safetensors"] = File.ReadAllBytes(Path.Combine(fixture, "model.safetensors")),
        };
        foreach (var (name, bytes) in files)
        {
            bool lfs = name.EndsWith(".safetensors", StringComparison.Ordinal);
            var etag = lfs ? Sha256(bytes) : Convert.ToHexStringLower(SHA1.HashData(Encoding.ASCII.GetBytes($"blob {bytes.Length}\0").Concat(bytes).ToArray()));
            var headers = new Dictionary<string, string> { ["X-Repo-Commit"] = commit, [lfs ? "X-Linked-Etag" : "ETag"] = $"\"{etag}\"" };
            if (lfs)
            {
                // LFS files redirect to a CDN, as the hub does.
                server.Add($"/org/tiny/resolve/main/{name}", [], new(headers) { ["Location"] = $"{server.Url}/cdn/{etag}" }, 302);
                server.Add($"/org/tiny/resolve/{commit}/{name}", [], new(headers) { ["Location"] = $"{server.Url}/cdn/{etag}" }, 302);
                server.Add($"/cdn/{etag}", bytes);
            }
            else
            {
                server.Add($"/org/tiny/resolve/main/{name}", bytes, headers);
                server.Add($"/org/tiny/resolve/{commit}/{name}", bytes, headers);
            }
        }
        var cache = SharedFixtures.TempDirectory();
        using var http = new HttpClient();
        var snapshot = new HubModelStore(cache, server.Url, offline: false, token: null, http).Resolve("org/tiny");
        Assert.AreEqual(Path.Combine(cache, "models--org--tiny", "snapshots", commit), snapshot);
        Assert.AreEqual(commit, File.ReadAllText(Path.Combine(cache, "models--org--tiny", "refs", "main")));
        CollectionAssert.AreEqual(files["model.safetensors"], File.ReadAllBytes(Path.Combine(snapshot, "model.safetensors")));
        Assert.IsNotNull(new FileInfo(Path.Combine(snapshot, "model.safetensors")).LinkTarget, "snapshot files link into blobs/");
        Assert.IsTrue(File.Exists(Path.Combine(cache, "models--org--tiny", "blobs", Sha256(files["model.safetensors"]))));

        int requests = server.Requests.Count;
        Assert.AreEqual(snapshot, new HubModelStore(cache, server.Url, offline: true, token: null, null).Resolve("org/tiny"), "offline reads the cache");
        Assert.AreEqual(requests, server.Requests.Count);
        StringAssert.Contains(Assert.ThrowsException<FileNotFoundException>(() =>
            new HubModelStore(SharedFixtures.TempDirectory(), server.Url, offline: true, token: null, null).Resolve("org/tiny")).Message, "HF_HUB_OFFLINE");

        // A corrupted CDN copy is refused and nothing is linked.
        server.Add($"/cdn/{Sha256(files["model.safetensors"])}", [1, 2, 3]);
        var other = SharedFixtures.TempDirectory();
        StringAssert.Contains(Assert.ThrowsException<DownloadException>(() =>
            new HubModelStore(other, server.Url, offline: false, token: null, http).Resolve("org/tiny")).Message, "sha256");
        Assert.IsFalse(File.Exists(Path.Combine(other, "models--org--tiny", "snapshots", commit, "model.safetensors")));
        StringAssert.Contains(Assert.ThrowsException<FileNotFoundException>(() =>
            new HubModelStore(other, server.Url, offline: false, token: null, http).Resolve("org/missing")).Message, "no config.json");
    }
}
