using System.Security.Cryptography;
using Eval.Engine.IO;

namespace Eval.Harness.Data;

/// <summary>A download that failed or did not match its pinned digest.</summary>
public sealed class DownloadException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Downloads files to a temporary name beside the destination and renames them into place only once complete and
/// verified, so an interrupted download never leaves a file that looks finished.
/// </summary>
public sealed class Downloader(HttpClient http)
{
    public static string Sha256Of(string path)
    {
        using var stream = LinkedFile.OpenRead(path, bufferSize: 0);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>Git's blob id: sha1 over "blob {length}\0" and the content (the ETag of non-LFS files on the hub).</summary>
    public static string GitBlobSha1Of(string path)
    {
        using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        using var stream = LinkedFile.OpenRead(path, bufferSize: 0);
        sha1.AppendData(System.Text.Encoding.ASCII.GetBytes($"blob {stream.Length}\0"));
        var buffer = new byte[1 << 16];
        for (int n; (n = stream.Read(buffer)) > 0;) sha1.AppendData(buffer, 0, n);
        return Convert.ToHexStringLower(sha1.GetHashAndReset());
    }

    /// <summary>GETs url into destination; verify (given the temporary file) throws when the content is wrong.</summary>
    public async Task DownloadAsync(string url, string destination, Action<string>? verify, IProgress<(long Done, long? Total)>? progress,
        IReadOnlyDictionary<string, string>? headers = null, CancellationToken cancel = default)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(destination))!);
        var partial = destination + ".part";
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            foreach (var (k, v) in headers ?? new Dictionary<string, string>()) request.Headers.TryAddWithoutValidation(k, v);
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel);
            if (!response.IsSuccessStatusCode)
                throw new DownloadException($"GET {url}: HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
            long? total = response.Content.Headers.ContentLength;
            await using (var source = await response.Content.ReadAsStreamAsync(cancel))
            await using (var target = File.Create(partial))
            {
                var buffer = new byte[1 << 20];
                long done = 0;
                for (int n; (n = await source.ReadAsync(buffer, cancel)) > 0;)
                {
                    await target.WriteAsync(buffer.AsMemory(0, n), cancel);
                    done += n;
                    progress?.Report((done, total));
                }
                if (total is { } expected && done != expected)
                    throw new DownloadException($"GET {url}: received {done} bytes of {expected}");
            }
            verify?.Invoke(partial);
            File.Move(partial, destination, overwrite: true);
        }
        catch (HttpRequestException e)
        {
            throw new DownloadException($"GET {url}: {e.Message}", e);
        }
        finally
        {
            if (File.Exists(partial)) File.Delete(partial);
        }
    }

    public static Action<string> ExpectSha256(string url, string expected) => path =>
    {
        var actual = Sha256Of(path);
        if (!string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase))
            throw new DownloadException($"{url}: sha256 is {actual}, expected {expected}; the file was not kept");
    };
}
