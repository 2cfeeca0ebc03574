using System.Buffers;
using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace Eval.Tokenizers;

/// <summary>
/// The Unicode normalization forms NFC, NFD, NFKC and NFKD as Hugging Face's Rust tokenizers compute them (the
/// unicode-normalization-alignments crate, Unicode 9.0), from its data (<see cref="RustNormalizationTables"/>), not the machine's
/// ICU, whose Unicode is newer: full decomposition (canonical, or compatibility too), canonical ordering of each run of
/// non-starters (stable, by combining class), then for NFC and NFKC canonical composition with blocking; Hangul by the
/// algorithm. Works by code point; a lone surrogate or a noncharacter (U+FFFE) is a starter that nothing changes.
/// A text made only of code points that the form keeps and that compose with nothing is returned as it is.
/// </summary>
internal static class RustUnicodeNormalization
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7, LCount = 19, VCount = 21, TCount = 28,
        NCount = VCount * TCount, SCount = LCount * NCount;
    private const int BlockShift = 7, BlockSize = 1 << BlockShift;

    // Properties of a code point: the combining class in the low byte, these flags in the high byte.
    private const int CanonicalDecomposes = 1 << 8, CompatibilityDecomposes = 1 << 9, ComposesWithPrevious = 1 << 10,
        KeptByNfd = 1 << 11, KeptByNfkd = 1 << 12, KeptByNfc = 1 << 13, KeptByNfkc = 1 << 14;
    private const int Composite = 1 << 15; // while the table is built: a primary composite (NFC keeps it)

    private static readonly PropertyTable Properties = PropertyTable.Build();

    /// <summary>
    /// The normalized text. The first code point the form may change (or that may compose with the one before)
    /// is found by table; everything before the starter preceding it is copied.
    /// </summary>
    public static string Normalize(string text, NormalizationForm form)
    {
        var (kept, lowestChanged) = form switch
        {
            NormalizationForm.FormC => (KeptByNfc, Properties.LowestNotKeptByNfc),
            NormalizationForm.FormD => (KeptByNfd, Properties.LowestNotKeptByNfd),
            NormalizationForm.FormKC => (KeptByNfkc, Properties.LowestNotKeptByNfkc),
            NormalizationForm.FormKD => (KeptByNfkd, Properties.LowestNotKeptByNfkd),
            _ => throw new ArgumentOutOfRangeException(nameof(form), form, "not a Unicode normalization form"),
        };
        int first = text.AsSpan().IndexOfAnyInRange(lowestChanged, char.MaxValue);
        if (first < 0) return text;
        while (first < text.Length && (Properties[text[first]] & kept) != 0) first++;
        if (first == text.Length) return text;
        // Kept code points are starters that compose with nothing before them: the text up to the last one is final.
        int start = Math.Max(first - 1, 0);
        bool compatibility = form is NormalizationForm.FormKC or NormalizationForm.FormKD;
        bool compose = form is NormalizationForm.FormC or NormalizationForm.FormKC;

        var buffer = new CodePointBuffer(text.Length - start + 16);
        try
        {
            Decompose(text.AsSpan(start), compatibility, ref buffer);
            int count = compose ? Compose(buffer.Items, buffer.Count) : buffer.Count;
            return SameText(buffer.Items.AsSpan(0, count), text.AsSpan(start)) ? text : ToText(text, start, buffer.Items, count);
        }
        finally { buffer.Return(); }
    }

    /// <summary>
    /// The full decomposition of each code point, each run of non-starters put in canonical order. A code point that
    /// NFD (NFKD) keeps is a starter without a decomposition: it goes in as it is. (One that NFC keeps may decompose:
    /// ù before U+0323 becomes u, U+0323, U+0300, then ụ and U+0300.)
    /// </summary>
    private static void Decompose(ReadOnlySpan<char> text, bool compatibility, ref CodePointBuffer buffer)
    {
        int runStart = -1, kept = compatibility ? KeptByNfkd : KeptByNfd;
        for (int i = 0; i < text.Length; i++)
        {
            int codePoint = text[i];
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                codePoint = char.ConvertToUtf32(text[i], text[++i]);
            int properties = Properties[codePoint];
            if ((properties & kept) != 0)
            {
                if (runStart >= 0) EndRun(ref runStart, buffer);
                buffer.Add(codePoint);
                continue;
            }
            if (codePoint - SBase is >= 0 and < SCount)
            {
                int index = codePoint - SBase;
                EndRun(ref runStart, buffer);
                buffer.Add(LBase + index / NCount);
                buffer.Add(VBase + index % NCount / TCount);
                if (index % TCount != 0) buffer.Add(TBase + index % TCount);
                continue;
            }
            var decomposition = compatibility && (properties & CompatibilityDecomposes) != 0 ? Properties.CompatibilityDecomposition(codePoint)
                : (properties & CanonicalDecomposes) != 0 ? Properties.CanonicalDecomposition(codePoint)
                : MemoryMarshal.CreateReadOnlySpan(ref codePoint, 1);
            foreach (int part in decomposition)
            {
                if ((byte)Properties[part] == 0) EndRun(ref runStart, buffer);
                else if (runStart < 0) runStart = buffer.Count;
                buffer.Add(part);
            }
        }
        EndRun(ref runStart, buffer);
    }

    /// <summary>Sorts the run of non-starters from runStart to the end of the buffer by combining class, stably.</summary>
    private static void EndRun(ref int runStart, CodePointBuffer buffer)
    {
        if (runStart < 0) return;
        var run = buffer.Items.AsSpan(runStart, buffer.Count - runStart);
        runStart = -1;
        if (run.Length < 2) return;
        if (run.Length <= 32)
        {
            for (int i = 1; i < run.Length; i++)
            {
                int codePoint = run[i], combiningClass = (byte)Properties[codePoint], j = i;
                for (; j > 0 && (byte)Properties[run[j - 1]] > combiningClass; j--) run[j] = run[j - 1];
                run[j] = codePoint;
            }
            return;
        }
        // Long runs (adversarial text): sort (class, position, code point) keys, O(n log n).
        var keys = new long[run.Length];
        for (int i = 0; i < run.Length; i++) keys[i] = (long)(byte)Properties[run[i]] << 52 | (long)i << 21 | (uint)run[i];
        Array.Sort(keys);
        for (int i = 0; i < run.Length; i++) run[i] = (int)(keys[i] & 0x1FFFFF);
    }

    /// <summary>
    /// Canonical composition in place: each code point joins the last starter when a composition exists and nothing
    /// between them blocks it (a code point of the same or a higher class, or any starter). Returns the new count.
    /// </summary>
    private static int Compose(int[] codePoints, int count)
    {
        int starterIndex = -1, lastClass = 0, written = 0;
        for (int i = 0; i < count; i++)
        {
            int codePoint = codePoints[i], properties = Properties[codePoint], combiningClass = (byte)properties;
            if (starterIndex >= 0 && (properties & ComposesWithPrevious) != 0 && (lastClass < combiningClass || lastClass == 0)
                && Properties.Composition(codePoints[starterIndex], codePoint) is var composite and >= 0)
            {
                codePoints[starterIndex] = composite;
                continue;
            }
            if (combiningClass == 0) starterIndex = written;
            else if (starterIndex < 0) combiningClass = 256; // a leading non-starter: nothing composes with it
            lastClass = combiningClass;
            codePoints[written++] = codePoint;
        }
        return written;
    }

    /// <summary>Whether the code points are the text's (then the text itself is the answer, not a copy).</summary>
    private static bool SameText(ReadOnlySpan<int> codePoints, ReadOnlySpan<char> text)
    {
        int at = 0;
        foreach (int codePoint in codePoints)
        {
            if (codePoint < 0x10000)
            {
                if (at >= text.Length || text[at++] != codePoint) return false;
            }
            else if (at + 1 >= text.Length || text[at++] != (char)(0xD7C0 + (codePoint >> 10)) || text[at++] != (char)(0xDC00 | (codePoint & 0x3FF))) return false;
        }
        return at == text.Length;
    }

    /// <summary>The text up to start, then the code points (the first count of them) as UTF-16.</summary>
    private static string ToText(string text, int start, int[] codePoints, int count)
    {
        int length = start;
        foreach (int codePoint in codePoints.AsSpan(0, count)) length += codePoint >= 0x10000 ? 2 : 1;
        return string.Create(length, (text, start, codePoints, count), static (chars, state) =>
        {
            state.text.AsSpan(0, state.start).CopyTo(chars);
            int at = state.start;
            foreach (int codePoint in state.codePoints.AsSpan(0, state.count))
            {
                if (codePoint >= 0x10000)
                {
                    chars[at++] = (char)(0xD7C0 + (codePoint >> 10));
                    chars[at++] = (char)(0xDC00 | (codePoint & 0x3FF));
                }
                else chars[at++] = (char)codePoint;
            }
        });
    }

    /// <summary>A growing buffer of code points rented from the shared pool.</summary>
    private struct CodePointBuffer(int capacity)
    {
        public int[] Items = ArrayPool<int>.Shared.Rent(capacity);
        public int Count;

        public void Add(int codePoint)
        {
            if (Count == Items.Length)
            {
                var larger = ArrayPool<int>.Shared.Rent(Items.Length * 2);
                Items.AsSpan(0, Count).CopyTo(larger);
                ArrayPool<int>.Shared.Return(Items);
                Items = larger;
            }
            Items[Count++] = codePoint;
        }

        public readonly void Return() => ArrayPool<int>.Shared.Return(Items);
    }

    /// <summary>
    /// The properties of every code point in a two-stage table (blocks of 128, identical blocks shared), the
    /// decompositions and the compositions; built once from <see cref="RustNormalizationTables"/>.
    /// </summary>
    private sealed class PropertyTable
    {
        private readonly ImmutableArray<ushort> blockOf;
        private readonly ImmutableArray<ushort> blocks;
        private readonly ImmutableArray<int> decompositionData;
        private readonly SortedMap<int> canonical, compatibility; // code point → start << 5 | length in decompositionData
        private readonly SortedMap<long> compositions; // first << 21 | second → composite

        public char LowestNotKeptByNfd { get; }
        public char LowestNotKeptByNfkd { get; }
        public char LowestNotKeptByNfc { get; }
        public char LowestNotKeptByNfkc { get; }

        private PropertyTable(ushort[] values, List<int> decompositionData, SortedMap<int> canonical, SortedMap<int> compatibility,
            SortedMap<long> compositions)
        {
            var blockIndex = new Dictionary<string, ushort>();
            var uniformBlockIndex = new Dictionary<ushort, ushort>(); // blocks of one value (most of the planes): no key string
            var blockOf = new ushort[values.Length >> BlockShift];
            var blocks = new List<ushort>();
            for (int block = 0; block < blockOf.Length; block++)
            {
                var content = values.AsSpan(block << BlockShift, BlockSize);
                bool uniform = content.IndexOfAnyExcept(content[0]) < 0;
                var key = uniform ? null : new string(MemoryMarshal.Cast<ushort, char>(content));
                if (uniform ? !uniformBlockIndex.TryGetValue(content[0], out var shared) : !blockIndex.TryGetValue(key!, out shared))
                {
                    shared = (ushort)(blocks.Count >> BlockShift);
                    if (uniform) uniformBlockIndex[content[0]] = shared; else blockIndex[key!] = shared;
                    blocks.AddRange(content);
                }
                blockOf[block] = shared;
            }
            this.blockOf = ImmutableCollectionsMarshal.AsImmutableArray(blockOf);
            this.blocks = [.. blocks];
            this.decompositionData = [.. decompositionData];
            this.canonical = canonical;
            this.compatibility = compatibility;
            this.compositions = compositions;
            LowestNotKeptByNfd = Lowest(values, KeptByNfd);
            LowestNotKeptByNfkd = Lowest(values, KeptByNfkd);
            LowestNotKeptByNfc = Lowest(values, KeptByNfc);
            LowestNotKeptByNfkc = Lowest(values, KeptByNfkc);
        }

        /// <summary>The first BMP code point the form does not keep (every one below it is kept).</summary>
        private static char Lowest(ushort[] values, int kept)
        {
            for (int c = 0; c < 0x10000; c++) if ((values[c] & kept) == 0) return (char)c;
            return char.MaxValue;
        }

        /// <summary>The combining class (low byte) and flags of a code point (a lone surrogate's are its own).</summary>
        public int this[int codePoint] => blocks[blockOf[codePoint >> BlockShift] << BlockShift | codePoint & (BlockSize - 1)];

        public ReadOnlySpan<int> CanonicalDecomposition(int codePoint) => Slice(canonical.Find(codePoint));

        public ReadOnlySpan<int> CompatibilityDecomposition(int codePoint) => Slice(compatibility.Find(codePoint));

        private ReadOnlySpan<int> Slice(int packed) => decompositionData.AsSpan().Slice(packed >> 5, packed & 31);

        /// <summary>The composite of the two code points, or -1; Hangul L+V and LV+T by the algorithm.</summary>
        public int Composition(int first, int second)
        {
            if (first - LBase is >= 0 and < LCount && second - VBase is >= 0 and < VCount)
                return SBase + ((first - LBase) * VCount + second - VBase) * TCount;
            if (first - SBase is >= 0 and < SCount && (first - SBase) % TCount == 0 && second - TBase is > 0 and < TCount)
                return first + second - TBase;
            return compositions.Find((long)first << 21 | (uint)second);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)] // run once, over every code point: straight to optimized code
        public static PropertyTable Build()
        {
            var values = new ushort[0x110000];
            var classes = RustNormalizationTables.CombiningClasses;
            for (int i = 0; i < classes.Length; i += 3)
                for (int c = classes[i]; c <= classes[i + 1]; c++) values[c] = (ushort)classes[i + 2];

            var data = new List<int>();
            List<int> canonicalKeys = [], canonicalSlices = [], compatibilityKeys = [], compatibilitySlices = [];
            for (int part = 0; part < RustNormalizationTables.CanonicalDecompositionsParts; part++)
                Read(RustNormalizationTables.CanonicalDecompositions(part), data, canonicalKeys, canonicalSlices, values, CanonicalDecomposes);
            for (int part = 0; part < RustNormalizationTables.CompatibilityDecompositionsParts; part++)
                Read(RustNormalizationTables.CompatibilityDecompositions(part), data, compatibilityKeys, compatibilitySlices, values, CompatibilityDecomposes);

            var pairs = RustNormalizationTables.Compositions;
            var compositionKeys = new long[pairs.Length / 3];
            var composites = new int[pairs.Length / 3];
            for (int i = 0; i < pairs.Length; i += 3)
            {
                compositionKeys[i / 3] = (long)pairs[i] << 21 | (uint)pairs[i + 1];
                composites[i / 3] = pairs[i + 2];
                values[pairs[i + 2]] |= Composite;
                values[pairs[i + 1]] |= ComposesWithPrevious;
            }
            for (int c = VBase; c < VBase + VCount; c++) values[c] |= ComposesWithPrevious;
            for (int c = TBase + 1; c < TBase + TCount; c++) values[c] |= ComposesWithPrevious;
            for (int c = SBase; c < SBase + SCount; c++) values[c] |= CanonicalDecomposes;

            for (int c = 0; c < values.Length; c++)
            {
                int v = values[c];
                if ((byte)v == 0)
                {
                    bool canonicallyKept = (v & CanonicalDecomposes) == 0, compatiblyKept = (v & CompatibilityDecomposes) == 0;
                    bool recomposes = canonicallyKept || (v & Composite) != 0 || c - SBase is >= 0 and < SCount;
                    bool joinsNothing = (v & ComposesWithPrevious) == 0;
                    if (canonicallyKept) v |= KeptByNfd;
                    if (canonicallyKept && compatiblyKept) v |= KeptByNfkd;
                    if (recomposes && joinsNothing) v |= KeptByNfc;
                    if (recomposes && joinsNothing && compatiblyKept) v |= KeptByNfkc;
                }
                values[c] = (ushort)(v & ~Composite);
            }
            // Surrogate code units are never kept: the scan stops at them and the slow path reads pairs.
            for (int c = 0xD800; c <= 0xDFFF; c++) values[c] &= unchecked((ushort)~(KeptByNfd | KeptByNfkd | KeptByNfc | KeptByNfkc));
            return new PropertyTable(values, data, new SortedMap<int>([.. canonicalKeys], [.. canonicalSlices]),
                new SortedMap<int>([.. compatibilityKeys], [.. compatibilitySlices]), new SortedMap<long>(compositionKeys, composites));
        }

        private static void Read(ReadOnlySpan<int> entries, List<int> data, List<int> keys, List<int> slices, ushort[] values, int flag)
        {
            for (int i = 0; i < entries.Length; i += 2 + entries[i + 1])
            {
                keys.Add(entries[i]);
                slices.Add(data.Count << 5 | entries[i + 1]);
                foreach (int c in entries.Slice(i + 2, entries[i + 1])) data.Add(c);
                values[entries[i]] |= (ushort)flag;
            }
        }
    }

    /// <summary>Keys and their values, sorted by key (taken as given when ascending), found by binary search.</summary>
    private sealed class SortedMap<TKey> where TKey : IComparable<TKey>
    {
        private readonly ImmutableArray<TKey> keys;
        private readonly ImmutableArray<int> values;

        public SortedMap(TKey[] keys, int[] values)
        {
            Array.Sort(keys, values);
            this.keys = ImmutableCollectionsMarshal.AsImmutableArray(keys);
            this.values = ImmutableCollectionsMarshal.AsImmutableArray(values);
        }

        /// <summary>The value of the key, or -1.</summary>
        public int Find(TKey key) => keys.AsSpan().BinarySearch(key) is var index and >= 0 ? values[index] : -1;
    }
}
