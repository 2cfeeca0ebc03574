using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;
using Eval.Engine.IO;

namespace Eval.Harness.Data;

/// <summary>The documents of one (task, subset, split) and the file they came from.</summary>
public sealed record LoadedSplit(IReadOnlyList<Document> Documents, string Path, string Format, string Sha256)
{
    /// <summary>For a file of a hub dataset: hf://datasets/org/name@revision/path.</summary>
    public string? HubFile { get; init; }

    /// <summary>For a file of a hub dataset: whether the task file pins its sha256 (else it is held to its first download's).</summary>
    public bool? Sha256Pinned { get; init; }
}

/// <summary>
/// Finds a task's data: under the offline data folders first (--data-dir), then in the download cache, then in the
/// hub cache (sources from a hub dataset repository), and otherwise downloads it from the task's canonical sources in
/// their order, checking its sha256 pin. A source with no pin records the digest of its first download (checksums.json
/// in the cache) and holds later ones to it; a hub file is held to its pin or record whenever it is read.
/// </summary>
/// <param name="hub">The hub cache for sources with a hub repository; null leaves them out.</param>
public sealed class DatasetStore(IReadOnlyList<string> dataDirectories, string cacheDirectory, Downloader? downloader, Action<string>? log = null,
    HubModelStore? hub = null)
{
    // One file can hold every subset (XNLI-1.0, the XWinograd TSV): it is hashed once.
    private readonly Dictionary<string, string> digests = [];
    // A split is read once: the checks before the model loads and the run's plan after it share it.
    private readonly Dictionary<(string File, string Task, string Subset, string Split), LoadedSplit> loaded = [];

    public static string DefaultCacheDirectory() =>
        Environment.GetEnvironmentVariable("EVAL_DATA_CACHE")
        ?? Path.Combine(Engine.UserCache.ProgramFolder(), "datasets");

    public LoadedSplit Load(IDatasetDescription task, string subset, string split)
    {
        var key = (task.FilePath, task.Name, subset, split);
        if (!loaded.TryGetValue(key, out var documents)) loaded[key] = documents = LoadUncached(task, subset, split);
        return documents;
    }

    private LoadedSplit LoadUncached(IDatasetDescription task, string subset, string split)
    {
        if (!task.Subsets.Contains(subset))
            throw new ArgumentException($"task '{task.Name}' has no {task.SubsetKind} '{subset}' ({string.Join(", ", task.Subsets)})");
        if (!task.Splits.Contains(split))
            throw new ArgumentException($"task '{task.Name}' has no split '{split}' ({string.Join(", ", task.Splits)})");
        var tried = new List<string>();
        if (Find(task, subset, split, tried) is { } found) return found;
        foreach (var source in task.Sources.Where(s => s.Hub is not null && s.SplitName(split) is not null))
            if (FindInHubCache(source, subset, split, tried) is { } cached) return cached;
        foreach (var source in task.Sources.Where(s => (s.Download is not null || s.Hub is not null) && s.SplitName(split) is not null))
        {
            if (source.Hub is not null)
            {
                if (hub is { CanDownload: true }) return FetchFromHub(source, subset, split);
                continue;
            }
            if (downloader is null) continue;
            Fetch(task, source, subset, split);
            if (Find(task, subset, split, tried) is { } fetched) return fetched;
        }
        throw new FileNotFoundException(
            $"no data for {task.Name} {subset} {split}; looked for {string.Join(", ", tried.Distinct())}" +
            (downloader is null && hub is not { CanDownload: true } ? " (offline: downloads are off; pass --data-dir with a copy)" : ""));
    }

    private LoadedSplit? Find(IDatasetDescription task, string subset, string split, List<string> tried)
    {
        foreach (var source in task.Sources.Where(s => s.Hub is null && s.SplitName(split) is not null))
        foreach (var root in dataDirectories.Append(cacheDirectory))
        {
            var path = Path.Combine(root, source.Resolve(subset, split));
            tried.Add(path);
            if (!File.Exists(path)) continue;
            return Read(source, path, subset);
        }
        return null;
    }

    private LoadedSplit Read(DataSource source, string path, string subset)
    {
        var docs = DatasetReaders.Read(source.Format, path, subset);
        if (docs.Count == 0) throw new DatasetFormatException(path, 1, $"no {subset} examples in this {source.Format} file");
        return new LoadedSplit(docs, path, source.Format, Digest(path));
    }

    private string Digest(string path)
    {
        if (!digests.TryGetValue(path, out var digest)) digests[path] = digest = Downloader.Sha256Of(path);
        return digest;
    }

    private LoadedSplit? FindInHubCache(DataSource source, string subset, string split, List<string> tried)
    {
        if (hub is null) return null;
        var (repo, revision, file) = HubFileOf(source, subset, split);
        tried.Add($"{hub.DatasetFolder(repo)} ({file} at {revision})");
        return hub.CachedDatasetFile(repo, revision, file) is { } path ? ReadHubFile(source, path, subset, split, fetched: false) : null;
    }

    private LoadedSplit FetchFromHub(DataSource source, string subset, string split)
    {
        var (repo, revision, file) = HubFileOf(source, subset, split);
        log?.Invoke($"downloading datasets/{repo}@{revision}/{file}");
        return ReadHubFile(source, hub!.DownloadDatasetFile(repo, revision, file), subset, split, fetched: true);
    }

    private static (string Repo, string Revision, string File) HubFileOf(DataSource source, string subset, string split) =>
        (source.Hub!.Repo, source.Hub.Revision, source.Resolve(subset, split));

    /// <summary>
    /// A hub file held to its pinned sha256, or else to the one recorded at its first read (recorded now when there is
    /// none). A file just downloaded that fails is removed from the hub cache (its snapshot link and blob).
    /// </summary>
    private LoadedSplit ReadHubFile(DataSource source, string path, string subset, string split, bool fetched)
    {
        var (repo, revision, file) = HubFileOf(source, subset, split);
        var key = $"hf://datasets/{repo}@{revision}/{file}";
        var digest = Digest(path);
        var pinned = source.Hub!.Sha256.GetValueOrDefault(file);
        var expected = pinned ?? RecordedDigest(key);
        if (expected is null)
        {
            RecordDigest(key, digest);
            log?.Invoke($"{key} has no pinned sha256; recorded {digest} in {ChecksumFile} and will hold later copies to it");
        }
        else if (!string.Equals(digest, expected, StringComparison.OrdinalIgnoreCase))
        {
            digests.Remove(path);
            if (fetched) RemoveFromHubCache(path);
            throw new DownloadException($"{key}: sha256 is {digest}, expected {expected} " +
                                        (pinned is not null ? "(pinned in the task file)" : $"(recorded at its first download in {ChecksumFile})") +
                                        (fetched ? "; the file was not kept" : $"; the copy in the hub cache ({path}) differs"));
        }
        return Read(source, path, subset) with { HubFile = key, Sha256Pinned = pinned is not null };
    }

    private static void RemoveFromHubCache(string path)
    {
        var blob = new FileInfo(path).LinkTarget is { } target ? Path.GetFullPath(target, Path.GetDirectoryName(path)!) : null;
        File.Delete(path);
        if (blob is not null && File.Exists(blob)) File.Delete(blob);
    }

    private void Fetch(IDatasetDescription task, DataSource source, string subset, string split)
    {
        var download = source.Download!;
        var splitName = source.SplitName(split)!;
        var url = download.Url.Replace("{subset}", subset).Replace("{split}", splitName);
        var relative = download.Archive is null ? source.Resolve(subset, split) : Path.Combine("downloads", Path.GetFileName(new Uri(url).AbsolutePath));
        var destination = Path.Combine(cacheDirectory, relative);
        var key = download.Archive is null ? relative.Replace('\\', '/') : "";
        var pinned = download.Sha256.GetValueOrDefault(key) ?? RecordedDigest(url);
        if (!File.Exists(destination))
        {
            log?.Invoke($"downloading {url}");
            downloader!.DownloadAsync(url, destination, pinned is null ? null : Downloader.ExpectSha256(url, pinned), null).GetAwaiter().GetResult();
            if (pinned is null)
            {
                var digest = Downloader.Sha256Of(destination);
                RecordDigest(url, digest);
                log?.Invoke($"{url} has no pinned sha256 in {task.FilePath}; recorded {digest} and will hold later downloads to it");
            }
        }
        if (download.Archive is not null) Extract(download.Archive, destination, cacheDirectory);
    }

    private static void Extract(string archive, string file, string root)
    {
        var marker = file + ".extracted";
        if (File.Exists(marker)) return;
        var full = Path.GetFullPath(root) + Path.DirectorySeparatorChar;
        if (archive == "zip")
        {
            using var zip = new ZipArchive(LinkedFile.OpenRead(file), ZipArchiveMode.Read);
            foreach (var entry in zip.Entries.Where(e => e.Name.Length > 0))
            {
                var target = Path.GetFullPath(Path.Combine(root, entry.FullName));
                if (!target.StartsWith(full, StringComparison.Ordinal)) throw new InvalidDataException($"{file}: entry '{entry.FullName}' escapes the cache folder");
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                entry.ExtractToFile(target, overwrite: true);
            }
        }
        else
        {
            using var stream = LinkedFile.OpenRead(file);
            using var tar = new TarReader(stream);
            while (tar.GetNextEntry() is { } entry)
            {
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile)) continue;
                var target = Path.GetFullPath(Path.Combine(root, entry.Name));
                if (!target.StartsWith(full, StringComparison.Ordinal)) throw new InvalidDataException($"{file}: entry '{entry.Name}' escapes the cache folder");
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                entry.ExtractToFile(target, overwrite: true);
            }
        }
        File.WriteAllText(marker, DateTime.UtcNow.ToString("O"));
    }

    private string ChecksumFile => Path.Combine(cacheDirectory, "checksums.json");

    private Dictionary<string, string> RecordedDigests() =>
        File.Exists(ChecksumFile) ? JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(ChecksumFile)) ?? [] : [];

    private string? RecordedDigest(string url) => RecordedDigests().GetValueOrDefault(url);

    private void RecordDigest(string url, string digest)
    {
        var all = RecordedDigests();
        all[url] = digest;
        Directory.CreateDirectory(cacheDirectory);
        File.WriteAllText(ChecksumFile, JsonSerializer.Serialize(all, new JsonSerializerOptions { WriteIndented = true }));
    }
}
