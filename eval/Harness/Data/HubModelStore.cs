using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Eval.Engine.IO;

namespace Eval.Harness.Data;

/// <summary>
/// Resolves a model argument to a local folder: a folder as given, or a Hugging Face hub id ("org/name", with an
/// optional "@revision") through the hub cache layout shared with huggingface_hub: models--org--name/{blobs, refs,
/// snapshots/&lt;commit&gt;}. Honours HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE, HF_ENDPOINT and HF_TOKEN. Missing files are
/// downloaded and checked against the hub's ETag: sha256 for LFS files, the git blob sha1 for the others.
/// </summary>
public sealed partial class HubModelStore(string cacheDirectory, string endpoint, bool offline, string? token, HttpClient? http, Action<string>? log = null)
{
    private static readonly string[] RequiredFiles = ["config.json", "tokenizer.json"];
    private static readonly string[] OptionalFiles = ["tokenizer_config.json", "special_tokens_map.json"];

    public static HubModelStore FromEnvironment(HttpClient? http, Action<string>? log = null)
    {
        var home = Environment.GetEnvironmentVariable("HF_HOME")
                   ?? Path.Combine(Engine.UserCache.Root(), "huggingface");
        var cache = Environment.GetEnvironmentVariable("HF_HUB_CACHE") ?? Path.Combine(home, "hub");
        var offline = Environment.GetEnvironmentVariable("HF_HUB_OFFLINE") is "1" or "true" or "TRUE" or "yes";
        var endpoint = (Environment.GetEnvironmentVariable("HF_ENDPOINT") ?? "https://huggingface.co").TrimEnd('/');
        return new HubModelStore(cache, endpoint, offline, Environment.GetEnvironmentVariable("HF_TOKEN"), offline ? null : http, log);
    }

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
    private static partial Regex HubId();

    public static bool LooksLikeHubId(string model) => HubId().IsMatch(model.Split('@')[0]);

    /// <summary>A model's short name: the last part of a hub id or folder, without its @revision (org/name@v2 → name).</summary>
    public static string ShortName(string model) => Path.GetFileName(Path.TrimEndingDirectorySeparator(model.Split('@')[0]));

    /// <summary>The local folder holding the model's config, tokenizer and weights.</summary>
    public string Resolve(string model)
    {
        if (Directory.Exists(model)) return Path.GetFullPath(model);
        var parts = model.Split('@', 2);
        var (repo, revision) = (parts[0], parts.Length > 1 ? parts[1] : "main");
        if (!LooksLikeHubId(repo))
            throw new DirectoryNotFoundException($"{model}: no such model folder, and not a hub id of the form org/name");
        var repoDir = Path.Combine(cacheDirectory, "models--" + repo.Replace("/", "--"));
        if (CachedSnapshot(repoDir, revision) is { } cached && HasWeights(cached)) return cached;
        if (offline || http is null)
            throw new FileNotFoundException($"{repo}@{revision} is not complete in the hub cache {repoDir}, and downloads are off (--offline or HF_HUB_OFFLINE); {Alternatives}");
        try
        {
            return DownloadAsync(repo, revision, repoDir).GetAwaiter().GetResult();
        }
        catch (HttpRequestException e)
        {
            throw new DownloadException($"{repo}@{revision} is not complete in the hub cache {repoDir}, and {endpoint} cannot be reached ({e.Message}); {Alternatives}", e);
        }
    }

    private const string Alternatives = "pass --model DIR (a local model folder), or run `demo` (offline, random weights)";

    private static string? CachedSnapshot(string repoDir, string revision)
    {
        var snapshot = Path.Combine(repoDir, "snapshots", SnapshotCommit(repoDir, revision));
        return RequiredFiles.All(f => File.Exists(Path.Combine(snapshot, f))) ? snapshot : null;
    }

    private static bool HasWeights(string snapshot)
    {
        if (File.Exists(Path.Combine(snapshot, "model.safetensors"))) return true;
        var index = Path.Combine(snapshot, "model.safetensors.index.json");
        return File.Exists(index) && ShardNames(index).All(s => File.Exists(Path.Combine(snapshot, s)));
    }

    /// <summary>The shard files a model.safetensors.index.json names, read and checked as the checkpoint loader does.</summary>
    private static IEnumerable<string> ShardNames(string indexPath) => Checkpoint.ReadWeightMap(indexPath).Values.Distinct().ToList();

