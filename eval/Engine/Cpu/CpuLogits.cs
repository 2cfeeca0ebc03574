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
        int rows = logits.Rows, vocabulary = logits.Columns;
        int perRow = LogitSummary.IdsPerRowOf(rows, vocabulary, ids);
        var summary = new LogitSummary(rows, perRow, new float[rows], new double[rows], new int[rows], new float[ids.Length]);
        var wanted = ids.ToArray();
        ForRows(rows, vocabulary, (start, end) =>
        {
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
        });
        return summary;
    }
}
