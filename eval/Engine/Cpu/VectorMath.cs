using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Eval.Engine.Cpu;

/// <summary>Vectorised special functions for the activation kernels.</summary>
public static class VectorMath
{
    // Rational approximation of erf on [-4, 4] (odd numerator of degree 13 over even denominator of degree 8),
    // the one Eigen and TensorFlow use for float; outside that range erf is ±1 in single precision.
    internal const float A1 = -1.60960333262415e-02f, A3 = -2.95459980854025e-03f, A5 = -7.34990630326855e-04f,
        A7 = -5.69250639462346e-05f, A9 = -2.10102402082508e-06f, A11 = 2.77068142495902e-08f,
        A13 = -2.72614225801306e-10f;
    internal const float B0 = -1.42647390514189e-02f, B2 = -7.37332916720468e-03f, B4 = -1.68282697438203e-03f,
        B6 = -2.13374055278905e-04f, B8 = -1.45660718464996e-05f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Erf(Vector256<float> x)
    {
        x = Vector256.Min(Vector256.Max(x, Vector256.Create(-4f)), Vector256.Create(4f));
        var x2 = x * x;
        var p = Vector256.FusedMultiplyAdd(x2, Vector256.Create(A13), Vector256.Create(A11));
        p = Vector256.FusedMultiplyAdd(x2, p, Vector256.Create(A9));
        p = Vector256.FusedMultiplyAdd(x2, p, Vector256.Create(A7));
        p = Vector256.FusedMultiplyAdd(x2, p, Vector256.Create(A5));
        p = Vector256.FusedMultiplyAdd(x2, p, Vector256.Create(A3));
        p = Vector256.FusedMultiplyAdd(x2, p, Vector256.Create(A1));
        p *= x;
        var q = Vector256.FusedMultiplyAdd(x2, Vector256.Create(B8), Vector256.Create(B6));
        q = Vector256.FusedMultiplyAdd(x2, q, Vector256.Create(B4));
        q = Vector256.FusedMultiplyAdd(x2, q, Vector256.Create(B2));
        q = Vector256.FusedMultiplyAdd(x2, q, Vector256.Create(B0));
        return p / q;
    }

    public static float Erf(float x)
    {
        x = Math.Clamp(x, -4f, 4f);
        float x2 = x * x;
        float p = MathF.FusedMultiplyAdd(x2, A13, A11);
        p = MathF.FusedMultiplyAdd(x2, p, A9);
        p = MathF.FusedMultiplyAdd(x2, p, A7);
        p = MathF.FusedMultiplyAdd(x2, p, A5);
        p = MathF.FusedMultiplyAdd(x2, p, A3);
        p = MathF.FusedMultiplyAdd(x2, p, A1) * x;
        float q = MathF.FusedMultiplyAdd(x2, B8, B6);
        q = MathF.FusedMultiplyAdd(x2, q, B4);
        q = MathF.FusedMultiplyAdd(x2, q, B2);
        q = MathF.FusedMultiplyAdd(x2, q, B0);
        return p / q;
    }

    /// <summary>y = 0.5·x·(1 + erf(x/√2)); y may alias x.</summary>
    public static void Gelu(ReadOnlySpan<float> x, Span<float> y)
    {
        var half = Vector256.Create(0.5f);
        var invSqrt2 = Vector256.Create(0.70710678118654752f);
        int i = 0;
        for (; i + 8 <= x.Length; i += 8)
        {
            var v = Vector256.Create(x.Slice(i, 8));
            (half * v * (Vector256<float>.One + Erf(v * invSqrt2))).CopyTo(y.Slice(i, 8));
        }
        for (; i < x.Length; i++)
            y[i] = 0.5f * x[i] * (1f + Erf(x[i] * 0.70710678118654752f));
    }

    /// <summary>√(2/π), the factor inside GELU's tanh approximation.</summary>
    public const float SqrtTwoOverPi = 0.79788456080286536f;

    /// <summary>y = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))); y may alias x.</summary>
    public static void GeluTanh(ReadOnlySpan<float> x, Span<float> y)
    {
        Span<float> inner = stackalloc float[256];
        for (int start = 0; start < x.Length; start += inner.Length)
        {
            int n = Math.Min(inner.Length, x.Length - start);
            var xs = x.Slice(start, n);
            var t = inner[..n];
            for (int i = 0; i < n; i++) t[i] = SqrtTwoOverPi * (xs[i] + 0.044715f * xs[i] * xs[i] * xs[i]);
            TensorPrimitives.Tanh(t, t);
            var ys = y.Slice(start, n);
            for (int i = 0; i < n; i++) ys[i] = 0.5f * xs[i] * (1f + t[i]);
        }
    }

    /// <summary>y = max(x, 0); y may alias x.</summary>
    public static void Relu(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Max(x, 0f, y);

    /// <summary>y = x·sigmoid(x); y may alias x.</summary>
    public static void Silu(ReadOnlySpan<float> x, Span<float> y)
    {
        int i = 0;
        for (; i + 8 <= x.Length; i += 8)
        {
            var v = Vector256.Create(x.Slice(i, 8));
            (v / (Vector256<float>.One + Vector256.Exp(-v))).CopyTo(y.Slice(i, 8));
        }
        for (; i < x.Length; i++)
            y[i] = x[i] / (1f + MathF.Exp(-x[i]));
    }
}
