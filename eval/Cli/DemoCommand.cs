using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Eval.Engine.Cpu;
using Eval.Engine.IO;
using Eval.Harness.Tasks;
using Eval.Models;

namespace Eval.Cli;

/// <summary>
/// `demo`: the offline demonstration. Builds a tiny random-weight ModernBERT with its own WordPiece tokenizer and a
/// small synthetic XNLI-format dataset (nothing downloaded, no ../shared), then runs the real `eval` on it and writes
/// the report comparing the two. The weights are random, so the accuracy is chance (about 33% on three classes).
/// </summary>
public static partial class DemoCommand
{
    public static Command Build()
    {
        var output = new Option<string>("--output") { Description = "folder for the demo model, data and results", DefaultValueFactory = _ => Path.Combine("results", "demo") };
        var command = new Command("demo", "Offline demo: build a tiny masked LM, a tiny causal LM and a synthetic XNLI-format dataset, then evaluate both and report (accuracy is chance)");
        command.Options.Add(output);
        command.SetAction(result =>
        {
            var root = result.GetValue(output)!;
            int built = CommandRunner.Run(() =>
            {
                var words = WriteDataset(Path.Combine(root, "data", "xnli", "xnli_validation_en.tsv")).Concat(TemplateWords()).ToList();
                WriteModel(Path.Combine(root, MaskedModel), words, causal: false);
                WriteModel(Path.Combine(root, CausalModel), words, causal: true);
                Console.WriteLine($"built {root}/{MaskedModel} (random ModernBERT), {root}/{CausalModel} (random Llama), both with their own WordPiece vocabulary, " +
                                  $"and {root}/data (48 synthetic XNLI rows)");
            });
            if (built != 0) return built;
            foreach (var (model, run) in new[] { (MaskedModel, "run"), (CausalModel, "run-causal") })
            {
                int code = new EvalCommand().Build().Parse([
                    "--task", "xnli", "--languages", "en", "--model", Path.Combine(root, model), "--data-dir", Path.Combine(root, "data"),
                    "--offline", "--output", Path.Combine(root, run), "--batch-size", "8",
                ]).Invoke();
                if (code != 0) return code;
            }
            return ReportCommands.Report().Parse([Path.Combine(root, "run"), Path.Combine(root, "run-causal"), "--output", Path.Combine(root, "report")]).Invoke();
        });
        return command;
    }

    /// <summary>The models' folders, named by what they are: the report names each run by its model's folder.</summary>
    public const string MaskedModel = "modernbert-random", CausalModel = "llama-random";

    private static readonly string[] Subjects = ["the cat", "the dog", "a farmer", "the teacher", "my sister", "the pilot"];
    private static readonly string[] Verbs = ["sleeps", "reads", "cooks", "sings"];
    private static readonly string[] Places = ["at home", "in the park", "on the train", "at school"];

    /// <summary>48 rows: premise "S V P.", hypotheses that follow (0), may or may not hold (1), or contradict it (2).</summary>
    private static IEnumerable<string> WriteDataset(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var tsv = new StringBuilder("id\tpremise\thypothesis\tlabel\n");
        for (int i = 0; i < 48; i++)
        {
            string s = Subjects[i % Subjects.Length], v = Verbs[i / Subjects.Length % Verbs.Length], p = Places[i % Places.Length];
            int label = i % 3;
            var premise = $"{char.ToUpperInvariant(s[0])}{s[1..]} {v} {p}.";
            var hypothesis = label switch
            {
                0 => $"{char.ToUpperInvariant(s[0])}{s[1..]} {v}.",
                1 => $"{char.ToUpperInvariant(s[0])}{s[1..]} {v} {p} every day.",
                _ => $"{char.ToUpperInvariant(s[0])}{s[1..]} never {v}.",
            };
            tsv.Append(CultureInfo.InvariantCulture, $"{i}\t{premise}\t{hypothesis}\t{label}\n");
        }
        File.WriteAllText(path, tsv.ToString());
        return Words(tsv.ToString());
    }

    private static IEnumerable<string> TemplateWords()
    {
        var xnli = ProjectPaths.LoadTasks(null).Get("xnli");
        return xnli.Templates.SelectMany(t => Words(t.Source + " " + t.AnswerChoicesSource));
    }

    [GeneratedRegex(@"\p{L}+")]
    private static partial Regex Word();

    private static IEnumerable<string> Words(string text) => Word().Matches(text.ToLowerInvariant()).Select(m => m.Value);

