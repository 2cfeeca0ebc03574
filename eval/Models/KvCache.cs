using Eval.Engine;

namespace Eval.Models;

/// <summary>
/// Keys and values of every layer for incremental decoding: per layer [Batch·Capacity, KvHeads·HeadDim], batch element b
/// in rows b·Capacity .. b·Capacity + Length. KeyValid marks which cached positions are real tokens.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor[] keys, values;

    public KvCache(int layers, int batch, int capacity, int kvDim)
    {
        Batch = batch;
        Capacity = capacity;
        keys = new Tensor[layers];
        values = new Tensor[layers];
        for (int l = 0; l < layers; l++)
        {
            keys[l] = Tensor.Zeros(batch * capacity, kvDim);
            values[l] = Tensor.Zeros(batch * capacity, kvDim);
        }
        KeyValid = new int[batch * capacity];
    }

    public int Batch { get; }
    public int Capacity { get; }
    public int Length { get; private set; }
    public int[] KeyValid { get; }

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
        for (int b = 0; b < Batch; b++)
            for (int i = 0; i < newLength; i++)
            {
                var row = source.Row(b * newLength + i);
                int target = b * Capacity + Length + i;
                row.Slice(keyOffset, kvDim).CopyTo(keys[layer].Row(target));
                row.Slice(valueOffset, kvDim).CopyTo(values[layer].Row(target));
            }
    }

    /// <summary>Marks the new tokens' validity and advances the length once every layer has written.</summary>
    public void Commit(TokenBatch batch)
    {
        for (int b = 0; b < Batch; b++)
            for (int i = 0; i < batch.Length; i++)
                KeyValid[b * Capacity + Length + i] = batch.Mask[b * batch.Length + i];
        Length += batch.Length;
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
