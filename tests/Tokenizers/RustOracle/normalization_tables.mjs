// Derives, from Hugging Face's Rust tokenizers (npm `tokenizers`), the Unicode normalization data the library's NFC,
// NFD, NFKC and NFKD normalizers use (the unicode-normalization-alignments crate, whose Unicode is older than .NET's
// ICU), and writes them as eval/Tokenizers/RustNormalizationTables*.cs. Every code point is probed:
//   CanonicalDecompositions: NFD of the code point where it is not the code point (full, recursive decompositions)
//   CompatibilityDecompositions: NFKD of the code point where it is not its NFD
//   CombiningClasses: the code points the library reorders (put after U+0345, class 240, or before U+0334, class 1,
//     NFD moves them); their classes are Python's unicodedata.combining, checked against the library pair by pair
//     (NFD of one mark of each class before and after each of them swaps exactly when the classes say so)
//   Compositions: for each primary composite p (NFC(p) = p, NFD(p) != p), the pair (NFC of NFD(p) but its last code
//     point, that last code point), checked: NFC of the pair is p
// Hangul syllables are left to the algorithm (in code); the generator checks that the library decomposes and
// composes them so, the edges of the jamo ranges included.
// usage: node normalization_tables.mjs OUTPUT_DIR   (ComponentCrossCheckTests and RustUnicodeNormalizationTests
// compare the normalizer with the library live)
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { hex, lines } from './table_format.mjs';
import * as tokenizers from 'tokenizers';

const output = process.argv[2];
if (!output) { console.error('usage: node normalization_tables.mjs OUTPUT_DIR'); process.exit(2); }
const forms = {
  nfd: tokenizers.nfdNormalizer(), nfkd: tokenizers.nfkdNormalizer(), nfc: tokenizers.nfcNormalizer(), nfkc: tokenizers.nfkcNormalizer(),
};
const text = codePoints => String.fromCodePoint(...codePoints);
const codePointsOf = s => [...s].map(c => c.codePointAt(0));
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Each text normalized alone, many to a call: joined by line feeds (which nothing composes with or decomposes to). */
function normalizeEach(form, texts) {
  const result = [];
  for (let i = 0; i < texts.length; i += 4096) {
    const chunk = texts.slice(i, i + 4096);
    const parts = forms[form].normalizeString(chunk.map(text).join('\n')).split('\n');
    if (parts.length !== chunk.length) throw new Error(`${form}: ${parts.length} parts for ${chunk.length} texts at ${i}`);
    result.push(...parts.map(codePointsOf));
  }
  return result;
}

const all = [];
for (let c = 0; c <= 0x10FFFF; c++) if ((c < 0xD800 || c > 0xDFFF) && c !== 0x0A) all.push(c);
const singles = all.map(c => [c]);
const [nfd, nfkd, nfc] = ['nfd', 'nfkd', 'nfc'].map(form => normalizeEach(form, singles));

// Hangul: the library decomposes syllables algorithmically (L V, or L V T) and composes L+V and LV+T, nothing else.
const S_BASE = 0xAC00, L_BASE = 0x1100, V_BASE = 0x1161, T_BASE = 0x11A7, V_COUNT = 21, T_COUNT = 28, S_COUNT = 11172;
const isSyllable = c => c >= S_BASE && c < S_BASE + S_COUNT;
function hangulDecomposition(s) {
  const index = s - S_BASE, l = L_BASE + Math.floor(index / (V_COUNT * T_COUNT));
  const v = V_BASE + Math.floor((index % (V_COUNT * T_COUNT)) / T_COUNT), t = T_BASE + index % T_COUNT;
  return t === T_BASE ? [l, v] : [l, v, t];
}
{
  const probes = [], expected = [];
  for (let l = L_BASE - 1; l <= L_BASE + 19; l++)
    for (let v = V_BASE - 1; v <= V_BASE + V_COUNT; v++) {
      probes.push([l, v]);
      const composes = l >= L_BASE && l < L_BASE + 19 && v >= V_BASE && v < V_BASE + V_COUNT;
      expected.push(composes ? [S_BASE + ((l - L_BASE) * V_COUNT + (v - V_BASE)) * T_COUNT] : [l, v]);
    }
  for (let s = S_BASE; s < S_BASE + S_COUNT; s += 1)
    for (const t of [T_BASE, T_BASE + 1, T_BASE + 14, T_BASE + T_COUNT - 1, T_BASE + T_COUNT]) {
      if ((s - S_BASE) % 97 !== 0 && (s - S_BASE) % T_COUNT !== 0) continue;
      probes.push([s, t]);
      const composes = (s - S_BASE) % T_COUNT === 0 && t > T_BASE && t < T_BASE + T_COUNT;
      expected.push(composes ? [s + t - T_BASE] : [s, t]);
    }
  const composed = normalizeEach('nfc', probes);
  probes.forEach((p, i) => {
    if (!same(composed[i], expected[i])) throw new Error(`NFC of ${p.map(hex)} is ${composed[i].map(hex)}, not the algorithm's ${expected[i].map(hex)}`);
  });
}

