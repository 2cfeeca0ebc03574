// Runs regexes the way Hugging Face's Rust tokenizers run user patterns (Oniguruma), for the engine tests to compare
// against ours: each pattern as a Replace normalizer (content "\u0001", so every match, empty ones too, shows) and as a
// Split pre-tokenizer with behavior Isolated.
// usage: node regex_matches.mjs INPUT_JSONL OUTPUT_JSONL
//   INPUT_JSONL: one {"pattern": string, "texts": [string]} a line
//   OUTPUT_JSONL: one {"error": string | null, "replaced": [string], "pieces": [[string]]} a line, in input order
import { readFileSync, writeFileSync } from 'node:fs';
import { Tokenizer } from 'tokenizers';

const [inputPath, outputPath] = process.argv.slice(2);
if (!outputPath) {
  console.error('usage: node regex_matches.mjs INPUT_JSONL OUTPUT_JSONL');
  process.exit(2);
}
function tokenizer(normalizer, preTokenizer) {
  return Tokenizer.fromString(JSON.stringify({
    version: '1.0', truncation: null, padding: null, added_tokens: [], post_processor: null, decoder: null,
    normalizer, pre_tokenizer: preTokenizer,
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: { '[UNK]': 0 } },
  }));
}
const lines = readFileSync(inputPath, 'utf8').split('\n').filter(line => line.length > 0);
const results = lines.map(line => {
  const { pattern, texts } = JSON.parse(line);
  try {
    const replace = tokenizer({ type: 'Replace', pattern: { Regex: pattern }, content: '\u0001' }, null).getNormalizer();
    const split = tokenizer(null, { type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false }).getPreTokenizer();
    return JSON.stringify({
      error: null,
      replaced: texts.map(t => replace.normalizeString(t)),
      pieces: texts.map(t => split.preTokenizeString(t).map(([piece]) => piece)),
    });
  } catch (e) {
    return JSON.stringify({ error: String(e), replaced: [], pieces: [] });
  }
});
writeFileSync(outputPath, results.join('\n') + (results.length > 0 ? '\n' : ''));
