namespace Eval.Tokenizers;

/// <summary>
/// The pieces a pre-tokenizer cuts text into, held as ranges of one growing character buffer, so that splitting
/// allocates no string per piece. Made per call (never shared between threads).
/// </summary>
public sealed class PieceList
{
    private char[] characters;
    private (int Start, int Length)[] ranges;
    private int used, count;

    public PieceList(int capacity = 64)
    {
        characters = new char[Math.Max(capacity, 16)];
        ranges = new (int, int)[Math.Max(capacity / 4, 8)];
    }

    public int Count => count;

    public ReadOnlySpan<char> this[int index] => characters.AsSpan(ranges[index].Start, ranges[index].Length);

    public void Clear() => used = count = 0;

    /// <summary>Appends a piece (an empty one is dropped, as every pre-tokenizer drops them).</summary>
    public void Add(ReadOnlySpan<char> piece)
    {
        if (piece.IsEmpty) return;
        piece.CopyTo(Reserve(piece.Length));
        Commit(piece.Length);
    }

    /// <summary>Room for a piece of at most length characters, to fill and then <see cref="Commit"/>.</summary>
    public Span<char> Reserve(int length)
    {
        if (used + length > characters.Length) Array.Resize(ref characters, Math.Max(characters.Length * 2, used + length));
        return characters.AsSpan(used, length);
    }

    /// <summary>Ends the piece written into the last <see cref="Reserve"/>d room with its length.</summary>
    public void Commit(int length)
    {
        if (length == 0) return;
        if (count == ranges.Length) Array.Resize(ref ranges, ranges.Length * 2);
        ranges[count++] = (used, length);
        used += length;
    }
}
