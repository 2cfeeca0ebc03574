using System.Collections.Concurrent;
using System.Text;

namespace Eval.Tokenizers;

/// <summary>A token: its text and id.</summary>
public readonly record struct Token(string Text, int Id);

/// <summary>Turns one pre-tokenized piece into tokens (tokenizer.json "model").</summary>
public interface ITokenizerModel
{
    int VocabularySize { get; }
    bool TryGetId(string token, out int id);
    string? IdToToken(int id);
    void Tokenize(ReadOnlySpan<char> piece, List<Token> output);
}

/// <summary>Code points of a string as separate strings (surrogate pairs kept together).</summary>
internal static class CodePoints
{
    public static List<string> Of(string text)
    {
        var result = new List<string>(text.Length);
        for (int i = 0; i < text.Length; i += char.IsSurrogatePair(text, i) ? 2 : 1)
            result.Add(text.Substring(i, char.IsSurrogatePair(text, i) ? 2 : 1));
        return result;
    }
}

/// <summary>
/// Token arrays per piece, shared by the models and looked up by the piece's characters (no string is made for a hit);
/// emptied when it grows past its limit. Pieces longer than <see cref="MaxPieceLength"/> are not kept: a whole text
/// as one piece (no pre-tokenizer) would never be seen again.
/// </summary>
internal sealed class PieceCache(PieceCache.PieceEncoder encode)
{
    /// <summary>How the model encodes a piece the cache does not hold, appending its tokens.</summary>
    public delegate void PieceEncoder(ReadOnlySpan<char> piece, List<Token> output);

    public const int MaxPieceLength = 64;
    private const int Limit = 100_000;
    /// <summary>Room for 10,000 pieces from the start, as the Rust library's cache has.</summary>
    private readonly ConcurrentDictionary<string, Token[]>.AlternateLookup<ReadOnlySpan<char>> bySpan =
        new ConcurrentDictionary<string, Token[]>(Environment.ProcessorCount, 10_000, StringComparer.Ordinal).GetAlternateLookup<ReadOnlySpan<char>>();
    private int count;

    /// <summary>Appends the piece's tokens: the cached ones, or the encoder's, kept when the piece is short enough.</summary>
    public void Tokenize(ReadOnlySpan<char> piece, List<Token> output)
    {
        bool cacheable = piece.Length <= MaxPieceLength;
        if (cacheable && bySpan.TryGetValue(piece, out var cached))
        {
            output.AddRange(cached);
            return;
        }
        int first = output.Count;
        encode(piece, output);
        if (cacheable) Add(piece, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(output)[first..]);
    }

    private void Add(ReadOnlySpan<char> piece, ReadOnlySpan<Token> tokens)
    {
        if (Volatile.Read(ref count) >= Limit)
        {
            bySpan.Dictionary.Clear();
            Volatile.Write(ref count, 0);
        }
        if (bySpan.TryAdd(piece, tokens.ToArray())) Interlocked.Increment(ref count);
    }
}

/// <summary>SentencePiece byte fallback: text spelled as &lt;0xXX&gt; tokens, when the vocabulary has all of them.</summary>
internal static class ByteFallback
{
    public static bool TryAppend(string text, IReadOnlyDictionary<string, int> vocab, List<Token> output)
    {
        var bytes = Encoding.UTF8.GetBytes(text).Select(b => $"<0x{b:X2}>").ToArray();
        if (!bytes.All(vocab.ContainsKey)) return false;
        output.AddRange(bytes.Select(b => new Token(b, vocab[b])));
        return true;
    }

    /// <summary>The id of each byte's &lt;0xXX&gt; token, -1 where the vocabulary lacks it.</summary>
    public static int[] Ids(IReadOnlyDictionary<string, int> vocab)
    {
        var ids = new int[256];
        for (int b = 0; b < 256; b++) ids[b] = vocab.TryGetValue($"<0x{b:X2}>", out int id) ? id : -1;
        return ids;
    }
}

