namespace Eval.Tokenizers;

/// <summary>An entry of tokenizer.json "added_tokens".</summary>
public sealed record AddedToken(int Id, string Content, bool Special, bool SingleWord, bool LeftStrip, bool RightStrip, bool Normalized);

/// <summary>
/// Splits text around added tokens as the Rust library does: the leftmost-longest matches, each found after the end of
/// the one before (a trie walk); a single_word match with a word character (\w) beside it is dropped; lstrip and
/// rstrip matches take the whitespace beside them into the token (not past an earlier token), so the token's text
/// is the span with its whitespace. Separate instances serve the raw text (tokens with normalized = false) and the
/// normalised text (normalized = true, matched by their normalised content).
/// </summary>
public sealed class AddedTokenSplitter
{
    private sealed class Node
    {
        public Dictionary<char, Node>? Next;
        public AddedToken? Token;
    }

    private readonly Node root = new();
    private readonly bool empty = true;
    /// <summary>The characters some token starts with: text up to the next of them holds no match.</summary>
    private readonly System.Buffers.SearchValues<char> firstCharacters;

    public AddedTokenSplitter(IEnumerable<(string Content, AddedToken Token)> tokens)
    {
        foreach (var (content, token) in tokens)
        {
            if (content.Length == 0) continue;
            var node = root;
            foreach (var c in content)
            {
                node.Next ??= new Dictionary<char, Node>();
                if (!node.Next.TryGetValue(c, out var child)) node.Next[c] = child = new Node();
                node = child;
            }
            node.Token ??= token;
            empty = false;
        }
        firstCharacters = System.Buffers.SearchValues.Create(root.Next is null ? [] : root.Next.Keys.ToArray());
    }

    /// <summary>Sections of text in order: plain text (Token null) and added tokens with the text they cover.</summary>
    public List<(string Text, AddedToken? Token)> Split(string text)
    {
        var sections = new List<(string Text, AddedToken? Token)>();
        if (empty)
        {
            sections.Add((text, null));
            return sections;
        }
        int sectionStart = 0;
        for (int i = 0; i < text.Length;)
        {
            int skip = text.AsSpan(i).IndexOfAny(firstCharacters);
            if (skip < 0) break;
            i += skip;
            var (length, token) = LongestMatch(text, i);
            if (token is null)
            {
                i++;
                continue;
            }
            int start = i, stop = i + length;
            i = stop;
            if (token.SingleWord && !IsSingleWord(text, start, stop)) continue;
            if (token.LeftStrip) start = Math.Max(sectionStart, TrailingWhiteSpaceStart(text, start));
            if (token.RightStrip) stop = LeadingWhiteSpaceEnd(text, stop);
            if (start > sectionStart) sections.Add((text[sectionStart..start], null));
            sections.Add((text[start..stop], token));
            sectionStart = stop;
        }
        if (sectionStart < text.Length) sections.Add((text[sectionStart..], null));
        return sections;
    }

    private (int Length, AddedToken? Token) LongestMatch(string text, int start)
    {
        var node = root;
        (int, AddedToken?) best = (0, null);
        for (int j = start; j < text.Length && node.Next is not null && node.Next.TryGetValue(text[j], out node); j++)
            if (node.Token is not null) best = (j - start + 1, node.Token);
        return best;
    }

    private static int TrailingWhiteSpaceStart(string text, int end)
    {
        while (end > 0 && char.IsWhiteSpace(text[end - 1])) end--;
        return end;
    }

    private static int LeadingWhiteSpaceEnd(string text, int start)
    {
        while (start < text.Length && char.IsWhiteSpace(text[start])) start++;
        return start;
    }

    /// <summary>No word character (\w) just before start or just after end.</summary>
    private static bool IsSingleWord(string text, int start, int end)
    {
        if (start > 0)
        {
            int before = char.IsLowSurrogate(text[start - 1]) && start > 1 ? start - 2 : start - 1;
            if (UnicodeProperties.IsWordCharacter(UnicodeProperties.At(text, before, out _))) return false;
        }
        return end == text.Length || !UnicodeProperties.IsWordCharacter(UnicodeProperties.At(text, end, out _));
    }
}
