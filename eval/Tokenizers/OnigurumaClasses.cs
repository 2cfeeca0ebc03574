using System.Text;

namespace Eval.Tokenizers;

/// <summary>An immutable set of code points as sorted, disjoint, non-adjacent (first, last) ranges.</summary>
internal sealed class CodePointSet
{
    private readonly int[] ranges;

    /// <summary>Membership of the code points below 256 as bits, the common case on the hot path.</summary>
    private readonly ulong[] latin1 = new ulong[4];

    private CodePointSet(int[] ranges)
    {
        this.ranges = ranges;
        for (int i = 0; i < ranges.Length && ranges[i] < 256; i += 2)
            for (int c = ranges[i]; c <= ranges[i + 1] && c < 256; c++)
                latin1[c >> 6] |= 1UL << (c & 63);
    }

    public static readonly CodePointSet Empty = new([]);
    public static readonly CodePointSet All = new([0, 0x10FFFF]);

    public ReadOnlySpan<int> Ranges => ranges;

    public static CodePointSet Single(int codePoint) => new([codePoint, codePoint]);

    /// <summary>The set of the (first, last) pairs, in any order, overlapping or not.</summary>
    public static CodePointSet FromRanges(IEnumerable<(int First, int Last)> pairs)
    {
        var sorted = pairs.Where(p => p.First <= p.Last).OrderBy(p => p.First).ToList();
        var merged = new List<int>(sorted.Count * 2);
        foreach (var (first, last) in sorted)
        {
            if (merged.Count > 0 && first <= merged[^1] + 1) merged[^1] = Math.Max(merged[^1], last);
            else { merged.Add(first); merged.Add(last); }
        }
        return new CodePointSet(merged.ToArray());
    }

    public static CodePointSet FromRanges(ReadOnlySpan<int> flatPairs)
    {
        var pairs = new (int, int)[flatPairs.Length / 2];
        for (int i = 0; i < pairs.Length; i++) pairs[i] = (flatPairs[2 * i], flatPairs[2 * i + 1]);
        return FromRanges(pairs);
    }

    public IEnumerable<(int First, int Last)> Pairs()
    {
        for (int i = 0; i < ranges.Length; i += 2) yield return (ranges[i], ranges[i + 1]);
    }

    public bool Contains(int codePoint)
    {
        if ((uint)codePoint < 256) return (latin1[codePoint >> 6] & (1UL << (codePoint & 63))) != 0;
        return RustUnicodeTables.Contains(ranges, codePoint);
    }

    public CodePointSet Union(CodePointSet other) => FromRanges(Pairs().Concat(other.Pairs()));

    public CodePointSet Negate()
    {
        var result = new List<(int, int)>();
        int next = 0;
        foreach (var (first, last) in Pairs())
        {
            if (first > next) result.Add((next, first - 1));
            next = last + 1;
        }
        if (next <= 0x10FFFF) result.Add((next, 0x10FFFF));
        return FromRanges(result);
    }

    public CodePointSet Intersect(CodePointSet other) => Negate().Union(other.Negate()).Negate();

    public override string ToString() =>
        string.Join(",", Pairs().Select(p => p.First == p.Last ? $"{p.First:X}" : $"{p.First:X}-{p.Last:X}"));
}

/// <summary>
/// Oniguruma's character classes in the Rust tokenizers (UTF-8, Unicode): \w, \s, \d, \h, \p{..} general categories,
/// Alphabetic and a few scripts, from <see cref="OnigurumaTables"/>; and its case folding for (?i).
/// </summary>
internal static class OnigurumaClasses
{
    public static readonly CodePointSet Word = CodePointSet.FromRanges(OnigurumaTables.Word);
    /// <summary>\w inside a class: below 256 Unicode's Word ranges, not the ISO-8859-1 table standalone \w uses (² ³ ¹ ¼ ½ ¾).</summary>
    public static readonly CodePointSet WordInClass = CodePointSet.FromRanges(OnigurumaTables.WordInClass);
    public static readonly CodePointSet Space = CodePointSet.FromRanges(OnigurumaTables.Space);
    public static readonly CodePointSet Digit = CodePointSet.FromRanges(OnigurumaTables.Digit);
    public static readonly CodePointSet HexDigit = CodePointSet.FromRanges(OnigurumaTables.HexDigit);

    /// <summary>What <c>.</c> matches: everything but a newline (or everything, under (?m)).</summary>
    public static readonly CodePointSet NotNewline = CodePointSet.Single('\n').Negate();

    /// <summary>The property names \p{..} accepts, lower case without spaces, underscores or hyphens.</summary>
    public static IEnumerable<string> PropertyNames =>
        OnigurumaTables.CategoryNames.Concat(["L", "M", "N", "P", "S", "Z", "C", "Any", "ASCII", "Alpha", "Alphabetic", "Word", "Space", "Digit", "XDigit"])
            .Concat(Scripts.Keys);

