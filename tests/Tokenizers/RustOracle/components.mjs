// Runs one tokenizer.json's normalizer and pre-tokenizer alone with Hugging Face's Rust tokenizers (the official Node
// binding), for the tests to compare each component against ours.
// usage: node components.mjs TOKENIZER_JSON INPUT_JSONL OUTPUT_JSONL
//   INPUT_JSONL: one {"text": string} a line
//   OUTPUT_JSONL: one {"normalized": string | null, "pieces": [string] | null} a line, in input order; pieces are the
//   pre-tokenizer's output on the normalized text (on the text itself when there is no normalizer)
import { readFileSync, writeFileSync } from 'node:fs';
import { Tokenizer } from 'tokenizers';

const [tokenizerPath, inputPath, outputPath] = process.argv.slice(2);
if (!outputPath) {
  console.error('usage: node components.mjs TOKENIZER_JSON INPUT_JSONL OUTPUT_JSONL');
  process.exit(2);
}
const tokenizer = Tokenizer.fromFile(tokenizerPath);
const normalizer = tokenizer.getNormalizer();
const preTokenizer = tokenizer.getPreTokenizer();
const lines = readFileSync(inputPath, 'utf8').split('\n').filter(line => line.length > 0);
const results = lines.map(line => {
  const { text } = JSON.parse(line);
  const normalized = normalizer ? normalizer.normalizeString(text) : null;
  const pieces = preTokenizer ? preTokenizer.preTokenizeString(normalized ?? text).map(([piece]) => piece) : null;
  return JSON.stringify({ normalized, pieces });
});
writeFileSync(outputPath, results.join('\n') + (results.length > 0 ? '\n' : ''));