/// <summary>
/// Byte-pair encoding as the Rust library does it: the piece becomes one symbol per code point (its vocabulary id, with
/// the continuing-subword prefix on all but the first and the end-of-word suffix on the last; a code point outside the
/// vocabulary becomes its &lt;0xXX&gt; byte tokens with byte fallback, else the unk token, consecutive unks fused with
/// fuse_unk), then the adjacent pair with the lowest merge rank (leftmost on ties) is merged, by a binary min-heap of
/// candidate pairs over an array-based linked list of symbols, until no pair has a merge.
/// </summary>
public sealed class BpeModel : ITokenizerModel
{
    private readonly record struct Merge(int Rank, int Merged);

    /// <summary>A pair waiting in the heap: ordered by rank, then by the left symbol's position.</summary>
    private readonly record struct Candidate(long Order, int Merged);

    private const int StackSymbols = 256;
    private readonly Dictionary<string, int> vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> vocabBySpan;
    private readonly string[] idToToken;
    private readonly Int64Map<Merge> merges;
    private readonly int[] singleCharIds, byteIds;
    private readonly PieceCache cache;
    private readonly int? unkId;
    private readonly bool byteFallback, fuseUnknown, ignoreMerges;
    private readonly string continuingSubwordPrefix, endOfWordSuffix;

    public BpeModel(Dictionary<string, int> vocab, IReadOnlyList<(string, string)> merges, string? unkToken, bool byteFallback,
        bool fuseUnknown, bool ignoreMerges, string? continuingSubwordPrefix, string? endOfWordSuffix)
    {
        cache = new PieceCache(Encode);
        this.vocab = vocab.Comparer == StringComparer.Ordinal ? vocab : new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        vocabBySpan = this.vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        idToToken = new string[vocab.Count == 0 ? 0 : vocab.Values.Max() + 1];
        foreach (var (token, id) in vocab) idToToken[id] = token;
        // The id of each one-character token of the BMP, -1 where there is none.
        singleCharIds = new int[char.MaxValue + 1];
        Array.Fill(singleCharIds, -1);
        foreach (var (token, id) in vocab)
            if (token.Length == 1) singleCharIds[token[0]] = id;
        byteIds = ByteFallback.Ids(vocab);
        this.continuingSubwordPrefix = continuingSubwordPrefix ?? "";
        this.endOfWordSuffix = endOfWordSuffix ?? "";
        // As the Rust library builds its merge map: a later duplicate of a pair replaces the earlier.
        this.merges = new Int64Map<Merge>(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            var merged = left + right[Math.Min(this.continuingSubwordPrefix.Length, right.Length)..];
            if (!vocab.TryGetValue(left, out int leftId) || !vocab.TryGetValue(right, out int rightId) || !vocab.TryGetValue(merged, out int mergedId))
                throw new TokenizerFormatException($"BPE merge '{left} {right}' has a part or a result ('{merged}') that is not in the vocabulary");
            this.merges.Set(PairKey(leftId, rightId), new Merge(rank, mergedId));
        }
        unkId = unkToken is not null && vocab.TryGetValue(unkToken, out int unk) ? unk : null;
        this.byteFallback = byteFallback;
        this.fuseUnknown = fuseUnknown;
        this.ignoreMerges = ignoreMerges;
    }

    public int VocabularySize => idToToken.Length;
    public bool TryGetId(string token, out int id) => vocab.TryGetValue(token, out id);
    public string? IdToToken(int id) => (uint)id < (uint)idToToken.Length ? idToToken[id] : null;

    private static long PairKey(int left, int right) => ((long)left << 32) | (uint)right;

    public void Tokenize(ReadOnlySpan<char> piece, List<Token> output)
    {
        if (piece.IsEmpty) return;
        if (ignoreMerges && vocabBySpan.TryGetValue(piece, out var whole))
        {
            output.Add(new Token(idToToken[whole], whole));
            return;
        }
        cache.Tokenize(piece, output);
    }