    private static readonly Dictionary<string, Func<CodePointSet>> Scripts = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Han"] = () => CodePointSet.FromRanges(OnigurumaTables.Han),
        ["Hiragana"] = () => CodePointSet.FromRanges(OnigurumaTables.Hiragana),
        ["Katakana"] = () => CodePointSet.FromRanges(OnigurumaTables.Katakana),
        ["Hangul"] = () => CodePointSet.FromRanges(OnigurumaTables.Hangul),
        ["Latin"] = () => CodePointSet.FromRanges(OnigurumaTables.Latin),
        ["Greek"] = () => CodePointSet.FromRanges(OnigurumaTables.Greek),
        ["Cyrillic"] = () => CodePointSet.FromRanges(OnigurumaTables.Cyrillic),
        ["Arabic"] = () => CodePointSet.FromRanges(OnigurumaTables.Arabic),
        ["Hebrew"] = () => CodePointSet.FromRanges(OnigurumaTables.Hebrew),
        ["Thai"] = () => CodePointSet.FromRanges(OnigurumaTables.Thai),
        ["Devanagari"] = () => CodePointSet.FromRanges(OnigurumaTables.Devanagari),
        ["Common"] = () => CodePointSet.FromRanges(OnigurumaTables.Common),
        ["Inherited"] = () => CodePointSet.FromRanges(OnigurumaTables.Inherited),
    };

    private static readonly Dictionary<string, string> ScriptAliases = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Hani"] = "Han", ["Hira"] = "Hiragana", ["Kana"] = "Katakana", ["Hang"] = "Hangul", ["Latn"] = "Latin",
        ["Grek"] = "Greek", ["Cyrl"] = "Cyrillic", ["Arab"] = "Arabic", ["Hebr"] = "Hebrew", ["Deva"] = "Devanagari",
        ["Zyyy"] = "Common", ["Zinh"] = "Inherited", ["Qaai"] = "Inherited",
    };

    /// <summary>The set of \p{name}, or null for a name we do not know (onig ignores case, spaces, '_' and '-').</summary>
    public static CodePointSet? Property(string name, bool inClass)
    {
        var key = new string(name.Where(c => c is not (' ' or '_' or '-')).ToArray());
        if (key.Length is 1 or 2 && CategoryIndices(key) is { Count: > 0 } indices) return Categories(indices);
        switch (key.ToLowerInvariant())
        {
            case "any": return CodePointSet.All;
            case "ascii": return CodePointSet.FromRanges([(0, 0x7F)]);
            case "alpha" or "alphabetic": return CodePointSet.FromRanges(OnigurumaTables.Alphabetic);
            case "word": return inClass ? WordInClass : Word;
            case "space": return Space;
            case "digit": return Digit;
            case "xdigit": return CodePointSet.FromRanges([('0', '9'), ('A', 'F'), ('a', 'f')]);
        }
        if (ScriptAliases.TryGetValue(key, out var script)) key = script;
        return Scripts.TryGetValue(key, out var make) ? make() : null;
    }

    private static List<int> CategoryIndices(string key)
    {
        var names = OnigurumaTables.CategoryNames;
        var result = new List<int>();
        for (int i = 0; i < names.Length; i++)
            if (key.Length == 1 ? char.ToUpperInvariant(key[0]) == names[i][0] : string.Equals(key, names[i], StringComparison.OrdinalIgnoreCase))
                result.Add(i);
        return result;
    }

    private static CodePointSet Categories(List<int> indices)
    {
        var runs = OnigurumaTables.CategoryRuns;
        var pairs = new List<(int, int)>();
        for (int i = 0; i < runs.Length; i += 2)
            if (indices.Contains(runs[i + 1]))
                pairs.Add((runs[i], i + 2 < runs.Length ? runs[i + 2] - 1 : 0x10FFFF));
        return CodePointSet.FromRanges(pairs);
    }

    /// <summary>
    /// The code points that fold together under (?i), those with at least two members, joined by
    /// case mappings (see Build): this puts ſ with s and S, K (Kelvin) with k and K, ς with σ and Σ. Oniguruma's
    /// multi-code-point folds (ß and "ss") are refused by the parser.
    /// </summary>
    private static class CaseFolding
    {
        public static readonly int[][] Classes = Build();

        /// <summary>
        /// Code points joined by .NET's upper and lower case mappings and by the Rust library's lowercase table (a
        /// newer Unicode than .NET's may be, as Oniguruma's is: Cyrillic tje U+1C89, Garay): the connected groups.
        /// </summary>
        private static int[][] Build()
        {
            var parent = new Dictionary<int, int>();
            int Root(int c)
            {
                while (parent.TryGetValue(c, out int p) && p != c) c = p;
                return c;
            }
            void Join(int a, int b)
            {
                int ra = Root(a), rb = Root(b);
                if (ra != rb) parent[Math.Max(ra, rb)] = Math.Min(ra, rb);
            }
            for (int c = 0; c <= 0x10FFFF; c++)
            {
                if (c is >= 0xD800 and <= 0xDFFF) continue;
                var rune = new Rune(c);
                int upper = Rune.ToUpperInvariant(rune).Value, lower = Rune.ToLowerInvariant(rune).Value;
                if (upper != c) Join(c, upper);
                if (lower != c) Join(c, lower);
                int rustLower = RustUnicodeTables.ToLower(c);
                if (rustLower != c && c != 0x130) Join(c, rustLower);
            }
            return parent.Keys.Concat(parent.Values).Distinct().GroupBy(Root)
                .Select(g => g.Order().ToArray()).Where(m => m.Length > 1).ToArray();
        }
    }

    /// <summary>The set with every code point's case variants added.</summary>
    public static CodePointSet CaseClosure(CodePointSet set)
    {
        var added = new List<(int, int)>();
        foreach (var members in CaseFolding.Classes)
            if (members.Any(set.Contains))
                added.AddRange(members.Select(m => (m, m)));
        return added.Count == 0 ? set : set.Union(CodePointSet.FromRanges(added));
    }
}
