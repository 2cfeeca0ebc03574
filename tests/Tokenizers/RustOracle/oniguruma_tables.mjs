// Derives, from Hugging Face's Rust tokenizers (npm `tokenizers`), the character classes of the Oniguruma regex
// engine the library runs user regexes through (Split and Replace with {"Regex": ...}), and writes them as
// eval/Tokenizers/OnigurumaTables.cs and OnigurumaCategoryTables.cs. Each class is probed over every code point: a Replace normalizer with the
// class as its regex and "" as content runs over code points joined by a separator outside the class; a code point
// that disappears is in the class. Written out:
//   the general category of every code point (\p{Lu} ... \p{Cn}, as runs), checked against onig's one-letter
//   categories \p{L} ... \p{C} being the unions of the two-letter ones;
//   \w, \s, \d, \h and \p{Alpha} as ranges, \w inside a class ([\w], which differs below 256), and a few scripts
//   (\p{Han}, \p{Latin}, ...).
// usage: node oniguruma_tables.mjs OUTPUT_DIR   (ComponentCrossCheckTests compares user regexes with the library live)
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hex, lines, rangeTable } from './table_format.mjs';
import { Tokenizer } from 'tokenizers';

const output = process.argv[2];
if (!output) { console.error('usage: node oniguruma_tables.mjs OUTPUT_DIR'); process.exit(2); }

function replacer(regex) {
  return Tokenizer.fromString(JSON.stringify({
    version: '1.0', truncation: null, padding: null, added_tokens: [], pre_tokenizer: null, post_processor: null, decoder: null,
    normalizer: { type: 'Replace', pattern: { Regex: regex }, content: '' },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: { '[UNK]': 0 } },
  })).getNormalizer();
}

/** The code points (surrogates left out) the single-code-point regex matches. */
function members(regex) {
  const normalizer = replacer(regex);
  const separator = ['a', '!', ' ', '0', '\u0378'].find(s => normalizer.normalizeString(s) === s);
  if (separator === undefined) throw new Error(`no separator outside ${regex}`);
  const result = [];
  const chunk = 32768;
  for (let from = 0; from <= 0x10FFFF; from += chunk) {
    const codePoints = [];
    for (let c = from; c < from + chunk && c <= 0x10FFFF; c++) if ((c < 0xD800 || c > 0xDFFF) && c !== separator.codePointAt(0)) codePoints.push(c);
    const parts = normalizer.normalizeString(codePoints.map(c => String.fromCodePoint(c)).join(separator) + separator).split(separator);
    if (parts.length !== codePoints.length + 1) throw new Error(`${regex}: ${parts.length - 1} parts for ${codePoints.length} code points at ${from}`);
    codePoints.forEach((c, i) => {
      if (parts[i] === '') result.push(c);
      else if (parts[i] !== String.fromCodePoint(c)) throw new Error(`${regex}: U+${c.toString(16)} became ${JSON.stringify(parts[i])}`);
    });
  }
  return result.sort((x, y) => x - y);
}

const categories = ['Lu', 'Ll', 'Lt', 'Lm', 'Lo', 'Mn', 'Mc', 'Me', 'Nd', 'Nl', 'No', 'Pc', 'Pd', 'Ps', 'Pe', 'Pi', 'Pf', 'Po',
  'Sm', 'Sc', 'Sk', 'So', 'Zs', 'Zl', 'Zp', 'Cc', 'Cf', 'Cs', 'Co', 'Cn'];
const category = new Uint8Array(0x110000).fill(255);
for (let c = 0xD800; c <= 0xDFFF; c++) category[c] = categories.indexOf('Cs');
for (const [index, name] of categories.entries()) {
  if (name === 'Cs') continue;
  for (const c of members(`\\p{${name}}`)) {
    if (category[c] !== 255) throw new Error(`U+${c.toString(16)} is both ${categories[category[c]]} and ${name}`);
    category[c] = index;
  }
}
for (let c = 0; c <= 0x10FFFF; c++) if (category[c] === 255) throw new Error(`U+${c.toString(16)} has no category`);
for (const major of ['L', 'M', 'N', 'P', 'S', 'Z', 'C']) {
  const union = [];
  for (let c = 0; c <= 0x10FFFF; c++) if ((c < 0xD800 || c > 0xDFFF) && categories[category[c]][0] === major) union.push(c);
  if (members(`\\p{${major}}`).join() !== union.join()) throw new Error(`\\p{${major}} is not the union of its two-letter categories`);
}