    [System.Runtime.CompilerServices.SkipLocalsInit]
    private void Encode(ReadOnlySpan<char> piece, List<Token> output)
    {
        // At most 4 byte tokens per UTF-16 unit of the piece and of its prefix and suffix.
        int capacity = 4 * piece.Length * (1 + continuingSubwordPrefix.Length + endOfWordSuffix.Length);
        int[]? rented = capacity > StackSymbols ? System.Buffers.ArrayPool<int>.Shared.Rent(3 * capacity) : null;
        Span<int> buffer = rented is null ? stackalloc int[3 * capacity] : rented;
        try
        {
            var ids = buffer[..capacity];
            int count = InitialSymbols(piece, ids);
            var next = buffer.Slice(capacity, capacity);
            var previous = buffer.Slice(2 * capacity, capacity);
            MergeAll(ids[..count], next[..count], previous[..count]);
            for (int at = count > 0 ? 0 : -1; at >= 0; at = next[at]) output.Add(new Token(idToToken[ids[at]], ids[at]));
        }
        finally
        {
            if (rented is not null) System.Buffers.ArrayPool<int>.Shared.Return(rented);
        }
    }

    /// <summary>Writes the ids of the piece's initial symbols; returns how many.</summary>
    private int InitialSymbols(ReadOnlySpan<char> piece, Span<int> ids)
    {
        int count = 0, pendingUnk = -1;
        bool decorated = continuingSubwordPrefix.Length + endOfWordSuffix.Length > 0;
        Span<char> decoratedText = stackalloc char[decorated ? continuingSubwordPrefix.Length + 2 + endOfWordSuffix.Length : 0];
        for (int i = 0; i < piece.Length;)
        {
            int length = char.IsSurrogatePair(piece[i], i + 1 < piece.Length ? piece[i + 1] : '\0') ? 2 : 1;
            scoped ReadOnlySpan<char> text = piece.Slice(i, length);
            bool isFirst = i == 0;
            i += length;
            if (decorated)
            {
                var prefix = isFirst ? "" : continuingSubwordPrefix;
                var suffix = i == piece.Length ? endOfWordSuffix : "";
                prefix.CopyTo(decoratedText);
                text.CopyTo(decoratedText[prefix.Length..]);
                suffix.CopyTo(decoratedText[(prefix.Length + length)..]);
                text = decoratedText[..(prefix.Length + length + suffix.Length)];
            }
            int id = text.Length == 1 ? singleCharIds[text[0]] : vocabBySpan.TryGetValue(text, out int found) ? found : -1;
            if (id >= 0)
            {
                if (pendingUnk >= 0) ids[count++] = pendingUnk;
                pendingUnk = -1;
                ids[count++] = id;
                continue;
            }
            // Byte fallback: the UTF-8 bytes of the symbol (with its prefix or suffix) when all are tokens; as in the
            // Rust library, a pending unk is not written before them.
            if (byteFallback && TryByteTokens(text, ids[count..], out int written))
            {
                count += written;
                continue;
            }
            if (unkId is { } unkToken)
            {
                if (pendingUnk >= 0 && !fuseUnknown) ids[count++] = pendingUnk;
                pendingUnk = unkToken;
            }
        }
        if (pendingUnk >= 0) ids[count++] = pendingUnk;
        return count;
    }

    private bool TryByteTokens(ReadOnlySpan<char> text, Span<int> ids, out int written)
    {
        Span<byte> bytes = stackalloc byte[text.Length * 3];
        written = Encoding.UTF8.GetBytes(text, bytes);
        for (int b = 0; b < written; b++)
            if ((ids[b] = byteIds[bytes[b]]) < 0) return false;
        return true;
    }

