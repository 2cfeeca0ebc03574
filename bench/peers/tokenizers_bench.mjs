// Peer for `bench tokenize`: @huggingface/tokenizers (JavaScript) on the same texts and tokenizer.json, single-threaded.
// Usage: node tokenizers_bench.mjs TOKENIZER_DIR TEXTS.jsonl REPS  -> one JSON line with the median seconds per pass.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";

const [dir, textsPath, repsArg] = process.argv.slice(2);
const json = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
let config = {};
try { config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")); } catch { }
const tokenizer = new Tokenizer(json, config);
const lines = readFileSync(textsPath, "utf8").split("\n").filter(l => l.trim()).map(l => JSON.parse(l));
const reps = Number(repsArg ?? 5);
let tokens = 0;
const times = [];
for (let r = 0; r <= reps; r++) {
  const start = process.hrtime.bigint();
  let count = 0;
  for (const l of lines) count += tokenizer.encode(l.text, { add_special_tokens: l.add_special_tokens }).ids.length;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r > 0) times.push(seconds);
  tokens = count;
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
console.log(JSON.stringify({ peer: "@huggingface/tokenizers 0.2.0 (node " + process.version + ")", median_s: median, tokens, tokens_per_s: tokens / median }));