const canonical = [], compatibility = [], composites = [];
all.forEach((c, i) => {
  if (isSyllable(c)) {
    if (!same(nfd[i], hangulDecomposition(c)) || !same(nfkd[i], nfd[i]) || !same(nfc[i], [c]))
      throw new Error(`Hangul ${hex(c)}: NFD ${nfd[i].map(hex)}, NFKD ${nfkd[i].map(hex)}, NFC ${nfc[i].map(hex)}`);
    return;
  }
  if (!same(nfd[i], [c])) {
    canonical.push([c, nfd[i]]);
    if (same(nfc[i], [c])) composites.push(c);
  }
  if (!same(nfkd[i], nfd[i])) compatibility.push([c, nfkd[i]]);
});

// Combining classes: which code points the library treats as non-starters, then their classes.
const undecomposed = all.filter((c, i) => same(nfd[i], [c]));
const afterHighest = normalizeEach('nfd', undecomposed.map(c => [0x0345, c]));
const beforeLowest = normalizeEach('nfd', undecomposed.map(c => [c, 0x0334]));
const nonStarters = undecomposed.filter((c, i) => !same(afterHighest[i], [0x0345, c]) || !same(beforeLowest[i], [c, 0x0334]));
const python = JSON.parse(execFileSync('python3', ['-c',
  'import json, unicodedata; print(json.dumps({c: unicodedata.combining(chr(c)) for c in range(0x110000) if unicodedata.combining(chr(c))}))'],
  { maxBuffer: 1 << 26 }).toString());
const classOf = new Map(nonStarters.map(c => {
  if (!python[c]) throw new Error(`the library reorders ${hex(c)}, which Python's unicodedata gives class 0`);
  return [c, python[c]];
}));
{
  const representatives = new Map();
  for (const [c, cls] of classOf) if (!representatives.has(cls)) representatives.set(cls, c);
  const pairs = [], expected = [];
  for (const c of nonStarters)
    for (const [cls, r] of representatives) {
      pairs.push([r, c]);
      expected.push(cls > classOf.get(c) ? [c, r] : [r, c]);
      pairs.push([c, r]);
      expected.push(classOf.get(c) > cls ? [r, c] : [c, r]);
    }
  const ordered = normalizeEach('nfd', pairs);
  pairs.forEach((p, i) => {
    if (!same(ordered[i], expected[i]))
      throw new Error(`NFD of ${p.map(hex)} is ${ordered[i].map(hex)}; classes ${p.map(c => classOf.get(c))} say ${expected[i].map(hex)}`);
  });
}

