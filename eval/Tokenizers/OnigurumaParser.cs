using System.Globalization;

namespace Eval.Tokenizers;

/// <summary>A parsed Oniguruma regex: the nodes <see cref="OnigurumaParser"/> builds and the compiler turns into a program.</summary>
internal abstract record OnigurumaNode;

internal sealed record SetNode(CodePointSet Set) : OnigurumaNode;

internal sealed record SequenceNode(IReadOnlyList<OnigurumaNode> Items) : OnigurumaNode;

internal sealed record AlternationNode(IReadOnlyList<OnigurumaNode> Alternatives) : OnigurumaNode;

internal enum RepeatKind { Greedy, Lazy, Possessive }

/// <summary>Max is -1 for no upper bound.</summary>
internal sealed record RepeatNode(OnigurumaNode Body, int Min, int Max, RepeatKind Kind) : OnigurumaNode;

internal enum LookKind { Ahead, NegativeAhead, Behind, NegativeBehind }

internal sealed record LookNode(OnigurumaNode Body, LookKind Kind) : OnigurumaNode;

/// <summary>(?>...): the first way the body matches, never backtracked into.</summary>
internal sealed record AtomicNode(OnigurumaNode Body) : OnigurumaNode;

internal enum AnchorKind { LineStart, LineEnd, TextStart, TextEnd, TextEndOrFinalNewline, SearchStart, WordBoundary, NotWordBoundary }

internal sealed record AnchorNode(AnchorKind Kind) : OnigurumaNode;

/// <summary>
/// Parses a regex in Oniguruma's default syntax (Ruby's) as the onig crate compiles it for the Rust tokenizers: code
/// point literals and escapes, classes with nested sets and &amp;&amp;, \w \s \d \h and \p{..}, groups, look-around,
/// atomic groups, greedy, lazy and possessive quantifiers ({n,m}+ is a repeat of a repeat, as in Ruby), anchors, and
/// the options i (case-insensitive) and m (dot matches newline). What it does not support is an error naming the
/// construct and its offset, never a silently different regex.
/// </summary>
internal sealed class OnigurumaParser
{
    /// <summary>
    /// Groups and classes nest at most this deep (Oniguruma allows 4,096): the parser, the compiler and the matcher's
    /// look-arounds recurse once per level, and a deeper pattern would overflow a thread's stack instead of failing.
    /// </summary>
    public const int MaxNesting = 256;

    private readonly string pattern;
    private int position;
    private int nesting;

    private OnigurumaParser(string pattern) => this.pattern = pattern;

    public static OnigurumaNode Parse(string pattern)
    {
        var parser = new OnigurumaParser(pattern);
        var node = parser.ParseAlternation(ignoreCase: false, dotAll: false);
        if (parser.position < pattern.Length) throw parser.Error("unmatched ')'");
        return node;
    }

    private TokenizerFormatException Error(string what, int? at = null) =>
        new($"regex '{(pattern.Length <= 120 ? pattern : pattern[..120] + "…")}': {what} at offset {at ?? position} (Oniguruma syntax as the Rust tokenizers use it)");

    private bool AtEnd => position >= pattern.Length;
    private char Peek => pattern[position];
    private bool Next(char c) => position < pattern.Length && pattern[position] == c;
    private bool Next(string s) => Next(position, s);
    private bool Next(int at, string s) => string.CompareOrdinal(pattern, at, s, 0, s.Length) == 0;

    private int ReadCodePoint()
    {
        if (char.IsHighSurrogate(pattern[position]) && position + 1 < pattern.Length && char.IsLowSurrogate(pattern[position + 1]))
        {
            position += 2;
            return char.ConvertToUtf32(pattern[position - 2], pattern[position - 1]);
        }
        return pattern[position++];
    }

    private OnigurumaNode ParseAlternation(bool ignoreCase, bool dotAll)
    {
        var alternatives = new List<OnigurumaNode>();
        while (true)
        {
            alternatives.Add(ParseSequence(ignoreCase, dotAll));
            if (!Next('|')) break;
            position++;
        }
        return alternatives.Count == 1 ? alternatives[0] : new AlternationNode(alternatives);
    }

