using System.Text.Json;
using System.Text.Json.Nodes;
using Eval.Engine.IO;
using Eval.Models;

namespace Eval.Tests.Models;

/// <summary>
/// The mt5-tiny fixture and variants of it written by the tests: its config with keys changed, its tensors renamed,
/// dropped or replaced, and random-weight T5 models of any shape (checked against <see cref="T5Reference"/>).
/// </summary>
internal static class T5Fixtures
{
    public static string Folder => SharedFixtures.Model("mt5-tiny");

    public static string GoldenPath => Path.Combine(Folder, "golden.safetensors");

    /// <summary>The golden's rows: each row's real encoder ids, real decoder input ids, and its candidates (−1 padding dropped).</summary>
    public static (int[][] Sources, int[][] DecoderInputs, int[][][] Choices, float[] ChoiceLogProbs) GoldenRows()
    {
        using var golden = new SafetensorsFile(GoldenPath);
        var sources = Rows(golden, "input_ids", "attention_mask");
        var targets = Rows(golden, "decoder_input_ids", "decoder_attention_mask");
        var shape = golden.Get("choice_ids").Shape;
        var all = golden.ReadAsInt32("choice_ids");
        int k = (int)shape[1], l = (int)shape[2];
        var choices = Enumerable.Range(0, (int)shape[0]).Select(b => Enumerable.Range(0, k)
            .Select(c => all.Skip((b * k + c) * l).Take(l).TakeWhile(id => id >= 0).ToArray()).ToArray()).ToArray();
        var logProbs = new float[shape[0] * k];
        golden.ReadAsFloat32("choice_logprobs", logProbs);
        return (sources, targets, choices, logProbs);
    }

    private static int[][] Rows(SafetensorsFile file, string ids, string mask)
    {
        var values = file.ReadAsInt32(ids);
        var valid = file.ReadAsInt32(mask);
        int length = (int)file.Get(ids).Shape[1];
        return Enumerable.Range(0, values.Length / length)
            .Select(b => Enumerable.Range(0, length).Where(i => valid[b * length + i] != 0).Select(i => values[b * length + i]).ToArray()).ToArray();
    }

    /// <summary>
    /// A copy of mt5-tiny in a new folder: editConfig changes config.json, rename maps each tensor name to its new name
    /// (null drops it), extra adds float32 tensors.
    /// </summary>
    public static string Variant(Action<JsonObject>? editConfig = null, Func<string, string?>? rename = null,
        IReadOnlyDictionary<string, (float[] Values, long[] Shape)>? extra = null)
    {
        var dir = SharedFixtures.TempDirectory();
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(Folder, "config.json")))!.AsObject();
        editConfig?.Invoke(config);
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        var writer = new SafetensorsWriter();
        using (var source = new SafetensorsFile(Path.Combine(Folder, "model.safetensors")))
        {
            foreach (var (name, entry) in source.Entries)
            {
                var target = rename is null ? name : rename(name);
                if (target is null) continue;
                var values = new float[entry.ElementCount];
                source.ReadAsFloat32(entry, values);
                writer.Add(target, values, entry.Shape);
            }
        }
        foreach (var (name, (values, shape)) in extra ?? new Dictionary<string, (float[], long[])>()) writer.Add(name, values, shape);
        writer.Write(Path.Combine(dir, "model.safetensors"));
        return dir;
    }

    /// <summary>
    /// The tensors a T5 config needs (embeddings under embeddingName, lm_head unless tied), uniform in ±0.3 (norm weights
    /// 1 ± 0.2, position tables ±1), written as model.safetensors beside the config.
    /// </summary>
    public static string RandomModel(string configJson, int seed, string embeddingName = "shared.weight", bool withEmbeddingCopies = false)
    {
        var dir = SharedFixtures.TempDirectory();
        File.WriteAllText(Path.Combine(dir, "config.json"), configJson);
        var config = ModelConfig.Load(Path.Combine(dir, "config.json"));
        var (_, gated) = config.FeedForward();
        int d = config.HiddenSize, inner = config.NumAttentionHeads * config.HeadDim, ff = config.IntermediateSize, v = config.VocabSize;
        var random = new Random(seed);
        var writer = new SafetensorsWriter();
        float[] Add(string name, float scale, float center, params long[] shape)
        {
            var values = new float[shape.Aggregate(1L, (a, b) => a * b)];
            for (int i = 0; i < values.Length; i++) values[i] = center + (float)(random.NextDouble() * 2 - 1) * scale;
            writer.Add(name, values, shape);
            return values;
        }
        void Attention(string prefix)
        {
            foreach (var p in new[] { "q", "k", "v" }) Add($"{prefix}{p}.weight", 0.3f, 0, inner, d);
            Add(prefix + "o.weight", 0.3f, 0, d, inner);
        }
        void FeedForward(string prefix)
        {
            Add(prefix + "layer_norm.weight", 0.2f, 1, d);
            if (gated)
            {
                Add(prefix + "DenseReluDense.wi_0.weight", 0.3f, 0, ff, d);
                Add(prefix + "DenseReluDense.wi_1.weight", 0.3f, 0, ff, d);
            }
            else
            {
                Add(prefix + "DenseReluDense.wi.weight", 0.3f, 0, ff, d);
            }
            Add(prefix + "DenseReluDense.wo.weight", 0.3f, 0, d, ff);
        }
        var embeddings = Add(embeddingName, 1f, 0, v, d);
        // The copies pickles and old conversions carry: the same values under the stacks' names.
        if (withEmbeddingCopies)
            foreach (var copy in T5Model.EmbeddingNames.Where(n => n != embeddingName)) writer.Add(copy, embeddings, v, d);
        int buckets = config.RelativeAttentionNumBuckets;
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            var p = $"encoder.block.{i}.";
            Add(p + "layer.0.layer_norm.weight", 0.2f, 1, d);
            Attention(p + "layer.0.SelfAttention.");
            if (i == 0) Add(p + "layer.0.SelfAttention.relative_attention_bias.weight", 1f, 0, buckets, config.NumAttentionHeads);
            FeedForward(p + "layer.1.");
        }
        Add("encoder.final_layer_norm.weight", 0.2f, 1, d);
        for (int i = 0; i < (config.NumDecoderLayers ?? config.NumHiddenLayers); i++)
        {
            var p = $"decoder.block.{i}.";
            Add(p + "layer.0.layer_norm.weight", 0.2f, 1, d);
            Attention(p + "layer.0.SelfAttention.");
            if (i == 0) Add(p + "layer.0.SelfAttention.relative_attention_bias.weight", 1f, 0, buckets, config.NumAttentionHeads);
            Add(p + "layer.1.layer_norm.weight", 0.2f, 1, d);
            Attention(p + "layer.1.EncDecAttention.");
            FeedForward(p + "layer.2.");
        }
        Add("decoder.final_layer_norm.weight", 0.2f, 1, d);
        if (!config.TieWordEmbeddings) Add("lm_head.weight", 0.3f, 0, v, d);
        writer.Write(Path.Combine(dir, "model.safetensors"));
        return dir;
    }

    public static string Json(object value) => JsonSerializer.Serialize(value);
}
