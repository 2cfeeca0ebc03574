using System.Globalization;
using System.Text;

namespace Eval.Tokenizers;

/// <summary>
/// The normalised text as the model sees it, in UTF-8, each byte carrying the span [start, end) of the original text
/// (UTF-16 units) it came from; raw added tokens stand in it as their content. With canonical spaces, ' ' is stored as
/// ▁, so that SentencePiece-style tokens match whether the normaliser or the pre-tokenizer made the ▁.
/// Built per call by <see cref="TokenOffsetAligner"/>; not shared between threads.
/// </summary>
internal sealed class NormalizedView
{
    private const string Anchor = "a";
    private readonly List<byte> bytes = [];
    private readonly List<int> starts = [], ends = [];
    private readonly bool canonicalSpaces;

    private NormalizedView(bool canonicalSpaces) => this.canonicalSpaces = canonicalSpaces;

    public static NormalizedView Build(string text, AddedTokenSplitter rawSplitter, INormalizer? normalizer, bool canonicalSpaces)
    {
        var view = new NormalizedView(canonicalSpaces);
        int cursor = 0;
        foreach (var (section, token) in rawSplitter.Split(text))
        {
            var found = text.IndexOf(token?.Content ?? section, cursor, StringComparison.Ordinal);
            if (found < 0) found = cursor;
            if (token is not null)
            {
                // lstrip/rstrip tokens took the whitespace beside them: it belongs to their span, as in Rust.
                int start = found, end = found + token.Content.Length;
                if (token.LeftStrip) while (start > cursor && char.IsWhiteSpace(text[start - 1])) start--;
                if (token.RightStrip) while (end < text.Length && char.IsWhiteSpace(text[end])) end++;
                view.Append(token.Content, start, end);
                cursor = end;
                continue;
            }
            if (section.Length == 0) continue;
            view.AppendNormalized(section, found, normalizer);
            cursor = found + section.Length;
        }
        return view;
    }

    /// <summary>
    /// Matches a token's bytes at the cursor: as they are, or without a leading ▁ / space the pre-tokenizer prepended
    /// (that ▁ shares the next character's span), or after whitespace the pre-tokenizer dropped. When spaces are dropped
    /// (WhitespaceSplit) skipping comes first, so a lone prepended ▁ takes the next word's first character, as in Rust.
    /// </summary>
    public bool TryMatch(List<byte> surface, bool spacesDropped, ref int cursor, out int start, out int end, bool[]? unproducible = null)
    {
        // A byte-level model drops a byte its vocabulary has no token for (no unk_token), and BPE then merges the
        // symbols on either side of it ("@\x13@" → "@@" in smollm2): no token spells such a byte, so matching steps
        // over it before a token and inside one.
        if (unproducible is not null)
            while (cursor < bytes.Count && unproducible[bytes[cursor]]) cursor++;
        if (TryMatchAt(surface, spacesDropped, ref cursor, out start, out end)) return true;
        if (unproducible is null || surface.Count == 0) return false;
        foreach (int at in (int[])[cursor, SkipSpaces(cursor)])
        {
            if (!MatchesSkipping(surface, at, unproducible, out int first, out int past)) continue;
            start = int.MaxValue;
            end = 0;
            for (int b = first; b < past; b++)
            {
                start = Math.Min(start, starts[b]);
                end = Math.Max(end, ends[b]);
            }
            cursor = past;
            return true;
        }
        start = end = 0;
        return false;
    }

    private bool MatchesSkipping(List<byte> surface, int at, bool[] unproducible, out int first, out int past)
    {
        first = -1;
        past = at;
        foreach (var expected in surface)
        {
            while (past < bytes.Count && bytes[past] != expected && unproducible[bytes[past]]) past++;
            if (past >= bytes.Count || bytes[past] != expected) return false;
            if (first < 0) first = past;
            past++;
        }
        return true;
    }

    private bool TryMatchAt(List<byte> surface, bool spacesDropped, ref int cursor, out int start, out int end)
    {
        int skipped = SkipSpaces(cursor);
        int prefix = PrependedPrefixLength(surface);
        (int At, int From)[] attempts = spacesDropped
            ? [(skipped, 0), (skipped, prefix), (cursor, 0), (cursor, prefix)]
            : [(cursor, 0), (cursor, prefix), (skipped, 0), (skipped, prefix)];
        foreach (var (at, from) in attempts)
        {
            if (from < 0 || !MatchesAt(surface, from, at)) continue;
            int length = surface.Count - from;
            if (length == 0 && at >= bytes.Count) continue;
            start = int.MaxValue;
            end = 0;
            for (int b = at; b < at + Math.Max(length, 1); b++)
            {
                start = Math.Min(start, starts[b]);
                end = Math.Max(end, ends[b]);
            }
            cursor = at + length;
            return true;
        }
        start = end = 0;
        return false;
    }

    private bool MatchesAt(List<byte> surface, int from, int at)
    {
        int length = surface.Count - from;
        if (at + length > bytes.Count) return false;
        for (int k = 0; k < length; k++)
            if (bytes[at + k] != surface[from + k]) return false;
        return true;
    }

    /// <summary>Bytes of a leading ▁ (3) or space (1), or -1 when the token starts with neither.</summary>
    private static int PrependedPrefixLength(List<byte> surface) =>
        surface.Count >= 3 && surface[0] == 0xE2 && surface[1] == 0x96 && surface[2] == 0x81 ? 3
        : surface.Count >= 1 && surface[0] == (byte)' ' ? 1 : -1;

