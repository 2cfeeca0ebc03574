using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Eval.Engine;
using Eval.Engine.Cpu;
using Eval.Engine.IO;
using Eval.Harness.Benchmarks;
using Eval.Harness.Decoding;
using Eval.Models;

namespace Eval.Bench;

/// <summary>
/// BenchmarkDotNet micro-benchmarks: the ops one decoding step is made of (at ModernBERT-base's width), and one step of
/// each decoder — a Mask-Predict iteration of ModernBERT-base over a 64-token prompt and 16 masks, a greedy step of
/// SmolLM2-135M after a 64-token prompt — both on random weights. `bench decode` gives the end-to-end comparison.
/// </summary>
public static class DecoderStepComparison
{
    public static int Run(string[] args)
    {
        BenchmarkSwitcher.FromTypes([typeof(DecodingOpBenchmarks), typeof(DecoderStepBenchmarks)]).Run(args.Length == 0 ? ["--filter", "*"] : args);
        return 0;
    }
}

[WarmupCount(2)]
[IterationCount(7)]
public class DecodingOpBenchmarks
{
    private const int Hidden = 768, Heads = 12, HeadDim = 64;
    private CpuBackend backend = null!;
    private Tensor x = null!, w = null!, y = null!, norm = null!, qkv = null!, context = null!;
    private int[] positions = null!, valid = null!;
    private float[] frequencies = null!;

    /// <summary>Rows: the 80 tokens of a Mask-Predict pass, or the 1 token of a greedy step.</summary>
    [Params(1, 80)]
    public int Tokens { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        backend = new CpuBackend(2);
        var random = new Random(1);
        Tensor Filled(int rows, int cols)
        {
            var t = Tensor.Allocate(rows, cols);
            foreach (ref var v in t.Span) v = (float)(random.NextDouble() - 0.5);
            return t;
        }
        x = Filled(Tokens, Hidden);
        w = Filled(3 * Hidden, Hidden);
        y = Tensor.Allocate(Tokens, 3 * Hidden);
        norm = Filled(1, Hidden).Reshape(Hidden);
        qkv = Filled(80, 3 * Hidden);
        context = Tensor.Allocate(Tokens, Hidden);
        positions = Enumerable.Range(0, Tokens).ToArray();
        valid = Enumerable.Repeat(1, 80).ToArray();
        frequencies = RotaryFrequencies.Compute(10000, HeadDim);
    }

    [Benchmark] public void LinearQkv() => backend.Linear(x, w, null, y);
    [Benchmark] public void LayerNorm() => backend.LayerNorm(x, norm, null, 1e-5f, x);
    [Benchmark] public void Rope() => backend.Rope(new ColumnSlice(y, 0), Heads, HeadDim, positions, frequencies);

    /// <summary>Tokens queries over 80 keys (a whole Mask-Predict sequence, or a greedy step over a 80-token cache).</summary>
    [Benchmark]
    public void Attention() => backend.Attention(new ColumnSlice(qkv, 0), new ColumnSlice(qkv, Hidden), new ColumnSlice(qkv, 2 * Hidden),
        new AttentionShape(1, Tokens, 80, 80, Heads, Heads, HeadDim), new AttentionMask(valid) { QueryStart = 80 - Tokens }, context);

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var t in new[] { x, w, y, qkv, context }) t.Dispose();
        backend.Dispose();
    }
}

[WarmupCount(2)]
[IterationCount(7)]
[InvocationCount(32)]
public class DecoderStepBenchmarks
{
    private CpuBackend backend = null!;
    private ILanguageModel maskedModel = null!;
    private ICausalLanguageModel causalModel = null!;
    private MaskPredictDecoder maskPredict = null!;
    private MaskPredictInput input = null!;
    private KvCache? cache;
    private int[] prompt = null!;
    private int nextToken;

    [GlobalSetup]
    public void Setup()
    {
        backend = new CpuBackend(2);
        maskedModel = ModelLoader.Create(ModelShapes.Load("modernbert-base"), new RandomWeights(1), backend);
        causalModel = (ICausalLanguageModel)ModelLoader.Create(ModelShapes.Load("smollm2-135m"), new RandomWeights(1), backend);
        var random = new Random(2);
        int[] Ids(int n) => Enumerable.Range(0, n).Select(_ => random.Next(10, 40000)).ToArray();
        maskPredict = new MaskPredictDecoder(maskedModel, 50284, 50283);
        input = new MaskPredictInput(Ids(63), [50282]);
        prompt = Ids(64);
    }

    /// <summary>Each iteration's 32 greedy steps start from the same 64-token prompt in a fresh cache.</summary>
    [IterationSetup(Target = nameof(GreedyStep))]
    public void Prefill()
    {
        cache?.Dispose();
        cache = causalModel.CreateCache(1, 64 + 32);
        using var output = causalModel.Forward(TokenBatch.FromSequences([prompt], 0), cache);
        nextToken = prompt[^1];
    }

    /// <summary>One Mask-Predict iteration: a forward over prompt + 16 masks and the head at the masks.</summary>
    [Benchmark]
    public int MaskPredictIteration() => maskPredict.Decode([input], iterations: 1, lengths: [16], MaskPredictLayout.Appended)[0].Tokens[0];

    /// <summary>One greedy step: one token through the cache and the head at it.</summary>
    [Benchmark(Baseline = true)]
    public int GreedyStep()
    {
        using var output = causalModel.Forward(new TokenBatch([nextToken], [1], 1, 1), cache!);
        using var logits = causalModel.Logits(output.LastHidden, [0]);
        return nextToken = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.Row(0));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        cache?.Dispose();
        maskedModel.Dispose();
        causalModel.Dispose();
        backend.Dispose();
    }
}
