namespace Eval.Tokenizers;

/// <summary>
/// The Split pre-tokenizer with a {"Regex": ...} pattern, as the Rust library's NormalizedString::split: the text cut
/// into matches (empty ones included) and the stretches between, flags flipped when inverted, merged as the
/// behaviour says, and empty pieces dropped.
/// </summary>
public sealed class RegexSplitPreTokenizer(OnigurumaPattern pattern, SplitBehavior behavior, bool invert) : IPreTokenizer
{
    public void Split(ReadOnlySpan<char> span, int sectionIndex, PieceList output)
    {
        if (span.Length == 0) return;
        var text = span.ToString();
        foreach (var (start, end) in Merge(Spans(text)))
            if (end > start) output.Add(span[start..end]);
    }

    /// <summary>Rust's find_matches: (start, end, isMatch) covering the text, then the invert flip.</summary>
    private List<(int Start, int End, bool IsMatch)> Spans(string text)
    {
        var matches = new List<(int Start, int End)>();
        pattern.FindAll(text, matches);
        var spans = new List<(int Start, int End, bool IsMatch)>(matches.Count * 2 + 1);
        int previous = 0;
        foreach (var (start, end) in matches)
        {
            if (previous != start) spans.Add((previous, start, invert));
            spans.Add((start, end, !invert));
            previous = end;
        }
        if (previous != text.Length) spans.Add((previous, text.Length, invert));
        return spans;
    }

    /// <summary>The kept (start, end) pieces, as the Rust library folds the spans for each behaviour.</summary>
    private List<(int Start, int End)> Merge(List<(int Start, int End, bool IsMatch)> spans)
    {
        var kept = new List<(int Start, int End)>(spans.Count);
        bool previousMatch = false;
        switch (behavior)
        {
            case SplitBehavior.Isolated:
                foreach (var s in spans) kept.Add((s.Start, s.End));
                break;
            case SplitBehavior.Removed:
                foreach (var s in spans) if (!s.IsMatch) kept.Add((s.Start, s.End));
                break;
            case SplitBehavior.Contiguous:
                foreach (var s in spans)
                {
                    if (s.IsMatch == previousMatch && kept.Count > 0) kept[^1] = (kept[^1].Start, s.End);
                    else kept.Add((s.Start, s.End));
                    previousMatch = s.IsMatch;
                }
                break;
            case SplitBehavior.MergedWithPrevious:
                foreach (var s in spans)
                {
                    if (s.IsMatch && !previousMatch && kept.Count > 0) kept[^1] = (kept[^1].Start, s.End);
                    else kept.Add((s.Start, s.End));
                    previousMatch = s.IsMatch;
                }
                break;
            case SplitBehavior.MergedWithNext:
                for (int i = spans.Count - 1; i >= 0; i--)
                {
                    var s = spans[i];
                    if (s.IsMatch && !previousMatch && kept.Count > 0) kept[^1] = (s.Start, kept[^1].End);
                    else kept.Add((s.Start, s.End));
                    previousMatch = s.IsMatch;
                }
                kept.Reverse();
                break;
        }
        return kept;
    }
}
