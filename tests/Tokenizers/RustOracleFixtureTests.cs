using System.Text.Json;
using Eval.Tokenizers;

namespace Eval.Tests.Tokenizers;

/// <summary>
/// The fixture files checked against the Rust library itself, line by line, rather than regenerated: their ids are the
/// Rust library's (the JavaScript port's files included), their tokens too (for the JavaScript port's files, up to the
/// whitespace that lstrip/rstrip added tokens take, which the port leaves out); and our decoding of those ids is the
/// Rust library's, with and without special tokens.
/// </summary>
[TestClass]
public sealed class RustOracleFixtureTests
{
    [TestMethod]
    [DynamicData(nameof(TokenizerFixtureTests.FixtureFiles), typeof(TokenizerFixtureTests), DynamicDataSourceType.Method)]
    public void FixtureLinesAreTheRustLibrarysAndWeDecodeAsItDoes(string name)
    {
        var directory = TokenizerFixtureTests.TokenizerDirectory(TokenizerFixtureTests.TokenizerOf(name));
        var tokenizer = Tokenizer.Load(directory);
        var lines = TokenizerFixtureTests.Lines(name).ToList();
        var rust = RustTokenizersOracle.Encode(directory, lines.Select(l => (l.Text, l.AddSpecial)).ToList(), "ids,tokens,decoded,decoded_skip");
        var failures = new List<string>();
        for (int i = 0; i < lines.Count; i++)
        {
            var (text, addSpecial, ids, tokens) = lines[i];
            var expected = rust[i];
            string where = $"line {i + 1} {JsonSerializer.Serialize(text)} special={addSpecial}";
            if (!ids.SequenceEqual(expected.Ids))
                failures.Add($"{where}: the file's ids {string.Join(" ", ids)} are not Rust's {string.Join(" ", expected.Ids)}");
            else if (!tokens.Select((t, k) => t == expected.Tokens![k] || !TokenizerFixtureTests.IsFromRustLibrary(name)
                         && tokenizer.AddedTokens.Any(a => a.Id == ids[k] && a.Content == t && expected.Tokens[k].Trim() == t)).All(same => same))
                failures.Add($"{where}: the file's tokens {JsonSerializer.Serialize(tokens)} are not Rust's {JsonSerializer.Serialize(expected.Tokens)}");
            var decoded = tokenizer.Decode(expected.Ids);
            if (decoded != expected.Decoded)
                failures.Add($"{where}: decode gives {JsonSerializer.Serialize(decoded)}, Rust {JsonSerializer.Serialize(expected.Decoded)}");
            var skipping = tokenizer.Decode(expected.Ids, skipSpecialTokens: true);
            if (skipping != expected.DecodedSkippingSpecials)
                failures.Add($"{where}: decode skipping specials gives {JsonSerializer.Serialize(skipping)}, Rust {JsonSerializer.Serialize(expected.DecodedSkippingSpecials)}");
        }
        Assert.AreEqual(0, failures.Count, $"{name}: {failures.Count} differences in {lines.Count} lines:\n{string.Join("\n", failures.Take(12))}");
    }
}
