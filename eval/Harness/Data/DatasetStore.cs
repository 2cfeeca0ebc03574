using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;
using Eval.Harness.Tasks;

namespace Eval.Harness.Data;

/// <summary>The documents of one (task, subset, split) and the file they came from.</summary>
public sealed record LoadedSplit(IReadOnlyList<Document> Documents, string Path, string Format, string Sha256);

/// <summary>
/// Finds a task's data: under the offline data folders first (--data-dir), then in the download cache, and
/// otherwise downloads it into the cache from the task's canonical source, checking its sha256 pin. A source with
/// no pin records the digest of its first download (checksums.json in the cache) and holds later ones to it.
/// </summary>
public sealed class DatasetStore(IReadOnlyList<string> dataDirectories, string cacheDirectory, Downloader? downloader, Action<string>? log = null)
{
    // One file can hold every subset (XNLI-1.0, the XWinograd TSV): it is hashed once.
    private readonly Dictionary<string, string> digests = [];

    public static string DefaultCacheDirectory() =>
        Environment.GetEnvironmentVariable("EVAL_DATA_CACHE")
        ?? Path.Combine(Engine.UserCache.ProgramFolder(), "datasets");

    public LoadedSplit Load(TaskDefinition task, string subset, string split)
    {
        if (!task.Subsets.Contains(subset))
            throw new ArgumentException($"task '{task.Name}' has no {task.SubsetKind} '{subset}' ({string.Join(", ", task.Subsets)})");
        if (!task.Splits.Contains(split))
            throw new ArgumentException($"task '{task.Name}' has no split '{split}' ({string.Join(", ", task.Splits)})");
        var tried = new List<string>();
        if (Find(task, subset, split, tried) is { } found) return found;
        foreach (var source in task.Sources.Where(s => s.Download is not null && s.SplitName(split) is not null))
        {
            if (downloader is null) break;
            Fetch(task, source, subset, split);
            if (Find(task, subset, split, tried) is { } fetched) return fetched;
        }
        throw new FileNotFoundException(
            $"no data for {task.Name} {subset} {split}; looked for {string.Join(", ", tried.Distinct())}" +
            (downloader is null ? " (offline: downloads are off; pass --data-dir with a copy)" : ""));
    }

    private LoadedSplit? Find(TaskDefinition task, string subset, string split, List<string> tried)
    {
        foreach (var source in task.Sources.Where(s => s.SplitName(split) is not null))
        foreach (var root in dataDirectories.Append(cacheDirectory))
        {
            var path = Path.Combine(root, source.Resolve(subset, split));
            tried.Add(path);
            if (!File.Exists(path)) continue;
            var docs = DatasetReaders.Read(source.Format, path, subset);
            if (docs.Count == 0) throw new DatasetFormatException(path, 1, $"no {subset} examples in this {source.Format} file");
            if (!digests.TryGetValue(path, out var digest)) digests[path] = digest = Downloader.Sha256Of(path);
            return new LoadedSplit(docs, path, source.Format, digest);
        }
        return null;
    }

    private void Fetch(TaskDefinition task, DataSource source, string subset, string split)
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
            using var zip = ZipFile.OpenRead(file);
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
            using var stream = File.OpenRead(file);
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