    /// <summary>A random ModernBERT (or Llama, when causal) with a WordPiece tokenizer over the given words.</summary>
    private static void WriteModel(string dir, IEnumerable<string> words, bool causal)
    {
        Directory.CreateDirectory(dir);
        string[] specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
        var letters = "abcdefghijklmnopqrstuvwxyz".Select(c => c.ToString()).ToList();
        var vocab = specials.Concat(".,;:!?\"'()-_|{}%[]#".Select(c => c.ToString())).Concat(letters).Concat(letters.Select(l => "##" + l))
            .Concat(words.Distinct().Order(StringComparer.Ordinal)).Distinct().ToList();
        var vocabJson = new JsonObject();
        for (int i = 0; i < vocab.Count; i++) vocabJson[vocab[i]] = i;
        var tokenizer = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(specials.Select((t, i) => (JsonNode)new JsonObject
            {
                ["id"] = i, ["content"] = t, ["single_word"] = false, ["lstrip"] = t == "[MASK]", ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
            }).ToArray()),
            ["normalizer"] = new JsonObject { ["type"] = "Lowercase" },
            ["pre_tokenizer"] = new JsonObject { ["type"] = "BertPreTokenizer" },
            ["post_processor"] = new JsonObject { ["type"] = "BertProcessing", ["sep"] = new JsonArray("[SEP]", 3), ["cls"] = new JsonArray("[CLS]", 2) },
            ["decoder"] = new JsonObject { ["type"] = "WordPiece", ["prefix"] = "##", ["cleanup"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "WordPiece", ["unk_token"] = "[UNK]", ["continuing_subword_prefix"] = "##", ["max_input_chars_per_word"] = 100, ["vocab"] = vocabJson,
            },
        };
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), tokenizer.ToJsonString());
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"),
            """{"mask_token": "[MASK]", "pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]", "unk_token": "[UNK]", "model_max_length": 512}""");
        var config = causal
            ? new JsonObject
            {
                ["architectures"] = new JsonArray("LlamaForCausalLM"), ["model_type"] = "llama", ["vocab_size"] = vocab.Count,
                ["hidden_size"] = 64, ["intermediate_size"] = 96, ["num_hidden_layers"] = 2, ["num_attention_heads"] = 4,
                ["num_key_value_heads"] = 2, ["head_dim"] = 16, ["hidden_act"] = "silu", ["rms_norm_eps"] = 1e-5, ["rope_theta"] = 10000.0,
                ["max_position_embeddings"] = 512, ["tie_word_embeddings"] = true, ["pad_token_id"] = 0, ["bos_token_id"] = 2, ["eos_token_id"] = 3,
            }
            : new JsonObject
            {
                ["architectures"] = new JsonArray("ModernBertForMaskedLM"), ["model_type"] = "modernbert", ["vocab_size"] = vocab.Count,
                ["hidden_size"] = 64, ["intermediate_size"] = 96, ["num_hidden_layers"] = 2, ["num_attention_heads"] = 4,
                ["global_attn_every_n_layers"] = 2, ["local_attention"] = 64, ["global_rope_theta"] = 160000.0, ["local_rope_theta"] = 10000.0,
                ["norm_eps"] = 1e-5, ["norm_bias"] = false, ["attention_bias"] = false, ["mlp_bias"] = false, ["classifier_bias"] = false,
                ["decoder_bias"] = true, ["hidden_activation"] = "gelu", ["classifier_activation"] = "gelu", ["max_position_embeddings"] = 512,
                ["pad_token_id"] = 0, ["cls_token_id"] = 2, ["sep_token_id"] = 3, ["tie_word_embeddings"] = true,
            };
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        WriteRandomWeights(dir, seed: 20250101);
    }

    /// <summary>
    /// Writes model.safetensors for the folder's config.json: the model built once from seeded random values (±0.05; norm
    /// weights 1), every tensor it asks for recorded and saved.
    /// </summary>
    public static void WriteRandomWeights(string dir, int seed)
    {
        var recorder = new RecordingWeights(new RandomWeights(seed, scale: 0.05f));
        using (var backend = new CpuBackend(1))
        using (ModelLoader.Create(ModelConfig.Load(Path.Combine(dir, "config.json")), recorder, backend)) { }
        var writer = new SafetensorsWriter();
        foreach (var (name, shape, values) in recorder.Tensors) writer.Add(name, values, shape.Select(d => (long)d).ToArray());
        writer.Write(Path.Combine(dir, "model.safetensors"));
    }

    /// <summary>Remembers every tensor a model reads from another source, to be written out.</summary>
    private sealed class RecordingWeights(IWeightSource inner) : IWeightSource
    {
        public List<(string Name, int[] Shape, float[] Values)> Tensors { get; } = [];
        public string Description => inner.Description;
        public bool Contains(string name) => inner.Contains(name);

        public void Read(string name, ReadOnlySpan<int> expectedShape, Span<float> destination)
        {
            inner.Read(name, expectedShape, destination);
            Tensors.Add((name, expectedShape.ToArray(), destination.ToArray()));
        }
    }
}
