using Eval.Engine.IO;

namespace Eval.Harness.Data;

/// <summary>
/// The dataset-repository side of the hub cache: datasets--org--name/{blobs, refs, snapshots/&lt;commit&gt;/PATH}, as
/// huggingface_hub lays out `hf_hub_download(repo_type="dataset")`, files fetched from {endpoint}/datasets/org/name/resolve/
/// through the same download, ETag check and blob link as a model's files.
/// </summary>
public sealed partial class HubModelStore
{
    /// <summary>Whether files may be fetched (not offline, and a client was given).</summary>
    public bool CanDownload => !offline && http is not null;

    /// <summary>The cache folder of a dataset repository.</summary>
    public string DatasetFolder(string repo) => Path.Combine(cacheDirectory, "datasets--" + repo.Replace("/", "--"));

    /// <summary>
    /// A dataset file in the hub cache at a revision (a commit, or a branch through refs/), or null when it is not there
    /// (a snapshot link whose blob is gone counts as not there when it can be fetched again; offline it is returned, and
    /// reading it names the link and its target).
    /// </summary>
    public string? CachedDatasetFile(string repo, string revision, string file)
    {
        var path = SnapshotPath(DatasetFolder(repo), SnapshotCommit(DatasetFolder(repo), revision), file);
        return LinkedFile.Reaches(path) || !CanDownload && File.Exists(path) ? path : null;
    }

    /// <summary>Downloads a dataset file into the hub cache (blob + snapshot link, refs/&lt;branch&gt; updated) and returns its snapshot path.</summary>
    public string DownloadDatasetFile(string repo, string revision, string file)
    {
        if (!CanDownload)
            throw new FileNotFoundException($"datasets/{repo}@{revision}: {file} is not in the hub cache {DatasetFolder(repo)}, and downloads are off (--offline or HF_HUB_OFFLINE)");
        var repoDir = DatasetFolder(repo);
        SnapshotPath(repoDir, revision, file);   // refuses a file path that leaves the snapshot before anything is fetched
        try
        {
            using var noRedirect = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { Timeout = http!.Timeout };
            var commit = FetchFileAsync(noRedirect, new Downloader(http), "datasets/" + repo, revision, repoDir, file, commit: null).GetAwaiter().GetResult()
                         ?? throw new FileNotFoundException($"{endpoint}/datasets/{repo}: the repository has no {file} at revision {revision}");
            if (revision != commit)
            {
                Directory.CreateDirectory(Path.Combine(repoDir, "refs"));
                File.WriteAllText(Path.Combine(repoDir, "refs", revision), commit);
            }
            return SnapshotPath(repoDir, commit, file);
        }
        catch (HttpRequestException e)
        {
            throw new DownloadException($"datasets/{repo}@{revision}: {file} is not in the hub cache {repoDir}, and {endpoint} cannot be reached ({e.Message})", e);
        }
    }

    /// <summary>The commit a revision names in a cached repository: refs/&lt;revision&gt; when it is a branch there, else the revision itself.</summary>
    private static string SnapshotCommit(string repoDir, string revision)
    {
        var refFile = Path.Combine(repoDir, "refs", revision);
        return File.Exists(refFile) ? File.ReadAllText(refFile).Trim() : revision;
    }

    private static string SnapshotPath(string repoDir, string commit, string file)
    {
        var snapshot = Path.GetFullPath(Path.Combine(repoDir, "snapshots", commit)) + Path.DirectorySeparatorChar;
        var path = Path.GetFullPath(Path.Combine(snapshot, file));
        return path.StartsWith(snapshot, StringComparison.Ordinal)
            ? path
            : throw new ArgumentException($"'{file}' at revision '{commit}' is not a path inside the repository's snapshot");
    }
}
