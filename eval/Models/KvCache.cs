using Eval.Engine;

namespace Eval.Models;

/// <summary>
/// Keys and values of every layer for incremental decoding: per layer [Batch·Capacity, KvHeads·HeadDim], batch element b
/// in rows b·Capacity .. b·Capacity + Length. KeyValid marks which cached slots are real tokens; padding inside a
/// right-padded prompt stays in the cache as invalid slots, so each sequence's positions (NextPosition) count only its
/// real tokens. The keys and values live where the backend computes; the bookkeeping stays on the host.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly IBackend backend;
    private readonly Tensor[] keys, values;

    public KvCache(IBackend backend, int layers, int batch, int capacity, int kvDim)
    {
        this.backend = backend;
        Batch = batch;
        Capacity = capacity;
        keys = new Tensor[layers];
        values = new Tensor[layers];
        // Zeroed: a slot not yet written is masked out, but its value still meets a zero weight in P·V, and 0·NaN is NaN.
        for (int l = 0; l < layers; l++)
        {
            keys[l] = backend.Zeros(batch * capacity, kvDim);
            values[l] = backend.Zeros(batch * capacity, kvDim);
        }
        KeyValid = new int[batch * capacity];
        NextPosition = new int[batch];
    }

    public int Batch { get; }
    public int Capacity { get; }
    public int Length { get; private set; }
    public int[] KeyValid { get; }

    /// <summary>Per sequence, the position its next real token takes: how many real tokens it has cached.</summary>
    public int[] NextPosition { get; }

    /// <summary>Positions [Batch·Length] of batch's tokens appended after what this cache holds (padding repeats the last).</summary>
    public int[] PositionsOf(TokenBatch batch)
    {
        var positions = new int[batch.Tokens];
        for (int b = 0; b < batch.Batch; b++)
        {
            int next = NextPosition[b];
            for (int i = 0; i < batch.Length; i++)
            {
                int index = b * batch.Length + i;
                positions[index] = next;
                if (batch.Mask[index] != 0) next++;
            }
        }
        return positions;
    }

    public Tensor Keys(int layer) => keys[layer];
    public Tensor Values(int layer) => values[layer];

    /// <summary>Checks that a batch of newLength tokens fits; call before the layers write into the cache.</summary>
    public void CheckFits(int batch, int newLength)
    {
        if (batch != Batch) throw new ArgumentException($"cache holds {Batch} sequences, batch has {batch}");
        if (Length + newLength > Capacity)
            throw new InvalidOperationException($"cache capacity {Capacity} exceeded: {Length} cached + {newLength} new tokens");
    }

    /// <summary>Copies rows [b·newLength + i] of source columns [offset, offset+kvDim) into cache rows b·Capacity + Length + i.</summary>
    public void Write(int layer, Tensor source, int keyOffset, int valueOffset, int newLength)
    {
        int kvDim = keys[layer].Columns;
        backend.CopyRows(new RowBlocks(source, 0, newLength, keyOffset), new RowBlocks(keys[layer], Length, Capacity), Batch, newLength, kvDim);
        backend.CopyRows(new RowBlocks(source, 0, newLength, valueOffset), new RowBlocks(values[layer], Length, Capacity), Batch, newLength, kvDim);
    }

    /// <summary>Marks the new tokens' validity and advances the length once every layer has written.</summary>
    public void Commit(TokenBatch batch)
    {
        for (int b = 0; b < Batch; b++)
            for (int i = 0; i < batch.Length; i++)
            {
                int valid = batch.Mask[b * batch.Length + i];
                KeyValid[b * Capacity + Length + i] = valid;
                NextPosition[b] += valid;
            }
        Length += batch.Length;
    }

    /// <summary>
    /// A cache of Batch·times sequences in which sequence b·times + r is a copy of sequence b, with room for capacity
    /// tokens: a shared prompt is run once and then continued in several ways.
    /// </summary>
    public KvCache Repeat(int times, int capacity)
    {
        if (times < 1) throw new ArgumentException($"cannot repeat a cache {times} times");
        if (capacity < Length) throw new ArgumentException($"capacity {capacity} is less than the {Length} cached tokens");
        var copy = new KvCache(backend, keys.Length, Batch * times, capacity, keys[0].Columns);
        // Copy r of sequence b is sequence b·times + r: for each r, the blocks step by Capacity in the source and times·capacity in the copy.
        for (int r = 0; r < times; r++)
            for (int l = 0; l < keys.Length; l++)
            {
                backend.CopyRows(new RowBlocks(keys[l], 0, Capacity), new RowBlocks(copy.keys[l], r * capacity, times * capacity), Batch, Length, keys[l].Columns);
                backend.CopyRows(new RowBlocks(values[l], 0, Capacity), new RowBlocks(copy.values[l], r * capacity, times * capacity), Batch, Length, values[l].Columns);
            }
        for (int b = 0; b < Batch; b++)
            for (int r = 0; r < times; r++)
            {
                int target = b * times + r;
                KeyValid.AsSpan(b * Capacity, Length).CopyTo(copy.KeyValid.AsSpan(target * capacity));
                copy.NextPosition[target] = NextPosition[b];
            }
        copy.Length = Length;
        return copy;
    }

    /// <summary>The key mask as it will be once batch is committed (the new tokens see themselves).</summary>
    public int[] KeyValidWith(TokenBatch batch)
    {
        var valid = (int[])KeyValid.Clone();
        for (int b = 0; b < Batch; b++)
            for (int i = 0; i < batch.Length; i++)
                valid[b * Capacity + Length + i] = batch.Mask[b * batch.Length + i];
        return valid;
    }

    public void Dispose()
    {
        foreach (var t in keys) t.Dispose();
        foreach (var t in values) t.Dispose();
    }
}
