using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Eval.Tests.Tokenizers;

/// <summary>What Hugging Face's Rust tokenizers make of one text: ids, and the other fields when asked for.</summary>
public sealed record RustEncoding(int[] Ids, string[]? Tokens, string? Decoded, string? DecodedSkippingSpecials, int[]? TypeIds = null);

/// <summary>
/// Hugging Face's Rust tokenizers 0.23.2 through their official Node binding (npm <c>tokenizers</c>, in
/// tests/Tokenizers/RustOracle), the reference the tokenizer tests compare against. The NuGet wrapper
/// Tokenizers.DotNet 1.4.1 was the first choice, but its Encode(string) has no add_special_tokens switch.
/// The first use installs the package from its lock file (<c>npm ci</c>) when node_modules lacks it.
/// </summary>
public static class RustTokenizersOracle
{
    private static readonly Lock InstallLock = new();

    public static string Folder => Path.Combine(SharedFixtures.ProjectRoot, "tests", "Tokenizers", "RustOracle");

    /// <summary>Encodes every (text, add_special_tokens) in order; fields: ids, tokens, type_ids, decoded, decoded_skip.</summary>
    public static IReadOnlyList<RustEncoding> Encode(string tokenizerDirectory, IReadOnlyList<(string Text, bool AddSpecial)> items,
        string fields = "ids") =>
        Encode(tokenizerDirectory, items.Select(i => (i.Text, (string?)null, i.AddSpecial)).ToList(), fields);

