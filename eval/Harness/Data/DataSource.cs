namespace Eval.Harness.Data;

/// <summary>Where a dataset's files come from on the network: one file per (subset, split), or one archive.</summary>
/// <param name="Url">URL pattern with {subset} and {split} (the split's name in this source).</param>
/// <param name="Sha256">Pinned digests by the file's path relative to the data root ("" for a single archive).</param>
/// <param name="Archive">zip or tar when the URL is an archive unpacked into the data root.</param>
public sealed record DataDownload(string Url, IReadOnlyDictionary<string, string> Sha256, string? Archive);

/// <summary>
/// A Hugging Face hub dataset repository the files come from, read through the hub cache
/// (datasets--org--name/snapshots/&lt;commit&gt;/PATH, as huggingface_hub lays it out).
/// </summary>
/// <param name="Revision">A commit (pinned) or a branch; files of a branch are held to the sha256 of their first download.</param>
/// <param name="Sha256">Pinned digests by the file's path in the repository.</param>
public sealed record HubDataset(string Repo, string Revision, IReadOnlyDictionary<string, string> Sha256);

/// <summary>
/// One way a dataset can be stored: a reader format and a path pattern under a data root, with {subset} and
/// {split}; SplitNames maps the dataset's split names to this source's. With Hub, Path is the file's path in that
/// repository instead, and the file is found in (or downloaded into) the hub cache.
/// </summary>
public sealed record DataSource(string Format, string Path, IReadOnlyDictionary<string, string> SplitNames, DataDownload? Download)
{
    public HubDataset? Hub { get; init; }

    public string? SplitName(string split) => SplitNames.Count == 0 ? split : SplitNames.GetValueOrDefault(split);

    public string Resolve(string subset, string split) =>
        Path.Replace("{subset}", subset).Replace("{split}", SplitName(split) ?? split);
}

/// <summary>
/// What <see cref="DatasetStore"/> needs to know of a dataset (a task, as prompts/ defines it): its name and the file
/// that defines it (for messages), its subsets and splits, and where each can be stored or fetched.
/// </summary>
public interface IDatasetDescription
{
    string Name { get; }
    string FilePath { get; }
    string SubsetKind { get; }
    IReadOnlyList<string> Subsets { get; }
    IReadOnlyList<string> Splits { get; }
    IReadOnlyList<DataSource> Sources { get; }
}
