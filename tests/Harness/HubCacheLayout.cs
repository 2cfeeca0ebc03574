using System.Security.Cryptography;
using System.Text;
using Eval.Engine.IO;
using Eval.Tests.Engine;

namespace Eval.Tests.Harness;

/// <summary>
/// A Hugging Face hub cache written as huggingface_hub writes it: <c>models--org--name/blobs/HASH</c> (the sha256 of an
/// LFS file, the git blob sha1 of any other), <c>snapshots/COMMIT/FILE</c> as a RELATIVE link <c>../../blobs/HASH</c>
/// (one <c>../</c> more per subfolder), and <c>refs/main</c> holding the commit.
/// </summary>
internal sealed class HubCacheLayout
{
    public const string Commit = "0123456789abcdef0123456789abcdef01234567";

    /// <summary>What the hub stores in LFS (the weights); the rest are plain git blobs.</summary>
    private static readonly string[] LfsExtensions = [".safetensors", ".bin", ".pt", ".model"];

    public HubCacheLayout(string cacheRoot, string repo = "org/tiny")
    {
        Root = cacheRoot;
        Repo = repo;
        RepoFolder = Path.Combine(cacheRoot, "models--" + repo.Replace("/", "--"));
        Snapshot = Path.Combine(RepoFolder, "snapshots", Commit);
        Directory.CreateDirectory(Path.Combine(RepoFolder, "blobs"));
        Directory.CreateDirectory(Path.Combine(RepoFolder, "refs"));
        Directory.CreateDirectory(Snapshot);
        File.WriteAllText(Path.Combine(RepoFolder, "refs", "main"), Commit);
    }

    public string Root { get; }
    public string Repo { get; }
    public string RepoFolder { get; }
    public string Snapshot { get; }

    /// <summary>Stores content as a blob and links SNAPSHOT/relativePath to it; returns the link's path.</summary>
    public string Add(string relativePath, byte[] content)
    {
        var hash = IsLfs(relativePath) ? Convert.ToHexStringLower(SHA256.HashData(content)) : GitBlobSha1(content);
        var blob = Path.Combine(RepoFolder, "blobs", hash);
        File.WriteAllBytes(blob, content);
        var link = Path.Combine(Snapshot, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(link)!);
        var depth = relativePath.Count(c => c == '/');
        File.CreateSymbolicLink(link, string.Concat(Enumerable.Repeat("../", depth + 2)) + "blobs/" + hash);
        return link;
    }

    public string AddFile(string relativePath, string source) => Add(relativePath, File.ReadAllBytes(source));

    /// <summary>Every file of a folder (not its subfolders) under the same names.</summary>
    public void AddFolder(string folder, string under = "", Func<string, bool>? include = null)
    {
        foreach (var file in Directory.GetFiles(folder).Order(StringComparer.Ordinal))
            if (include?.Invoke(Path.GetFileName(file)) ?? true)
                AddFile(under + Path.GetFileName(file), file);
    }

    /// <summary>The blob a snapshot file links to.</summary>
    public string BlobOf(string relativePath)
    {
        var link = Path.Combine(Snapshot, relativePath);
        var target = new FileInfo(link).LinkTarget ?? throw new InvalidOperationException($"{link} is not a link");
        return Path.GetFullPath(target, Path.GetDirectoryName(link)!);
    }

    public static bool IsLfs(string name) => LfsExtensions.Any(e => name.EndsWith(e, StringComparison.Ordinal));

    public static string GitBlobSha1(byte[] content) =>
        Convert.ToHexStringLower(SHA1.HashData(Encoding.ASCII.GetBytes($"blob {content.Length}\0").Concat(content).ToArray()));

    /// <summary>
    /// The modernbert-tiny fixture with the ModernBERT tokenizer files, its weights in one of the layouts a hub repository
    /// has: "safetensors", "sharded-safetensors" (model.safetensors.index.json), "bin" (pytorch_model.bin) or
    /// "sharded-bin" (pytorch_model.bin.index.json), each shard a link to its blob.
    /// </summary>
    public static HubCacheLayout ModernBert(string cacheRoot, string layout, string repo = "org/tiny")
    {
        var cache = new HubCacheLayout(cacheRoot, repo);
        var fixture = SharedFixtures.Model("modernbert-tiny");
        cache.AddFile("config.json", Path.Combine(fixture, "config.json"));
        cache.AddFolder(Path.Combine(SharedFixtures.Shared, "tokenizers", "modernbert"));
        var staging = SharedFixtures.TempDirectory();
        using (var checkpoint = Checkpoint.Open(fixture))
        {
            switch (layout)
            {
                case "safetensors":
                    cache.AddFile(Checkpoint.SingleFile, Path.Combine(fixture, Checkpoint.SingleFile));
                    break;
                case "sharded-safetensors":
                    ShardedCheckpointWriter.Write(checkpoint, staging, maxShardBytes: 3_000_000);
                    Assert.IsTrue(File.Exists(Path.Combine(staging, Checkpoint.IndexFile)), "the fixture is split into shards");
                    cache.AddFolder(staging);
                    break;
                case "bin":
                    TorchZipWriter.WriteCatalog(Path.Combine(staging, Checkpoint.PytorchFile), checkpoint, checkpoint.Tensors);
                    cache.AddFolder(staging);
                    break;
                case "sharded-bin":
                    TorchZipWriter.WriteShards(staging, checkpoint, shards: 2);
                    cache.AddFolder(staging);
                    break;
                default:
                    throw new ArgumentException($"unknown layout {layout}");
            }
        }
        return cache;
    }
}
