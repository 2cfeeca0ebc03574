namespace Eval.Tokenizers;

/// <summary>An entry of tokenizer.json "added_tokens".</summary>
public sealed record AddedToken(int Id, string Content, bool Special, bool SingleWord, bool LeftStrip, bool RightStrip, bool Normalized);

/// <summary>
/// Splits text around added tokens: at each position the longest added token starting there is taken (a trie walk),
/// lstrip/rstrip tokens swallow the whitespace beside them. Separate instances serve the raw text (tokens with
/// normalized = false) and the normalised text (normalized = true, matched by their normalised content).
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
    }

    /// <summary>Sections of text in order: plain text (Token null) and added tokens.</summary>
    public List<(string Text, AddedToken? Token)> Split(string text)
    {
        var sections = new List<(string Text, AddedToken? Token)>();
        if (empty)
        {
            sections.Add((text, null));
            return sections;
        }
        int start = 0;
        for (int i = 0; i < text.Length;)
        {
            var (length, token) = LongestMatch(text, i);
            if (token is null || token.SingleWord && !IsWordBoundary(text, i, i + length))
            {
                i++;
                continue;
            }
            if (i > start) sections.Add((text[start..i], null));
            sections.Add((text.Substring(i, length), token));
            i += length;
            start = i;
        }
        if (start < text.Length) sections.Add((text[start..], null));

        for (int k = 0; k < sections.Count; k++)
        {
            if (sections[k].Token is not { } t) continue;
            if (t.LeftStrip && k > 0 && sections[k - 1].Token is null)
                sections[k - 1] = (sections[k - 1].Text.TrimEnd(), null);
            if (t.RightStrip && k + 1 < sections.Count && sections[k + 1].Token is null)
                sections[k + 1] = (sections[k + 1].Text.TrimStart(), null);
        }
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

    private static bool IsWordBoundary(string text, int start, int end) =>
        (start == 0 || !char.IsLetterOrDigit(text[start - 1])) && (end == text.Length || !char.IsLetterOrDigit(text[end]));
}
