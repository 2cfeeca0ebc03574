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
/// Byte-pair encoding: the piece starts as code points, and the adjacent pair with the lowest merge rank (leftmost on
/// ties) is merged until no pair has a rank. Unknown results fall back to &lt;0xXX&gt; byte tokens or the unk token.
/// </summary>
public sealed class BpeModel : ITokenizerModel
{
    private readonly Dictionary<string, int> vocab;
    private readonly string[] idToToken;
    private readonly Dictionary<(string, string), int> ranks;
    private readonly PieceCache cache = new();
    private readonly string? unkToken;
    private readonly bool byteFallback, fuseUnknown, ignoreMerges;
    private readonly string continuingSubwordPrefix, endOfWordSuffix;

    public BpeModel(Dictionary<string, int> vocab, IReadOnlyList<(string, string)> merges, string? unkToken, bool byteFallback,
        bool fuseUnknown, bool ignoreMerges, string? continuingSubwordPrefix, string? endOfWordSuffix)
    {
        this.vocab = vocab;
        idToToken = new string[vocab.Count == 0 ? 0 : vocab.Values.Max() + 1];
        foreach (var (token, id) in vocab) idToToken[id] = token;
        ranks = new Dictionary<(string, string), int>(merges.Count);
        for (int i = 0; i < merges.Count; i++) ranks.TryAdd(merges[i], i);
        this.unkToken = unkToken;
        this.byteFallback = byteFallback;
        this.fuseUnknown = fuseUnknown;
        this.ignoreMerges = ignoreMerges;
        this.continuingSubwordPrefix = continuingSubwordPrefix ?? "";
        this.endOfWordSuffix = endOfWordSuffix ?? "";
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
        var symbols = CodePoints.Of(piece);
        if (endOfWordSuffix.Length > 0) symbols[^1] += endOfWordSuffix;
        while (symbols.Count > 1)
        {
            int best = -1, bestRank = int.MaxValue;
            for (int i = 0; i + 1 < symbols.Count; i++)
                if (ranks.TryGetValue((symbols[i], symbols[i + 1]), out int rank) && rank < bestRank)
                {
                    bestRank = rank;
                    best = i;
                }
            if (best < 0) break;
            symbols[best] += symbols[best + 1];
            symbols.RemoveAt(best + 1);
        }
        if (continuingSubwordPrefix.Length > 0)
            for (int i = 1; i < symbols.Count; i++) symbols[i] = continuingSubwordPrefix + symbols[i];

        var result = new List<Token>(symbols.Count);
        foreach (var symbol in symbols)
        {
            if (vocab.TryGetValue(symbol, out int id))
            {
                result.Add(new Token(symbol, id));
                continue;
            }
            if (byteFallback && ByteFallback.TryAppend(symbol, vocab, result)) continue;
            if (unkToken is not null && vocab.TryGetValue(unkToken, out int unkId))
            {
                if (fuseUnknown && result.Count > 0 && result[^1].Id == unkId) continue;
                result.Add(new Token(unkToken, unkId));
            }
        }
        return result.ToArray();
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
    private readonly string[] idToToken = vocab.OrderBy(p => p.Value).Select(p => p.Key).ToArray();

    public int VocabularySize => idToToken.Length;
    public bool TryGetId(string token, out int id) => vocab.TryGetValue(token, out id);
    public string? IdToToken(int id) => (uint)id < (uint)idToToken.Length ? idToToken[id] : null;

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
