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
    void Tokenize(string piece, List<Token> output);
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

/// <summary>Token arrays per piece, shared by the models; emptied when it grows past its limit.</summary>
internal sealed class PieceCache
{
    private const int Limit = 100_000;
    private readonly ConcurrentDictionary<string, Token[]> entries = new();

    public Token[] GetOrAdd(string piece, Func<string, Token[]> compute)
    {
        if (entries.TryGetValue(piece, out var tokens)) return tokens;
        tokens = compute(piece);
        if (entries.Count >= Limit) entries.Clear();
        entries.TryAdd(piece, tokens);
        return tokens;
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
}

/// <summary>
/// Byte-pair encoding as the Rust library does it: the piece becomes one symbol per code point (its vocabulary id, with
/// the continuing-subword prefix on all but the first and the end-of-word suffix on the last; a code point outside the
/// vocabulary becomes its &lt;0xXX&gt; byte tokens with byte fallback, else the unk token, consecutive unks fused with
/// fuse_unk), then the adjacent pair with the lowest merge rank (leftmost on ties) is merged, by a priority queue
/// over a linked list of symbols, until no pair has a merge.
/// </summary>
public sealed class BpeModel : ITokenizerModel
{
    private struct Symbol
    {
        public int Id, Previous, Next;
        public bool Removed;
    }

    private readonly Dictionary<string, int> vocab;
    private readonly string[] idToToken;
    private readonly Dictionary<(int Left, int Right), (int Rank, int Merged)> merges;
    private readonly PieceCache cache = new();
    private readonly int? unkId;
    private readonly bool byteFallback, fuseUnknown, ignoreMerges;
    private readonly string continuingSubwordPrefix, endOfWordSuffix;

    public BpeModel(Dictionary<string, int> vocab, IReadOnlyList<(string, string)> merges, string? unkToken, bool byteFallback,
        bool fuseUnknown, bool ignoreMerges, string? continuingSubwordPrefix, string? endOfWordSuffix)
    {
        this.vocab = vocab;
        idToToken = new string[vocab.Count == 0 ? 0 : vocab.Values.Max() + 1];
        foreach (var (token, id) in vocab) idToToken[id] = token;
        this.continuingSubwordPrefix = continuingSubwordPrefix ?? "";
        this.endOfWordSuffix = endOfWordSuffix ?? "";
        // As the Rust library builds its merge map: a later duplicate of a pair replaces the earlier.
        this.merges = new Dictionary<(int, int), (int, int)>(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            var merged = left + right[Math.Min(this.continuingSubwordPrefix.Length, right.Length)..];
            if (!vocab.TryGetValue(left, out int leftId) || !vocab.TryGetValue(right, out int rightId) || !vocab.TryGetValue(merged, out int mergedId))
                throw new TokenizerFormatException($"BPE merge '{left} {right}' has a part or a result ('{merged}') that is not in the vocabulary");
            this.merges[(leftId, rightId)] = (rank, mergedId);
        }
        unkId = unkToken is not null && vocab.TryGetValue(unkToken, out int unk) ? unk : null;
        this.byteFallback = byteFallback;
        this.fuseUnknown = fuseUnknown;
        this.ignoreMerges = ignoreMerges;
    }

    public int VocabularySize => idToToken.Length;
    public bool TryGetId(string token, out int id) => vocab.TryGetValue(token, out id);
    public string? IdToToken(int id) => (uint)id < (uint)idToToken.Length ? idToToken[id] : null;

    public void Tokenize(string piece, List<Token> output)
    {
        if (piece.Length == 0) return;
        if (ignoreMerges && vocab.TryGetValue(piece, out var whole))
        {
            output.Add(new Token(piece, whole));
            return;
        }
        output.AddRange(cache.GetOrAdd(piece, Encode));
    }

