using System.Buffers;
using Microsoft.ML.Tokenizers;
using MlTokenizer = Microsoft.ML.Tokenizers.Tokenizer;

namespace Eval.Tokenizers;

/// <summary>
/// Any Hugging Face tokenizer.json as a <see cref="Microsoft.ML.Tokenizers.Tokenizer"/>, through our
/// <see cref="Tokenizer"/>: ids equal to the Rust library's, tokens with offsets, counts, decoding.
/// <list type="bullet">
/// <item>The whole tokenizer.json pipeline always runs: <see cref="EncodeSettings.ConsiderNormalization"/> and
/// <see cref="EncodeSettings.ConsiderPreTokenization"/> are ignored, since skipping a step would change the ids.</item>
/// <item>Offsets index the original text (UTF-16), never the normalised one, so <c>NormalizedText</c> is always null;
/// the post-processor's tokens ([CLS], &lt;/s&gt;) have the empty range 0..0.</item>
/// <item><see cref="AddSpecialTokens"/> plays the role of Hugging Face's add_special_tokens for every call.</item>
/// <item>With <see cref="EncodeSettings.MaxTokenCount"/> (and in GetIndexByTokenCount) the cut never falls inside a
/// character that several tokens spell (byte-level BPE, byte fallback).</item>
/// </list>
/// Immutable and thread-safe, like the tokenizer it wraps.
/// </summary>
public sealed class MlTokenizersAdapter : MlTokenizer
{
    private readonly TokenOffsetAligner aligner;

    public MlTokenizersAdapter(Tokenizer tokenizer, bool addSpecialTokens = true, bool skipSpecialTokensWhenDecoding = false)
    {
        Inner = tokenizer;
        AddSpecialTokens = addSpecialTokens;
        SkipSpecialTokensWhenDecoding = skipSpecialTokensWhenDecoding;
        aligner = new TokenOffsetAligner(tokenizer);
    }

    /// <summary>Loads tokenizer.json from a folder or the file's path (<see cref="Tokenizer.Load"/>).</summary>
    public static MlTokenizersAdapter Load(string folderOrFile, bool addSpecialTokens = true) =>
        new(Tokenizer.Load(folderOrFile), addSpecialTokens);

    public Tokenizer Inner { get; }
    public bool AddSpecialTokens { get; }
    public bool SkipSpecialTokensWhenDecoding { get; }

    /// <summary>The id of a token string (added tokens first, then the model's vocabulary), or null.</summary>
    public int? TokenToId(string token) => Inner.TokenToId(token);

    /// <summary>The token string of an id, or null.</summary>
    public string? IdToToken(int id) => Inner.IdToToken(id);

    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        var source = text ?? textSpan.ToString();
        var tokens = aligner.Encode(source, AddSpecialTokens);
        int taken = FittingPrefix(tokens, settings.MaxTokenCount);
        var result = new EncodedToken[taken];
        for (int i = 0; i < taken; i++) result[i] = new EncodedToken(tokens[i].Id, tokens[i].Text, tokens[i].Start..tokens[i].End);
        return new EncodeResults<EncodedToken>
        {
            Tokens = result, NormalizedText = null,
            CharsConsumed = taken == tokens.Length ? source.Length : EndOfPrefix(tokens, taken),
        };
    }

    protected override EncodeResults<int> EncodeToIds(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        var source = text ?? textSpan.ToString();
        if (settings.MaxTokenCount != int.MaxValue)
        {
            var tokens = EncodeToTokens(text, textSpan, settings);
            return new EncodeResults<int>
            {
                Tokens = tokens.Tokens.Select(t => t.Id).ToArray(), NormalizedText = null, CharsConsumed = tokens.CharsConsumed,
            };
        }
        return new EncodeResults<int> { Tokens = Inner.Encode(source, AddSpecialTokens).Ids, NormalizedText = null, CharsConsumed = source.Length };
    }

    protected override int CountTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        var source = text ?? textSpan.ToString();
        int count = Inner.Encode(source, AddSpecialTokens).Ids.Count;
        return settings.MaxTokenCount == int.MaxValue ? count : Math.Min(count, settings.MaxTokenCount);
    }

    /// <summary>
    /// From the start: the index just past the text that the first MaxTokenCount tokens cover; from the end: where the
    /// text that the last MaxTokenCount tokens cover begins. tokenCount says how many tokens that is.
    /// </summary>
    protected override int GetIndexByTokenCount(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings, bool fromEnd,
        out string? normalizedText, out int tokenCount)
    {
        normalizedText = null;
        var source = text ?? textSpan.ToString();
        var tokens = aligner.Encode(source, AddSpecialTokens);
        if (!fromEnd)
        {
            tokenCount = FittingPrefix(tokens, settings.MaxTokenCount);
            return tokenCount == tokens.Length ? source.Length : EndOfPrefix(tokens, tokenCount);
        }
        tokenCount = FittingSuffix(tokens, settings.MaxTokenCount);
        if (tokenCount == tokens.Length) return 0;
        int start = source.Length;
        for (int i = tokens.Length - tokenCount; i < tokens.Length; i++)
            if (tokens[i].FromText) start = Math.Min(start, tokens[i].Start);
        return start;
    }

    public override string Decode(IEnumerable<int> ids) => Inner.Decode(ids, SkipSpecialTokensWhenDecoding);

    /// <summary>Decodes the longest prefix of the ids whose text fits the destination.</summary>
    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed, out int charsWritten)
    {
        var all = ids as IReadOnlyList<int> ?? ids.ToArray();
        var text = Decode(all);
        if (text.Length <= destination.Length)
        {
            text.CopyTo(destination);
            (idsConsumed, charsWritten) = (all.Count, text.Length);
            return OperationStatus.Done;
        }
        int low = 0, high = all.Count - 1;
        string best = "";
        while (low <= high)
        {
            int middle = (low + high) / 2;
            var prefix = Decode(all.Take(middle));
            if (prefix.Length <= destination.Length) { (low, best) = (middle + 1, prefix); }
            else high = middle - 1;
        }
        best.CopyTo(destination);
        (idsConsumed, charsWritten) = (high, best.Length);
        return OperationStatus.DestinationTooSmall;
    }

    /// <summary>How many leading tokens to keep: at most max, and not ending inside a character the next token shares.</summary>
    private static int FittingPrefix(OffsetToken[] tokens, int max)
    {
        if (max >= tokens.Length) return tokens.Length;
        int taken = Math.Max(max, 0);
        while (taken > 0 && SharesCharacter(tokens, taken - 1, taken)) taken--;
        return taken;
    }

    private static int FittingSuffix(OffsetToken[] tokens, int max)
    {
        if (max >= tokens.Length) return tokens.Length;
        int taken = Math.Max(max, 0);
        while (taken > 0 && SharesCharacter(tokens, tokens.Length - taken - 1, tokens.Length - taken)) taken--;
        return taken;
    }

    private static bool SharesCharacter(OffsetToken[] tokens, int left, int right) =>
        left >= 0 && right < tokens.Length && tokens[left].FromText && tokens[right].FromText && tokens[left].End > tokens[right].Start;

    private static int EndOfPrefix(OffsetToken[] tokens, int taken)
    {
        int end = 0;
        for (int i = 0; i < taken; i++)
            if (tokens[i].FromText) end = Math.Max(end, tokens[i].End);
        return end;
    }
}
