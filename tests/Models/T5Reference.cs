using Eval.Engine;
using Eval.Engine.IO;
using Eval.Models;
using Eval.Tests.Engine;

namespace Eval.Tests.Models;

/// <summary>
/// A naive double-precision T5 / mT5 forward written from transformers' modeling_t5.py for one unpadded sequence pair,
/// the yardstick for fixture variants that have no golden (other head counts, d_kv, layer counts, feed-forwards, tied
/// heads). It reads the weights straight from the checkpoint and shares no code with <see cref="T5Model"/>; its
/// buckets are computed in float32 as torch does (a float64 bucket can differ at a boundary).
/// </summary>
internal sealed class T5Reference
{
    private readonly ModelConfig config;
    private readonly Func<string, int[], double[]> read;
    private readonly int d, heads, dkv, inner, ff;
    private readonly ActivationKind activation;
    private readonly bool gated;

    public T5Reference(ModelConfig config, Checkpoint checkpoint)
    {
        this.config = config;
        read = (name, shape) =>
        {
            var values = new float[shape.Aggregate(1, (a, b) => a * b)];
            checkpoint.Read(name, shape, values);
            return values.Select(v => (double)v).ToArray();
        };
        d = config.HiddenSize;
        heads = config.NumAttentionHeads;
        dkv = config.HeadDim;
        inner = heads * dkv;
        ff = config.IntermediateSize;
        (activation, gated) = config.FeedForward();
        string embeddingName = T5Model.EmbeddingNames.First(checkpoint.Contains);
        Embeddings = read(embeddingName, [config.VocabSize, d]);
    }

    public double[] Embeddings { get; }

    /// <summary>The encoder's final states [S][d].</summary>
    public double[][] Encode(int[] ids)
    {
        var x = ids.Select(Embed).ToArray();
        var bias = BiasTable("encoder", bidirectional: true, ids.Length, ids.Length, 0);
        for (int l = 0; l < config.NumHiddenLayers; l++)
        {
            string p = $"encoder.block.{l}.";
            var h = Norm(x, p + "layer.0.layer_norm.weight");
            Add(x, Attention(h, h, p + "layer.0.SelfAttention.", bias, causal: false));
            Add(x, FeedForward(Norm(x, p + "layer.1.layer_norm.weight"), p + "layer.1.DenseReluDense."));
        }
        return Norm(x, "encoder.final_layer_norm.weight");
    }

    /// <summary>Logits [T][V] of the decoder inputs after the encoder's states.</summary>
    public double[][] DecodeLogits(double[][] encoder, int[] decoderIds)
    {
        var y = decoderIds.Select(Embed).ToArray();
        var bias = BiasTable("decoder", bidirectional: false, decoderIds.Length, decoderIds.Length, 0);
        int decoderLayers = config.NumDecoderLayers ?? config.NumHiddenLayers;
        for (int l = 0; l < decoderLayers; l++)
        {
            string p = $"decoder.block.{l}.";
            var h = Norm(y, p + "layer.0.layer_norm.weight");
            Add(y, Attention(h, h, p + "layer.0.SelfAttention.", bias, causal: true));
            Add(y, Attention(Norm(y, p + "layer.1.layer_norm.weight"), encoder, p + "layer.1.EncDecAttention.", null, causal: false));
            Add(y, FeedForward(Norm(y, p + "layer.2.layer_norm.weight"), p + "layer.2.DenseReluDense."));
        }
        var final = Norm(y, "decoder.final_layer_norm.weight");
        double scale = config.TieWordEmbeddings ? 1 / Math.Sqrt(d) : 1;
        var head = config.TieWordEmbeddings ? Embeddings : read("lm_head.weight", [config.VocabSize, d]);
        return final.Select(row => Project(row.Select(v => v * scale).ToArray(), head, config.VocabSize)).ToArray();
    }

    private double[] Embed(int id) => Embeddings.AsSpan(id * d, d).ToArray();

    private static void Add(double[][] x, double[][] y)
    {
        for (int i = 0; i < x.Length; i++)
            for (int c = 0; c < x[i].Length; c++) x[i][c] += y[i][c];
    }