    private int SkipSpaces(int at)
    {
        Span<byte> buffer = stackalloc byte[4];
        while (at < bytes.Count)
        {
            int n = Math.Min(4, bytes.Count - at);
            for (int k = 0; k < n; k++) buffer[k] = bytes[at + k];
            if (Rune.DecodeFromUtf8(buffer[..n], out var rune, out int consumed) != System.Buffers.OperationStatus.Done) break;
            if (!Rune.IsWhiteSpace(rune) && rune.Value != 0x2581) break;
            at += consumed;
        }
        return at;
    }

    private void AppendNormalized(string section, int offset, INormalizer? normalizer)
    {
        var whole = normalizer?.Normalize(section) ?? section;
        if (whole == section) AppendIdentity(section, offset);
        else if (!TryAppendByUnits(section, offset, whole, normalizer!)) Append(whole, offset, offset + section.Length);
    }

    private void AppendIdentity(string section, int offset)
    {
        for (int i = 0; i < section.Length;)
        {
            int width = char.IsSurrogatePair(section, i) ? 2 : 1;
            Append(section.Substring(i, width), offset + i, offset + i + width);
            i += width;
        }
    }

    /// <summary>
    /// Normalises unit by unit (whitespace runs, and a character with the combining marks after it), each as the
    /// difference it makes after an anchor character; what the normaliser puts before the anchor (Prepend) goes first,
    /// with the first character's span. Inside a unit the Rust library aligns by position: the k-th output character to
    /// the k-th input code point, extra ones to the last, a shrinking whitespace run to its last ones; unless each code
    /// point normalises on its own. Succeeds only when the pieces add up to the whole normalised section, i.e. when the
    /// normaliser acts unit by unit; nothing is appended otherwise.
    /// </summary>
    private bool TryAppendByUnits(string section, int offset, string whole, INormalizer normalizer)
    {
        var anchor = normalizer.Normalize(Anchor);
        var prefix = anchor.EndsWith(Anchor, StringComparison.Ordinal) ? anchor[..^Anchor.Length] : "";
        if (!whole.StartsWith(prefix, StringComparison.Ordinal)) return false;
        var pieces = new List<(string Piece, int Start, int End)>();
        if (prefix.Length > 0) pieces.Add((prefix, 0, char.IsSurrogatePair(section, 0) ? 2 : 1));
        int position = prefix.Length;
        foreach (var (start, end) in Units(section))
        {
            var unit = section[start..end];
            var piece = Delta(normalizer, anchor, unit);
            if (piece is null || string.CompareOrdinal(whole, position, piece, 0, piece.Length) != 0) return false;
            position += piece.Length;
            var codePoints = CodePointSpans(section, start, end);
            if (piece == unit)
            {
                foreach (var (s, e) in codePoints) pieces.Add((section[s..e], s, e));
                continue;
            }
            var own = codePoints.Count == 1 ? null : codePoints.Select(c => Delta(normalizer, anchor, section[c.Start..c.End])).ToArray();
            if (own is not null && own.All(p => p is not null) && string.Concat(own) == piece)
            {
                for (int k = 0; k < own.Length; k++) pieces.Add((own[k]!, codePoints[k].Start, codePoints[k].End));
                continue;
            }
            // A whitespace run that shrinks (Replace " {2,}" → " ") keeps its last characters, as Rust's replace does.
            int outputs = piece.EnumerateRunes().Count();
            int j = Rune.IsWhiteSpace(Rune.GetRuneAt(unit, 0)) && outputs < codePoints.Count ? codePoints.Count - outputs : 0;
            foreach (var rune in piece.EnumerateRunes())
            {
                var (s, e) = codePoints[Math.Min(j++, codePoints.Count - 1)];
                pieces.Add((rune.ToString(), s, e));
            }
        }
        if (position != whole.Length) return false;
        foreach (var (piece, start, end) in pieces) Append(piece, offset + start, offset + end);
        return true;
    }

    private static string? Delta(INormalizer normalizer, string anchor, string unit)
    {
        var both = normalizer.Normalize(Anchor + unit);
        return both.StartsWith(anchor, StringComparison.Ordinal) ? both[anchor.Length..] : null;
    }

    /// <summary>Runs of whitespace, and otherwise a code point with the combining marks that follow it.</summary>
    private static IEnumerable<(int Start, int End)> Units(string text)
    {
        for (int i = 0; i < text.Length;)
        {
            int start = i;
            bool space = Rune.GetRuneAt(text, i).Value is var first && Rune.IsWhiteSpace(new Rune(first));
            i += char.IsSurrogatePair(text, i) ? 2 : 1;
            while (i < text.Length)
            {
                var rune = Rune.GetRuneAt(text, i);
                bool joins = space ? Rune.IsWhiteSpace(rune) : Rune.GetUnicodeCategory(rune) is UnicodeCategory.NonSpacingMark
                    or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark;
                if (!joins) break;
                i += rune.Utf16SequenceLength;
            }
            yield return (start, i);
        }
    }

    private static List<(int Start, int End)> CodePointSpans(string text, int start, int end)
    {
        var result = new List<(int, int)>();
        for (int i = start; i < end; i += char.IsSurrogatePair(text, i) ? 2 : 1)
            result.Add((i, i + (char.IsSurrogatePair(text, i) ? 2 : 1)));
        return result;
    }

    private void Append(string normalized, int start, int end)
    {
        Span<byte> buffer = stackalloc byte[4];
        foreach (var rune in normalized.EnumerateRunes())
        {
            var r = canonicalSpaces && rune.Value == ' ' ? new Rune(0x2581) : rune;
            int n = r.EncodeToUtf8(buffer);
            for (int b = 0; b < n; b++)
            {
                bytes.Add(buffer[b]);
                starts.Add(start);
                ends.Add(end);
            }
        }
    }
}