    private async Task<string> DownloadAsync(string repo, string revision, string repoDir)
    {
        string? commit = null;
        // huggingface_hub reads the metadata from the first response: LFS files redirect to a CDN.
        using var noRedirect = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { Timeout = http!.Timeout };
        var downloader = new Downloader(http);
        async Task<bool> Fetch(string file, bool required)
        {
            var got = await FetchFileAsync(noRedirect, downloader, repo, revision, repoDir, file, commit);
            if (got is null)
                return required ? throw new FileNotFoundException($"{endpoint}/{repo}: the repository has no {file} at revision {revision}") : false;
            commit ??= got;
            return true;
        }
        foreach (var f in RequiredFiles) await Fetch(f, true);
        foreach (var f in OptionalFiles) await Fetch(f, false);
        if (!await Fetch("model.safetensors", false))
        {
            if (!await Fetch("model.safetensors.index.json", false))
                throw new FileNotFoundException($"{endpoint}/{repo}: no model.safetensors or model.safetensors.index.json at revision {revision} (only safetensors weights are read)");
            var snapshotIndex = Path.Combine(repoDir, "snapshots", commit!, "model.safetensors.index.json");
            foreach (var shard in ShardNames(snapshotIndex)) await Fetch(shard, true);
        }
        Directory.CreateDirectory(Path.Combine(repoDir, "refs"));
        if (revision != commit) await File.WriteAllTextAsync(Path.Combine(repoDir, "refs", revision), commit);
        return Path.Combine(repoDir, "snapshots", commit!);
    }

    /// <summary>Fetches one file into blobs/ and links it from the snapshot; returns the commit, or null on 404.</summary>
    private async Task<string?> FetchFileAsync(HttpClient noRedirect, Downloader downloader, string repo, string revision, string repoDir, string file, string? commit)
    {
        var url = $"{endpoint}/{repo}/resolve/{commit ?? revision}/{file}";
        using var head = new HttpRequestMessage(HttpMethod.Head, url);
        AddAuth(head);
        using var meta = await noRedirect.SendAsync(head);
        if (meta.StatusCode == HttpStatusCode.NotFound) return null;
        if (meta.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            throw new DownloadException($"{url}: HTTP {(int)meta.StatusCode}; the repository may be gated or private (set HF_TOKEN)");
        if ((int)meta.StatusCode >= 400) throw new DownloadException($"HEAD {url}: HTTP {(int)meta.StatusCode}");
        var repoCommit = Header(meta, "X-Repo-Commit") ?? commit ?? throw new DownloadException($"HEAD {url}: no X-Repo-Commit header");
        var etag = (Header(meta, "X-Linked-Etag") ?? Header(meta, "ETag") ?? throw new DownloadException($"HEAD {url}: no ETag header"))
            .Trim().TrimStart('W', '/').Trim('"');
        var blob = Path.Combine(repoDir, "blobs", etag);
        if (!File.Exists(blob))
        {
            log?.Invoke($"downloading {repo}/{file}");
            var headers = token is null ? null : new Dictionary<string, string> { ["Authorization"] = $"Bearer {token}" };
            await downloader.DownloadAsync(url, blob, path => VerifyEtag(url, path, etag), null, headers);
        }
        var link = Path.Combine(repoDir, "snapshots", repoCommit, file);
        Directory.CreateDirectory(Path.GetDirectoryName(link)!);
        if (File.Exists(link) || new FileInfo(link).LinkTarget is not null) File.Delete(link);
        try
        {
            File.CreateSymbolicLink(link, Path.GetRelativePath(Path.GetDirectoryName(link)!, blob));
        }
        catch (IOException)
        {
            File.Copy(blob, link, overwrite: true);
        }
        return repoCommit;
    }

    private static void VerifyEtag(string url, string path, string etag)
    {
        if (etag.Length == 64) Downloader.ExpectSha256(url, etag)(path);
        else if (etag.Length == 40 && Downloader.GitBlobSha1Of(path) is var sha1 && sha1 != etag)
            throw new DownloadException($"{url}: git blob sha1 is {sha1}, the hub's ETag says {etag}; the file was not kept");
    }

    private void AddAuth(HttpRequestMessage request)
    {
        if (token is not null) request.Headers.TryAddWithoutValidation("Authorization", $"Bearer {token}");
    }

    private static string? Header(HttpResponseMessage r, string name) =>
        r.Headers.TryGetValues(name, out var v) ? v.FirstOrDefault() : r.Content.Headers.TryGetValues(name, out var c) ? c.FirstOrDefault() : null;
}