    private OnigurumaNode ParseSequence(bool ignoreCase, bool dotAll)
    {
        var items = new List<OnigurumaNode>();
        while (!AtEnd && !Next('|') && !Next(')'))
        {
            int start = position;
            if (Next("(?") && TryParseOptionSwitch(ref ignoreCase, ref dotAll))
            {
                // (?i) applies to the rest of the enclosing group, alternatives included: a(?i)b|c is a(?i:b|c).
                items.Add(ParseAlternation(ignoreCase, dotAll));
                break;
            }
            var atom = ParseAtom(ignoreCase, dotAll);
            if (atom is null) continue;
            if (ignoreCase && items.Count > 0 && FoldsToOneCodePoint(items[^1], atom))
                throw Error("under (?i), a sequence that Oniguruma also matches as one code point (ss, st, ff, fi, fl: ß, ﬆ, ligatures) is not supported", start);
            items.Add(ParseQuantifiers(atom, start));
        }
        return items.Count == 1 ? items[0] : new SequenceNode(items);
    }

    /// <summary>(?im-im) alone, which switches options for the rest of the enclosing group.</summary>
    private bool TryParseOptionSwitch(ref bool ignoreCase, ref bool dotAll)
    {
        int at = position + 2, end = at;
        while (end < pattern.Length && pattern[end] is 'i' or 'm' or 'x' or '-') end++;
        if (end == at || end >= pattern.Length || pattern[end] != ')') return false;
        ApplyOptions(pattern[at..end], at, ref ignoreCase, ref dotAll);
        position = end + 1;
        return true;
    }

    private void ApplyOptions(string options, int at, ref bool ignoreCase, ref bool dotAll)
    {
        bool on = true;
        for (int i = 0; i < options.Length; i++)
        {
            switch (options[i])
            {
                case '-': on = false; break;
                case 'i': ignoreCase = on; break;
                case 'm': dotAll = on; break;
                default: throw Error($"option '{options[i]}' (extended syntax) is not supported", at + i);
            }
        }
    }

    /// <summary>Code points whose case folding is several code points; Oniguruma matches them against sequences under (?i).</summary>
    private void RejectMultiCodePointFold(int codePoint, int at)
    {
        if (codePoint is 0xDF or 0x1E9E or 0x130 or 0x149 or 0x1F0 or 0x390 or 0x3B0 or 0x587 or (>= 0x1E96 and <= 0x1E9A) or (>= 0xFB00 and <= 0xFB06) or (>= 0xFB13 and <= 0xFB17))
            throw Error($"under (?i), U+{codePoint:X4} (whose case folding is several code points) is not supported", at);
    }

    private static bool FoldsToOneCodePoint(OnigurumaNode previous, OnigurumaNode next)
    {
        static char? Letter(OnigurumaNode node) =>
            node is SetNode set && set.Set.Ranges is [var first, ..] && first < 0x80 && char.IsAsciiLetter((char)first) && set.Set.Contains(char.ToLowerInvariant((char)first))
                && set.Set.Contains(char.ToUpperInvariant((char)first)) && set.Set.Ranges.Length <= 8 ? char.ToLowerInvariant((char)first) : null;
        return (Letter(previous), Letter(next)) is ({ } a, { } b) && $"{a}{b}" is "ss" or "st" or "ff" or "fi" or "fl";
    }

    private OnigurumaNode ParseQuantifiers(OnigurumaNode atom, int start)
    {
        while (!AtEnd)
        {
            int min, max;
            bool interval = false;
            if (Next('?')) { min = 0; max = 1; position++; }
            else if (Next('*')) { min = 0; max = -1; position++; }
            else if (Next('+')) { min = 1; max = -1; position++; }
            else if (Next('{') && TryParseInterval(out min, out max)) interval = true;
            else break;
            var kind = RepeatKind.Greedy;
            if (Next('?')) { kind = RepeatKind.Lazy; position++; }
            else if (!interval && Next('+')) { kind = RepeatKind.Possessive; position++; }
            // As in Oniguruma, ^* and (?=a)* are errors, while a group around them, (^)* or ((?=a))*, may repeat.
            if (atom is AnchorNode or LookNode && (pattern[start] != '(' || Next(start, "(?=") || Next(start, "(?!") || Next(start, "(?<=") || Next(start, "(?<!")))
                throw Error("a quantifier on an anchor or look-around (target of repeat operator is invalid)", start);
            atom = new RepeatNode(atom, min, max, kind);
        }
        return atom;
    }