    private Token[] Encode(string piece)
    {
        var symbols = InitialSymbols(piece);
        MergeAll(symbols);
        var result = new List<Token>(symbols.Count);
        foreach (var symbol in symbols)
            if (!symbol.Removed) result.Add(new Token(idToToken[symbol.Id], symbol.Id));
        return result.ToArray();
    }

    private List<Symbol> InitialSymbols(string piece)
    {
        var ids = new List<int>(piece.Length);
        int? pendingUnk = null;
        for (int i = 0; i < piece.Length;)
        {
            int length = char.IsSurrogatePair(piece, i) ? 2 : 1;
            var text = piece.Substring(i, length);
            if (i > 0) text = continuingSubwordPrefix + text;
            i += length;
            if (i == piece.Length) text += endOfWordSuffix;
            if (vocab.TryGetValue(text, out int id))
            {
                if (pendingUnk is { } unk) ids.Add(unk);
                pendingUnk = null;
                ids.Add(id);
                continue;
            }
            // Byte fallback: the UTF-8 bytes of the symbol (with its prefix or suffix) when all are tokens; as in the
            // Rust library, a pending unk is not written before them.
            if (byteFallback && ByteTokens(text) is { } bytes)
            {
                ids.AddRange(bytes);
                continue;
            }
            if (unkId is { } unkToken)
            {
                if (pendingUnk is { } unk && !fuseUnknown) ids.Add(unk);
                pendingUnk = unkToken;
            }
        }
        if (pendingUnk is { } last) ids.Add(last);
        var symbols = new List<Symbol>(ids.Count);
        for (int k = 0; k < ids.Count; k++) symbols.Add(new Symbol { Id = ids[k], Previous = k - 1, Next = k + 1 < ids.Count ? k + 1 : -1 });
        return symbols;
    }

    private int[]? ByteTokens(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var ids = new int[bytes.Length];
        for (int b = 0; b < bytes.Length; b++)
            if (!vocab.TryGetValue($"<0x{bytes[b]:X2}>", out ids[b])) return null;
        return ids;
    }

    private void MergeAll(List<Symbol> symbols)
    {
        var queue = new PriorityQueue<(int Position, int Merged), (int Rank, int Position)>();
        for (int i = 0; i + 1 < symbols.Count; i++)
            if (merges.TryGetValue((symbols[i].Id, symbols[i + 1].Id), out var m)) queue.Enqueue((i, m.Merged), (m.Rank, i));
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(symbols);
        while (queue.TryDequeue(out var top, out _))
        {
            ref var current = ref span[top.Position];
            if (current.Removed || current.Next < 0) continue;
            int nextPosition = current.Next;
            ref var right = ref span[nextPosition];
            // A stale entry: the pair here has changed since it was queued.
            if (!merges.TryGetValue((current.Id, right.Id), out var now) || now.Merged != top.Merged) continue;
            current.Id = top.Merged;
            current.Next = right.Next;
            right.Removed = true;
            if (current.Next >= 0) span[current.Next].Previous = top.Position;
            if (current.Previous >= 0 && merges.TryGetValue((span[current.Previous].Id, current.Id), out var before))
                queue.Enqueue((current.Previous, before.Merged), (before.Rank, current.Previous));
            if (current.Next >= 0 && merges.TryGetValue((current.Id, span[current.Next].Id), out var after))
                queue.Enqueue((top.Position, after.Merged), (after.Rank, top.Position));
        }
    }
}

/// <summary>
/// SentencePiece unigram: the Viterbi segmentation of the piece maximising the sum of token log-probabilities;
/// a character no token covers becomes the unknown token (score = min score − 10), consecutive unknowns fused.
/// </summary>
public sealed class UnigramModel : ITokenizerModel
{
    private sealed class TrieNode
    {
        public Dictionary<int, TrieNode>? Children;
        public int Id = -1;
    }

    private readonly string[] pieces;
    private readonly double[] scores;
    private readonly Dictionary<string, int> ids;
    private readonly TrieNode root = new();
    private readonly PieceCache cache = new();
    private readonly int unkId;
    private readonly double unkScore;
    private readonly bool byteFallback;

