using System.Text;
using System.Text.Json.Nodes;
using Eval.Tokenizers;

namespace Eval.Tests.Tokenizers;

/// <summary>
/// What loading a tokenizer.json may cost is bounded by what the pipeline uses: members it does not read (a wide unused
/// list, a long unused key, a chat template), at the root or inside a component, are stepped over without being parsed
/// into a document; the whole file must still be valid JSON; a file over 128 MiB is refused with one line. Exactness
/// against the Rust library holds with unused members inside the components (it ignores them; an unknown ROOT member it
/// refuses, by a quirk of its deserializer, which we do not copy: such a file loads here).
/// </summary>
[TestClass]
public sealed class TokenizerJsonCostTests
{
    private static readonly string ModernBert = Path.Combine(SharedFixtures.Shared, "tokenizers", "modernbert");

    private static readonly (string Text, bool AddSpecial)[] Texts =
    [
        ("Hello world!", true), ("Answer: [unused0] [MASK]", true), ("Ünïcödé 東京 🙂 — naïve café", false), ("  spaces\tand\nlines  ", true),
    ];

    /// <summary>
    /// The ModernBERT tokenizer.json, beside its tokenizer_config.json, with extra members spliced in as text: at the root
    /// (before its closing brace), first in "model", and first in each step of "post_processor" (a Sequence).
    /// </summary>
    private static string WithExtraMembers(string? atRoot, string? inModel = null, string? inPostProcessorSteps = null)
    {
        var dir = SharedFixtures.TempDirectory();
        var json = File.ReadAllText(Path.Combine(ModernBert, "tokenizer.json")).TrimEnd();
        Assert.IsTrue(json.EndsWith('}'));
        if (atRoot is not null) json = json[..^1] + "," + atRoot + "}";
        if (inModel is not null) json = SpliceAfter(json, "\"model\":", inModel);
        if (inPostProcessorSteps is not null)
        {
            // The TemplateProcessing as the one step of a Sequence, each with the extra members.
            var root = JsonNode.Parse(json)!.AsObject();
            var step = JsonNode.Parse(SpliceAfter(root["post_processor"]!.ToJsonString(), "", inPostProcessorSteps))!;
            root["post_processor"] = JsonNode.Parse(SpliceAfter("{\"type\":\"Sequence\",\"processors\":[]}", "", inPostProcessorSteps))!;
            root["post_processor"]!["processors"]!.AsArray().Add(step);
            json = root.ToJsonString();
        }
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json, new UTF8Encoding(false));
        File.Copy(Path.Combine(ModernBert, "tokenizer_config.json"), Path.Combine(dir, "tokenizer_config.json"));
        return dir;
    }

    /// <summary>Inserts members right after the '{' that opens the value of the first occurrence of key ("": the first '{').</summary>
    private static string SpliceAfter(string json, string key, string members)
    {
        int at = json.IndexOf(key, StringComparison.Ordinal);
        Assert.IsTrue(at >= 0, key);
        int open = json.IndexOf('{', at + key.Length);
        return json[..(open + 1)] + members + "," + json[(open + 1)..];
    }

    private static string WideList(int items) => "[" + string.Join(",", Enumerable.Repeat("0", items)) + "]";

    /// <summary>What reading a file into its document allocates (the tokenizer built from it allocates the same either way).</summary>
    private static long AllocatedByRead(Func<System.Text.Json.JsonDocument> read)
    {
        read().Dispose();   // warm: code paths are not the file's cost
        long before = GC.GetAllocatedBytesForCurrentThread();
        read().Dispose();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [TestMethod]
    public void UnusedMembersCostAScanNotADocument()
    {
        // 2 × 2 M one-digit items (at the root and in the model), 8 MB of text that a JsonDocument would hold as 4 M
        // 12-byte rows (48 MB and more), a 1 MB member name, and unused members in each post-processor step.
        var wide = WithExtraMembers($"\"unused\":{WideList(2_000_000)},\"{new string('k', 1_000_000)}\":{{\"a\":[[[1]]]}}",
            inModel: $"\"unused\":{WideList(2_000_000)},\"also_unused\":{{\"vocab\":{WideList(1000)}}}",
            inPostProcessorSteps: $"\"unused\":{WideList(100_000)}");
        long extraBytes = new FileInfo(Path.Combine(wide, "tokenizer.json")).Length - new FileInfo(Path.Combine(ModernBert, "tokenizer.json")).Length;
        long plain = AllocatedByRead(() => TokenizerJson.ReadPipeline(Path.Combine(ModernBert, "tokenizer.json")));
        long withUnused = AllocatedByRead(() => TokenizerJson.ReadPipeline(Path.Combine(wide, "tokenizer.json")));
        Assert.IsTrue(withUnused - plain < 1.5 * extraBytes,
            $"reading allocated {withUnused - plain:N0} bytes more with {extraBytes:N0} bytes of unused members: they were materialised");

        var expected = Tokenizer.Load(ModernBert);
        var actual = Tokenizer.Load(wide);
        foreach (var (text, addSpecial) in Texts)
            CollectionAssert.AreEqual(expected.Encode(text, addSpecial).Ids.ToArray(), actual.Encode(text, addSpecial).Ids.ToArray(), text);
        Assert.AreEqual(expected.Specials, actual.Specials);
    }

    [TestMethod]
    public void TheRustLibraryGivesTheSameIdsWithTheUnusedMembers()
    {
        // Inside the components (an unknown ROOT member makes the Rust library refuse the file).
        var wide = WithExtraMembers(null, inModel: $"\"unused\":{WideList(200_000)},\"chat_template\":\"{{{{ messages }}}}\"",
            inPostProcessorSteps: $"\"unused\":{{\"pair\":{WideList(1000)}}}");
        Assert.IsNull(RustTokenizersOracle.LoadErrors([Path.Combine(wide, "tokenizer.json")])[0]);
        var rust = RustTokenizersOracle.Encode(wide, Texts);
        var ours = Tokenizer.Load(wide);
        for (int i = 0; i < Texts.Length; i++)
            CollectionAssert.AreEqual(rust[i].Ids, ours.Encode(Texts[i].Text, Texts[i].AddSpecial).Ids.ToArray(), Texts[i].Text);
    }

    [TestMethod]
    public void PipelineMembersAreTakenAsJsonNamesThemEscapesIncluded()
    {
        // "\u006dodel" is "model": the reader compares names unescaped, as a JsonDocument does.
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(ModernBert, "tokenizer.json")))!.AsObject();
        var model = json["model"]!.ToJsonString();
        json.Remove("model");
        var dir = SharedFixtures.TempDirectory();
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json.ToJsonString()[..^1] + ",\"\\u006dodel\":" + model + "}", new UTF8Encoding(false));
        var expected = Tokenizer.Load(ModernBert);
        var actual = Tokenizer.Load(dir);
        foreach (var (text, addSpecial) in Texts)
            CollectionAssert.AreEqual(expected.Encode(text, addSpecial).Ids.ToArray(), actual.Encode(text, addSpecial).Ids.ToArray(), text);
    }

    [TestMethod]
    public void AnUnusedMemberMustStillBeValidJsonAndTheFileAnObject()
    {
        foreach (var (extra, trailing) in new[] { ("\"unused\":[1,2,,3]", ""), ("\"unused\":{\"a\":1,}", ""), ("\"unused\":[]", " trailing") })
        {
            var dir = WithExtraMembers(null, inModel: extra);
            var path = Path.Combine(dir, "tokenizer.json");
            File.AppendAllText(path, trailing);
            var e = Assert.ThrowsExactly<TokenizerFormatException>(() => Tokenizer.Load(dir), extra + trailing);
            StringAssert.StartsWith(e.Message, $"{path}: not valid JSON", extra + trailing);
            Assert.IsNotNull(RustTokenizersOracle.LoadErrors([path])[0], $"the Rust library refuses {extra}{trailing} too");
        }
        var array = SharedFixtures.TempDirectory();
        File.WriteAllText(Path.Combine(array, "tokenizer.json"), "[" + WideList(10) + "]");
        StringAssert.Contains(Assert.ThrowsExactly<TokenizerFormatException>(() => Tokenizer.Load(array)).Message, "not a JSON object");
    }

    [TestMethod]
    public void AFileOverTheLimitIsRefusedBeforeItIsRead()
    {
        var dir = SharedFixtures.TempDirectory();
        var path = Path.Combine(dir, "tokenizer.json");
        using (var file = File.Create(path)) file.SetLength((128L << 20) + 1);   // sparse: nothing is written
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.ThrowsExactly<TokenizerFormatException>(() => Tokenizer.Load(dir));
        Assert.IsTrue(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "refused before reading");
        Assert.AreEqual($"{path}: the tokenizer file is 134217729 bytes, more than the 134217728 bytes one may have", e.Message);
    }

    [TestMethod]
    public void TokenizerConfigIsReadForItsSpecialTokensOnly()
    {
        var dir = SharedFixtures.TempDirectory();
        File.Copy(Path.Combine(ModernBert, "tokenizer.json"), Path.Combine(dir, "tokenizer.json"));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(ModernBert, "tokenizer_config.json")))!.AsObject();
        config["mask_token"] = "[SEP]";
        var text = config.ToJsonString()[..^1] + ",\"added_tokens_decoder_copy\":" + WideList(2_000_000) + "}";
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), text, new UTF8Encoding(false));
        static Func<System.Text.Json.JsonDocument> Config(string folder) =>
            () => TokenizerJson.Read(Path.Combine(folder, "tokenizer_config.json"), name => name.EndsWith("_token", StringComparison.Ordinal));
        long plain = AllocatedByRead(Config(ModernBert));
        long wide = AllocatedByRead(Config(dir));
        long extraBytes = text.Length - new FileInfo(Path.Combine(ModernBert, "tokenizer_config.json")).Length;
        Assert.IsTrue(wide - plain < 1.5 * extraBytes, $"{wide - plain:N0} bytes more for {extraBytes:N0} bytes of unused members");
        Assert.AreEqual("[SEP]", Tokenizer.Load(dir).Specials.Mask, "a *_token member is read");
    }

    /// <summary>
    /// Members of names outside TokenizerJson.ComponentMembers are dropped before the components see them, so every name
    /// a component reads must be on that list: each string literal the readers pass as a member name (JsonConfig's
    /// accessors, GetProperty, TryGetProperty, SpecialPair) is looked up in it.
    /// </summary>
    [TestMethod]
    public void EveryMemberNameTheComponentsReadIsKept()
    {
        var readers = Path.Combine(SharedFixtures.ProjectRoot, "eval", "Tokenizers");
        var accessor = new System.Text.RegularExpressions.Regex(
            @"(?:\.(?:String|Bool|Int|Child|Has|Array|Char|Count|GetProperty|TryGetProperty)|SpecialPair\(c,)\s*\(?""([^""]+)""");
        var kept = TokenizerJson.ComponentMembers;
        var read = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var file in Directory.GetFiles(readers, "*.cs").Where(f => !Path.GetFileName(f).StartsWith("TokenizerJson", StringComparison.Ordinal)
                                                                             && Path.GetFileName(f) != "SpecialTokens.cs"))
            foreach (System.Text.RegularExpressions.Match m in accessor.Matches(File.ReadAllText(file)))
                read.Add(m.Groups[1].Value);
        Assert.IsTrue(read.Count > 40 && read.Contains("precompiled_charsmap") && read.Contains("sep"), string.Join(", ", read));
        var missing = read.Where(n => !kept.Contains(n) && !TokenizerJson.PipelineMembers.Contains(n)).ToList();
        Assert.AreEqual(0, missing.Count, $"read by a component but dropped by TokenizerJson: {string.Join(", ", missing)}");
    }
}