    private double[][] Norm(double[][] x, string weightName)
    {
        var w = read(weightName, [d]);
        return x.Select(row =>
        {
            double scale = 1 / Math.Sqrt(row.Sum(v => v * v) / row.Length + config.NormEpsilon);
            return row.Select((v, c) => v * scale * w[c]).ToArray();
        }).ToArray();
    }

    private static double[] Project(double[] x, double[] weight, int rows)
    {
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double s = 0;
            for (int c = 0; c < x.Length; c++) s += weight[r * x.Length + c] * x[c];
            y[r] = s;
        }
        return y;
    }

    /// <summary>bias[h][i][j] from block 0's table of this stack.</summary>
    private double[][][] BiasTable(string stack, bool bidirectional, int queries, int keys, int queryStart)
    {
        int buckets = config.RelativeAttentionNumBuckets;
        var table = read($"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight", [buckets, heads]);
        return Enumerable.Range(0, heads).Select(h => Enumerable.Range(0, queries).Select(i => Enumerable.Range(0, keys)
            .Select(j => table[Bucket(j - (queryStart + i), bidirectional, buckets, config.RelativeAttentionMaxDistance) * heads + h]).ToArray()).ToArray()).ToArray();
    }

    /// <summary>transformers' _relative_position_bucket with torch's float32 steps.</summary>
    private static int Bucket(int relative, bool bidirectional, int buckets, int maxDistance)
    {
        int result = 0, n = buckets;
        if (bidirectional)
        {
            n /= 2;
            if (relative > 0) result += n;
            relative = Math.Abs(relative);
        }
        else
        {
            relative = -Math.Min(relative, 0);
        }
        int maxExact = n / 2;
        if (relative < maxExact) return result + relative;
        float ratio = MathF.Log(relative / (float)maxExact) / (float)Math.Log(maxDistance / (double)maxExact);
        return result + Math.Min(maxExact + (int)(ratio * (n - maxExact)), n - 1);
    }

    private double[][] Attention(double[][] queryStates, double[][] keyStates, string prefix, double[][][]? bias, bool causal)
    {
        var wq = read(prefix + "q.weight", [inner, d]);
        var wk = read(prefix + "k.weight", [inner, d]);
        var wv = read(prefix + "v.weight", [inner, d]);
        var wo = read(prefix + "o.weight", [d, inner]);
        var q = queryStates.Select(x => Project(x, wq, inner)).ToArray();
        var k = keyStates.Select(x => Project(x, wk, inner)).ToArray();
        var v = keyStates.Select(x => Project(x, wv, inner)).ToArray();
        var context = q.Select(_ => new double[inner]).ToArray();
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < q.Length; i++)
            {
                var scores = new double[k.Length];
                for (int j = 0; j < k.Length; j++)
                {
                    double s = 0;
                    for (int c = 0; c < dkv; c++) s += q[i][h * dkv + c] * k[j][h * dkv + c];
                    scores[j] = causal && j > i ? double.NegativeInfinity : s + (bias?[h][i][j] ?? 0);
                }
                double max = scores.Max(), z = scores.Sum(s => Math.Exp(s - max));
                for (int j = 0; j < k.Length; j++)
                {
                    double p = Math.Exp(scores[j] - max) / z;
                    for (int c = 0; c < dkv; c++) context[i][h * dkv + c] += p * v[j][h * dkv + c];
                }
            }
        return context.Select(c => Project(c, wo, d)).ToArray();
    }

    private double[][] FeedForward(double[][] x, string prefix)
    {
        var wo = read(prefix + "wo.weight", [d, ff]);
        if (gated)
        {
            var w0 = read(prefix + "wi_0.weight", [ff, d]);
            var w1 = read(prefix + "wi_1.weight", [ff, d]);
            return x.Select(row =>
            {
                var a = Project(row, w0, ff);
                var g = Project(row, w1, ff);
                return Project(a.Select((v, i) => Reference.Activation(activation, v) * g[i]).ToArray(), wo, d);
            }).ToArray();
        }
        var wi = read(prefix + "wi.weight", [ff, d]);
        return x.Select(row => Project(Project(row, wi, ff).Select(v => Reference.Activation(activation, v)).ToArray(), wo, d)).ToArray();
    }
}
