// Loads tokenizer.json files with Hugging Face's Rust tokenizers (the official Node binding) and says whether each
// loads, for the tests to check that we refuse what the library refuses.
// usage: node load.mjs OUTPUT_JSONL TOKENIZER_JSON...
//   OUTPUT_JSONL: one {"error": string | null} a line, in argument order (null: the library loaded it)
import { writeFileSync } from 'node:fs';
import { Tokenizer } from 'tokenizers';

const [outputPath, ...paths] = process.argv.slice(2);
if (!outputPath || paths.length === 0) {
  console.error('usage: node load.mjs OUTPUT_JSONL TOKENIZER_JSON...');
  process.exit(2);
}
const results = paths.map(path => {
  try {
    Tokenizer.fromFile(path);
    return JSON.stringify({ error: null });
  } catch (e) {
    return JSON.stringify({ error: String(e.message ?? e) });
  }
});
writeFileSync(outputPath, results.join('\n') + '\n');