    /// <summary>{n}, {n,}, {,m}, {n,m}; anything else leaves '{' a literal, as Oniguruma does.</summary>
    private bool TryParseInterval(out int min, out int max)
    {
        min = max = 0;
        int close = pattern.IndexOf('}', position);
        if (close < 0) return false;
        var body = pattern[(position + 1)..close];
        var parts = body.Split(',');
        if (parts.Length > 2 || parts.Any(p => p.Any(c => c is < '0' or > '9')) || body.Length == 0 || body == ",") return false;
        const int limit = 100_000;
        if (parts.Any(p => p.Length > 6)) throw Error("a repeat count over 100000 is not supported");
        min = parts[0].Length == 0 ? 0 : int.Parse(parts[0], CultureInfo.InvariantCulture);
        max = parts.Length == 1 ? min : parts[1].Length == 0 ? -1 : int.Parse(parts[1], CultureInfo.InvariantCulture);
        if (max > limit || min > limit) throw Error("a repeat count over 100000 is not supported");
        if (max >= 0 && max < min) throw Error("a repeat range {n,m} with m < n");
        position = close + 1;
        return true;
    }

    private OnigurumaNode? ParseAtom(bool ignoreCase, bool dotAll)
    {
        int start = position;
        char c = Peek;
        switch (c)
        {
            case '(': return ParseGroup(ignoreCase, dotAll);
            case '[':
                position++;
                return Literal(ParseClass(ignoreCase, nested: false), ignoreCase: false);
            case '.':
                position++;
                return new SetNode(dotAll ? CodePointSet.All : OnigurumaClasses.NotNewline);
            case '^': position++; return new AnchorNode(AnchorKind.LineStart);
            case '$': position++; return new AnchorNode(AnchorKind.LineEnd);
            case '*' or '+' or '?': throw Error("a quantifier without a target");
            case '{' when TryParseInterval(out _, out _):
                position = start;
                throw Error("a quantifier without a target");
            case '\\': return ParseEscape(ignoreCase);
            default:
                int literal = ReadCodePoint();
                if (ignoreCase) RejectMultiCodePointFold(literal, start);
                return Literal(CodePointSet.Single(literal), ignoreCase);
        }
    }

    private static SetNode Literal(CodePointSet set, bool ignoreCase) => new(ignoreCase ? OnigurumaClasses.CaseClosure(set) : set);

    private OnigurumaNode? ParseGroup(bool ignoreCase, bool dotAll)
    {
        int start = position;
        Nest(start);
        try { return ParseGroupBody(ignoreCase, dotAll, start); }
        finally { nesting--; }
    }

    private void Nest(int start)
    {
        if (++nesting > MaxNesting) throw Error($"groups or classes nested more than {MaxNesting} deep", start);
    }

    private OnigurumaNode? ParseGroupBody(bool ignoreCase, bool dotAll, int start)
    {
        position++;
        Func<OnigurumaNode, OnigurumaNode> wrap = body => body;
        if (Next('?'))
        {
            position++;
            if (Next('#'))
            {
                int close = pattern.IndexOf(')', position);
                if (close < 0) throw Error("an unterminated comment (?#", start);
                position = close + 1;
                return null;
            }
            if (Next(':')) position++;
            else if (Next('=')) { position++; wrap = b => new LookNode(b, LookKind.Ahead); }
            else if (Next('!')) { position++; wrap = b => new LookNode(b, LookKind.NegativeAhead); }
            else if (Next("<=")) { position += 2; wrap = b => LookBehind(b, LookKind.Behind, start); }
            else if (Next("<!")) { position += 2; wrap = b => LookBehind(b, LookKind.NegativeBehind, start); }
            else if (Next('>')) { position++; wrap = b => new AtomicNode(b); }
            else if (Next('<') || Next('\''))
            {
                char close = Next('<') ? '>' : '\'';
                int end = pattern.IndexOf(close, position + 1);
                if (end < 0) throw Error("an unterminated group name", start);
                position = end + 1;
            }
            else
            {
                int end = position;
                while (end < pattern.Length && pattern[end] is 'i' or 'm' or 'x' or '-') end++;
                if (end == position || end >= pattern.Length || pattern[end] != ':')
                    throw Error($"the group construct '(?{(end < pattern.Length ? pattern[end] : ' ')}' is not supported", start);
                ApplyOptions(pattern[position..end], position, ref ignoreCase, ref dotAll);
                position = end + 1;
            }
        }
        var body = ParseAlternation(ignoreCase, dotAll);
        if (!Next(')')) throw Error("a '(' without its ')'", start);
        position++;
        return wrap(body);
    }

