using System.Numerics.Tensors;

namespace Eval.Engine.Cpu;

/// <summary>Which SGEMM the CPU backend uses.</summary>
public enum GemmPath
{
    /// <summary>An optimised BLAS (OpenBLAS, MKL, BLIS, Accelerate) or one a timed probe finds faster; else managed.</summary>
    Auto,
    Blas,
    Managed,
}

/// <summary>The reference backend: multi-threaded float32 on the host.</summary>
public sealed unsafe partial class CpuBackend : IBackend
{
    private const int ParallelThreshold = 1 << 15;
    private readonly ParallelOptions parallel;
    private readonly IMatrixMultiply attentionGemm;

    /// <param name="selector">where BLAS libraries are looked for and probes cached (default: this machine's)</param>
    public CpuBackend(int threads = 0, GemmPath gemm = GemmPath.Auto, GemmSelector? selector = null)
    {
        Threads = threads > 0 ? threads : Environment.ProcessorCount;
        parallel = new ParallelOptions { MaxDegreeOfParallelism = Threads };
        GemmChoice = (selector ?? GemmSelector.ForThisMachine()).Choose(gemm, Threads);
        attentionGemm = new ManagedGemm(1);
    }

    public int Threads { get; }
    public GemmChoice GemmChoice { get; }
    public IMatrixMultiply Gemm => GemmChoice.Gemm;
    public string Name => $"cpu ({Threads} threads, {Gemm.Name} gemm: {GemmChoice.Reason})";

    public Tensor Allocate(params int[] shape) => Tensor.Allocate(shape);
    public Tensor Zeros(params int[] shape) => Tensor.Zeros(shape);
    public Tensor TakeWeight(Tensor host) => RequireHost(host, nameof(TakeWeight));
    public Tensor CopyFromHost(Tensor host) => RequireHost(host, nameof(CopyFromHost)).Clone();
    public Tensor CopyToHost(Tensor tensor) => RequireHost(tensor, nameof(CopyToHost)).Clone();
    public Tensor TakeToHost(Tensor tensor) => RequireHost(tensor, nameof(TakeToHost));

    public void Linear(Tensor x, Tensor weight, Tensor? bias, Tensor y)
    {
        var (n, k, m) = OpChecks.Linear(x, weight, bias, y);
        float beta = 0f;
        if (bias is not null)
        {
            var b = bias.Span;
            for (int r = 0; r < n; r++) b.CopyTo(y.Row(r));
            beta = 1f;
        }
        Gemm.Multiply(false, true, n, m, k, 1f, x.Pointer, k, weight.Pointer, k, beta, y.Pointer, m);
    }

    public void Gather(Tensor table, ReadOnlySpan<int> ids, Tensor y)
    {
        OpChecks.Gather(table, ids, y);
        for (int i = 0; i < ids.Length; i++) table.Row(ids[i]).CopyTo(y.Row(i));
    }

    public void LayerNorm(Tensor x, Tensor? weight, Tensor? bias, float epsilon, Tensor y)
    {
        OpChecks.SameShape(x, y, nameof(LayerNorm));
        ForRows(x.Rows, x.Columns, (start, end) =>
        {
            for (int r = start; r < end; r++) NormalizeRow(x.Row(r), y.Row(r), weight, bias, epsilon);
        });
    }

    public void RmsNorm(Tensor x, Tensor weight, float epsilon, Tensor y)
    {
        OpChecks.SameShape(x, y, nameof(RmsNorm));
        ForRows(x.Rows, x.Columns, (start, end) =>
        {
            for (int r = start; r < end; r++) RmsNormalizeRow(x.Row(r), y.Row(r), weight, epsilon);
        });
    }