const sets = {
  Word: '\\w', Space: '\\s', Digit: '\\d', HexDigit: '\\h', Alphabetic: '\\p{Alpha}',
  Han: '\\p{Han}', Hiragana: '\\p{Hiragana}', Katakana: '\\p{Katakana}', Hangul: '\\p{Hangul}', Latin: '\\p{Latin}',
  Greek: '\\p{Greek}', Cyrillic: '\\p{Cyrillic}', Arabic: '\\p{Arabic}', Hebrew: '\\p{Hebrew}', Thai: '\\p{Thai}',
  Devanagari: '\\p{Devanagari}', Common: '\\p{Common}', Inherited: '\\p{Inherited}',
};
const runs = [];
for (let c = 0; c <= 0x10FFFF; c++) if (c === 0 || category[c] !== category[c - 1]) runs.push(`${hex(c)}, ${category[c]}`);
const categoryBody = `
    /// <summary>The two-letter general categories, in the order of the indices in <see cref="CategoryRuns"/>.</summary>
    public static readonly string[] CategoryNames = [${categories.map(n => `"${n}"`).join(', ')}];

    /// <summary>${runs.length} (first code point, category index) runs, ascending; a run lasts until the next.</summary>
    public static ReadOnlySpan<int> CategoryRuns =>
    [
${lines(runs, 8)}
    ];
`;
let body = '';
// Standalone, \w (and \p{Word}) takes code points below 256 from Oniguruma's ISO-8859-1 table, where ² ³ ¹ ¼ ½ ¾
// are word characters; inside a class, [\w] takes Unicode's Word ranges, where they are not. The other classes agree.
for (const name of ['Space', 'Digit', 'HexDigit', 'Alphabetic']) {
  if (members(`[${sets[name]}]`).join() !== members(sets[name]).join()) throw new Error(`[${sets[name]}] differs from ${sets[name]}`);
}
sets.WordInClass = '[\\w]';
for (const [name, regex] of Object.entries(sets)) {
  const list = members(regex);
  if (regex.startsWith('\\p{') && ['Han', 'Latin', 'Common'].includes(name) === false && list.length === 0) throw new Error(`${regex} is empty`);
  body += rangeTable(name, (count, runs) => `${regex}: ${count} code points in ${runs} ranges (first, last pairs, ascending).`, list);
}
const header = `// <auto-generated>
// Written by tests/Tokenizers/RustOracle/oniguruma_tables.mjs from Hugging Face's Rust tokenizers (npm tokenizers 0.23.2);
// regenerate with: cd tests/Tokenizers/RustOracle && node oniguruma_tables.mjs ../../../eval/Tokenizers
// </auto-generated>
namespace Eval.Tokenizers;
`;
writeFileSync(join(output, 'OnigurumaTables.cs'), `${header}
/// <summary>
/// The character classes of the Oniguruma engine inside Hugging Face's Rust tokenizers (its Unicode version, not
/// .NET's): general categories (in OnigurumaCategoryTables.cs), \\w, \\s, \\d, \\h, Alphabetic and a few scripts,
/// probed code point by code point.
/// </summary>
internal static partial class OnigurumaTables
{${body}}
`);
writeFileSync(join(output, 'OnigurumaCategoryTables.cs'), `${header}
/// <summary>Oniguruma's general category of every code point, as runs.</summary>
internal static partial class OnigurumaTables
{${categoryBody}}
`);
console.log(`${runs.length} category runs, ` + Object.keys(sets).join(', '));
