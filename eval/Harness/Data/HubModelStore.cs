using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Eval.Engine.IO;

namespace Eval.Harness.Data;

/// <summary>
/// Resolves a model argument to a local folder: a folder as given, or a Hugging Face hub id ("org/name", with an
/// optional "@revision") through the hub cache layout shared with huggingface_hub: models--org--name/{blobs, refs,
/// snapshots/&lt;commit&gt;}. Honours HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE, HF_ENDPOINT and HF_TOKEN. Missing files are
/// downloaded and checked against the hub's ETag: sha256 for LFS files, the git blob sha1 for the others. Snapshot files
/// are relative links into blobs/ (<see cref="LinkedFile"/> reads through them); a link whose blob is gone counts as
/// missing: downloaded again, or, offline, named in the error with its target.
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

    /// <summary>
    /// A --model argument (a folder, or a hub id) as a local folder, as every command resolves it: the hub cache named by
    /// the environment, downloading what it lacks unless <paramref name="offline"/>.
    /// </summary>
    public static string ResolveModel(string model, bool offline, Action<string>? log = null)
    {
        using var http = offline ? null : new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
        return FromEnvironment(http, log).Resolve(model);
    }

    /// <summary>The local folder holding the model's config, tokenizer and weights.</summary>
    public string Resolve(string model)
    {
        if (Directory.Exists(model)) return Path.GetFullPath(model);
        var parts = model.Split('@', 2);
        var (repo, revision) = (parts[0], parts.Length > 1 ? parts[1] : "main");
        if (!LooksLikeHubId(repo))
            throw new DirectoryNotFoundException($"{model}: model folder not found, and not a hub id of the form org/name");
        var repoDir = Path.Combine(cacheDirectory, "models--" + repo.Replace("/", "--"));
        var cached = CachedSnapshot(repoDir, revision);
        if (cached is not null && NeededFiles(cached).All(LinkedFile.Reaches)) return cached;
        if (offline || http is null)
        {
            var broken = cached is null ? null : NeededFiles(cached).Select(LinkedFile.BrokenLinkMessage).FirstOrDefault(m => m is not null);
            throw new FileNotFoundException(broken is null
                ? $"{repo}@{revision} is not complete in the hub cache {repoDir}, and downloads are off (--offline or HF_HUB_OFFLINE); {Alternatives}"
                : $"{repo}@{revision} in the hub cache: {broken}; downloads are off (--offline or HF_HUB_OFFLINE); {Alternatives}");
        }
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

    /// <summary>The snapshot folder a revision (a branch or tag in refs/, or a commit) names, when there is one.</summary>
    private static string? CachedSnapshot(string repoDir, string revision)
    {
        var commit = SnapshotCommit(repoDir, revision);
        if (commit.Length == 0 || commit.Contains('/') || commit.Contains('\\') || commit is "." or "..") return null;
        var snapshot = Path.Combine(repoDir, "snapshots", commit);
        return Directory.Exists(snapshot) ? snapshot : null;
    }

    /// <summary>
    /// The files loading a snapshot reads: config.json, tokenizer.json, the optional tokenizer files it has, and the
    /// weights the checkpoint loader takes (the first of <see cref="Checkpoint.WeightFileNames"/> present, with the shards
    /// its index names).
    /// </summary>
    private static IEnumerable<string> NeededFiles(string snapshot)
    {
        foreach (var f in RequiredFiles) yield return Path.Combine(snapshot, f);
        foreach (var f in OptionalFiles.Select(f => Path.Combine(snapshot, f)).Where(File.Exists)) yield return f;
        var weights = Checkpoint.WeightFileNames.Select(n => Path.Combine(snapshot, n)).FirstOrDefault(File.Exists);
        yield return weights ?? Path.Combine(snapshot, Checkpoint.SingleFile);
        if (weights is not null && Checkpoint.IsIndex(weights) && LinkedFile.Reaches(weights))
            foreach (var shard in ShardNames(weights)) yield return Path.Combine(snapshot, shard);
    }

    /// <summary>The shard files a weight index names, read and checked as the checkpoint loader does.</summary>
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
        // The weights the loader reads: the first of its names the repository has (safetensors before PyTorch's).
        string? weights = null;
        foreach (var name in Checkpoint.WeightFileNames)
            if (await Fetch(name, false))
            {
                weights = name;
                break;
            }
        if (weights is null)
            throw new FileNotFoundException($"{endpoint}/{repo}: none of {string.Join(", ", Checkpoint.WeightFileNames)} at revision {revision}");
        if (Checkpoint.IsIndex(weights))
            foreach (var shard in ShardNames(Path.Combine(repoDir, "snapshots", commit!, weights))) await Fetch(shard, true);
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
