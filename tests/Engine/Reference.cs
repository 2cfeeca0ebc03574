using Eval.Engine;

namespace Eval.Tests.Engine;

/// <summary>Naive double-precision versions of every op, the yardstick for the backends.</summary>
public static class Reference
{
    public static double Erf(double x)
    {
        // Maclaurin series; in double it is accurate to ~1e-12 for |x| ≤ 4, and erf is ±1 to float precision beyond.
        if (Math.Abs(x) > 4.5) return Math.Sign(x);
        double sum = 0, term = x;
        for (int n = 0; n < 200; n++)
        {
            sum += term / (2 * n + 1);
            term *= -x * x / (n + 1);
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    public static double Gelu(double x) => 0.5 * x * (1 + Erf(x / Math.Sqrt(2)));
    public static double Silu(double x) => x / (1 + Math.Exp(-x));
    public static double GeluTanh(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    public static double Relu(double x) => Math.Max(x, 0);

    public static double Activation(Eval.Engine.ActivationKind kind, double x) => kind switch
    {
        Eval.Engine.ActivationKind.Gelu => Gelu(x),
        Eval.Engine.ActivationKind.Silu => Silu(x),
        Eval.Engine.ActivationKind.GeluTanh => GeluTanh(x),
        Eval.Engine.ActivationKind.Relu => Relu(x),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static float[] Gemm(bool ta, bool tb, int m, int n, int k, float alpha, float[] a, int lda, float[] b, int ldb, float beta, float[] c, int ldc)
    {
        var result = (float[])c.Clone();
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += (double)(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
                result[i * ldc + j] = (float)(alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j]));
            }
        return result;
    }

    public static float[] LayerNorm(float[] x, int cols, float[]? w, float[]? b, double eps)
    {
        var y = new float[x.Length];
        for (int r = 0; r < x.Length / cols; r++)
        {
            double mean = 0, variance = 0;
            for (int c = 0; c < cols; c++) mean += x[r * cols + c];
            mean /= cols;
            for (int c = 0; c < cols; c++) variance += Math.Pow(x[r * cols + c] - mean, 2);
            variance /= cols;
            for (int c = 0; c < cols; c++)
                y[r * cols + c] = (float)((x[r * cols + c] - mean) / Math.Sqrt(variance + eps) * (w?[c] ?? 1) + (b?[c] ?? 0));
        }
        return y;
    }

    public static float[] RmsNorm(float[] x, int cols, float[] w, double eps)
    {
        var y = new float[x.Length];
        for (int r = 0; r < x.Length / cols; r++)
        {
            double ms = 0;
            for (int c = 0; c < cols; c++) ms += (double)x[r * cols + c] * x[r * cols + c];
            double scale = 1 / Math.Sqrt(ms / cols + eps);
            for (int c = 0; c < cols; c++) y[r * cols + c] = (float)(x[r * cols + c] * scale * w[c]);
        }
        return y;
    }

    public static float[] Rope(float[] x, int cols, int offset, int heads, int d, int[] positions, float[] inv)
    {
        var y = (float[])x.Clone();
        int half = d / 2;
        for (int r = 0; r < positions.Length; r++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < half; i++)
                {
                    double angle = (double)positions[r] * inv[i];
                    int at = r * cols + offset + h * d + i;
                    double x1 = x[at], x2 = x[at + half];
                    y[at] = (float)(x1 * Math.Cos(angle) - x2 * Math.Sin(angle));
                    y[at + half] = (float)(x2 * Math.Cos(angle) + x1 * Math.Sin(angle));
                }
        return y;
    }

    /// <summary>
    /// Attention with the semantics documented on IBackend.Attention, in double. <paramref name="biasData"/> holds the
    /// host values of a relative position table [buckets, heads] or a given bias [heads, Sq, Sk] (the mask's tensors
    /// live on the backend under test).
    /// </summary>
    public static float[] Attention(float[] q, int qCols, int qOff, float[] k, int kCols, int kOff, float[] v, int vCols, int vOff,
        AttentionShape s, AttentionMask mask, float[]? biasData = null)
    {
        var output = new float[s.Batch * s.QueryLength * s.QueryHeads * s.HeadDim];
        int groups = s.QueryHeads / s.KeyValueHeads, d = s.HeadDim;
        double scale = mask.Scale ?? 1 / Math.Sqrt(d);
        var valid = mask.KeyValid.Span;
        var bias = mask.Bias;
        for (int b = 0; b < s.Batch; b++)
            for (int h = 0; h < s.QueryHeads; h++)
                for (int i = 0; i < s.QueryLength; i++)
                {
                    int pos = mask.QueryStart + i;
                    var scores = new double[s.KeyLength];
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < s.KeyLength; j++)
                    {
                        bool visible = valid[b * s.KeyRowsPerBatch + j] != 0 && (!mask.Causal || j <= pos)
                                       && (mask.Window is not { } w || InWindow(w, pos, j, valid.Slice(b * s.KeyRowsPerBatch, s.KeyRowsPerBatch)))
                                       && (mask.SourceLengths.IsEmpty || pos >= mask.SourceLengths.Span[b] || j < mask.SourceLengths.Span[b]);
                        if (!visible) { scores[j] = double.NegativeInfinity; continue; }
                        double dot = 0;
                        for (int c = 0; c < d; c++)
                            dot += (double)q[(b * s.QueryLength + i) * qCols + qOff + h * d + c]
                                   * k[(b * s.KeyRowsPerBatch + j) * kCols + kOff + h / groups * d + c];
                        scores[j] = dot * scale + bias.Kind switch
                        {
                            AttentionBiasKind.Alibi => bias.Slopes.Span[h] * (double)RealKeysBefore(valid.Slice(b * s.KeyRowsPerBatch, j)),
                            AttentionBiasKind.RelativePositionBuckets =>
                                biasData![T5Bucket(j - pos, bias.Bidirectional, bias.NumBuckets, bias.MaxDistance) * s.QueryHeads + h],
                            AttentionBiasKind.Given => biasData![(h * s.QueryLength + i) * s.KeyLength + j],
                            _ => 0,
                        };
                        max = Math.Max(max, scores[j]);
                    }
                    if (double.IsNegativeInfinity(max)) continue;
                    double sum = 0;
                    for (int j = 0; j < s.KeyLength; j++) sum += scores[j] = Math.Exp(scores[j] - max);
                    for (int c = 0; c < d; c++)
                    {
                        double acc = 0;
                        for (int j = 0; j < s.KeyLength; j++)
                            if (scores[j] > 0)
                                acc += scores[j] / sum * v[(b * s.KeyRowsPerBatch + j) * vCols + vOff + h / groups * d + c];
                        output[(b * s.QueryLength + i) * s.QueryHeads * d + h * d + c] = (float)acc;
                    }
                }
        return output;
    }

    /// <summary>Key j in the window of the query in slot p: slots apart, or (CountsValidKeys) valid keys apart.</summary>
    private static bool InWindow(AttentionWindow w, int p, int j, ReadOnlySpan<int> valid)
    {
        int query = w.CountsValidKeys ? RealKeysBefore(valid[..p]) : p, key = w.CountsValidKeys ? RealKeysBefore(valid[..j]) : j;
        return key >= query - w.Before && key <= query + w.After;
    }

    private static int RealKeysBefore(ReadOnlySpan<int> rows)
    {
        int count = 0;
        foreach (int flag in rows) if (flag != 0) count++;
        return count;
    }

    /// <summary>
    /// transformers' T5 _relative_position_bucket re-stated step by step in float32 (torch's order of operations, the
    /// logarithm correctly rounded to float32).
    /// </summary>
    public static int T5Bucket(int relativePosition, bool bidirectional, int numBuckets, int maxDistance)
    {
        int relativeBuckets = 0;
        if (bidirectional)
        {
            numBuckets /= 2;
            relativeBuckets += relativePosition > 0 ? numBuckets : 0;
            relativePosition = Math.Abs(relativePosition);
        }
        else
        {
            relativePosition = -Math.Min(relativePosition, 0);
        }
        int maxExact = numBuckets / 2;
        if (relativePosition < maxExact) return relativeBuckets + relativePosition;
        float scaled = (float)relativePosition / (float)maxExact;
        float logScaled = (float)Math.Log(scaled);
        float denominator = (float)Math.Log(maxDistance / (double)maxExact);
        float fraction = logScaled / denominator * (float)(numBuckets - maxExact);
        long ifLarge = maxExact + (long)fraction;
        return relativeBuckets + (int)Math.Min(ifLarge, numBuckets - 1);
    }

    /// <summary>
    /// The attention cases' key mask: keys 0..kLen of every batch element are real, except the last element's final
    /// padTail (its padding); rows past kLen of each kvRows-row block stay 0.
    /// </summary>
    public static int[] KeyValid(int batch, int kvRows, int kLen, int padTail)
    {
        var valid = new int[batch * kvRows];
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < kLen; j++)
                valid[b * kvRows + j] = b == batch - 1 && j >= kLen - padTail ? 0 : 1;
        return valid;
    }

    /// <summary>The attention cases' source lengths (none for 0): each batch element's 9 shorter than the one before.</summary>
    public static int[]? SourceLengths(int batch, int sourceLength) =>
        sourceLength == 0 ? null : Enumerable.Range(0, batch).Select(b => sourceLength - 9 * b).ToArray();

    public static float[] Random(int count, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return values;
    }

    public static double MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.AreEqual(a.Length, b.Length, "lengths differ");
        double max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs((double)a[i] - b[i]));
        return max;
    }
}
