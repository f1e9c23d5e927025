#!/usr/bin/env node
// Encodes strings with Hugging Face tokenizers (the native npm binding @anush008/tokenizers)
// and prints one JSON array of ids per input line. The parity tests compare these with
// libqwen's encoder.
//
// Usage: QWEN_ORACLE_DIR=... node hf_oracle.js TOKENIZER_JSON [--max-added-id N] [--no-special]
//   stdin:  one JSON string per line
//   stdout: one JSON array of ids per line
//   --max-added-id N  drop added tokens above N (151664 makes the Qwen3 file Qwen2.5's)
//   --no-special      drop the added tokens that libqwen treats as control tokens (special, or
//                     looking like <|...|>): what encoding without parse_special means
'use strict';
const fs = require('fs');
const path = require('path');
const readline = require('readline');

const dir = process.env.QWEN_ORACLE_DIR;
if (!dir) { console.error('hf_oracle.js: set QWEN_ORACLE_DIR (scripts/fetch-oracles.sh)'); process.exit(2); }
const { Tokenizer } = require(path.join(dir, 'node_modules', '@anush008', 'tokenizers'));

const args = process.argv.slice(2);
const file = args[0];
let maxAdded = Infinity, noSpecial = false;
for (let i = 1; i < args.length; i++) {
  if (args[i] === '--max-added-id') maxAdded = Number(args[++i]);
  else if (args[i] === '--no-special') noSpecial = true;
}
const looksSpecial = (t) => t.startsWith('<|') && t.endsWith('|>');
const j = JSON.parse(fs.readFileSync(file, 'utf8'));
// Dropping tokens from the middle of the list would renumber the ones after them, so control
// tokens are disabled by giving them a text no test input contains (private-use characters).
j.added_tokens = j.added_tokens.filter((t) => t.id <= maxAdded);
if (noSpecial) {
  for (const t of j.added_tokens)
    if (t.special || looksSpecial(t.content)) t.content = '\uE000\uE001' + t.id + '\uE002';
}
const tok = Tokenizer.fromString(JSON.stringify(j));

(async () => {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  const out = [];
  for await (const line of rl) {
    if (line === '') continue;
    const enc = await tok.encode(JSON.parse(line), null, { addSpecialTokens: false });
    out.push(JSON.stringify(enc.getIds()));
  }
  process.stdout.write(out.join('\n') + '\n');
})();
