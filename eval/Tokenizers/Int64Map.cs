namespace Eval.Tokenizers;

/// <summary>
/// A map from 64-bit keys (two ids packed) to values: open addressing with linear probing over a power-of-two table,
/// the key scrambled by a multiplicative hash (a plain long hash, high ^ low, makes every pair with the same XOR
/// collide); each key beside its value, so that a lookup touches one cache line. Filled once while loading, then
/// read-only and safe to read from several threads.
/// </summary>
internal sealed class Int64Map<TValue> where TValue : struct
{
    private struct Entry
    {
        public long Key;
        public TValue Value;
    }

    private const long Empty = long.MinValue;
    private readonly Entry[] entries;
    private readonly int mask, shift;

    public Int64Map(int capacity)
    {
        int size = 16;
        while (size < capacity * 2) size *= 2;
        entries = new Entry[size];
        foreach (ref var entry in entries.AsSpan()) entry.Key = Empty;
        mask = size - 1;
        shift = 64 - System.Numerics.BitOperations.Log2((uint)size);
    }

    public int Count { get; private set; }

    private int Slot(long key) => (int)((ulong)key * 0x9E3779B97F4A7C15UL >> shift);

    /// <summary>Sets the value of key (a key of long.MinValue is not allowed).</summary>
    public void Set(long key, TValue value)
    {
        if (key == Empty) throw new ArgumentOutOfRangeException(nameof(key));
        if ((Count + 1) * 2 > entries.Length) throw new InvalidOperationException("Int64Map is full: size it for every key");
        for (int slot = Slot(key); ; slot = (slot + 1) & mask)
        {
            ref var entry = ref entries[slot];
            if (entry.Key != key && entry.Key != Empty) continue;
            if (entry.Key == Empty) Count++;
            entry.Key = key;
            entry.Value = value;
            return;
        }
    }

    public bool TryGetValue(long key, out TValue value)
    {
        var entries = this.entries;
        for (int slot = Slot(key); ; slot = (slot + 1) & mask)
        {
            ref var entry = ref entries[slot];
            if (entry.Key == key)
            {
                value = entry.Value;
                return true;
            }
            if (entry.Key == Empty)
            {
                value = default;
                return false;
            }
        }
    }
}
