using System.Text.Json;
using Eval.Cli;
using Eval.Tokenizers;

namespace Eval.Tests.Tokenizers;

[TestClass]
public sealed class TokenizeCommandTests
{
    [TestMethod]
    public void WritesIdsAndTokensForEveryLineAndKeepsOtherFields()
    {
        var dir = SharedFixtures.TempDirectory();
        var input = Path.Combine(dir, "in.jsonl");
        var fixture = TokenizerFixtureTests.Lines("llama2-phi3-adversarial").Take(40).ToArray();
        File.WriteAllLines(input, fixture.Select((l, i) => JsonSerializer.Serialize(new { text = l.Text, add_special_tokens = l.AddSpecial, row = i })));
        var output = Path.Combine(dir, "out.jsonl");
        int count = TokenizeFile.Run(Tokenizer.Load(TokenizerFixtureTests.TokenizerDirectory("llama2-phi3")), input, output);
        Assert.AreEqual(fixture.Length, count);
        var written = File.ReadAllLines(output);
        for (int i = 0; i < fixture.Length; i++)
        {
            using var doc = JsonDocument.Parse(written[i]);
            Assert.AreEqual(i, doc.RootElement.GetProperty("row").GetInt32());
            Assert.AreEqual(fixture[i].Text, doc.RootElement.GetProperty("text").GetString());
            CollectionAssert.AreEqual(fixture[i].Ids, doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
            CollectionAssert.AreEqual(fixture[i].Tokens, doc.RootElement.GetProperty("tokens").EnumerateArray().Select(e => e.GetString()).ToArray());
        }
    }

    [TestMethod]
    public void BadLineIsReportedWithFileAndLineNumber()
    {
        var dir = SharedFixtures.TempDirectory();
        var input = Path.Combine(dir, "in.jsonl");
        File.WriteAllLines(input, ["""{"text": "fine"}""", """{"text": 42}"""]);
        var e = Assert.ThrowsException<InvalidDataException>(() =>
            TokenizeFile.Run(Tokenizer.Load(TokenizerFixtureTests.TokenizerDirectory("smollm2")), input, Path.Combine(dir, "out.jsonl")));
        StringAssert.Contains(e.Message, $"{input}:2");
        Assert.IsFalse(File.Exists(Path.Combine(dir, "out.jsonl")), "no partial output under the final name");
    }
}
