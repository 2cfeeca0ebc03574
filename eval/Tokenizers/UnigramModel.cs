namespace Eval.Tokenizers;

/// <summary>
/// SentencePiece unigram: the Viterbi segmentation of the piece maximising the sum of token log-probabilities;
/// a character no token covers becomes the unknown token (score = min score − 10), consecutive unknowns fused.
/// The vocabulary is a trie over UTF-16 units: the root's children in an array by character, deeper edges in one
/// hash map keyed by (node, character).
/// </summary>
public sealed class UnigramModel : ITokenizerModel
{
    private const int StackPositions = 256;
    private readonly string[] pieces;
    private readonly double[] scores;
    private readonly Dictionary<string, int> ids;
    private readonly int[] rootChildren = new int[char.MaxValue + 1];
    private readonly Int64Map<int> edges;
    /// <summary>The token each trie node spells, -1 where none; node 0 is the root.</summary>
    private readonly List<int> nodeTokens = [-1];
    private readonly PieceCache cache;
    private readonly int unkId;
    private readonly double unkScore;
    private readonly bool byteFallback;

    public UnigramModel(IReadOnlyList<(string Piece, double Score)> vocab, int unkId, bool byteFallback)
    {
        cache = new PieceCache(Segment);
        pieces = vocab.Select(v => v.Piece).ToArray();
        scores = vocab.Select(v => v.Score).ToArray();
        ids = new Dictionary<string, int>(pieces.Length);
        for (int i = 0; i < pieces.Length; i++) ids.TryAdd(pieces[i], i);
        this.unkId = unkId;
        this.byteFallback = byteFallback;
        unkScore = scores.Min() - 10.0;
        edges = new Int64Map<int>(pieces.Sum(p => p.Length));
        for (int i = 0; i < pieces.Length; i++)
        {
            if (i == unkId || pieces[i].Length == 0) continue;
            int node = 0;
            foreach (var c in pieces[i])
            {
                int child = Child(node, c);
                if (child == 0)
                {
                    child = nodeTokens.Count;
                    nodeTokens.Add(-1);
                    if (node == 0) rootChildren[c] = child;
                    else edges.Set(EdgeKey(node, c), child);
                }
                node = child;
            }
            if (nodeTokens[node] < 0) nodeTokens[node] = i;
        }
    }

    public int VocabularySize => pieces.Length;
    public int UnknownId => unkId;
    public bool TryGetId(string token, out int id) => ids.TryGetValue(token, out id);
    public string? IdToToken(int id) => (uint)id < (uint)pieces.Length ? pieces[id] : null;

    private static long EdgeKey(int node, char c) => ((long)node << 16) | c;

    /// <summary>The child of node by c, 0 (the root, never a child) where there is none.</summary>
    private int Child(int node, char c) => node == 0 ? rootChildren[c] : edges.TryGetValue(EdgeKey(node, c), out int child) ? child : 0;

    public void Tokenize(ReadOnlySpan<char> piece, List<Token> output)
    {
        if (piece.IsEmpty) return;
        cache.Tokenize(piece, output);
    }

    [System.Runtime.CompilerServices.SkipLocalsInit]
    private void Segment(ReadOnlySpan<char> piece, List<Token> output)
    {
        int n = piece.Length;
        // Over UTF-16 positions 0..n, of which only code point boundaries are reached: bestScore[e] is the score of the
        // best segmentation of piece[0..e), whose last token (bestId[e]) begins at bestBegin[e].
        double[]? rentedScores = n + 1 > StackPositions ? System.Buffers.ArrayPool<double>.Shared.Rent(n + 1) : null;
        int[]? rentedPositions = n + 1 > StackPositions ? System.Buffers.ArrayPool<int>.Shared.Rent(3 * (n + 1)) : null;
        Span<double> bestScore = rentedScores is null ? stackalloc double[n + 1] : rentedScores;
        bestScore = bestScore[..(n + 1)];
        Span<int> positions = rentedPositions is null ? stackalloc int[3 * (n + 1)] : rentedPositions;
        var bestBegin = positions[..(n + 1)];
        var bestId = positions.Slice(n + 1, n + 1);
        try
        {
            bestScore.Fill(double.NegativeInfinity);
            bestScore[0] = 0;
            for (int begin = 0; begin < n;)
            {
                int width = char.IsSurrogatePair(piece[begin], begin + 1 < n ? piece[begin + 1] : '\0') ? 2 : 1;
                bool hasSingle = false;
                double beginScore = bestScore[begin];
                int node = 0;
                for (int end = begin; end < n && (node = Child(node, piece[end])) != 0;)
                {
                    end++;
                    // A token ends here only at a code point boundary (never between the halves of a surrogate pair).
                    if (end < n && char.IsLowSurrogate(piece[end]) && char.IsHighSurrogate(piece[end - 1])) continue;
                    int id = nodeTokens[node];
                    if (id < 0) continue;
                    if (end == begin + width) hasSingle = true;
                    Relax(bestScore, bestBegin, bestId, begin, end, id, beginScore + scores[id]);
                }
                if (!hasSingle) Relax(bestScore, bestBegin, bestId, begin, begin + width, unkId, beginScore + unkScore);
                begin += width;
            }
            // The segments' ends, walked back from n and stored last first at the end of chain.
            var chain = positions.Slice(2 * (n + 1), n + 1);
            int head = chain.Length;
            for (int e = n; e > 0; e = bestBegin[e]) chain[--head] = e;
            int segmentsStart = output.Count;
            foreach (var end in chain[head..])
            {
                int begin = bestBegin[end], id = bestId[end];
                if (id != unkId)
                {
                    output.Add(new Token(pieces[id], id));
                    continue;
                }
                var text = piece[begin..end].ToString();
                if (byteFallback && ByteFallback.TryAppend(text, ids, output)) continue;
                if (output.Count > segmentsStart && output[^1].Id == unkId)
                    output[^1] = output[^1] with { Text = output[^1].Text + text };
                else
                    output.Add(new Token(text, id));
            }
        }
        finally
        {
            if (rentedScores is not null) System.Buffers.ArrayPool<double>.Shared.Return(rentedScores);
            if (rentedPositions is not null) System.Buffers.ArrayPool<int>.Shared.Return(rentedPositions);
        }
    }

    private static void Relax(Span<double> bestScore, Span<int> bestBegin, Span<int> bestId, int begin, int end, int id, double candidate)
    {
        // Strictly greater: among equal scores the token found first (leftmost begin) stays.
        if (candidate > bestScore[end])
        {
            bestScore[end] = candidate;
            bestBegin[end] = begin;
            bestId[end] = id;
        }
    }
}
