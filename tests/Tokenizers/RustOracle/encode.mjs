// Encodes texts with Hugging Face's Rust tokenizers (the official Node binding), for the tests to compare against.
// usage: node encode.mjs TOKENIZER_JSON INPUT_JSONL OUTPUT_JSONL FIELDS
//   INPUT_JSONL: one {"text": string, "add_special_tokens": bool} a line, with "pair": string for a sentence pair
//   OUTPUT_JSONL: one object a line, in input order, with the FIELDS asked for (comma-separated):
//     ids, tokens, type_ids (the encoding), decoded (decode(ids, skipSpecialTokens = false)), decoded_skip (... = true)
import { readFileSync, writeFileSync } from 'node:fs';
import { Tokenizer } from 'tokenizers';

const [tokenizerPath, inputPath, outputPath, fieldList] = process.argv.slice(2);
if (!fieldList) {
  console.error('usage: node encode.mjs TOKENIZER_JSON INPUT_JSONL OUTPUT_JSONL ids[,tokens][,decoded][,decoded_skip]');
  process.exit(2);
}
const fields = new Set(fieldList.split(','));
const tokenizer = Tokenizer.fromFile(tokenizerPath);
const items = readFileSync(inputPath, 'utf8').split('\n').filter(line => line.length > 0).map(line => JSON.parse(line));
const results = new Array(items.length);
const chunkSize = 4096;

for (const addSpecialTokens of [true, false]) {
  const indices = [];
  items.forEach((item, i) => { if (item.add_special_tokens === addSpecialTokens) indices.push(i); });
  for (let from = 0; from < indices.length; from += chunkSize) {
    const chunk = indices.slice(from, from + chunkSize);
    // encodeBatch takes single texts only; a pair goes through encode(text, pair).
    const encodings = chunk.some(i => items[i].pair !== undefined)
      ? await Promise.all(chunk.map(i => tokenizer.encode(items[i].text, items[i].pair ?? null, { addSpecialTokens })))
      : await tokenizer.encodeBatch(chunk.map(i => items[i].text), { addSpecialTokens });
    const ids = encodings.map(e => e.getIds());
    const decoded = fields.has('decoded') ? await tokenizer.decodeBatch(ids, false) : null;
    const decodedSkip = fields.has('decoded_skip') ? await tokenizer.decodeBatch(ids, true) : null;
    chunk.forEach((itemIndex, k) => {
      const result = {};
      if (fields.has('ids')) result.ids = ids[k];
      if (fields.has('tokens')) result.tokens = encodings[k].getTokens();
      if (fields.has('type_ids')) result.type_ids = encodings[k].getTypeIds();
      if (decoded) result.decoded = decoded[k];
      if (decodedSkip) result.decoded_skip = decodedSkip[k];
      results[itemIndex] = JSON.stringify(result);
    });
  }
}
writeFileSync(outputPath, results.join('\n') + (results.length > 0 ? '\n' : ''));
