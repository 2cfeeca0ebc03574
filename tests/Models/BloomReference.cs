using Eval.Engine.IO;

namespace Eval.Tests.Models;

/// <summary>
/// BLOOM's forward pass re-stated in double precision from transformers' modeling_bloom.py and the fixture README,
/// independently of the engine: the fused query_key_value read through its (n_head, 3, d) view, ALiBi slopes from the
/// formula, key positions from the attention mask's cumulative sum, tanh GELU, the residual taken before or after each
/// LayerNorm (apply_residual_connection_post_layernorm), the head tied to word_embeddings.
/// </summary>
public sealed class BloomReference(IReadOnlyDictionary<string, float[]> weights, int hidden, int heads, int layers, double eps,
    bool residualFromNormedInput)
{
    /// <summary>The tensors of a model.safetensors by name, bigscience's names (a "transformer." prefix removed).</summary>
    public static Dictionary<string, float[]> ReadWeights(string path)
    {
        using var file = new SafetensorsFile(path);
        var result = new Dictionary<string, float[]>();
        foreach (var (name, entry) in file.Entries)
        {
            var values = new float[entry.ElementCount];
            file.ReadAsFloat32(entry, values);
            result[name.StartsWith("transformer.", StringComparison.Ordinal) ? name["transformer.".Length..] : name] = values;
        }
        return result;
    }

    /// <summary>BLOOM's slopes: c the largest power of two ≤ heads, 2^(−8i/c) for i = 1..c, then 2^(−4(2j−1)/c) for the rest.</summary>
    public static double[] Slopes(int heads)
    {
        int c = 1;
        while (c * 2 <= heads) c *= 2;
        var slopes = new double[heads];
        for (int i = 1; i <= c; i++) slopes[i - 1] = Math.Pow(2, -8.0 * i / c);
        for (int j = 1; j <= heads - c; j++) slopes[c + j - 1] = Math.Pow(2, -4.0 * (2 * j - 1) / c);
        return slopes;
    }

    private float[] W(string name) => weights.TryGetValue(name, out var w) ? w : throw new KeyNotFoundException(name);

    /// <summary>Logits [S, V] of one sequence (ids and mask of length S; mask 0 marks padding anywhere in it).</summary>
    public double[][] Logits(int[] ids, int[] mask)
    {
        int s = ids.Length, d = hidden / heads;
        var embeddings = W("word_embeddings.weight");
        int vocab = embeddings.Length / hidden;
        var x = new double[s][];
        for (int i = 0; i < s; i++)
            x[i] = LayerNorm(embeddings.AsSpan(ids[i] * hidden, hidden).ToArray().Select(v => (double)v).ToArray(), "word_embeddings_layernorm");
        // p(key) = cumsum(mask) − 1, as modeling_bloom's build_alibi_tensor.
        var position = new int[s];
        for (int i = 0, seen = 0; i < s; i++) { seen += mask[i]; position[i] = Math.Max(seen - 1, 0) * mask[i]; }
        var slopes = Slopes(heads);
        for (int l = 0; l < layers; l++)
        {
            string p = $"h.{l}.";
            var normed = x.Select(row => LayerNorm(row, p + "input_layernorm")).ToArray();
            var fused = normed.Select(row => Linear(row, W(p + "self_attention.query_key_value.weight"), W(p + "self_attention.query_key_value.bias"), 3 * hidden)).ToArray();
            // fused viewed as (n_head, 3, d): head h's query at h·3d, key at h·3d + d, value at h·3d + 2d.
            var context = new double[s][];
            for (int i = 0; i < s; i++) context[i] = new double[hidden];
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < s; i++)
                {
                    var scores = new double[s];
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < s; j++)
                    {
                        if (j > i || mask[j] == 0) { scores[j] = double.NegativeInfinity; continue; }
                        double dot = 0;
                        for (int c = 0; c < d; c++) dot += fused[i][h * 3 * d + c] * fused[j][h * 3 * d + d + c];
                        scores[j] = dot / Math.Sqrt(d) + slopes[h] * position[j];
                        max = Math.Max(max, scores[j]);
                    }
                    if (double.IsNegativeInfinity(max)) continue;
                    double sum = 0;
                    for (int j = 0; j < s; j++) { scores[j] = Math.Exp(scores[j] - max); sum += scores[j]; }
                    for (int j = 0; j < s; j++)
                        for (int c = 0; c < d; c++)
                            context[i][h * d + c] += scores[j] / sum * fused[j][h * 3 * d + 2 * d + c];
                }
            for (int i = 0; i < s; i++)
            {
                var attention = Linear(context[i], W(p + "self_attention.dense.weight"), W(p + "self_attention.dense.bias"), hidden);
                var residual = residualFromNormedInput ? normed[i] : x[i];
                x[i] = residual.Zip(attention, (a, b) => a + b).ToArray();
                var normed2 = LayerNorm(x[i], p + "post_attention_layernorm");
                var up = Linear(normed2, W(p + "mlp.dense_h_to_4h.weight"), W(p + "mlp.dense_h_to_4h.bias"), 4 * hidden)
                    .Select(v => v * 0.5 * (1 + Math.Tanh(0.79788456 * v * (1 + 0.044715 * v * v)))).ToArray();
                var down = Linear(up, W(p + "mlp.dense_4h_to_h.weight"), W(p + "mlp.dense_4h_to_h.bias"), hidden);
                var residual2 = residualFromNormedInput ? normed2 : x[i];
                x[i] = residual2.Zip(down, (a, b) => a + b).ToArray();
            }
        }
        return x.Select(row => Linear(LayerNorm(row, "ln_f"), embeddings, null, vocab)).ToArray();
    }

    private double[] LayerNorm(double[] row, string name)
    {
        var weight = W(name + ".weight");
        var bias = W(name + ".bias");
        double mean = row.Average(), variance = row.Select(v => (v - mean) * (v - mean)).Average();
        return row.Select((v, i) => (v - mean) / Math.Sqrt(variance + eps) * weight[i] + bias[i]).ToArray();
    }

    private static double[] Linear(double[] x, float[] weight, float[]? bias, int outputs)
    {
        int inputs = x.Length;
        var y = new double[outputs];
        for (int o = 0; o < outputs; o++)
        {
            double sum = bias?[o] ?? 0;
            for (int k = 0; k < inputs; k++) sum += x[k] * weight[o * inputs + k];
            y[o] = sum;
        }
        return y;
    }
}