    public UnigramModel(IReadOnlyList<(string Piece, double Score)> vocab, int unkId, bool byteFallback)
    {
        pieces = vocab.Select(v => v.Piece).ToArray();
        scores = vocab.Select(v => v.Score).ToArray();
        ids = new Dictionary<string, int>(pieces.Length);
        for (int i = 0; i < pieces.Length; i++) ids.TryAdd(pieces[i], i);
        this.unkId = unkId;
        this.byteFallback = byteFallback;
        unkScore = scores.Min() - 10.0;
        for (int i = 0; i < pieces.Length; i++)
        {
            if (i == unkId || pieces[i].Length == 0) continue;
            var node = root;
            foreach (var rune in pieces[i].EnumerateRunes())
            {
                node.Children ??= [];
                if (!node.Children.TryGetValue(rune.Value, out var child)) node.Children[rune.Value] = child = new TrieNode();
                node = child;
            }
            if (node.Id < 0) node.Id = i;
        }
    }

    public int VocabularySize => pieces.Length;
    public int UnknownId => unkId;
    public bool TryGetId(string token, out int id) => ids.TryGetValue(token, out id);
    public string? IdToToken(int id) => (uint)id < (uint)pieces.Length ? pieces[id] : null;

    public void Tokenize(string piece, List<Token> output)
    {
        if (piece.Length == 0) return;
        output.AddRange(cache.GetOrAdd(piece, Segment));
    }

    private Token[] Segment(string piece)
    {
        // Code points and their UTF-16 offsets (offsets[n] = piece.Length).
        var runes = new List<int>(piece.Length);
        var offsets = new List<int>(piece.Length + 1);
        for (int i = 0; i < piece.Length; i += char.IsSurrogatePair(piece, i) ? 2 : 1)
        {
            offsets.Add(i);
            runes.Add(char.ConvertToUtf32(piece, i) is var cp ? cp : 0);
        }
        offsets.Add(piece.Length);
        int n = runes.Count;
        // bestScore[e]: score of the best segmentation of runes[0..e), reached by the token (bestBegin[e], bestId[e]).
        var bestScore = new double[n + 1];
        var bestBegin = new int[n + 1];
        var bestId = new int[n + 1];
        Array.Fill(bestScore, double.NegativeInfinity);
        bestScore[0] = 0;
        for (int begin = 0; begin < n; begin++)
        {
            bool hasSingle = false;
            var node = root;
            for (int end = begin; end < n && node.Children is not null && node.Children.TryGetValue(runes[end], out node); end++)
            {
                if (node.Id < 0) continue;
                if (end == begin) hasSingle = true;
                Relax(begin, end + 1, node.Id, scores[node.Id]);
            }
            if (!hasSingle) Relax(begin, begin + 1, unkId, unkScore);
        }

        var segments = new List<(int Begin, int End, int Id)>();
        for (int e = n; e > 0; e = bestBegin[e]) segments.Add((bestBegin[e], e, bestId[e]));
        segments.Reverse();
        var output = new List<Token>(segments.Count);
        foreach (var (begin, end, id) in segments)
        {
            var text = piece[offsets[begin]..offsets[end]];
            if (id == unkId && byteFallback && ByteFallback.TryAppend(text, ids, output)) continue;
            if (id == unkId && output.Count > 0 && output[^1].Id == unkId)
                output[^1] = output[^1] with { Text = output[^1].Text + text };
            else
                output.Add(new Token(text, id));
        }
        return output.ToArray();

        void Relax(int begin, int end, int id, double score)
        {
            double candidate = bestScore[begin] + score;
            // Strictly greater: among equal scores the token found first (leftmost begin) stays.
            if (candidate > bestScore[end])
            {
                bestScore[end] = candidate;
                bestBegin[end] = begin;
                bestId[end] = id;
            }
        }
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

    public void Tokenize(string piece, List<Token> output)
    {
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