// Compositions: each primary composite from its last code point and the composed rest.
const nfdOf = new Map(canonical);
const compositions = [];
{
  const firsts = normalizeEach('nfc', composites.map(p => nfdOf.get(p).slice(0, -1)));
  const pairs = composites.map((p, i) => {
    if (firsts[i].length !== 1) throw new Error(`${hex(composites[i])}: the rest of its NFD composes to ${firsts[i].map(hex)}`);
    return [firsts[i][0], nfdOf.get(p).at(-1)];
  });
  const composed = normalizeEach('nfc', pairs);
  pairs.forEach((pair, i) => {
    if (!same(composed[i], [composites[i]])) throw new Error(`NFC of ${pair.map(hex)} is ${composed[i].map(hex)}, not ${hex(composites[i])}`);
    compositions.push([pair[0], pair[1], composites[i]]);
  });
  compositions.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

// C#: the decompositions as (code point, length, code points...) runs; long tables split into parts of at most 560
// lines, one file each, so that no file passes 600 lines.
const perLine = 16, linesPerPart = 560;
function decompositionParts(entries) {
  const parts = [];
  for (let start = 0; start < entries.length;) {
    let count = 0, length = 0;
    while (start + count < entries.length && Math.ceil((length + 2 + entries[start + count][1].length) / perLine) <= linesPerPart)
      length += 2 + entries[start + count++][1].length;
    parts.push(entries.slice(start, start + count));
    start += count;
  }
  return parts.map(part => ({ entries: part, items: part.flatMap(([c, d]) => [hex(c), String(d.length), ...d.map(hex)]) }));
}
const header = `// <auto-generated>
// Written by tests/Tokenizers/RustOracle/normalization_tables.mjs from Hugging Face's Rust tokenizers (npm tokenizers 0.23.2);
// regenerate with: cd tests/Tokenizers/RustOracle && node normalization_tables.mjs ../../../eval/Tokenizers
// </auto-generated>
namespace Eval.Tokenizers;
`;
const files = [];
function writePartFiles(name, description, entries) {
  const parts = decompositionParts(entries);
  parts.forEach((part, i) => {
    const file = `RustNormalizationTables.${name}${parts.length > 1 ? i + 1 : ''}.cs`;
    files.push(file);
    writeFileSync(join(output, file), `${header}
internal static partial class RustNormalizationTables
{
    /// <summary>${description} ${part.entries.length} code points, ascending, each as (code point, length, code points).</summary>
    private static ReadOnlySpan<int> ${name}Part${i + 1} =>
    [
${lines(part.items, perLine)}
    ];
}
`);
  });
  return `    /// <summary>${description} ${entries.length} code points in ${parts.length} part${parts.length > 1 ? "s" : ""}.</summary>\n` +
    `    public static ReadOnlySpan<int> ${name}(int part) => part switch\n    {\n` +
    parts.map((_, i) => `        ${i} => ${name}Part${i + 1},\n`).join('') + `        _ => [],\n    };\n\n` +
    `    public const int ${name}Parts = ${parts.length};\n`;
}
const canonicalAccess = writePartFiles('CanonicalDecompositions', 'NFD of each code point (but Hangul syllables) that it changes:', canonical);
const compatibilityAccess = writePartFiles('CompatibilityDecompositions', 'NFKD of each code point whose NFKD is not its NFD:', compatibility);
const classTriples = [];
for (const c of nonStarters) {
  const last = classTriples[classTriples.length - 1];
  if (last && last[1] === c - 1 && last[2] === classOf.get(c)) last[1] = c; else classTriples.push([c, c, classOf.get(c)]);
}
writeFileSync(join(output, 'RustNormalizationTables.cs'), `${header}
/// <summary>
/// The Unicode normalization data of Hugging Face's Rust tokenizers (the unicode-normalization-alignments crate,
/// an older Unicode than .NET's ICU), probed from the library code point by code point: full canonical and
/// compatibility decompositions, the combining classes of the code points it reorders, and the canonical
/// compositions. Hangul syllables follow the algorithm (in <see cref="RustUnicodeNormalization"/>).
/// </summary>
internal static partial class RustNormalizationTables
{
${canonicalAccess}
${compatibilityAccess}
    /// <summary>${nonStarters.length} code points of a non-zero combining class in ${classTriples.length} runs: (first, last, class), ascending.</summary>
    public static ReadOnlySpan<int> CombiningClasses =>
    [
${lines(classTriples.map(([a, b, cls]) => `${hex(a)}, ${hex(b)}, ${cls}`), 6)}
    ];

    /// <summary>${compositions.length} canonical compositions (first, second, composite), ascending by first then second.</summary>
    public static ReadOnlySpan<int> Compositions =>
    [
${lines(compositions.map(([a, b, p]) => `${hex(a)}, ${hex(b)}, ${hex(p)}`), 4)}
    ];
}
`);
console.log(`${canonical.length} canonical and ${compatibility.length} compatibility decompositions (${files.join(', ')}), ` +
  `${nonStarters.length} non-starters in ${classTriples.length} runs, ${compositions.length} compositions`);
