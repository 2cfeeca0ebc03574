using System.Text;
using System.Text.Json.Nodes;
using Eval.Cli;
using Eval.Engine.Cpu;
using Eval.Models;

namespace Eval.Tests.Models;

/// <summary>
/// config.json as transformers 5 saves it: RoPE bases under rope_parameters (one object, or one per attention kind)
/// and ModernBERT's alternation as layer_types. The fixture checkpoints, with their config rewritten that way, must
/// still reproduce the transformers goldens; a parser that ignored the new keys would fall back to other bases
/// (10,000 for Llama, the global base for ModernBERT's local layers) and to global attention in every layer.
/// </summary>
[TestClass]
public sealed class TransformersFiveConfigTests
{
    [TestMethod]
    public void ModernBertWithRopeParametersAndLayerTypesMatchesGolden()
    {
        var folder = RewrittenFixture("modernbert-tiny", config =>
        {
            config.Remove("global_rope_theta");
            config.Remove("local_rope_theta");
            config.Remove("global_attn_every_n_layers");
            config["rope_parameters"] = JsonNode.Parse("""
                {"full_attention": {"rope_type": "default", "rope_theta": 160000.0},
                 "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}
                """);
            // The fixture had global_attn_every_n_layers 3 over 4 layers: layers 0 and 3 global.
            config["layer_types"] = JsonNode.Parse("""["full_attention", "sliding_attention", "sliding_attention", "full_attention"]""");
        });
        AssertForwardMatchesGolden(folder, "modernbert-tiny");
    }

    [TestMethod]
    public void LlamaWithFlatRopeParametersMatchesGolden()
    {
        var folder = RewrittenFixture("llama-tiny", config =>
        {
            config.Remove("rope_theta");
            config["rope_parameters"] = JsonNode.Parse("""{"rope_type": "default", "rope_theta": 100000.0}""");
        });
        AssertForwardMatchesGolden(folder, "llama-tiny");
    }

    [TestMethod]
    public void LayerTypesDecideGlobalLayersOverTheEveryNRule()
    {
        var config = Parse("""{"num_hidden_layers": 3, "global_attn_every_n_layers": 1, "layer_types": ["sliding_attention", "full_attention", "sliding_attention"]}""");
        Assert.IsFalse(config.IsGlobalAttentionLayer(0));
        Assert.IsTrue(config.IsGlobalAttentionLayer(1));
        Assert.IsFalse(config.IsGlobalAttentionLayer(2));
        var old = Parse("""{"num_hidden_layers": 4, "global_attn_every_n_layers": 3}""");
        CollectionAssert.AreEqual(new[] { true, false, false, true }, Enumerable.Range(0, 4).Select(old.IsGlobalAttentionLayer).ToArray());
    }

    [TestMethod]
    public void RopeParametersCarryLlama3Scaling()
    {
        var config = Parse("""
            {"rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                                 "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}
            """);
        Assert.AreEqual(500000.0, config.RopeTheta);
        Assert.AreEqual(new RopeScaling("llama3", 8, 1, 4, 8192), config.RopeScaling);
        Assert.IsNull(Parse("""{"rope_parameters": {"rope_type": "default", "rope_theta": 10.0}}""").RopeScaling);
    }

    [TestMethod]
    public void ASlidingEntryWithoutABaseUsesTransformersFivesDefault()
    {
        var config = Parse("""{"rope_parameters": {"full_attention": {"rope_type": "default"}, "sliding_attention": {"rope_type": "default"}}}""");
        Assert.AreEqual(160000.0, config.GlobalRopeTheta);
        Assert.AreEqual(10000.0, config.LocalRopeTheta);
        Assert.IsNull(Parse("{}").LocalRopeTheta, "transformers 4 files without local_rope_theta use the global base");
        var given = Parse("""{"local_rope_theta": 7.0, "rope_parameters": {"full_attention": {"rope_theta": 3.0}, "sliding_attention": {"rope_theta": 5.0}}}""");
        Assert.AreEqual((3.0, 5.0), (given.GlobalRopeTheta, given.LocalRopeTheta), "rope_parameters wins over the older keys");
    }

    [TestMethod]
    [DataRow("""{"num_hidden_layers": 2, "layer_types": ["full_attention"]}""", "'layer_types' lists 1 layers but num_hidden_layers is 2")]
    [DataRow("""{"num_hidden_layers": 1, "layer_types": ["chunked_attention"]}""", "'layer_types'[0] is 'chunked_attention'")]
    [DataRow("""{"num_hidden_layers": 1, "layer_types": [1]}""", "'layer_types' should be a list of strings")]
    [DataRow("""{"rope_parameters": {"full_attention": {"rope_theta": "big"}}}""", "'rope_parameters.full_attention': 'rope_theta' should be a number")]
    [DataRow("""{"rope_parameters": {"full_attention": {}, "other_attention": {}}}""", "'rope_parameters' has an entry 'other_attention'")]
    [DataRow("""{"rope_parameters": [1]}""", "'rope_parameters' should be an object")]
    [DataRow("""{"eos_token_id": [1, "x"]}""", "'eos_token_id' should be an integer or a list of integers")]
    [DataRow("""{"architectures": [null]}""", "'architectures' should be a list of strings")]
    public void MalformedFieldsAreNamedWithTheFile(string json, string expected)
    {
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ModelConfig.Parse(Encoding.UTF8.GetBytes(json), "/models/x/config.json"));
        StringAssert.StartsWith(e.Message, "/models/x/config.json: ");
        StringAssert.Contains(e.Message, expected);
    }

    private static ModelConfig Parse(string json) => ModelConfig.Parse(Encoding.UTF8.GetBytes(json), "config.json");

    private static string RewrittenFixture(string fixture, Action<JsonObject> rewrite)
    {
        var source = SharedFixtures.Model(fixture);
        var folder = SharedFixtures.TempDirectory();
        foreach (var file in Directory.GetFiles(source))
            if (Path.GetFileName(file) != "config.json") File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "config.json")))!.AsObject();
        rewrite(config);
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
        return folder;
    }

    private static void AssertForwardMatchesGolden(string folder, string label)
    {
        var output = Path.Combine(SharedFixtures.TempDirectory(), "out.safetensors");
        using (var backend = new CpuBackend(2))
        using (var model = ModelLoader.Load(folder, backend))
            ForwardDump.Run(model, Path.Combine(folder, "golden.safetensors"), output);
        GoldenParityTests.AssertMatchesGolden(Path.Combine(folder, "golden.safetensors"), output, $"{label} (transformers 5 config)");
    }
}