    public void AddLayerNorm(Tensor residual, Tensor x, Tensor? xBias, Tensor? weight, Tensor? bias, float epsilon, Tensor y)
    {
        OpChecks.AddNorm(residual, x, y, nameof(AddLayerNorm), ("x bias", xBias), ("weight", weight), ("bias", bias));
        ForRows(residual.Rows, residual.Columns, (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                var sum = residual.Row(r);
                TensorPrimitives.Add(sum, x.Row(r), sum);
                if (xBias is not null) TensorPrimitives.Add(sum, xBias.Span, sum);
                NormalizeRow(sum, y.Row(r), weight, bias, epsilon);
            }
        });
    }

    public void AddRmsNorm(Tensor residual, Tensor x, Tensor weight, float epsilon, Tensor y)
    {
        OpChecks.AddNorm(residual, x, y, nameof(AddRmsNorm), ("weight", weight));
        ForRows(residual.Rows, residual.Columns, (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                var sum = residual.Row(r);
                TensorPrimitives.Add(sum, x.Row(r), sum);
                RmsNormalizeRow(sum, y.Row(r), weight, epsilon);
            }
        });
    }

    /// <summary>dst = LayerNorm(src) (dst may be src): the mean, then the variance of src − mean, then weight and bias.</summary>
    private static void NormalizeRow(ReadOnlySpan<float> src, Span<float> dst, Tensor? weight, Tensor? bias, float epsilon)
    {
        int cols = src.Length;
        float mean = TensorPrimitives.Sum(src) / cols;
        TensorPrimitives.Subtract(src, mean, dst);
        float variance = TensorPrimitives.SumOfSquares(dst) / cols;
        TensorPrimitives.Multiply(dst, 1f / MathF.Sqrt(variance + epsilon), dst);
        if (weight is not null) TensorPrimitives.Multiply(dst, weight.Span, dst);
        if (bias is not null) TensorPrimitives.Add(dst, bias.Span, dst);
    }

    /// <summary>dst = src / sqrt(mean(src²) + ε) · weight (dst may be src).</summary>
    private static void RmsNormalizeRow(ReadOnlySpan<float> src, Span<float> dst, Tensor weight, float epsilon)
    {
        float scale = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(src) / src.Length + epsilon);
        TensorPrimitives.Multiply(src, scale, dst);
        TensorPrimitives.Multiply(dst, weight.Span, dst);
    }

    public void Activation(ActivationKind kind, Tensor x, Tensor y)
    {
        OpChecks.SameShape(x, y, nameof(Activation));
        int cols = x.Columns;
        ForRows(x.Rows, cols, (start, end) =>
        {
            var src = new ReadOnlySpan<float>(x.Pointer + (long)start * cols, (end - start) * cols);
            var dst = new Span<float>(y.Pointer + (long)start * cols, (end - start) * cols);
            Apply(kind, src, dst);
        });
    }

    /// <summary>The CPU backend computes in float32 only: a GEMM input is an ordinary tensor.</summary>
    public Tensor AllocateGemmInput(params int[] shape) => Allocate(shape);

    /// <summary>Nothing to send: the CPU backend's ops read their inputs where they are.</summary>
    public void SendAhead(ReadOnlySpan<int> values)
    {
    }

    public void LinearActivation(ActivationKind kind, Tensor x, Tensor weight, Tensor? bias, Tensor y)
    {
        Linear(x, weight, bias, y);
        Activation(kind, y, y);
    }

    public void GatedActivation(ActivationKind kind, Tensor x, Tensor y)
    {
        OpChecks.GatedActivation(x, y);
        int inner = y.Columns;
        ForRows(x.Rows, x.Columns, (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                var row = x.Row(r);
                var dst = y.Row(r);
                Apply(kind, row[..inner], dst);
                TensorPrimitives.Multiply(dst, row[inner..], dst);
            }
        });
    }

    public void Add(Tensor a, Tensor b, Tensor y)
    {
        OpChecks.SameShape(a, b, nameof(Add));
        OpChecks.SameShape(a, y, nameof(Add));
        TensorPrimitives.Add(a.Span, b.Span, y.Span);
    }

    public void Softmax(Tensor x)
    {
        ForRows(x.Rows, x.Columns, (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                var row = x.Row(r);
                TensorPrimitives.SoftMax(row, row);
            }
        });
    }

    public void CopyRows(RowBlocks source, RowBlocks destination, int batches, int rows, int columns)
    {
        OpChecks.CopyRows(source, destination, batches, rows, columns);
        for (int b = 0; b < batches; b++)
            for (int i = 0; i < rows; i++)
                source.Tensor.Row(source.FirstRow + b * source.BatchStride + i).Slice(source.Column, columns)
                    .CopyTo(destination.Tensor.Row(destination.FirstRow + b * destination.BatchStride + i).Slice(destination.Column, columns));
    }

    public void MeanPool(Tensor x, int length, ReadOnlySpan<int> include, Tensor y)
    {
        OpChecks.MeanPool(x, length, include, y);
        y.Span.Clear();
        for (int b = 0; b < y.Rows; b++)
        {
            int count = 0;
            for (int i = 0; i < length; i++)
                if (include[b * length + i] != 0)
                {
                    TensorPrimitives.Add(y.Row(b), x.Row(b * length + i), y.Row(b));
                    count++;
                }
            TensorPrimitives.Divide(y.Row(b), Math.Max(count, 1), y.Row(b));
        }
    }

    public void Dispose() { }

    private static Tensor RequireHost(Tensor t, string op) =>
        t.IsHost ? t : throw new ArgumentException($"{op}: {t} does not belong to the CPU backend");

    private static void Apply(ActivationKind kind, ReadOnlySpan<float> x, Span<float> y)
    {
        switch (kind)
        {
            case ActivationKind.Gelu: VectorMath.Gelu(x, y); break;
            case ActivationKind.Silu: VectorMath.Silu(x, y); break;
            case ActivationKind.GeluTanh: VectorMath.GeluTanh(x, y); break;
            case ActivationKind.Relu: VectorMath.Relu(x, y); break;
            default: throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown activation");
        }
    }

    /// <summary>Runs body over row ranges, in parallel when the work is large enough to pay for it.</summary>
    private void ForRows(int rows, int columns, Action<int, int> body)
    {
        long work = (long)rows * columns;
        if (Threads == 1 || work < ParallelThreshold || rows < 2)
        {
            body(0, rows);
            return;
        }
        int chunks = Math.Min(rows, Threads * 4);
        int per = (rows + chunks - 1) / chunks;
        Parallel.For(0, chunks, parallel, c =>
        {
            int start = c * per, end = Math.Min(rows, start + per);
            if (start < end) body(start, end);
        });
    }

}
