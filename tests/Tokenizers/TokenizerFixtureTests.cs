using System.Text.Json;
using Eval.Tokenizers;

namespace Eval.Tests.Tokenizers;

/// <summary>Every line of ../shared/fixtures/tokenizers/*.jsonl: ids and tokens exactly as Hugging Face's tokenizers.</summary>
[TestClass]
public sealed class TokenizerFixtureTests
{
    public static string TokenizerDirectory(string name) => Path.Combine(SharedFixtures.Shared, "tokenizers", name);

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
    [DataRow("modernbert")]
    [DataRow("smollm2")]
    [DataRow("llama2-phi3")]
    [DataRow("unigram-t5-small")]
    [DataRow("unigram-t5-ru")]
    public void EveryFixtureLineIsIdAndTokenExact(string name)
    {
        var tokenizer = Tokenizer.Load(TokenizerDirectory(name));
        var failures = new List<string>();
        int lines = 0;
        foreach (var (text, addSpecial, ids, tokens) in Lines(name))
        {
            lines++;
            var encoding = tokenizer.Encode(text, addSpecial);
            if (!encoding.Ids.SequenceEqual(ids) || !encoding.Tokens.SequenceEqual(tokens))
                failures.Add($"line {lines} {JsonSerializer.Serialize(text)[..Math.Min(80, JsonSerializer.Serialize(text).Length)]} special={addSpecial}\n" +
                             $"   expected {string.Join(" ", tokens.Zip(ids, (t, i) => $"{t}/{i}"))}\n" +
                             $"   actual   {string.Join(" ", encoding.Tokens.Zip(encoding.Ids, (t, i) => $"{t}/{i}"))}");
        }
        Assert.IsTrue(lines > 800, $"{name}: only {lines} fixture lines");
        Assert.AreEqual(0, failures.Count, $"{name}: {failures.Count} of {lines} lines differ:\n{string.Join("\n", failures.Take(8))}");
    }
}
