using System.Numerics.Tensors;

namespace Eval.Engine.Cpu;

public sealed unsafe partial class CpuBackend
{
    /// <summary>Elements whose exponentials are summed in float32 before the sum joins the row's double total.</summary>
    private const int ExpBlock = 1024;

    /// <summary>
    /// Per row: the maximum and its first index (TensorPrimitives), then Σ exp(logit − max) with the subtraction and exp
    /// vectorised in float32 over blocks of 1024, each block's float32 sum (TensorPrimitives.Sum) added into a double.
    /// </summary>
    public LogitSummary SummarizeLogits(Tensor logits, ReadOnlySpan<int> ids)
    {
        RequireHost(logits, nameof(SummarizeLogits));
        var (summary, wanted) = NewSummary(logits, ids);
        ForRows(logits.Rows, logits.Columns, (start, end) => SummarizeRows(logits, wanted, summary, start, end));
        return summary;
    }

    /// <summary>
    /// <see cref="SummarizeLogits"/> of logits already in host memory, on the calling thread: for a model whose logits
    /// are changed on the host before they are summarised (T5's tied head scale).
    /// </summary>
    public static LogitSummary SummarizeHostLogits(Tensor logits, ReadOnlySpan<int> ids)
    {
        RequireHost(logits, nameof(SummarizeHostLogits));
        var (summary, wanted) = NewSummary(logits, ids);
        SummarizeRows(logits, wanted, summary, 0, logits.Rows);
        return summary;
    }

    private static (LogitSummary Summary, int[] Wanted) NewSummary(Tensor logits, ReadOnlySpan<int> ids)
    {
        int rows = logits.Rows;
        int perRow = LogitSummary.IdsPerRowOf(rows, logits.Columns, ids);
        return (new LogitSummary(rows, perRow, new float[rows], new double[rows], new int[rows], new float[ids.Length]), ids.ToArray());
    }

    private static void SummarizeRows(Tensor logits, int[] wanted, LogitSummary summary, int start, int end)
    {
        int vocabulary = logits.Columns, perRow = summary.IdsPerRow;
        Span<float> block = stackalloc float[ExpBlock];
        for (int r = start; r < end; r++)
        {
            ReadOnlySpan<float> row = logits.Row(r);
            summary.ArgMax[r] = TensorPrimitives.IndexOfMax(row);
            float max = summary.Max[r] = vocabulary == 0 ? float.NegativeInfinity : row[summary.ArgMax[r]];
            double sum = 0;
            for (int at = 0; at < vocabulary; at += ExpBlock)
            {
                var part = row.Slice(at, Math.Min(ExpBlock, vocabulary - at));
                var exps = block[..part.Length];
                TensorPrimitives.Subtract(part, max, exps);
                TensorPrimitives.Exp(exps, exps);
                sum += TensorPrimitives.Sum(exps);
            }
            summary.SumExp[r] = sum;
            for (int i = 0; i < perRow; i++) summary.Gathered[r * perRow + i] = row[wanted[r * perRow + i]];
        }
    }
}