    /// <summary>Encodes every (text, pair — null for a single text —, add_special_tokens) in order.</summary>
    public static IReadOnlyList<RustEncoding> Encode(string tokenizerDirectory, IReadOnlyList<(string Text, string? Pair, bool AddSpecial)> items,
        string fields = "ids")
    {
        EnsureInstalled();
        var dir = SharedFixtures.TempDirectory();
        var input = Path.Combine(dir, "input.jsonl");
        var output = Path.Combine(dir, "output.jsonl");
        using (var writer = new StreamWriter(input, false, new UTF8Encoding(false)))
            foreach (var (text, pair, addSpecial) in items)
                writer.WriteLine(pair is null
                    ? JsonSerializer.Serialize(new { text, add_special_tokens = addSpecial })
                    : JsonSerializer.Serialize(new { text, pair, add_special_tokens = addSpecial }));
        Run("node", ["encode.mjs", Path.Combine(tokenizerDirectory, "tokenizer.json"), input, output, fields], TimeSpan.FromMinutes(10));

        var results = new List<RustEncoding>(items.Count);
        foreach (var line in File.ReadLines(output))
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            results.Add(new RustEncoding(
                r.TryGetProperty("ids", out var ids) ? ids.EnumerateArray().Select(e => e.GetInt32()).ToArray() : [],
                r.TryGetProperty("tokens", out var tokens) ? tokens.EnumerateArray().Select(e => e.GetString()!).ToArray() : null,
                r.TryGetProperty("decoded", out var decoded) ? decoded.GetString() : null,
                r.TryGetProperty("decoded_skip", out var skip) ? skip.GetString() : null,
                r.TryGetProperty("type_ids", out var typeIds) ? typeIds.EnumerateArray().Select(e => e.GetInt32()).ToArray() : null));
        }
        Directory.Delete(dir, recursive: true);
        Assert.AreEqual(items.Count, results.Count, "the Rust oracle answered a different number of lines");
        return results;
    }

    /// <summary>
    /// The tokenizer.json's normalizer and pre-tokenizer run alone on each text: the normalized string (null without a
    /// normalizer) and the pre-tokenizer's pieces of it (null without a pre-tokenizer).
    /// </summary>
    public static IReadOnlyList<(string? Normalized, string[]? Pieces)> RunComponents(string tokenizerJson, IReadOnlyList<string> texts)
    {
        EnsureInstalled();
        var dir = SharedFixtures.TempDirectory();
        var input = Path.Combine(dir, "input.jsonl");
        var output = Path.Combine(dir, "output.jsonl");
        using (var writer = new StreamWriter(input, false, new UTF8Encoding(false)))
            foreach (var text in texts)
                writer.WriteLine(JsonSerializer.Serialize(new { text }));
        Run("node", ["components.mjs", tokenizerJson, input, output], TimeSpan.FromMinutes(10));

        var results = new List<(string?, string[]?)>(texts.Count);
        foreach (var line in File.ReadLines(output))
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            var normalized = r.GetProperty("normalized");
            var pieces = r.GetProperty("pieces");
            results.Add((normalized.ValueKind == JsonValueKind.Null ? null : normalized.GetString(),
                pieces.ValueKind == JsonValueKind.Null ? null : pieces.EnumerateArray().Select(e => e.GetString()!).ToArray()));
        }
        Directory.Delete(dir, recursive: true);
        Assert.AreEqual(texts.Count, results.Count, "the Rust oracle answered a different number of lines");
        return results;
    }

    /// <summary>
    /// Each regex as the Rust library runs a user pattern (Oniguruma) over its texts: the Replace normalizer's output
    /// with every match replaced by U+0001, and the Split pre-tokenizer's Isolated pieces; or the library's error.
    /// </summary>
    public static IReadOnlyList<(string? Error, string[] Replaced, string[][] Pieces)> RunRegexes(IReadOnlyList<(string Pattern, string[] Texts)> cases)
    {
        EnsureInstalled();
        var dir = SharedFixtures.TempDirectory();
        var input = Path.Combine(dir, "input.jsonl");
        var output = Path.Combine(dir, "output.jsonl");
        using (var writer = new StreamWriter(input, false, new UTF8Encoding(false)))
            foreach (var (pattern, texts) in cases)
                writer.WriteLine(JsonSerializer.Serialize(new { pattern, texts }));
        Run("node", ["regex_matches.mjs", input, output], TimeSpan.FromMinutes(10));

        var results = new List<(string?, string[], string[][])>(cases.Count);
        foreach (var line in File.ReadLines(output))
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            var error = r.GetProperty("error");
            results.Add((error.ValueKind == JsonValueKind.Null ? null : error.GetString(),
                r.GetProperty("replaced").EnumerateArray().Select(e => e.GetString()!).ToArray(),
                r.GetProperty("pieces").EnumerateArray().Select(p => p.EnumerateArray().Select(e => e.GetString()!).ToArray()).ToArray()));
        }
        Directory.Delete(dir, recursive: true);
        Assert.AreEqual(cases.Count, results.Count, "the Rust oracle answered a different number of lines");
        return results;
    }

    /// <summary>Loads each tokenizer.json with the library: null where it loads, else the library's error message.</summary>
    public static IReadOnlyList<string?> LoadErrors(IReadOnlyList<string> tokenizerJsonPaths)
    {
        EnsureInstalled();
        var dir = SharedFixtures.TempDirectory();
        var output = Path.Combine(dir, "output.jsonl");
        Run("node", ["load.mjs", output, .. tokenizerJsonPaths], TimeSpan.FromMinutes(2));
        var results = File.ReadLines(output).Select(line =>
        {
            using var doc = JsonDocument.Parse(line);
            var error = doc.RootElement.GetProperty("error");
            return error.ValueKind == JsonValueKind.Null ? null : error.GetString();
        }).ToList();
        Directory.Delete(dir, recursive: true);
        Assert.AreEqual(tokenizerJsonPaths.Count, results.Count, "the Rust oracle answered a different number of lines");
        return results;
    }

    /// <summary>Runs the generator of the normalization tables (normalization_tables.mjs) into the folder.</summary>
    public static void WriteNormalizationTables(string directory)
    {
        EnsureInstalled();
        Run("node", ["normalization_tables.mjs", directory], TimeSpan.FromMinutes(10));
    }

    private static void EnsureInstalled()
    {
        lock (InstallLock)
        {
            if (File.Exists(Path.Combine(Folder, "node_modules", "tokenizers", "package.json"))) return;
            Run("npm", ["ci", "--no-audit", "--no-fund"], TimeSpan.FromMinutes(5));
        }
    }

    private static void Run(string program, IReadOnlyList<string> arguments, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(program) { WorkingDirectory = Folder, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        Process process;
        try { process = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            Assert.Fail($"cannot start {program} ({e.Message}): the Rust tokenizers oracle needs Node.js and npm");
            throw;
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"{program} {string.Join(" ", arguments)} ran past {timeout}");
            }
            if (process.ExitCode != 0)
                Assert.Fail($"{program} {string.Join(" ", arguments)} in {Folder} exited {process.ExitCode}:\n{stderr.Result}\n{stdout.Result}");
        }
    }
}
