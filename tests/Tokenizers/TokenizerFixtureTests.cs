using System.Text.Json;
using Eval.Tokenizers;

namespace Eval.Tests.Tokenizers;

/// <summary>
/// Every line of ../shared/fixtures/tokenizers/*.jsonl: ids and tokens exactly as Hugging Face's Rust tokenizers.
/// The *-adversarial files come from the Rust library itself. The others were written by the JavaScript port and
/// checked against the Rust library by id (RustOracleTests checks them again); their token strings for added tokens
/// are the bare content, where the Rust library gives the span with the whitespace an lstrip/rstrip token takes, so
/// there an added token's string is not compared.
/// </summary>
[TestClass]
public sealed class TokenizerFixtureTests
{
    /// <summary>The five tokenizers of ../shared/tokenizers that have fixture files.</summary>
    public static IEnumerable<object[]> TokenizerNames() =>
        new[] { "modernbert", "smollm2", "llama2-phi3", "unigram-t5-small", "unigram-t5-ru" }.Select(n => new object[] { n });

    /// <summary>Every fixture file: each tokenizer's older file and its Rust-made adversarial one.</summary>
    public static IEnumerable<object[]> FixtureFiles() =>
        TokenizerNames().Concat(TokenizerNames().Select(n => new object[] { n[0] + "-adversarial" }));

    public static string TokenizerDirectory(string name) => Path.Combine(SharedFixtures.Shared, "tokenizers", name);

    /// <summary>The tokenizer a fixture file is for: "smollm2-adversarial" → "smollm2".</summary>
    public static bool IsFromRustLibrary(string fixture) => fixture.EndsWith("-adversarial", StringComparison.Ordinal);

    public static string TokenizerOf(string fixture) => fixture.EndsWith("-adversarial", StringComparison.Ordinal) ? fixture[..^"-adversarial".Length] : fixture;

    public static IEnumerable<(string Text, bool AddSpecial, int[] Ids, string[] Tokens)> Lines(string name)
    {
        var path = Path.Combine(SharedFixtures.Shared, "fixtures", "tokenizers", name + ".jsonl");
        foreach (var line in File.ReadLines(path))
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            yield return (r.GetProperty("text").GetString()!, r.GetProperty("add_special_tokens").GetBoolean(),
                r.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                r.GetProperty("tokens").EnumerateArray().Select(e => e.GetString()!).ToArray());
        }
    }

    [TestMethod]
    [DynamicData(nameof(FixtureFiles), typeof(TokenizerFixtureTests), DynamicDataSourceType.Method)]
    public void EveryFixtureLineIsIdAndTokenExact(string name)
    {
        var tokenizer = Tokenizer.Load(TokenizerDirectory(TokenizerOf(name)));
        var failures = new List<string>();
        int lines = 0;
        foreach (var (text, addSpecial, ids, tokens) in Lines(name))
        {
            lines++;
            var encoding = tokenizer.Encode(text, addSpecial);
            bool tokensAgree = IsFromRustLibrary(name)
                ? encoding.Tokens.SequenceEqual(tokens)
                : encoding.Tokens.Count == tokens.Length && tokens.Select((t, i) =>
                    t == encoding.Tokens[i] || tokenizer.AddedTokens.Any(a => a.Id == ids[i] && a.Content == t)).All(agree => agree);
            if (!encoding.Ids.SequenceEqual(ids) || !tokensAgree)
                failures.Add($"line {lines} {JsonSerializer.Serialize(text)[..Math.Min(80, JsonSerializer.Serialize(text).Length)]} special={addSpecial}\n" +
                             $"   expected {string.Join(" ", tokens.Zip(ids, (t, i) => $"{t}/{i}"))}\n" +
                             $"   actual   {string.Join(" ", encoding.Tokens.Zip(encoding.Ids, (t, i) => $"{t}/{i}"))}");
        }
        Assert.IsTrue(lines > 800, $"{name}: only {lines} fixture lines");
        Assert.AreEqual(0, failures.Count, $"{name}: {failures.Count} of {lines} lines differ:\n{string.Join("\n", failures.Take(12))}");
    }
}
