// Peer for `bench tokenize-cold`: npm tokenizers (Hugging Face's Rust library, native binding) on the same unique texts.
// Each pass loads a fresh tokenizer (cold caches) and encodes every text with encodeBatch (special tokens added); threads
// follow RAYON_NUM_THREADS. Usage: node tokenizers_cold.mjs TOKENIZER_DIR TEXTS.json REPS -> one JSON line.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "tokenizers";

const [dir, textsPath, repsArg] = process.argv.slice(2);
const texts = JSON.parse(readFileSync(textsPath, "utf8"));
const reps = Number(repsArg ?? 3);
const warm = await Tokenizer.fromFile(join(dir, "tokenizer.json"));
await warm.encodeBatch(texts.slice(0, 1000));
const times = [];
let tokens = 0;
for (let r = 0; r < reps; r++) {
  const tokenizer = await Tokenizer.fromFile(join(dir, "tokenizer.json"));
  const start = process.hrtime.bigint();
  const encodings = await tokenizer.encodeBatch(texts, true);
  times.push(Number(process.hrtime.bigint() - start) / 1e9);
  tokens = encodings.reduce((n, e) => n + e.getIds().length, 0);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
console.log(JSON.stringify({ peer: "tokenizers 0.23.2 (node " + process.version + ")", rayon_threads: process.env.RAYON_NUM_THREADS ?? "default", median_s: median, tokens, tokens_per_s: tokens / median }));