    /// <summary>Merges in place: ids[0] heads the list, next[k] is -1 at its end.</summary>
    [System.Runtime.CompilerServices.SkipLocalsInit]
    private void MergeAll(Span<int> ids, Span<int> next, Span<int> previous)
    {
        int count = ids.Length;
        for (int k = 0; k < count; k++)
        {
            next[k] = k + 1 < count ? k + 1 : -1;
            previous[k] = k - 1;
        }
        if (count < 2) return;
        // Each merge queues at most two pairs: 3 * count bounds the heap.
        int heapCapacity = 3 * count;
        Candidate[]? rented = heapCapacity > StackSymbols ? System.Buffers.ArrayPool<Candidate>.Shared.Rent(heapCapacity) : null;
        Span<Candidate> heap = rented is null ? stackalloc Candidate[heapCapacity] : rented;
        try
        {
            int size = 0;
            for (int k = 0; k + 1 < count; k++)
                if (merges.TryGetValue(PairKey(ids[k], ids[k + 1]), out var m)) Push(heap, ref size, Order(m.Rank, k), m.Merged);
            while (size > 0)
            {
                var top = Pop(heap, ref size);
                int position = (int)top.Order;
                // Removed symbols have next = -2; the last has next = -1.
                int right = next[position];
                if (right < 0) continue;
                // A stale entry: the pair here has changed since it was queued.
                if (!merges.TryGetValue(PairKey(ids[position], ids[right]), out var now) || now.Merged != top.Merged) continue;
                ids[position] = top.Merged;
                next[position] = next[right];
                next[right] = -2;
                if (next[position] >= 0) previous[next[position]] = position;
                int before = previous[position];
                if (before >= 0 && merges.TryGetValue(PairKey(ids[before], ids[position]), out var left))
                    Push(heap, ref size, Order(left.Rank, before), left.Merged);
                if (next[position] >= 0 && merges.TryGetValue(PairKey(ids[position], ids[next[position]]), out var after))
                    Push(heap, ref size, Order(after.Rank, position), after.Merged);
            }
        }
        finally
        {
            if (rented is not null) System.Buffers.ArrayPool<Candidate>.Shared.Return(rented);
        }
    }

    private static long Order(int rank, int position) => ((long)rank << 32) | (uint)position;

    private static void Push(Span<Candidate> heap, ref int size, long order, int merged)
    {
        int at = size++;
        while (at > 0)
        {
            int parent = (at - 1) >> 1;
            if (heap[parent].Order <= order) break;
            heap[at] = heap[parent];
            at = parent;
        }
        heap[at] = new Candidate(order, merged);
    }

    private static Candidate Pop(Span<Candidate> heap, ref int size)
    {
        var top = heap[0];
        var last = heap[--size];
        int at = 0;
        while (true)
        {
            int child = 2 * at + 1;
            if (child >= size) break;
            if (child + 1 < size && heap[child + 1].Order < heap[child].Order) child++;
            if (heap[child].Order >= last.Order) break;
            heap[at] = heap[child];
            at = child;
        }
        heap[at] = last;
        return top;
    }
}

/// <summary>BERT WordPiece: greedy longest match, continuation pieces prefixed (##), unk for unmatched words.</summary>
public sealed class WordPieceModel(Dictionary<string, int> vocab, string unkToken, string prefix, int maxCharacters) : ITokenizerModel
{
    /// <summary>Each id's token, indexed by id (a vocabulary may leave gaps; looking ids up by position misnamed them).</summary>
    private readonly string?[] idToToken = IdsToTokens(vocab);

    public int VocabularySize => idToToken.Length;
    public bool TryGetId(string token, out int id) => vocab.TryGetValue(token, out id);
    public string? IdToToken(int id) => (uint)id < (uint)idToToken.Length ? idToToken[id] : null;

    private static string?[] IdsToTokens(Dictionary<string, int> vocab)
    {
        var result = new string?[vocab.Count == 0 ? 0 : vocab.Values.Max() + 1];
        foreach (var (token, id) in vocab) result[id] = token;   // as BpeModel: of two tokens with one id, the later
        return result;
    }

    public void Tokenize(ReadOnlySpan<char> text, List<Token> output)
    {
        var piece = text.ToString();
        var chars = CodePoints.Of(piece);
        if (chars.Count > maxCharacters)
        {
            output.Add(new Token(unkToken, vocab[unkToken]));
            return;
        }
        var result = new List<Token>();
        for (int start = 0; start < chars.Count;)
        {
            int end = chars.Count;
            Token? found = null;
            for (; end > start; end--)
            {
                var sub = (start > 0 ? prefix : "") + string.Concat(chars.Skip(start).Take(end - start));
                if (vocab.TryGetValue(sub, out var id)) { found = new Token(sub, id); break; }
            }
            if (found is null)
            {
                output.Add(new Token(unkToken, vocab[unkToken]));
                return;
            }
            result.Add(found.Value);
            start = end;
        }
        output.AddRange(result);
    }
}
