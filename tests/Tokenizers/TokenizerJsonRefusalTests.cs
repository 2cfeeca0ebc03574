using System.Text;
using System.Text.Json.Nodes;
using Eval.Tokenizers;

namespace Eval.Tests.Tokenizers;

/// <summary>
/// tokenizer.json values the Rust library refuses when loading (its serde types: a `char`, a `usize`) are refused by us
/// too, with a TokenizerFormatException naming the file, the component and the key, rather than a crash later (an empty
/// Metaspace replacement made String.Replace throw when encoding); the same components with valid values load in both.
/// </summary>
[TestClass]
public sealed class TokenizerJsonRefusalTests
{
    private const string Base = """
        {"version":"1.0","truncation":null,"padding":null,
         "added_tokens":[{"id":0,"content":"[UNK]","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
         "normalizer":null,"pre_tokenizer":{"type":"WhitespaceSplit"},"post_processor":null,"decoder":null,
         "model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##","max_input_chars_per_word":100,
                  "vocab":{"[UNK]":0,"a":1,"b":2,"##b":3,"▁a":4}}}
        """;

    private static readonly (string Key, string Json, string? Message)[] Cases =
    [
        ("pre_tokenizer", """{"type":"Metaspace","replacement":"","prepend_scheme":"always","split":true}""", "pre_tokenizer has \"replacement\" '' that is not one character"),
        ("pre_tokenizer", """{"type":"Metaspace","replacement":"ab","prepend_scheme":"always","split":true}""", "pre_tokenizer has \"replacement\" 'ab' that is not one character"),
        ("decoder", """{"type":"Metaspace","replacement":"","prepend_scheme":"always","split":true}""", "decoder has \"replacement\" '' that is not one character"),
        ("decoder", """{"type":"Strip","content":"","start":1,"stop":0}""", "decoder has \"content\" '' that is not one character"),
        ("decoder", """{"type":"Strip","content":" ","start":-1,"stop":0}""", "decoder has \"start\" -1 that is negative"),
        ("model", """{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##","max_input_chars_per_word":-1,"vocab":{"[UNK]":0,"a":1}}""", "model has \"max_input_chars_per_word\" -1 that is negative"),
        ("pre_tokenizer", """{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true}""", null),
        ("pre_tokenizer", """{"type":"Metaspace","replacement":"𝐀","prepend_scheme":"first","split":false}""", null),
        ("decoder", """{"type":"Strip","content":" ","start":1,"stop":0}""", null),
    ];

    [TestMethod]
    public void WhatTheRustLibraryRefusesIsRefusedNamingTheKey()
    {
        var paths = new List<string>();
        foreach (var (key, json, _) in Cases)
        {
            var tokenizer = JsonNode.Parse(Base)!.AsObject();
            tokenizer[key] = JsonNode.Parse(json);
            var dir = SharedFixtures.TempDirectory();
            File.WriteAllText(Path.Combine(dir, "tokenizer.json"), tokenizer.ToJsonString(), new UTF8Encoding(false));
            paths.Add(Path.Combine(dir, "tokenizer.json"));
        }
        var rust = RustTokenizersOracle.LoadErrors(paths);
        for (int i = 0; i < Cases.Length; i++)
        {
            var (key, json, message) = Cases[i];
            if (message is null)
            {
                Assert.IsNull(rust[i], $"the Rust library refuses {key} {json}: {rust[i]}");
                var tokenizer = Tokenizer.Load(Path.GetDirectoryName(paths[i])!);
                Assert.IsTrue(tokenizer.Encode("a b ab").Ids.Count > 0, $"{key} {json}");
                continue;
            }
            Assert.IsNotNull(rust[i], $"the Rust library loads {key} {json}");
            var error = Assert.ThrowsExactly<TokenizerFormatException>(() => Tokenizer.Load(Path.GetDirectoryName(paths[i])!), $"{key} {json}");
            StringAssert.Contains(error.Message, paths[i]);
            StringAssert.Contains(error.Message, message);
        }
    }
}