    /// <summary>Oniguruma refuses look-around inside a look-behind ("invalid pattern in look-behind"); so do we.</summary>
    private LookNode LookBehind(OnigurumaNode body, LookKind kind, int start)
    {
        static bool HasLook(OnigurumaNode node) => node switch
        {
            LookNode => true,
            SequenceNode s => s.Items.Any(HasLook),
            AlternationNode a => a.Alternatives.Any(HasLook),
            RepeatNode r => HasLook(r.Body),
            AtomicNode a => HasLook(a.Body),
            _ => false,
        };
        if (HasLook(body)) throw Error("a look-around inside a look-behind (invalid pattern in look-behind)", start);
        return new LookNode(body, kind);
    }

    private OnigurumaNode ParseEscape(bool ignoreCase)
    {
        int start = position;
        position++;
        if (AtEnd) throw Error("a '\\' at the end of the pattern", start);
        char c = Peek;
        switch (c)
        {
            case 'A': position++; return new AnchorNode(AnchorKind.TextStart);
            case 'z': position++; return new AnchorNode(AnchorKind.TextEnd);
            case 'Z': position++; return new AnchorNode(AnchorKind.TextEndOrFinalNewline);
            case 'G': position++; return new AnchorNode(AnchorKind.SearchStart);
            case 'b': position++; return new AnchorNode(AnchorKind.WordBoundary);
            case 'B': position++; return new AnchorNode(AnchorKind.NotWordBoundary);
        }
        // Oniguruma folds case for a code point escape (\x41) but not for a class escape standing alone (\w, \p{Ll}).
        bool isClass = c is 'w' or 'W' or 's' or 'S' or 'd' or 'D' or 'h' or 'H' or 'p' or 'P';
        position = start;
        var set = ParseEscapedSet(inClass: false);
        if (ignoreCase && !isClass) RejectMultiCodePointFold(set.Ranges[0], start);
        return Literal(set, ignoreCase && !isClass);
    }

