using Eval.Engine.IO;

namespace Eval.Tests.Models;

/// <summary>
/// ModernBertDecoderForCausalLM re-stated in double precision, one sequence at a time, straight from the fixture
/// README's description (and transformers' modeling_modernbert_decoder.py): embeddings → LayerNorm; per layer
/// h += Wo·attention(attn_norm(h)) (no attn_norm in layer 0), causal, a sliding layer's query i seeing key j only when
/// i − j &lt; window, rotate-half RoPE with each layer kind's θ; h += Wo·(gelu(a) ⊙ g), [a; g] = Wi·mlp_norm(h); final norm;
/// lm_head dense → GELU → norm; decoder (the tied matrix) + bias. Checked against the fixture's golden first, then used
/// for variants the golden does not cover (other windows, sizes, seeds, biases).
/// </summary>
public sealed class ModernBertDecoderReference
{
    public sealed record Shape(int Vocab, int Hidden, int Heads, int Layers, int Inner, double Eps, double GlobalTheta, double LocalTheta,
        int Window, Func<int, bool> IsGlobal, bool NormBias = false, bool AttentionBias = false, bool MlpBias = false, bool ClassifierBias = false);

    private readonly Shape shape;
    private readonly Func<string, double[]?> tensor;

    /// <summary>tensor(name) gives a weight's values (row-major) or null when absent; the tied matrix is read as <c>decoder.weight</c>.</summary>
    public ModernBertDecoderReference(Shape shape, Func<string, double[]?> tensor)
    {
        this.shape = shape;
        this.tensor = tensor;
    }

    /// <summary>A reference over a safetensors file's tensors (widened from their stored dtype).</summary>
    public static ModernBertDecoderReference FromFile(Shape shape, string path, string tiedName = "decoder.weight")
    {
        var file = new SafetensorsFile(path);
        var cache = new Dictionary<string, double[]?>();
        return new ModernBertDecoderReference(shape, name =>
        {
            if (name == "decoder.weight") name = tiedName;
            if (cache.TryGetValue(name, out var v)) return v;
            if (!file.Entries.TryGetValue(name, out var entry)) return cache[name] = null;
            var values = new float[entry.ElementCount];
            file.ReadAsFloat32(entry, values);
            return cache[name] = values.Select(x => (double)x).ToArray();
        });
    }

    private double[] W(string name) => tensor(name) ?? throw new KeyNotFoundException(name);

    /// <summary>Logits [ids.Length, vocab] of one sequence (no padding), positions 0, 1, 2, ….</summary>
    public double[][] Logits(IReadOnlyList<int> ids)
    {
        int n = ids.Count, h = shape.Hidden, d = h / shape.Heads;
        var emb = W("decoder.weight");
        var x = new double[n][];
        for (int i = 0; i < n; i++) x[i] = Norm(emb.AsSpan(ids[i] * h, h).ToArray(), "model.embeddings.norm");
        for (int l = 0; l < shape.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            bool global = shape.IsGlobal(l);
            double theta = global ? shape.GlobalTheta : shape.LocalTheta;
            var normed = l == 0 ? x : x.Select(r => Norm(r, p + "attn_norm")).ToArray();
            var q = normed.Select(r => Linear(r, p + "attn.q_proj", h)).ToArray();
            var k = normed.Select(r => Linear(r, p + "attn.k_proj", h)).ToArray();
            var v = normed.Select(r => Linear(r, p + "attn.v_proj", h)).ToArray();
            for (int i = 0; i < n; i++)
            {
                Rope(q[i], i, d, theta);
                Rope(k[i], i, d, theta);
            }
            for (int i = 0; i < n; i++)
            {
                var context = new double[h];
                for (int head = 0; head < shape.Heads; head++)
                {
                    var scores = new double[i + 1];
                    double max = double.NegativeInfinity;
                    for (int j = 0; j <= i; j++)
                    {
                        if (!global && i - j >= shape.Window) { scores[j] = double.NegativeInfinity; continue; }
                        double dot = 0;
                        for (int c = 0; c < d; c++) dot += q[i][head * d + c] * k[j][head * d + c];
                        scores[j] = dot / Math.Sqrt(d);
                        max = Math.Max(max, scores[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= i; j++) sum += scores[j] = Math.Exp(scores[j] - max);
                    for (int j = 0; j <= i; j++)
                        for (int c = 0; c < d; c++) context[head * d + c] += scores[j] / sum * v[j][head * d + c];
                }
                var attended = Linear(context, p + "attn.Wo", h);
                for (int c = 0; c < h; c++) x[i][c] += attended[c];
            }
            for (int i = 0; i < n; i++)
            {
                var wi = Linear(Norm(x[i], p + "mlp_norm"), p + "mlp.Wi", 2 * shape.Inner);
                var gated = new double[shape.Inner];
                for (int c = 0; c < shape.Inner; c++) gated[c] = Engine.Reference.Gelu(wi[c]) * wi[shape.Inner + c];
                var output = Linear(gated, p + "mlp.Wo", h);
                for (int c = 0; c < h; c++) x[i][c] += output[c];
            }
        }
        var logits = new double[n][];
        var decoderBias = tensor("decoder.bias");
        for (int i = 0; i < n; i++)
        {
            var final = Norm(x[i], "model.final_norm");
            var dense = Linear(final, "lm_head.dense", h).Select(Engine.Reference.Gelu).ToArray();
            var head = Norm(dense, "lm_head.norm");
            logits[i] = new double[shape.Vocab];
            for (int t = 0; t < shape.Vocab; t++)
            {
                double dot = decoderBias?[t] ?? 0;
                for (int c = 0; c < h; c++) dot += emb[t * h + c] * head[c];
                logits[i][t] = dot;
            }
        }
        return logits;
    }

    private double[] Norm(double[] x, string prefix)
    {
        double mean = x.Average(), variance = x.Select(v => (v - mean) * (v - mean)).Average();
        var w = W(prefix + ".weight");
        var b = shape.NormBias ? W(prefix + ".bias") : null;
        return x.Select((v, c) => (v - mean) / Math.Sqrt(variance + shape.Eps) * w[c] + (b?[c] ?? 0)).ToArray();
    }

    /// <summary>y = W·x (+ bias when the tensor exists), W [outputs, x.Length].</summary>
    private double[] Linear(double[] x, string prefix, int outputs)
    {
        var w = W(prefix + ".weight");
        var b = tensor(prefix + ".bias");
        var y = new double[outputs];
        for (int o = 0; o < outputs; o++)
        {
            double sum = b?[o] ?? 0;
            for (int c = 0; c < x.Length; c++) sum += w[o * x.Length + c] * x[c];
            y[o] = sum;
        }
        return y;
    }

    /// <summary>Rotate-half RoPE on every head, inverse frequencies in float32 as torch computes them.</summary>
    private void Rope(double[] x, int position, int d, double theta)
    {
        int half = d / 2;
        for (int head = 0; head < shape.Heads; head++)
            for (int i = 0; i < half; i++)
            {
                double inv = 1f / MathF.Pow((float)theta, (float)(2 * i) / d);
                double angle = position * inv, cos = Math.Cos(angle), sin = Math.Sin(angle);
                int a = head * d + i, b = a + half;
                (x[a], x[b]) = (x[a] * cos - x[b] * sin, x[b] * cos + x[a] * sin);
            }
    }
}
