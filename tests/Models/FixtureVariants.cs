using System.Text.Json.Nodes;
using Eval.Engine.IO;
using Eval.Tests.Engine;

namespace Eval.Tests.Models;

/// <summary>One tensor of a checkpoint as float32, to be renamed, changed or dropped before a variant is written.</summary>
internal sealed record FixtureTensor(string Name, long[] Shape, float[] Values);

/// <summary>
/// Variants of the fixture checkpoints written into temp folders: the same weights under other names (Google's
/// LayerNorm gamma/beta, pretraining extras), with rows swapped, as a pickle, or beside another config.json; and copies of
/// a golden file with some input changed. A variant whose forward must equal the original's is an independent check of
/// what the loader does with the spelling.
/// </summary>
internal static class FixtureVariants
{
    public static List<FixtureTensor> ReadWeights(string fixture)
    {
        using var file = new SafetensorsFile(Path.Combine(SharedFixtures.Model(fixture), "model.safetensors"));
        return file.Entries.Values.OrderBy(e => e.Begin).Select(e =>
        {
            var values = new float[e.ElementCount];
            file.ReadAsFloat32(e, values);
            return new FixtureTensor(e.Name, e.Shape, values);
        }).ToList();
    }

    /// <summary>The fixture's config.json as an editable object.</summary>
    public static JsonObject ReadConfig(string fixture) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(SharedFixtures.Model(fixture), "config.json")))!.AsObject();

    /// <summary>A model folder with config and the tensors as model.safetensors, or as a torch.save pytorch_model.bin.</summary>
    public static string WriteFolder(JsonObject config, IEnumerable<FixtureTensor> tensors, bool asPickle = false)
    {
        var dir = SharedFixtures.TempDirectory();
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        var list = tensors.ToList();
        if (!asPickle)
        {
            var writer = new SafetensorsWriter();
            foreach (var t in list) writer.Add(t.Name, t.Values, t.Shape);
            writer.Write(Path.Combine(dir, "model.safetensors"));
            return dir;
        }
        var pickle = PickleBuilder.StateDict(list.Select((t, i) =>
            (t.Name, "FloatStorage", i.ToString(), (long)t.Values.Length, 0L, t.Shape, ContiguousStrides(t.Shape))));
        TorchZipWriter.Write(Path.Combine(dir, "pytorch_model.bin"), pickle, list.Select((t, i) =>
        {
            var bytes = new byte[t.Values.Length * sizeof(float)];
            Buffer.BlockCopy(t.Values, 0, bytes, 0, bytes.Length);
            return (i.ToString(), bytes);
        }));
        return dir;
    }

    /// <summary>A copy of the fixture's golden.safetensors with one integer input replaced (token_type_ids, …).</summary>
    public static string GoldenWith(string fixture, string name, int[] values)
    {
        using var golden = new SafetensorsFile(Path.Combine(SharedFixtures.Model(fixture), "golden.safetensors"));
        var writer = new SafetensorsWriter();
        foreach (var entry in golden.Entries.Values.OrderBy(e => e.Begin))
        {
            if (entry.DType == SafetensorsDType.F32)
            {
                var floats = new float[entry.ElementCount];
                golden.ReadAsFloat32(entry, floats);
                writer.Add(entry.Name, floats, entry.Shape);
            }
            else
            {
                var ints = entry.Name == name ? values : golden.ReadAsInt32(entry.Name);
                writer.Add(entry.Name, ints.Select(v => (long)v).ToArray(), entry.Shape);
            }
        }
        var path = Path.Combine(SharedFixtures.TempDirectory(), "golden.safetensors");
        writer.Write(path);
        return path;
    }

    /// <summary>
    /// A bert-base-uncased-style tokenizer (tokenizer.json + tokenizer_config.json) with the fixtures' 1000 ids: [PAD] 0,
    /// [unused0]… in the vocabulary only (as bert-base-uncased has them: not added tokens), [UNK] 100, [CLS] 101, [SEP] 102,
    /// [MASK] 103, then punctuation, letters, word pieces and words; BertNormalizer (lowercase), BertPreTokenizer,
    /// WordPiece, and the pair template as bert-base-uncased's TemplateProcessing (or the older BertProcessing) writes it.
    /// </summary>
    public static string WriteBertTokenizer(string dir, bool bertProcessing = false)
    {
        Directory.CreateDirectory(dir);
        var vocab = new List<string> { "[PAD]" };
        for (int i = 0; vocab.Count < 100; i++) vocab.Add($"[unused{i}]");
        vocab.AddRange(["[UNK]", "[CLS]", "[SEP]", "[MASK]"]);
        var letters = "abcdefghijklmnopqrstuvwxyz0123456789".Select(c => c.ToString()).ToList();
        vocab.AddRange(".,;:!?\"'()-_/|{}%[]#&$*+=<>@".Select(c => c.ToString()));
        vocab.AddRange(letters);
        vocab.AddRange(letters.Select(l => "##" + l));
        vocab.AddRange(["yes", "no", "maybe", "true", "false", "neither", "also", "right", "wrong", "because", "so", "what", "is",
            "the", "a", "an", "of", "and", "to", "in", "it", "that", "he", "she", "they", "we", "you", "i", "was", "for", "on",
            "are", "with", "as", "his", "her", "at", "be", "this", "have", "from", "or", "one", "had", "by", "but", "not", "all",
            "were", "when", "there", "can", "said", "do", "each", "which", "their", "if", "will", "up", "other", "about", "out",
            "many", "then", "them", "these", "some", "would", "make", "like", "him", "into", "time", "has", "look", "two", "more",
            "question", "answer", "premise", "hypothesis", "cause", "effect", "sentence", "following", "choice", "option", "correct"]);
        vocab = vocab.Distinct().ToList();
        for (int i = 0; vocab.Count < 1000; i++) vocab.Add($"word{i}");
        var vocabJson = new JsonObject();
        for (int i = 0; i < vocab.Count; i++) vocabJson[vocab[i]] = i;
        JsonObject Special(string token) => new() { ["id"] = token, ["ids"] = new JsonArray(vocab.IndexOf(token)), ["tokens"] = new JsonArray(token) };
        JsonObject Piece(string kind, string id, int typeId) => new() { [kind] = new JsonObject { ["id"] = id, ["type_id"] = typeId } };
        JsonNode postProcessor = bertProcessing
            ? new JsonObject { ["type"] = "BertProcessing", ["sep"] = new JsonArray("[SEP]", 102), ["cls"] = new JsonArray("[CLS]", 101) }
            : new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(Piece("SpecialToken", "[CLS]", 0), Piece("Sequence", "A", 0), Piece("SpecialToken", "[SEP]", 0)),
                ["pair"] = new JsonArray(Piece("SpecialToken", "[CLS]", 0), Piece("Sequence", "A", 0), Piece("SpecialToken", "[SEP]", 0),
                    Piece("Sequence", "B", 1), Piece("SpecialToken", "[SEP]", 1)),
                ["special_tokens"] = new JsonObject { ["[CLS]"] = Special("[CLS]"), ["[SEP]"] = Special("[SEP]") },
            };
        var tokenizer = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new JsonArray(new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" }.Select(t => (JsonNode)new JsonObject
            {
                ["id"] = vocab.IndexOf(t), ["content"] = t, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
                ["normalized"] = false, ["special"] = true,
            }).ToArray()),
            ["normalizer"] = new JsonObject
            {
                ["type"] = "BertNormalizer", ["clean_text"] = true, ["handle_chinese_chars"] = true, ["strip_accents"] = null, ["lowercase"] = true,
            },
            ["pre_tokenizer"] = new JsonObject { ["type"] = "BertPreTokenizer" },
            ["post_processor"] = postProcessor,
            ["decoder"] = new JsonObject { ["type"] = "WordPiece", ["prefix"] = "##", ["cleanup"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "WordPiece", ["unk_token"] = "[UNK]", ["continuing_subword_prefix"] = "##", ["max_input_chars_per_word"] = 100,
                ["vocab"] = vocabJson,
            },
        };
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), tokenizer.ToJsonString());
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"),
            """{"do_lower_case": true, "mask_token": "[MASK]", "pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]", "unk_token": "[UNK]", "model_max_length": 512}""");
        return dir;
    }

    private static long[] ContiguousStrides(long[] shape)
    {
        var strides = new long[shape.Length];
        long stride = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            strides[i] = stride;
            stride *= shape[i];
        }
        return strides;
    }
}