    /// <summary>An escape that stands for one code point or a class: \n, \x{..}, \w, \p{L}, ... (position at the '\').</summary>
    private CodePointSet ParseEscapedSet(bool inClass)
    {
        int start = position;
        position++;
        int c = ReadCodePoint();
        switch (c)
        {
            case 'w': return inClass ? OnigurumaClasses.WordInClass : OnigurumaClasses.Word;
            case 'W': return (inClass ? OnigurumaClasses.WordInClass : OnigurumaClasses.Word).Negate();
            case 's': return OnigurumaClasses.Space;
            case 'S': return OnigurumaClasses.Space.Negate();
            case 'd': return OnigurumaClasses.Digit;
            case 'D': return OnigurumaClasses.Digit.Negate();
            case 'h': return OnigurumaClasses.HexDigit;
            case 'H': return OnigurumaClasses.HexDigit.Negate();
            case 'p' or 'P': return ParseProperty(negate: c == 'P', inClass, start);
            case 't': return CodePointSet.Single('\t');
            case 'n': return CodePointSet.Single('\n');
            case 'r': return CodePointSet.Single('\r');
            case 'f': return CodePointSet.Single('\f');
            case 'v': return CodePointSet.Single('\v');
            case 'a': return CodePointSet.Single('\a');
            case 'e': return CodePointSet.Single(0x1B);
            case 'b' when inClass: return CodePointSet.Single('\b');
            case 'x':
                if (Next('{'))
                {
                    int close = pattern.IndexOf('}', position);
                    var digits = close < 0 ? "" : pattern[(position + 1)..close].Trim();
                    if (digits.Length is 0 or > 8 || !int.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int value) || value > 0x10FFFF)
                        throw Error("an invalid \\x{...} code point", start);
                    position = close + 1;
                    return CodePointSet.Single(value);
                }
                return CodePointSet.Single(ReadHex(2, minimum: 0, start));
            case 'u': return CodePointSet.Single(ReadHex(4, minimum: 4, start));
            case 'c':
                if (AtEnd) throw Error("an incomplete \\c control escape", start);
                return CodePointSet.Single(ReadCodePoint() & 0x1F);
            case >= '0' and <= '7':
            {
                // \0, \0oo and \ooo are octal; \1 .. \9 alone would be backreferences, which we do not support.
                position--;
                int end = position;
                while (end < pattern.Length && end - position < 3 && pattern[end] is >= '0' and <= '7') end++;
                if (c != '0' && end - position < 3) throw Error("backreferences (\\1 ...) are not supported", start);
                int value = Convert.ToInt32(pattern[position..end], 8);
                position = end;
                return CodePointSet.Single(value);
            }
            case '8' or '9': throw Error("backreferences (\\1 ...) are not supported", start);
        }
        if (c < 0x80 && char.IsAsciiLetter((char)c))
            throw Error($"the escape '\\{(char)c}' is not supported", start);
        return CodePointSet.Single(c);
    }

    private int ReadHex(int maximum, int minimum, int start)
    {
        int end = position;
        while (end < pattern.Length && end - position < maximum && char.IsAsciiHexDigit(pattern[end])) end++;
        if (end - position < Math.Max(minimum, 1)) throw Error("an incomplete hexadecimal escape", start);
        int value = int.Parse(pattern.AsSpan(position, end - position), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        position = end;
        return value;
    }

    private CodePointSet ParseProperty(bool negate, bool inClass, int start)
    {
        if (!Next('{')) throw Error("\\p without {name}", start);
        int close = pattern.IndexOf('}', position);
        if (close < 0) throw Error("an unterminated \\p{", start);
        var name = pattern[(position + 1)..close];
        position = close + 1;
        if (name.StartsWith('^')) { negate = !negate; name = name[1..]; }
        var set = OnigurumaClasses.Property(name, inClass)
                  ?? throw Error($"the property \\p{{{name}}} is not supported (supported: {string.Join(", ", OnigurumaClasses.PropertyNames)})", start);
        return negate ? set.Negate() : set;
    }

    /// <summary>
    /// A class after its '[': items, ranges, nested [...] sets, &amp;&amp; intersections, up to its ']'. Under (?i)
    /// Oniguruma folds the outermost class's contents before its own negation, and nested classes not on their own:
    /// (?i)[^\p{Ll}] leaves out A, (?i)[\w&amp;&amp;[^b]] keeps b.
    /// </summary>
    private CodePointSet ParseClass(bool ignoreCase, bool nested)
    {
        Nest(position - 1);
        try { return ParseClassBody(ignoreCase, nested); }
        finally { nesting--; }
    }

    private CodePointSet ParseClassBody(bool ignoreCase, bool nested)
    {
        int start = position - 1;
        bool negate = false;
        if (Next('^')) { negate = true; position++; }
        var items = CodePointSet.Empty;
        CodePointSet? intersectWith = null;
        bool first = true;
        while (true)
        {
            if (AtEnd) throw Error("a '[' without its ']'", start);
            if (Next(']') && !first) { position++; break; }
            first = false;
            if (Next("&&"))
            {
                position += 2;
                intersectWith = intersectWith is null ? items : intersectWith.Intersect(items);
                items = CodePointSet.Empty;
                continue;
            }
            if (Next("[:")) throw Error("POSIX bracket classes ([:alpha:]) are not supported");
            if (Next('['))
            {
                position++;
                items = items.Union(ParseClass(ignoreCase, nested: true));
                continue;
            }
            int itemStart = position;
            var (single, set) = ParseClassAtom();
            if (ignoreCase && single is { } folded) RejectMultiCodePointFold(folded, itemStart);
            if (single is { } low && Next('-') && position + 1 < pattern.Length && pattern[position + 1] != ']')
            {
                position++;
                int rangeEnd = position;
                if (Next('[')) throw Error("a range ending in a class", rangeEnd);
                var (high, _) = ParseClassAtom();
                if (high is null) throw Error("a range ending in a class", rangeEnd);
                if (high < low) throw Error("an empty range in a class (end before start)", itemStart);
                items = items.Union(CodePointSet.FromRanges([(low, high.Value)]));
                continue;
            }
            items = items.Union(set);
        }
        if (intersectWith is not null) items = intersectWith.Intersect(items);
        if (ignoreCase && !nested) items = OnigurumaClasses.CaseClosure(items);
        return negate ? items.Negate() : items;
    }

    /// <summary>One code point (single set) or an escape class (single null) inside a class.</summary>
    private (int? Single, CodePointSet Set) ParseClassAtom()
    {
        if (!Next('\\'))
        {
            int c = ReadCodePoint();
            return (c, CodePointSet.Single(c));
        }
        bool isClass = position + 1 < pattern.Length && pattern[position + 1] is 'w' or 'W' or 's' or 'S' or 'd' or 'D' or 'h' or 'H' or 'p' or 'P';
        var set = ParseEscapedSet(inClass: true);
        return isClass ? (null, set) : (set.Ranges[0], set);
    }
}
