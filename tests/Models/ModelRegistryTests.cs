using System.Text;
using Eval.Engine.Cpu;
using Eval.Engine.IO;
using Eval.Harness.Scoring;
using Eval.Models;

namespace Eval.Tests.Models;

/// <summary>
/// The one registry of architectures (<see cref="ModelArchitectures"/>) and of model kinds (<see cref="ModelKinds"/>):
/// an architecture it does not know is refused in one line that lists the known ones (never built as something else),
/// model_type names one when architectures does not, and every fixture model's kind has its encoder, scorer and decoders.
/// </summary>
[TestClass]
public sealed class ModelRegistryTests
{
    private static ModelConfig Config(string json) => ModelConfig.Parse(Encoding.UTF8.GetBytes(json), "/models/x/config.json");

    [TestMethod]
    [DataRow("""{"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 10, "hidden_size": 8, "num_attention_heads": 2, "num_hidden_layers": 1, "intermediate_size": 8}""", "architecture GPT2LMHeadModel")]
    [DataRow("""{"model_type": "gpt2", "vocab_size": 10, "hidden_size": 8, "num_attention_heads": 2, "num_hidden_layers": 1, "intermediate_size": 8}""", "model_type 'gpt2'")]
    [DataRow("""{"vocab_size": 10}""", "a config without 'architectures' or 'model_type'")]
    [DataRow("""{"architectures": ["ElectraForPreTraining"], "model_type": "electra", "vocab_size": 10}""", "architecture ElectraForPreTraining")]
    [DataRow("""{"architectures": ["DebertaV2ForMaskedLM"], "model_type": "deberta-v2", "vocab_size": 10}""", "architecture DebertaV2ForMaskedLM")]
    public void AnUnknownArchitectureIsAOneLineErrorListingTheSupportedOnes(string json, string named)
    {
        var config = Config(json);
        using var backend = new CpuBackend(1);
        var e = Assert.ThrowsExactly<NotSupportedException>(() => ModelLoader.Create(config, new RandomWeights(1), backend));
        StringAssert.StartsWith(e.Message, $"/models/x/config.json: {named} is not supported; supported architectures: ");
        Assert.IsFalse(e.Message.Contains('\n'), e.Message);
        foreach (var name in ModelArchitectures.Names) StringAssert.Contains(e.Message, name);
    }

    [TestMethod]
    public void AFolderWithAnUnknownArchitectureIsRefusedBeforeItsWeightsAreOpened()
    {
        var dir = SharedFixtures.TempDirectory();
        File.WriteAllText(Path.Combine(dir, "config.json"), """{"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}""");
        using var backend = new CpuBackend(1);
        var e = Assert.ThrowsExactly<NotSupportedException>(() => ModelLoader.Load(dir, backend));
        StringAssert.Contains(e.Message, "GPT2LMHeadModel is not supported");
    }

    [TestMethod]
    [DataRow("""{"model_type": "qwen2"}""", "Qwen2ForCausalLM")]
    [DataRow("""{"architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta"}""", "XLMRobertaForMaskedLM")]
    [DataRow("""{"architectures": ["Foo", "LlamaForCausalLM"], "model_type": "qwen2"}""", "LlamaForCausalLM")]
    [DataRow("""{"architectures": ["BertForPreTraining"], "model_type": "bert"}""", "BertForMaskedLM")]
    [DataRow("""{"architectures": ["ElectraForMaskedLM"], "model_type": "electra"}""", "ElectraForMaskedLM")]
    [DataRow("""{"architectures": ["EuroBertForMaskedLM"], "model_type": "eurobert"}""", "EuroBertForMaskedLM")]
    public void ArchitecturesNameTheEntryAndModelTypeStandsInWhenTheyNameNone(string json, string expected) =>
        Assert.AreEqual(expected, ModelArchitectures.Resolve(Config(json)).Name);

    [TestMethod]
    public void EveryRegisteredNameAndModelTypeIsUnique()
    {
        Assert.AreEqual(ModelArchitectures.All.Count, ModelArchitectures.Names.Distinct().Count());
        var types = ModelArchitectures.All.SelectMany(a => a.ModelTypes).ToList();
        Assert.AreEqual(types.Count, types.Distinct().Count(), string.Join(", ", types));
    }

    [TestMethod]
    [DataRow("modernbert-tiny", ModelKind.Masked)]
    [DataRow("xlmr-tiny", ModelKind.SourceTarget)]
    [DataRow("xlmr-xl-tiny", ModelKind.SourceTarget)]
    [DataRow("llama-tiny", ModelKind.Causal)]
    [DataRow("qwen2-tiny", ModelKind.Causal)]
    [DataRow("modernbert-decoder-tiny", ModelKind.Causal)]
    [DataRow("mt5-tiny", ModelKind.EncoderDecoder)]
    [DataRow("bloom-tiny", ModelKind.Causal)]
    [DataRow("bert-tiny", ModelKind.Masked)]
    [DataRow("electra-generator-tiny", ModelKind.Masked)]
    [DataRow("eurobert-tiny", ModelKind.Masked)]
    public void EachFixtureModelHasItsKindAndTheKindItsScorerAndDecoders(string fixture, ModelKind expected)
    {
        using var backend = new CpuBackend(1);
        using var model = ModelLoader.Load(SharedFixtures.Model(fixture), backend);
        Assert.AreEqual(expected, model.Kind);
        Assert.AreEqual(model.Kind, ModelArchitectures.Resolve(model.Config).Kind, "the registry says the kind the model has");
        var kind = ModelKinds.Of(model);
        var scorer = kind.CreateScorer(model, null, model.Config.PadTokenId ?? 0);
        CollectionAssert.AreEqual(kind.ScoringModes.ToList(), scorer.Modes.ToList());
        Assert.AreEqual(scorer.Modes[0], kind.DefaultScoring);
        Assert.IsTrue(kind.Generation.Count > 0);
    }

    [TestMethod]
    public void AScoringModeOfAnotherKindIsRefusedNamingTheKindsModes()
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => ModelKinds.Of(ModelKind.Causal).RequireScoring(ScoringMode.EvalPy));
        Assert.AreEqual("scoring mode 'eval-py' does not apply to a causal LM; use one of: loglik, next-token, greedy", e.Message);
    }
}
